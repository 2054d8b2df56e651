#!/usr/bin/env python3
"""`make bench-sft`: Tally's supervised fine-tuning beside TRL's SFTTrainer on this CPU.

SmolLM2-135M-Instruct (make smollm2) on the shipped demonstrations (Demo/seed-demonstrations.jsonl:
175 Self-Instruct seed tasks, 17 marked for validation), one epoch, batch 8, maximum length 512,
learning rate 2e-5, linear decay: both trainers see the very token ids Tally trains on (TRL as
`input_ids` with a `completion_mask`, so its loss covers the same answer tokens). Reports tokens
per second, the validation loss after the epoch (the mean cross-entropy per answer token, each
side computing its own on the 17 held-out demonstrations), and peak memory; appends to
Benchmarks/results/sft.jsonl. Benchmark tooling only.
"""
import json, os, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORK = os.path.join(ROOT, ".build", "bench-sft")
RESULTS = os.path.join(ROOT, "Benchmarks", "results")
TALLY = os.path.join(ROOT, ".build", "release", "tally")
HELPER = os.path.join(ROOT, ".build", "release", "TrainerBenchmark")
TORCH_PYTHON = os.path.join(ROOT, ".build-python", "torch", "bin", "python")
BASE = os.path.join(ROOT, ".build-models", "SmolLM2-135M-Instruct.Q4_1.gguf")
DATA = os.path.join(ROOT, "Demo", "seed-demonstrations.jsonl")
MAXIMUM_LENGTH = 512


# This machine's environment sets OPENBLAS_CORETYPE=Haswell (AVX2); a user's does not, and
# OpenBLAS then picks its kernel by the processor (Cooperlake here: 1.5 times faster on these
# products). Tally's runs get OpenBLAS's own choice unless BENCH_OPENBLAS_CORETYPE names one;
# PyTorch does not use OpenBLAS.
TALLY_ENVIRONMENT = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
if os.environ.get("BENCH_OPENBLAS_CORETYPE"):
    TALLY_ENVIRONMENT["OPENBLAS_CORETYPE"] = os.environ["BENCH_OPENBLAS_CORETYPE"]


def log(text):
    print(text, file=sys.stderr, flush=True)


def run(command):
    log("$ " + " ".join(command))
    environment = TALLY_ENVIRONMENT if command[0] in (TALLY, HELPER) else os.environ
    result = subprocess.run(["/usr/bin/time", "-v"] + command, capture_output=True, text=True, cwd=ROOT, env=environment)
    if result.returncode != 0:
        sys.exit(f"failed ({result.returncode}):\n{result.stderr[-3000:]}")
    peak = next(int(line.split(":")[1]) for line in result.stderr.splitlines() if "Maximum resident set size" in line) / 1024
    return result, peak


def main():
    os.makedirs(WORK, exist_ok=True)
    folder = os.path.join(WORK, "smollm2-hf")
    if not os.path.exists(os.path.join(folder, "model.safetensors")):
        run([HELPER, "convert", BASE, folder])
    ids = os.path.join(WORK, "demonstrations-ids.jsonl")
    run([HELPER, "tokenize-sft", BASE, DATA, ids, str(MAXIMUM_LENGTH)])
    output = os.path.join(WORK, "tally-sft")
    subprocess.run(["rm", "-rf", output])
    tally, tally_peak = run([TALLY, "train", "sft", "--model", BASE, "--data", DATA, "--output", output, "--json", "--epochs", "1",
                             "--max-length", str(MAXIMUM_LENGTH), "--logging-steps", "1"])
    reports = [json.loads(line) for line in tally.stdout.splitlines() if line.startswith("{")]
    training = [r for r in reports if r["phase"] == "train"]
    validation = [r for r in reports if r["phase"] == "eval"]
    records = [json.loads(line) for line in open(ids)]
    tokens = sum(len(r["input_ids"]) for r in records if not r["validation"])
    tally_seconds = training[-1]["elapsed_seconds"] - (validation[0]["elapsed_seconds"] if validation else 0)
    result = {"mode": "sft", "demonstrations": len(records), "training_tokens": tokens,
              "tally": {"seconds": tally_seconds, "tokens_per_second": tokens / tally_seconds, "peak_rss_mib": tally_peak,
                        "validation_loss_before": validation[0]["eval_loss"], "validation_loss_after": validation[-1]["eval_loss"]}}
    trl, trl_peak = run([TORCH_PYTHON, os.path.join(ROOT, "Benchmarks", "trainers", "trl_sft.py"), folder, ids, os.path.join(WORK, "trl-sft")])
    result["trl"] = json.loads(trl.stdout.strip().splitlines()[-1])
    result["trl"]["peak_rss_mib"] = trl_peak
    result["tally_over_trl_tokens_per_second"] = result["tally"]["tokens_per_second"] / result["trl"]["tokens_per_second"]
    result["validation_loss_difference"] = result["tally"]["validation_loss_after"] / result["trl"]["validation_loss_after"] - 1
    os.makedirs(RESULTS, exist_ok=True)
    result["date"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with open(os.path.join(RESULTS, "sft.jsonl"), "a") as out:
        out.write(json.dumps(result) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
