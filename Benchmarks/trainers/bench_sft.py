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
import json, os, subprocess

from bench_common import BASE, HELPER, PEERS, ROOT, TALLY, TORCH_PYTHON, hugging_face_base, record, run, timed

WORK = os.path.join(ROOT, ".build", "bench-sft")
DATA = os.path.join(ROOT, "Demo", "seed-demonstrations.jsonl")
MAXIMUM_LENGTH = 512


def main():
    os.makedirs(WORK, exist_ok=True)
    folder = hugging_face_base(WORK)
    ids = os.path.join(WORK, "demonstrations-ids.jsonl")
    run([HELPER, "tokenize-sft", BASE, DATA, ids, str(MAXIMUM_LENGTH)])
    output = os.path.join(WORK, "tally-sft")
    subprocess.run(["rm", "-rf", output])
    tally, tally_peak = timed([TALLY, "train", "sft", "--model", BASE, "--data", DATA, "--output", output, "--json", "--epochs", "1",
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
    trl, trl_peak = timed([TORCH_PYTHON, os.path.join(PEERS, "trl_sft.py"), folder, ids, os.path.join(WORK, "trl-sft")])
    result["trl"] = json.loads(trl.stdout.strip().splitlines()[-1])
    result["trl"]["peak_rss_mib"] = trl_peak
    result["tally_over_trl_tokens_per_second"] = result["tally"]["tokens_per_second"] / result["trl"]["tokens_per_second"]
    result["validation_loss_difference"] = result["tally"]["validation_loss_after"] / result["trl"]["validation_loss_after"] - 1
    record(result, "sft")

if __name__ == "__main__":
    main()
