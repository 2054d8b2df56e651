#!/usr/bin/env python3
"""`make bench-reward`: Tally's reward-model training beside TRL's RewardTrainer on this CPU.

Data: the Anthropic HH-RLHF helpful pairs shipped in Benchmarks/trainers/hh-rlhf (helpful-online and
helpful-rejection-sampled test splits, MIT; see PROVENANCE.md there), parsed as Tally parses
them (the prompt is the conversation before the last reply; pairs whose two transcripts differ
earlier or end with the human's turn, and pairs of identical replies, are left out), grouped by conversation and split by a
hash of the conversation into a fixed evaluation set of 500 pairs the benchmark never trains on
and a training pool of the rest. SmolLM2-135M-Instruct (make smollm2) is the base.

    python3 bench_reward.py speed      Tally (shared prompt; unshared; shared, training the top 10
                                       of 30 blocks) and TRL train on the same 128 training pairs
                                       (BENCH_PAIRS), whole within 256 tokens so TRL drops none,
                                       batch 8: pairs and tokens per second, peak memory
    python3 bench_reward.py quality    Tally trains on 1,000 pairs for one epoch (maximum length
                                       256, full model; then the top 10 blocks only) and is
                                       evaluated on the 500 pairs beside "longer answer wins" and
                                       chance; transformers' AutoModelForSequenceClassification
                                       reloads the model and must give Tally's scores
    python3 bench_reward.py quality-all   the same on every training pair (hours)
    python3 bench_reward.py foreign    a reward model transformers saved (as a TRL user's comes)
                                       loaded by Tally: its rewards must be transformers' scores
    python3 bench_reward.py quality-trl   TRL on the 1,000 pairs, given them as Tally cuts them to 256
                                       tokens so that it drops none, evaluated on the 500 likewise

Each mode appends its results to Benchmarks/results/reward.jsonl and prints them.
Benchmark tooling only.
"""
import gzip, hashlib, json, os, subprocess, sys

from bench_common import BASE, HELPER, PEERS, ROOT, TALLY, TORCH_PYTHON, hugging_face_base, log, record, run, timed

DATA = os.path.join(PEERS, "hh-rlhf")
WORK = os.path.join(ROOT, ".build", "bench-reward")
EVALUATION_PAIRS = 500
MAXIMUM_LENGTH = 256


def prepare():
    """Writes eval-500.jsonl, train-1000.jsonl, train-all.jsonl under WORK; returns their paths."""
    os.makedirs(WORK, exist_ok=True)
    conversations = {}
    for name in ("helpful-online-test.jsonl.gz", "helpful-rejection-sampled-test.jsonl.gz"):
        for line in gzip.open(os.path.join(DATA, name), "rt", encoding="utf-8"):
            pair = json.loads(line)
            chosen, rejected = pair["chosen"], pair["rejected"]
            cut_chosen, cut_rejected = chosen.rfind("\n\nAssistant:"), rejected.rfind("\n\nAssistant:")
            prompt = chosen[:cut_chosen]
            if cut_chosen < 0 or prompt != rejected[:cut_rejected] or chosen[cut_chosen:].strip() == rejected[cut_rejected:].strip():
                continue
            if "\n\nHuman:" in chosen[cut_chosen:] or "\n\nHuman:" in rejected[cut_rejected:]:
                continue  # a transcript that ends with the human's turn compares no replies
            conversations.setdefault(prompt, []).append(line.strip())
    # A fixed order of conversations, by a hash of their text: splits by conversation.
    ordered = sorted(conversations, key=lambda prompt: hashlib.sha256(prompt.encode()).hexdigest())
    evaluation, training = [], []
    for prompt in ordered:
        if len(evaluation) < EVALUATION_PAIRS:
            evaluation += conversations[prompt]
        else:
            training += conversations[prompt]
    # A conversation straddling the 500th pair is dropped from both sets.
    evaluation = evaluation[:EVALUATION_PAIRS]
    paths = {}
    for name, lines in (("eval-500", evaluation), ("train-1000", training[:1000]), ("train-all", training)):
        paths[name] = os.path.join(WORK, name + ".jsonl")
        with open(paths[name], "w", encoding="utf-8") as output:
            output.write("\n".join(lines) + "\n")
    log(f"data: {len(evaluation)} evaluation pairs, {len(training)} training pairs ({len(conversations)} conversations)")
    return paths


def tally_train(data, output, extra=()):
    if os.path.exists(output):
        subprocess.run(["rm", "-rf", output])
    result, peak = timed([TALLY, "train", "reward", "--model", BASE, "--data", data, "--output", output, "--json",
                          "--validation-fraction", "0", "--max-length", str(MAXIMUM_LENGTH), "--logging-steps", "1"] + list(extra))
    reports = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    training = [r for r in reports if r["phase"] == "train"]
    return {"seconds": training[-1]["elapsed_seconds"], "steps": training[-1]["step"], "peak_rss_mib": peak,
            "final_loss": training[-1]["loss"]}


def finished_training(model):
    """What tally_train reports, read back from a finished model's training_log.jsonl (the
    peak memory is not kept there)."""
    reports = [json.loads(line) for line in open(os.path.join(model, "training_log.jsonl"))]
    training = [r for r in reports if r["phase"] == "train"]
    return {"seconds": training[-1]["elapsed_seconds"], "steps": training[-1]["step"], "peak_rss_mib": None, "final_loss": training[-1]["loss"]}


def tally_evaluate(model, data):
    result = run([TALLY, "eval", "reward", "--model", model, "--data", data, "--json", "--max-length", str(MAXIMUM_LENGTH)])
    return json.loads(result.stdout)


