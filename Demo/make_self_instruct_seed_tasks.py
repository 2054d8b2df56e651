#!/usr/bin/env python3
"""Writes self-instruct-seed-tasks.jsonl: Self-Instruct's 175 human-written seed tasks as a
Tally prompt import (one text prompt per task: its instruction, with its input when it has one),
the seeds a Self-Instruct job writes new prompts from. The task's id, name, input, output and
whether it is a classification task go in the prompt's metadata.

    python3 Demo/make_self_instruct_seed_tasks.py ../shared/data/self-instruct/seed_tasks.jsonl

Run once by a maintainer; the product reads only the file it writes."""
import json, os, sys

source = sys.argv[1]
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "self-instruct-seed-tasks.jsonl")
lines = []
for line in open(source, encoding="utf-8"):
    task = json.loads(line)
    instance = task["instances"][0]
    prompt = task["instruction"].strip()
    if instance["input"].strip():
        prompt += "\n\n" + instance["input"].strip()
    lines.append(json.dumps({"prompt": prompt, "metadata": {"self_instruct_seed": task["id"], "name": task["name"],
                                                            "output": instance["output"], "is_classification": task["is_classification"]}},
                            ensure_ascii=False))
open(out, "w", encoding="utf-8").write("\n".join(lines) + "\n")
print(f"{out}: {len(lines)} seed tasks")
