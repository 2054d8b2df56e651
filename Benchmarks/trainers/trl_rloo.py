#!/usr/bin/env python3
"""TRL's RLOOTrainer, the peer of `make bench-rl`'s speed run: the same SmolLM2 policy (and its
reference), a SmolLM2 reward model trained by `make bench-reward`, the same prompts, k, answers
per step and answer length, on this CPU.

    python trl_rloo.py POLICY_FOLDER REWARD_FOLDER PROMPTS.jsonl OUTPUT STEPS PROMPTS_PER_STEP K MAX_NEW_TOKENS

Prints one JSON object: the seconds of each optimizer step (one step = one iteration: sample,
score, update), the steady seconds per step (the first, which warms up, left out), episodes per
second, and TRL's own logs of each step. Benchmark tooling only.
"""
import json, sys, time

import torch
from datasets import Dataset
from transformers import AutoTokenizer, TrainerCallback
from trl import RLOOConfig, RLOOTrainer


class StepClock(TrainerCallback):
    def __init__(self):
        self.marks, self.logs = [time.perf_counter()], []

    def on_step_end(self, args, state, control, **kwargs):
        self.marks.append(time.perf_counter())

    def on_log(self, args, state, control, logs=None, **kwargs):
        self.logs.append(dict(logs or {}))


def main():
    policy, reward, prompts_file, output = sys.argv[1:5]
    steps, prompts_per_step, k, new_tokens = (int(value) for value in sys.argv[5:9])
    torch.manual_seed(42)
    prompts = []
    for line in open(prompts_file):
        record = json.loads(line)
        if record.get("split", "train") == "train":
            prompt = record["prompt"] if "prompt" in record else record["messages"][:-1]
            prompts.append(prompt if isinstance(prompt, list) else [{"role": "user", "content": prompt}])
    dataset = Dataset.from_list([{"prompt": p} for p in prompts])
    tokenizer = AutoTokenizer.from_pretrained(policy, padding_side="left")
    tokenizer.pad_token = "<|endoftext|>"
    reward_tokenizer = AutoTokenizer.from_pretrained(reward)
    reward_tokenizer.pad_token = "<|endoftext|>"
    config = RLOOConfig(output_dir=output, per_device_train_batch_size=prompts_per_step * k, num_generations=k, max_completion_length=new_tokens,
                        max_steps=steps, learning_rate=1e-6, beta=0.05, temperature=1.0, top_p=1.0, top_k=0, logging_steps=1,
                        save_strategy="no", report_to=[], bf16=False, fp16=False, use_cpu=True, seed=42, dataloader_num_workers=0,
                        model_init_kwargs={"dtype": torch.float32})
    clock = StepClock()
    trainer = RLOOTrainer(model=policy, reward_funcs=reward, args=config, train_dataset=dataset, processing_class=tokenizer,
                          reward_processing_classes=reward_tokenizer, callbacks=[clock])
    clock.marks = [time.perf_counter()]
    trainer.train()
    seconds = [b - a for a, b in zip(clock.marks, clock.marks[1:])]
    steady = sum(seconds[1:]) / max(1, len(seconds) - 1)
    step_logs = [log for log in clock.logs if "reward" in log]
    print(json.dumps({"step_seconds": seconds, "seconds_per_step": steady, "episodes_per_second": prompts_per_step * k / steady,
                      "mean_length": sum(log.get("completions/mean_length", 0) for log in step_logs) / max(1, len(step_logs)),
                      "logs": step_logs}))


if __name__ == "__main__":
    main()
