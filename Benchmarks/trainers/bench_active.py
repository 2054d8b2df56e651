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

Pinned: POOL 2,000 training pairs (the first of the hash-ordered training set), INITIAL 10,
ROUND 10, ROUNDS 19 (200 labels in the end: the head on the frozen trunk learns what it can by
about 100, so rounds of 100 would measure a flat curve), PENALTY 10 and 1,000 (BENCH_PENALTY, a
comma-separated list; one record each; not tuned: choosing it on the evaluation set would be
tuning on the test), SHARE 0.2, seeds 1 to 10. Reports held-out accuracy against labels for both
strategies (mean, spread and standard error over the seeds), and the labels saved: how many labels
the random order needs to first reach its own final accuracy, less how many the uncertainty order
needs, with a 95% bootstrap interval over the seeds, when the random order's curve rises at all
(its last point above its first by more than twice their standard errors combined; else none is
claimed). Appends to
Benchmarks/results/active.jsonl. The
features take most of the time (about 45 to 55 minutes for 2,500 pairs on 2 cores, cached under
.build/bench-reward/active); each strategy's run then takes seconds. Benchmark tooling only.
"""
import json, os, statistics, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import BASE, HELPER, log, record, run
from bench_reward import MAXIMUM_LENGTH, WORK, prepare

POOL = int(os.environ.get("BENCH_POOL", "2000"))
INITIAL = int(os.environ.get("BENCH_INITIAL", "10"))
ROUND = int(os.environ.get("BENCH_ROUND", "10"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "19"))
PENALTIES = [float(penalty) for penalty in os.environ.get("BENCH_PENALTY", "10,1000").split(",")]
SHARE = float(os.environ.get("BENCH_RANDOM_SHARE", "0.2"))
SEEDS = [int(seed) for seed in os.environ.get("BENCH_SEEDS", "1,2,3,4,5,6,7,8,9,10").split(",")]


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


def mean_curve(results):
    """(labels, mean accuracy, spread, standard error of the mean) at each round, over the seeds."""
    points = zip(*[[(p["labels"], p["accuracy"]) for p in r["curve"]] for r in results])
    return [(column[0][0], statistics.mean(a for _, a in column), statistics.pstdev(a for _, a in column),
             statistics.stdev(a for _, a in column) / len(column) ** 0.5 if len(column) > 1 else 0.0) for column in points]


def labels_saved(random_runs, uncertainty_runs):
    """Labels the random order needs to first reach its final mean accuracy, less the labels the
    uncertainty order needs (None when it never does)."""
    random_curve = [(l, a) for l, a, _, _ in mean_curve(random_runs)]
    uncertainty_curve = [(l, a) for l, a, _, _ in mean_curve(uncertainty_runs)]
    target = random_curve[-1][1]
    reached = labels_to_reach(uncertainty_curve, target)
    return None if reached is None else labels_to_reach(random_curve, target) - reached


def saved_interval(runs, resamples=2000):
    """A 95% bootstrap interval of the labels saved, the seeds resampled with replacement (the
    same seeds for both orders, which share their first labels); an order that never reaches the
    target counts as saving minus the whole budget."""
    import random
    generator, seeds = random.Random(0), range(len(runs["random"]))
    budget = runs["random"][0]["curve"][-1]["labels"]
    values = []
    for _ in range(resamples):
        chosen = [generator.choice(seeds) for _ in seeds]
        saved = labels_saved([runs["random"][i] for i in chosen], [runs["uncertainty"][i] for i in chosen])
        values.append(-budget if saved is None else saved)
    values.sort()
    return [values[int(0.025 * resamples)], values[int(0.975 * resamples) - 1]]


def main():
    paths = prepare()
    training = open(paths["train-all"]).read().splitlines()[:POOL]
    evaluation = open(paths["eval-500"]).read().splitlines()
    pool_features, pool_shape = features(f"pool-{len(training)}", training)
    evaluation_features, evaluation_shape = features("eval-500", evaluation)
    longer = sum((c > r) + 0.5 * (c == r) for c, r in zip(evaluation_shape["chosen_characters"], evaluation_shape["rejected_characters"]))
    for penalty in PENALTIES:
        measure(penalty, pool_features, pool_shape, evaluation_features, evaluation_shape, longer / evaluation_shape["pairs"])


def measure(penalty, pool_features, pool_shape, evaluation_features, evaluation_shape, longer_answer_wins):
    runs = {"random": [], "uncertainty": []}
    for seed in SEEDS:
        for strategy in runs:
            output = run([HELPER, "active", pool_features, evaluation_features, strategy, str(seed), str(INITIAL), str(ROUND),
                          str(ROUNDS), str(penalty), str(SHARE)]).stdout
            result = json.loads(output.strip().splitlines()[-1])
            runs[strategy].append(result)
            log(f"penalty {penalty:g}, seed {seed} {strategy}: " + ", ".join(f"{p['labels']}: {p['accuracy']:.3f}" for p in result["curve"]))
    curves = {strategy: mean_curve(results) for strategy, results in runs.items()}
    (_, random_first, _, first_error), (final_labels, random_final, _, final_error) = curves["random"][0], curves["random"][-1]
    # Labels are saved only against a curve that rises: where the random order's mean accuracy at
    # the end is within noise of where it began, more labels did not help that head, and
    # "reaching it sooner" says nothing.
    rises = random_final - random_first > 2 * (first_error ** 2 + final_error ** 2) ** 0.5
    # Both orders are measured by when they first reach the random order's final accuracy: on a
    # curve that levels off, the random order itself gets there before its last round.
    random_reaches = labels_to_reach([(l, a) for l, a, _, _ in curves["random"]], random_final)
    uncertainty_reaches = labels_to_reach([(l, a) for l, a, _, _ in curves["uncertainty"]], random_final) if rises else None
    saved = None if uncertainty_reaches is None else random_reaches - uncertainty_reaches
    interval = saved_interval(runs) if rises else None
    result = {
        "pool_pairs": pool_shape["pairs"], "evaluation_pairs": evaluation_shape["pairs"], "initial": INITIAL, "round": ROUND, "rounds": ROUNDS,
        "penalty": penalty, "random_share": SHARE, "seeds": SEEDS, "reward_model": "frozen SmolLM2-135M-Instruct trunk, linear Bradley-Terry head refitted each round (warm start)",
        "feature_seconds": pool_shape["seconds"] + evaluation_shape["seconds"], "longer_answer_wins_accuracy": longer_answer_wins,
        "curves": {s: [{"labels": l, "accuracy_mean": a, "accuracy_std": d, "accuracy_standard_error": e} for l, a, d, e in c] for s, c in curves.items()},
        "random_final_accuracy": random_final, "uncertainty_final_accuracy": curves["uncertainty"][-1][1],
        "random_curve_rises": rises,
        "random_labels_to_reach_random_final": random_reaches,
        "uncertainty_labels_to_reach_random_final": uncertainty_reaches,
        "labels_saved": saved,
        "labels_saved_share": None if saved is None else saved / random_reaches,
        "labels_saved_95_percent_interval": interval,
    }
    record(result, "active")
    print(f"\npenalty {penalty:g}\n| labels | random (mean ± sd of {len(SEEDS)} seeds) | uncertainty, {SHARE:.0%} random |\n|---:|---:|---:|")
    for (l, a, d, _), (_, b, e, _) in zip(curves["random"], curves["uncertainty"]):
        print(f"| {l} | {100 * a:.1f}% ± {100 * d:.1f} | {100 * b:.1f}% ± {100 * e:.1f} |")


if __name__ == "__main__":
    main()
