#!/usr/bin/env python3
"""Builds seed-demonstrations.jsonl: the 175 human-written Self-Instruct seed tasks as
demonstrations in TRL's `messages` format, the format Tally's `sft-messages` export writes,
for `tally train sft` examples, the SFT tests and `make bench-sft` (see PROVENANCE.md). Each
instance of a task becomes one demonstration: the instruction (and the instance's input, when
there is one) as the user's turn, the instance's output as the assistant's. Every tenth task's
demonstrations are marked `"split": "validation"`, so the validation split is by prompt.

    python3 make_demonstrations.py SOURCE_FOLDER

SOURCE_FOLDER holds seed_tasks.jsonl as published in yizhongw/self-instruct (commit
0b26ccaa415992100fa32df62d41b994cf928e23). Demo tooling only.
"""
import json, os, sys

source = sys.argv[1]
tasks = [json.loads(line) for line in open(os.path.join(source, "seed_tasks.jsonl"), encoding="utf-8")]
with open("seed-demonstrations.jsonl", "w", encoding="utf-8") as output:
    for index, task in enumerate(tasks):
        for instance in task["instances"]:
            prompt = task["instruction"].strip()
            if instance["input"].strip():
                prompt += "\n\n" + instance["input"].strip()
            answer = instance["output"].strip()
            if not answer:
                continue
            record = {"messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}],
                      "split": "validation" if index % 10 == 9 else "train", "source": task["id"]}
            output.write(json.dumps(record, ensure_ascii=False) + "\n")
