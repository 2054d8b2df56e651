#!/usr/bin/env python3
"""`make bench-rl`: Tally's policy optimization beside TRL's RLOOTrainer on this CPU.

    python3 bench_rl.py speed     one RL iteration (sample, reference and reward scoring, update),
                                  episodes per second: Tally's RLOO and PPO beside TRL's RLOOTrainer,
                                  same SmolLM2-135M policy, reward model, prompts, k = 2, 8 answers a
                                  step, at most 64 tokens; and decoding tokens per second at batch 1,
                                  8 and 32
    python3 bench_rl.py quality   RLOO (BENCH_STAGE=ppo for PPO) for BENCH_ITERATIONS
                                  iterations (default 100) of
                                  BENCH_PROMPTS_PER_ITERATION prompts (16), BENCH_ANSWERS_PER_PROMPT
                                  answers to each (2), BENCH_MINIBATCHES optimizer steps an
                                  iteration (1), at BENCH_LEARNING_RATE (5e-5), 64 tokens, on the
                                  demo's training prompts against the reward model (its reports
                                  stream to .build/bench-rl/STAGE-quality.jsonl as it runs); its held-out mean reward and KL beside best-of-4 and
                                  best-of-16 of the starting policy on the held-out prompts
                                  (kept in .build/bench-rl as they are computed; BENCH_REUSE=1
                                  takes the kept ones). A run stopped with Ctrl+C on its
                                  `tally train` (which saves a checkpoint) continues with
                                  BENCH_RESUME=1 and the same settings. BENCH_TRAINED_BLOCKS
                                  trains only the policy's top blocks; BENCH_MISSING_END_PENALTY
                                  is subtracted from the score of an answer cut at the limit.

The reward model is `make bench-reward`'s (trained on HH-RLHF helpful pairs): the all-pairs one
when it exists, else the 1,000-pair one, else the 1,000-pair one trained on its top 10 blocks
(BENCH_REWARD_MODEL=FOLDER names another). The prompts are Demo/seed-demonstrations.jsonl's (158
training, 17 marked for validation). Each mode appends to Benchmarks/results/rl.jsonl and
prints its result. Benchmark tooling only.
"""
import json, os, subprocess, sys

from bench_common import BASE, HELPER, PEERS, ROOT, TALLY, TORCH_PYTHON, hugging_face_base, log, record, run, timed

WORK = os.path.join(ROOT, ".build", "bench-rl")
PROMPTS = os.path.join(ROOT, "Demo", "seed-demonstrations.jsonl")
REWARD_WORK = os.path.join(ROOT, ".build", "bench-reward")


def reward_model():
    if os.environ.get("BENCH_REWARD_MODEL"):
        return os.environ["BENCH_REWARD_MODEL"]
    for name in ("rm-train-all-full", "rm-train-1000-full", "rm-train-1000-top-10-blocks"):
        folder = os.path.join(REWARD_WORK, name)
        if os.path.exists(os.path.join(folder, "config.json")):
            return folder
    sys.exit("no reward model: run `make bench-reward-quality` first (it trains the one this benchmark scores with)")


def tally_policy(stage, output, options, prompts=PROMPTS, resume=False):
    """Trains with `tally train STAGE`: its training and evaluation reports and peak memory.
    With `resume` and a checkpoint in OUTPUT (a run stopped with Ctrl+C, which saves one), it
    continues that run with --resume and returns the reports of every part of it."""
    # The reports also stream to OUTPUT.jsonl beside the folder, read while the run goes on.
    reports_log = output + ".jsonl"
    resuming = resume and os.path.exists(os.path.join(output, "checkpoint", "trainer_state.json"))
    if not resuming:
        subprocess.run(["rm", "-rf", output])
        if os.path.exists(reports_log):
            os.remove(reports_log)
    result, peak = timed([TALLY, "train", stage, "--policy", BASE, "--reward", reward_model(), "--prompts", prompts, "--output", output,
                          "--json", "--logging-steps", "1"] + options + (["--resume"] if resuming else []), stream_to=reports_log)
    lines = open(reports_log).read().splitlines() if resuming else result.stdout.splitlines()
    reports = [json.loads(line) for line in lines if line.startswith("{")]
    return [r for r in reports if r["phase"] == "train"], [r for r in reports if r["phase"] == "eval"], peak


def training_seconds(reports):
    """The training time of a run made of parts (each resumed part's clock starts again at 0)."""
    seconds, last = 0.0, 0.0
    for report in reports:
        if report["elapsed_seconds"] < last:
            seconds += last
        last = report["elapsed_seconds"]
    return seconds + last