def tokenized(paths, name):
    out = os.path.join(WORK, name + "-ids.jsonl")
    if not os.path.exists(out):
        run([HELPER, "tokenize", BASE, paths[name], out, str(MAXIMUM_LENGTH)])
    return out


def speed(paths, only):
    ids = tokenized(paths, "train-all")
    records = [json.loads(line) for line in open(ids)]
    lines = open(paths["train-all"]).read().splitlines()
    count = int(os.environ.get("BENCH_PAIRS", "128"))
    chosen = [i for i, r in enumerate(records) if r["fits"]][:count]
    subset = os.path.join(WORK, f"speed-{count}.jsonl")
    open(subset, "w").write("\n".join(lines[i] for i in chosen) + "\n")
    subset_ids = os.path.join(WORK, f"speed-{count}-ids.jsonl")
    open(subset_ids, "w").write("\n".join(json.dumps(records[i]) for i in chosen) + "\n")
    tokens = sum(len(records[i]["chosen_ids"]) + len(records[i]["rejected_ids"]) for i in chosen)
    result = {"mode": "speed", "pairs": len(chosen), "tokens_as_pairs": tokens, "fit_in_256": sum(r["fits"] for r in records), "training_pool": len(records)}
    variants = (("tally_shared", []), ("tally_unshared", ["--no-shared-prompt"]), ("tally_shared_top_10_blocks", ["--trained-blocks", "10"]))
    for name, extra in variants:
        if only and name not in only:
            continue
        run_result = tally_train(subset, os.path.join(WORK, "speed-" + name), extra)
        run_result["pairs_per_second"] = len(chosen) / run_result["seconds"]
        run_result["tokens_per_second"] = tokens / run_result["seconds"]
        result[name] = run_result
        log(f"{name}: {json.dumps(run_result)}")
    if only and "trl" not in only:
        record(result, "reward")
        return
    trl, peak = timed([TORCH_PYTHON, os.path.join(PEERS, "trl_reward.py"), hugging_face_base(WORK), subset_ids, os.path.join(WORK, "trl-speed")])
    result["trl"] = json.loads(trl.stdout.strip().splitlines()[-1])
    result["trl"]["peak_rss_mib"] = peak
    for name, _ in variants:
        if name in result:
            result[name + "_over_trl"] = result[name]["pairs_per_second"] / result["trl"]["pairs_per_second"]
    record(result, "reward")


def quality(paths, name, variants):
    for label, extra in variants:
        model = os.path.join(WORK, f"rm-{name}-{label}")
        # BENCH_REUSE=1 evaluates a model an earlier run trained (its own log gives the time).
        training = finished_training(model) if os.environ.get("BENCH_REUSE") and os.path.exists(model) else tally_train(paths[name], model, extra)
        evaluation = tally_evaluate(model, paths["eval-500"])
        scores = os.path.join(WORK, f"scores-{name}-{label}.json")
        run([HELPER, "scores", model, paths["eval-500"], scores, "16"])
        check = json.loads(run([TORCH_PYTHON, os.path.join(PEERS, "check_transformers.py"), model, scores]).stdout)
        record({"mode": "quality", "training": name, "variant": label, "train": training, "evaluation": {
            k: evaluation[k] for k in ("pairs", "accuracy", "length_baseline_accuracy", "chance", "equal_scores", "truncated", "by_length")},
            "transformers_check": check}, "reward")


def foreign(paths):
    """A reward model saved by transformers, as a TRL or OpenRLHF user's comes, loaded by Tally:
    its rewards must be transformers' scores (no shift in its config.json)."""
    folder, expected = os.path.join(WORK, "rm-transformers"), os.path.join(WORK, "transformers-scores.json")
    run([TORCH_PYTHON, os.path.join(PEERS, "check_foreign_reward_model.py"), hugging_face_base(WORK), tokenized(paths, "eval-500"), folder, expected, "16"])
    tally_scores = os.path.join(WORK, "tally-scores-of-transformers-model.json")
    run([HELPER, "scores", folder, paths["eval-500"], tally_scores, "16"])
    want = [s for pair in json.load(open(expected))["pairs"] for s in pair["scores"]]
    got = [s for pair in json.load(open(tally_scores))["pairs"] for s in pair["rewards"]]
    worst = max(abs(a - b) for a, b in zip(want, got))
    record({"mode": "foreign", "pairs": len(want) // 2, "largest_difference": worst, "ok": worst < 1e-3}, "reward")


def quality_trl(paths):
    ids_train, ids_eval = tokenized(paths, "train-1000"), tokenized(paths, "eval-500")
    trl, peak = timed([TORCH_PYTHON, os.path.join(PEERS, "trl_reward.py"), hugging_face_base(WORK), ids_train,
                       os.path.join(WORK, "trl-quality"), "--eval", ids_eval, "--cut"])
    result = json.loads(trl.stdout.strip().splitlines()[-1])
    result.update({"mode": "quality-trl", "peak_rss_mib": peak})
    record(result, "reward")


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "speed"
    paths = prepare()
    if mode == "speed":
        # BENCH_ONLY=tally_shared,trl runs only those.
        speed(paths, [name for name in os.environ.get("BENCH_ONLY", "").split(",") if name])
    elif mode == "quality":
        quality(paths, "train-1000", [("full", []), ("top-10-blocks", ["--trained-blocks", "10"])])
    elif mode == "quality-all":
        quality(paths, "train-all", [("full", [])])
    elif mode == "quality-trl":
        quality_trl(paths)
    elif mode == "foreign":
        foreign(paths)
    else:
        sys.exit(f"unknown mode {mode}: speed, quality, quality-all, quality-trl or foreign")


if __name__ == "__main__":
    main()
