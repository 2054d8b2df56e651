#!/usr/bin/env python3
"""Builds self-instruct-ranking.jsonl, the embedded demo's prompts and candidates, from the
Self-Instruct user-oriented instructions and four GPT-3-family models' answers to them
(see PROVENANCE.md). Run from this folder with the source files beside it:

    python3 make_demo_data.py SOURCE_FOLDER

SOURCE_FOLDER holds user_oriented_instructions.jsonl and predictions/*.jsonl as published in
yizhongw/self-instruct (commit 0b26ccaa415992100fa32df62d41b994cf928e23). Demo tooling only.
"""
import json, os, sys

MODELS = ["text-davinci-003", "text-davinci-002", "text-davinci-001", "davinci-self-instruct"]
PROMPTS = 60

source = sys.argv[1]
instructions = [json.loads(line) for line in open(os.path.join(source, "user_oriented_instructions.jsonl"), encoding="utf-8")]
predictions = {m: [json.loads(line) for line in open(os.path.join(source, "predictions", f"{m}_predictions.jsonl"), encoding="utf-8")] for m in MODELS}
with open("self-instruct-ranking.jsonl", "w", encoding="utf-8") as output:
    written = 0
    for index, task in enumerate(instructions):
        instance = task["instances"][0]
        prompt = task["instruction"].strip()
        if instance["input"].strip():
            prompt += "\n\n" + instance["input"].strip()
        candidates = []
        for model in MODELS:
            response = predictions[model][index]["response"].strip()
            if response and response not in [c["text"] for c in candidates]:
                candidates.append({"text": response, "model": model})
        if len(candidates) < 4:
            continue
        output.write(json.dumps({"prompt": prompt, "split": "train", "metadata": {"source": task["id"], "app": task["motivation_app"]},
                                 "candidates": candidates}, ensure_ascii=False) + "\n")
        written += 1
        if written == PROMPTS:
            break
print(written, "prompts")