def speed():
    os.makedirs(WORK, exist_ok=True)
    folder = hugging_face_base(WORK)
    steps, prompts_per_step, k, tokens = 4, 4, 2, 64
    result = {"mode": "speed", "reward_model": os.path.basename(reward_model()), "answers_per_step": prompts_per_step * k, "k": k, "max_new_tokens": tokens}
    shape = ["--iterations", str(steps), "--prompts-per-iteration", str(prompts_per_step), "--max-new-tokens", str(tokens), "--validation-fraction", "0"]
    # The same four prompts every step on both sides (the first four training demonstrations'),
    # so that neither draws longer prompts than the other.
    prompts = os.path.join(WORK, "speed-prompts.jsonl")
    with open(prompts, "w") as out:
        chosen = [json.loads(line) for line in open(PROMPTS) if json.loads(line).get("split", "train") == "train"][:prompts_per_step]
        out.write("".join(json.dumps({"messages": record["messages"]}) + "\n" for record in chosen))
    for name, stage, options in (("tally_rloo", "rloo", ["--answers-per-prompt", str(k)]),
                                 ("tally_ppo_shared", "ppo", ["--answers-per-prompt", str(k)]),
                                 ("tally_ppo_separate", "ppo", ["--answers-per-prompt", str(k), "--value-model", "separate"])):
        if os.environ.get("BENCH_ONLY") and name not in os.environ["BENCH_ONLY"].split(","):
            continue
        training, _, peak = tally_policy(stage, os.path.join(WORK, name), shape + options, prompts)
        # The first iteration warms the buffers up: left out, as TRL's first step is.
        seconds = [r["iteration_seconds"] for r in training][1:]
        per_step = sum(seconds) / len(seconds)
        mean_length = sum(r["answer_length"] for r in training[1:]) / len(training[1:])
        result[name] = {"seconds_per_iteration": per_step, "episodes_per_second": prompts_per_step * k / per_step, "peak_rss_mib": peak,
                        "mean_length": mean_length, "answer_tokens_per_second": prompts_per_step * k * mean_length / per_step,
                        "iteration_seconds": [r["iteration_seconds"] for r in training],
                        "where": {part: sum(r[f"seconds/{part}"] for r in training[1:]) / len(training[1:]) for part in ("sampling", "reference", "reward", "update")}}
        log(f"{name}: {per_step:.1f} s an iteration")
    if not os.environ.get("BENCH_ONLY") or "trl" in os.environ["BENCH_ONLY"].split(","):
        trl, peak = timed([TORCH_PYTHON, os.path.join(PEERS, "trl_rloo.py"), folder, reward_model(), prompts, os.path.join(WORK, "trl-rloo"),
                           str(steps), str(prompts_per_step), str(k), str(tokens)])
        result["trl_rloo"] = json.loads(trl.stdout.strip().splitlines()[-1])
        result["trl_rloo"]["peak_rss_mib"] = peak
        trl_length = sum(log.get("completions/mean_length", 0) for log in result["trl_rloo"]["logs"][1:]) / max(1, len(result["trl_rloo"]["logs"][1:]))
        result["trl_rloo"]["answer_tokens_per_second"] = prompts_per_step * k * trl_length / result["trl_rloo"]["seconds_per_step"]
        for name in ("tally_rloo", "tally_ppo_shared", "tally_ppo_separate"):
            if name in result:
                result[f"{name}_over_trl_rloo"] = result[name]["episodes_per_second"] / result["trl_rloo"]["episodes_per_second"]
                result[f"{name}_over_trl_rloo_answer_tokens"] = result[name]["answer_tokens_per_second"] / result["trl_rloo"]["answer_tokens_per_second"]
    if not os.environ.get("BENCH_ONLY") or "decoding" in os.environ["BENCH_ONLY"].split(","):
        result["decoding"] = [json.loads(run([HELPER, "decode", BASE, str(batch), "64"]).stdout) for batch in (1, 8, 32)]
        result["machine"] = machine_limits()
    record(result, "rl")


def machine_limits():
    """What bounds decoding here: memory read bandwidth (a 1 GiB float32 sum, best of 3) for a
    few rows, and float32 matrix-product throughput (numpy's OpenBLAS, 2048 cubed, best of 3)
    for many; with SmolLM2's 538 MB of weights read once per decoding step."""
    import numpy, time
    data = numpy.ones(256 * 1024 * 1024, dtype=numpy.float32)
    seconds = min(timed_call(lambda: data.sum()) for _ in range(3))
    a = numpy.random.rand(2048, 2048).astype(numpy.float32)
    flops_seconds = min(timed_call(lambda: a @ a) for _ in range(3))
    bandwidth = data.nbytes / seconds / 1e9
    return {"read_gb_per_second": bandwidth, "sgemm_gflops": 2 * 2048 ** 3 / flops_seconds / 1e9,
            "batch_1_ceiling_tokens_per_second": bandwidth * 1e9 / 538e6,
            "sgemm_ceiling_tokens_per_second": 2 * 2048 ** 3 / flops_seconds / (2 * 134.5e6)}


