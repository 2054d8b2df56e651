#!/usr/bin/env python3
"""Makes a reward model the way a TRL or OpenRLHF user's folder comes: transformers'
LlamaForSequenceClassification on the benchmark's base (a score head drawn by transformers,
pad = <|endoftext|>), saved with save_pretrained beside its tokenizer; writes the pairs' token
ids and transformers' scores, so that `TrainerBenchmark scores` can load the folder as Tally's
reward model and the benchmark can compare. Benchmark tooling only.

    python check_foreign_reward_model.py BASE_FOLDER IDS.jsonl OUTPUT_FOLDER EXPECTED.json N
"""
import json, sys

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer


def main():
    base, ids_path, output, expected_path, count = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(base)
    tokenizer.pad_token = "<|endoftext|>"
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1, torch_dtype=torch.float32).eval()
    model.config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(output)
    tokenizer.save_pretrained(output)
    pairs = []
    with torch.no_grad():
        for line in list(open(ids_path))[:count]:
            record = json.loads(line)
            sequences = [record["chosen_ids_cut"], record["rejected_ids_cut"]]
            scores = [model(input_ids=torch.tensor([s])).logits[0, 0].item() for s in sequences]
            pairs.append({"sequences": sequences, "scores": scores})
    json.dump({"pairs": pairs}, open(expected_path, "w"))


if __name__ == "__main__":
    main()
