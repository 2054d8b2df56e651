#!/usr/bin/env python3
"""Loads the reward model `make bench-reward` trained with transformers'
AutoModelForSequenceClassification (as TRL and OpenRLHF would) and checks that its scores,
read at the last token that is not padding, equal Tally's: raw scores, then with config.json's
mean and std applied.

    python check_transformers.py REWARD_MODEL_FOLDER TALLY_SCORES.json

Prints one JSON object with the largest difference. Benchmark tooling only.
"""
import json, sys

import torch
from transformers import AutoModelForSequenceClassification


def main():
    folder, scores_path = sys.argv[1], sys.argv[2]
    expected = json.load(open(scores_path))
    model = AutoModelForSequenceClassification.from_pretrained(folder, torch_dtype=torch.float32).eval()
    pad = model.config.pad_token_id
    worst = 0.0
    with torch.no_grad():
        for pair in expected["pairs"]:
            longest = max(len(s) for s in pair["sequences"])
            batch = torch.tensor([s + [pad] * (longest - len(s)) for s in pair["sequences"]])
            raw = model(input_ids=batch, attention_mask=(batch != pad).long()).logits[:, 0]
            rewards = (raw - model.config.mean) / model.config.std
            for got, want in zip(rewards.tolist(), pair["rewards"]):
                worst = max(worst, abs(got - want))
    print(json.dumps({"pairs": len(expected["pairs"]), "largest_difference": worst, "ok": worst < 1e-3}))


if __name__ == "__main__":
    main()
