#!/usr/bin/env python3
"""`make bench-dpo`: Tally's DPO beside TRL's DPOTrainer on this CPU.

SmolLM2-135M-Instruct as the policy and its own reference, on `make bench-reward`'s HH-RLHF
helpful pairs (BENCH_PAIRS training pairs, default 512, and BENCH_EVAL_PAIRS held-out pairs of
other conversations, default 250), cut to 256 tokens as Tally cuts them, both trainers given
the same token ids: one epoch, batch 8, beta 0.1, learning rate 1e-6 with linear decay (TRL's
default; BENCH_LEARNING_RATE sets another on both sides), the reference's log-probabilities
computed once. Reports pairs per second and the held-out
chosen-over-rejected accuracy of the implicit reward; appends to Benchmarks/results/dpo.jsonl.
Benchmark tooling only.
"""
import json, os, subprocess

from bench_common import BASE, HELPER, PEERS, ROOT, TALLY, TORCH_PYTHON, hugging_face_base, record, run, timed
from bench_reward import prepare

WORK = os.path.join(ROOT, ".build", "bench-dpo")
MAXIMUM_LENGTH = 256


def main():
    os.makedirs(WORK, exist_ok=True)
    paths = prepare()
    train_count, eval_count = int(os.environ.get("BENCH_PAIRS", "512")), int(os.environ.get("BENCH_EVAL_PAIRS", "250"))
    learning_rate = os.environ.get("BENCH_LEARNING_RATE", "1e-6")
    float(learning_rate)  # a malformed value stops the run here, not after Tally's side
    training = open(paths["train-1000"]).read().splitlines()[:train_count]
    held_out = open(paths["eval-500"]).read().splitlines()[:eval_count]
    files = {}
    for name, lines in (("train", training), ("eval", held_out)):
        files[name] = os.path.join(WORK, f"{name}.jsonl")
        with open(files[name], "w") as out:
            out.write("\n".join(lines) + "\n")
        run([HELPER, "tokenize-dpo", BASE, files[name], os.path.join(WORK, f"{name}-ids.jsonl"), str(MAXIMUM_LENGTH)])
    # Tally reads the held-out pairs from the same file, marked as its validation split.
    combined = os.path.join(WORK, "tally-pairs.jsonl")
    with open(combined, "w") as out:
        for line in training:
            out.write(line + "\n")
        for line in held_out:
            record_ = json.loads(line)
            record_["split"] = "validation"
            out.write(json.dumps(record_) + "\n")
    output = os.path.join(WORK, "tally-dpo")
    if os.environ.get("BENCH_REUSE") and os.path.exists(os.path.join(output, "training_log.jsonl")):
        # BENCH_REUSE=1: Tally's finished run is read back from its own log (no peak memory kept there).
        reports, tally_peak = [json.loads(line) for line in open(os.path.join(output, "training_log.jsonl"))], None
    else:
        subprocess.run(["rm", "-rf", output])
        tally, tally_peak = timed([TALLY, "train", "dpo", "--policy", BASE, "--data", combined, "--output", output, "--json",
                                 "--max-length", str(MAXIMUM_LENGTH), "--logging-steps", "1", "--learning-rate", learning_rate])
        reports = [json.loads(line) for line in tally.stdout.splitlines() if line.startswith("{")]
    steps = [r for r in reports if r["phase"] == "train"]
    evaluation = [r for r in reports if r["phase"] == "eval"][-1]
    seconds = steps[-1]["elapsed_seconds"]
    result = {"mode": "dpo", "pairs": len(training), "eval_pairs": len(held_out), "learning_rate": float(learning_rate),
              "tally": {"seconds": seconds, "pairs_per_second": len(training) / seconds, "peak_rss_mib": tally_peak,
                        "eval_loss": evaluation["eval_loss"], "eval_accuracy": evaluation["eval_rewards/accuracies"],
                        "eval_margin": evaluation["eval_rewards/margins"]}}
    folder = hugging_face_base(os.path.join(ROOT, ".build", "bench-reward"))
    if os.path.exists(os.path.join(WORK, "trl-dpo.log")):
        os.remove(os.path.join(WORK, "trl-dpo.log"))
    trl, trl_peak = timed([TORCH_PYTHON, os.path.join(PEERS, "trl_dpo.py"), folder, os.path.join(WORK, "train-ids.jsonl"),
                           os.path.join(WORK, "eval-ids.jsonl"), os.path.join(WORK, "trl-dpo"), learning_rate],
                           stream_to=os.path.join(WORK, "trl-dpo.log"))  # TRL's step logs, readable while it runs
    result["trl"] = json.loads(trl.stdout.strip().splitlines()[-1])
    result["trl"]["peak_rss_mib"] = trl_peak
    result["tally_over_trl_pairs_per_second"] = result["tally"]["pairs_per_second"] / result["trl"]["pairs_per_second"]
    result["accuracy_difference_points"] = 100 * (result["tally"]["eval_accuracy"] - result["trl"]["eval_accuracy"])
    record(result, "dpo")


if __name__ == "__main__":
    main()
