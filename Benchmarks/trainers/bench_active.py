#!/usr/bin/env python3
"""`make bench-active`: does ordering the ranking queue by the reward model's uncertainty (what a
project's `queueOrder: uncertainty` does) save human labels, against taking prompts at random?

A simulated labeler: the pool is HH-RLHF helpful pairs whose human answer is known (the pairs
Benchmarks/trainers/hh-rlhf ships, parsed and split by conversation exactly as bench-reward
does: the same 500-pair evaluation set, never labelled). Labels are revealed in rounds: first
INITIAL pairs at random, then ROUNDS rounds of ROUND pairs chosen either at random or as the
queue chooses (each task, with probability SHARE (the product's default random share, 0.2) a
random waiting pair, else the one whose two answers the latest reward model scores closest
together: QueueUncertainty's smallest margin). After each round the reward model is refitted
on every label revealed so far and its accuracy on the evaluation set is recorded.

Which reward model: retraining SmolLM2 for every round of every seed does not fit in two hours
on 2 cores (one epoch over 1,000 pairs takes 14 minutes), so the trunk is frozen and only the
head trains: SmolLM2-135M-Instruct's final hidden state at each answer's last token (where
Tally's reward model reads its score) is computed once for every pair, and each round fits a
linear Bradley-Terry head on those features (Training's FrozenTrunkPreferenceHead, Newton's
method, L2 penalty PENALTY, warm-started from the previous round). The selection rule is the
product's; the model it consults is a cheaper one than a full reward-model job trains.

Pinned: POOL 2,000 training pairs (the first of the hash-ordered training set), INITIAL 100,
ROUND 100, ROUNDS 9 (1,000 labels in the end), PENALTY 10 (BENCH_PENALTY; not tuned: choosing it
on the evaluation set would be tuning on the test), SHARE 0.2, seeds 1, 2, 3. Reports held-out
accuracy against labels for both strategies (mean and spread over the seeds), and how many labels
the uncertainty order needs to reach the random order's final accuracy, when the random order's
curve rises at all (else none is claimed). Appends to Benchmarks/results/active.jsonl. The
features take most of the time (about 45 minutes for 2,500 pairs on 2 cores, cached under
.build/bench-reward/active); each strategy's run then takes seconds. Benchmark tooling only.
"""
import json, os, statistics, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import BASE, HELPER, log, record, run
from bench_reward import MAXIMUM_LENGTH, WORK, prepare

POOL = int(os.environ.get("BENCH_POOL", "2000"))
INITIAL = int(os.environ.get("BENCH_INITIAL", "100"))
ROUND = int(os.environ.get("BENCH_ROUND", "100"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "9"))
PENALTY = float(os.environ.get("BENCH_PENALTY", "10"))
SHARE = float(os.environ.get("BENCH_RANDOM_SHARE", "0.2"))
SEEDS = [int(seed) for seed in os.environ.get("BENCH_SEEDS", "1,2,3").split(",")]


def features(name, lines):
    """The cached features of `lines` (pairs) under WORK/active; computed when missing."""
    folder = os.path.join(WORK, "active")
    os.makedirs(folder, exist_ok=True)
    pairs, out = os.path.join(folder, name + ".jsonl"), os.path.join(folder, name + ".features")
    if not (os.path.exists(out) and os.path.exists(out + ".json") and open(pairs).read() == "\n".join(lines) + "\n"):
        open(pairs, "w").write("\n".join(lines) + "\n")
        run([HELPER, "features", BASE, pairs, out, str(MAXIMUM_LENGTH)])
    shape = json.load(open(out + ".json"))
    log(f"{name}: {shape['pairs']} pairs, {shape['tokens']} tokens, features in {shape['seconds']:.0f} s")
    return out, shape


def labels_to_reach(curve, target):
    """The labels at which a (labels, accuracy) curve first reaches `target`, interpolated
    linearly between rounds; None if it never does."""
    for (l0, a0), (l1, a1) in zip(curve, curve[1:]):
        if a0 >= target:
            return l0
        if a1 >= target:
            return l0 + (l1 - l0) * (target - a0) / (a1 - a0)
    return curve[-1][0] if curve and curve[-1][1] >= target else None


def main():
    paths = prepare()
    training = open(paths["train-all"]).read().splitlines()[:POOL]
    evaluation = open(paths["eval-500"]).read().splitlines()
    pool_features, pool_shape = features(f"pool-{len(training)}", training)
    evaluation_features, evaluation_shape = features("eval-500", evaluation)
    longer = sum((c > r) + 0.5 * (c == r) for c, r in zip(evaluation_shape["chosen_characters"], evaluation_shape["rejected_characters"]))
    runs = {"random": [], "uncertainty": []}
    for seed in SEEDS:
        for strategy in runs:
            output = run([HELPER, "active", pool_features, evaluation_features, strategy, str(seed), str(INITIAL), str(ROUND),
                          str(ROUNDS), str(PENALTY), str(SHARE)]).stdout
            result = json.loads(output.strip().splitlines()[-1])
            runs[strategy].append(result)
            log(f"seed {seed} {strategy}: " + ", ".join(f"{p['labels']}: {p['accuracy']:.3f}" for p in result["curve"]))
    mean_curves = {}
    for strategy, results in runs.items():
        points = list(zip(*[[(p["labels"], p["accuracy"]) for p in r["curve"]] for r in results]))
        mean_curves[strategy] = [(column[0][0], statistics.mean(a for _, a in column), statistics.pstdev(a for _, a in column)) for column in points]
    random_final = mean_curves["random"][-1][1]
    final_labels = mean_curves["random"][-1][0]
    # Labels are saved only against a curve that rises: where the random order's accuracy at the
    # end is within its seeds' spread of where it began, more labels did not help that head, and
    # "reaching it sooner" says nothing.
    (_, random_first, first_spread), (_, _, final_spread) = mean_curves["random"][0], mean_curves["random"][-1]
    rises = random_final - random_first > max(first_spread, final_spread)
    reached = labels_to_reach([(l, a) for l, a, _ in mean_curves["uncertainty"]], random_final) if rises else None
    result = {
        "pool_pairs": pool_shape["pairs"], "evaluation_pairs": evaluation_shape["pairs"], "initial": INITIAL, "round": ROUND, "rounds": ROUNDS,
        "penalty": PENALTY, "random_share": SHARE, "seeds": SEEDS, "reward_model": "frozen SmolLM2-135M-Instruct trunk, linear Bradley-Terry head refitted each round (warm start)",
        "feature_seconds": pool_shape["seconds"] + evaluation_shape["seconds"], "longer_answer_wins_accuracy": longer / evaluation_shape["pairs"],
        "curves": {s: [{"labels": l, "accuracy_mean": a, "accuracy_std": d} for l, a, d in c] for s, c in mean_curves.items()},
        "random_final_accuracy": random_final, "uncertainty_final_accuracy": mean_curves["uncertainty"][-1][1],
        "random_curve_rises": rises,
        "uncertainty_labels_to_reach_random_final": reached,
        "labels_saved": None if reached is None else final_labels - reached,
        "labels_saved_share": None if reached is None else (final_labels - reached) / final_labels,
    }
    record(result, "active")
    print("\n| labels | random (mean ± sd of 3 seeds) | uncertainty, 20% random |\n|---:|---:|---:|")
    for (l, a, d), (_, b, e) in zip(mean_curves["random"], mean_curves["uncertainty"]):
        print(f"| {l} | {100 * a:.1f}% ± {100 * d:.1f} | {100 * b:.1f}% ± {100 * e:.1f} |")


if __name__ == "__main__":
    main()