def timed_call(function):
    import time
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def best_of(n):
    """Best-of-n of the starting policy on the held-out prompts, kept in WORK as soon as it is
    computed, so that a run cut short during RLOO still has its baseline; BENCH_REUSE=1 takes the
    kept one (same reward model, prompts and seed) instead of sampling again."""
    kept = os.path.join(WORK, f"best-of-{n}-{os.path.basename(reward_model())}.json")
    if (os.environ.get("BENCH_REUSE") or os.environ.get("BENCH_RESUME")) and os.path.exists(kept):
        return json.load(open(kept))
    result = json.loads(run([HELPER, "best-of", BASE, reward_model(), PROMPTS, str(n), "64", "7"]).stdout)
    with open(kept, "w") as output:
        json.dump(result, output)
    log(f"best-of-{n}: mean reward {result['mean_reward']:.3f}, best {result['mean_best_reward']:.3f}")
    return result


def score(report):
    """The reward model's mean score in a training report: RLOO's `reward`, PPO's
    `objective/scores` (TRL's names for each)."""
    return report["reward"] if "reward" in report else report["objective/scores"]


def quality():
    os.makedirs(WORK, exist_ok=True)
    iterations = int(os.environ.get("BENCH_ITERATIONS", "100"))
    learning_rate = os.environ.get("BENCH_LEARNING_RATE", "5e-5")
    prompts = os.environ.get("BENCH_PROMPTS_PER_ITERATION", "16")
    answers = os.environ.get("BENCH_ANSWERS_PER_PROMPT", "2")
    minibatches = os.environ.get("BENCH_MINIBATCHES", "1")
    trained_blocks = os.environ.get("BENCH_TRAINED_BLOCKS")
    missing_end_penalty = os.environ.get("BENCH_MISSING_END_PENALTY")
    stage = os.environ.get("BENCH_STAGE", "rloo")
    if stage not in ("rloo", "ppo"):
        sys.exit(f"BENCH_STAGE={stage}: the stages are rloo and ppo")
    result = {"mode": "quality", "stage": stage, "reward_model": os.path.basename(reward_model()), "iterations": iterations,
              "prompts_per_iteration": int(prompts), "k": int(answers), "minibatches": int(minibatches),
              "max_new_tokens": 64, "learning_rate": float(learning_rate),
              "trained_blocks": int(trained_blocks) if trained_blocks else None,
              "missing_end_penalty": float(missing_end_penalty) if missing_end_penalty else None}
    extra = (["--trained-blocks", trained_blocks] if trained_blocks else []) + (["--missing-end-penalty", missing_end_penalty] if missing_end_penalty else [])
    result["best_of_4"], result["best_of_16"] = best_of(4), best_of(16)
    output = os.path.join(WORK, f"{stage}-quality")
    training, evaluations, peak = tally_policy(stage, output, ["--iterations", str(iterations), "--prompts-per-iteration", prompts,
                                                               "--answers-per-prompt", answers, "--minibatches", minibatches, "--max-new-tokens", "64",
                                                               "--learning-rate", learning_rate,
                                                               "--eval-steps", str(max(1, iterations // 4))] + extra,
                                               resume=bool(os.environ.get("BENCH_RESUME")))
    result[stage] = {"seconds": training_seconds(training), "peak_rss_mib": peak,
                      "evaluations": [{k: v for k, v in e.items() if k.startswith("eval_") or k in ("step", "samples")} for e in evaluations],
                      "training_reward_first_5": sum(map(score, training[:5])) / 5, "training_reward_last_5": sum(map(score, training[-5:])) / 5,
                      "kl_per_answer_last_5": sum(r["kl_per_answer"] for r in training[-5:]) / 5}
    # Four answers to each held-out prompt from the trained policy: its mean reward, on the
    # same prompts and seed as best-of-n's single answers.
    trained = json.loads(run([HELPER, "best-of", output, reward_model(), PROMPTS, "4", "64", "7"]).stdout)
    result[stage]["held_out_mean_reward"] = trained["mean_reward"]
    result[stage]["held_out_best_of_4"] = trained["mean_best_reward"]
    result["starting_policy_mean_reward"] = result["best_of_16"]["mean_reward"]
    record(result, "rl")


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "speed"
    {"speed": speed, "quality": quality}.get(mode, lambda: sys.exit(f"unknown mode {mode}: speed or quality"))()


if __name__ == "__main__":
    main()
