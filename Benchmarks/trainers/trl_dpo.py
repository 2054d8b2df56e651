#!/usr/bin/env python3
"""TRL's DPOTrainer, the peer of `make bench-dpo`: the same SmolLM2 policy on the same HH-RLHF
pairs, given as the token ids Tally trains on (TRL's pre-tokenized prompt_ids / chosen_ids /
rejected_ids), the reference's log-probabilities computed once (precompute_ref_log_probs), with
Tally's batch, beta, learning rate and schedule, one epoch on this CPU.

    python trl_dpo.py MODEL_FOLDER TRAIN-ids.jsonl EVAL-ids.jsonl OUTPUT [LEARNING_RATE]

Prints one JSON object: pairs trained on, training seconds (the reference's pass before it
left out, as in Tally's report), pairs per second, and the held-out loss and
rewards/accuracies after the epoch. Benchmark tooling only.
"""
import json, sys, time

import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import DPOConfig, DPOTrainer


class PreTokenizedDPOTrainer(DPOTrainer):
    """TRL 1.16's DPOTrainer always renders and tokenizes text; its collator takes prompt_ids,
    chosen_ids and rejected_ids as they are, so the given ids skip that preparation."""

    def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
        return dataset


def main():
    folder, train_file, eval_file, output = sys.argv[1:5]
    learning_rate = float(sys.argv[5]) if len(sys.argv) > 5 else 1e-6
    torch.manual_seed(42)
    load = lambda path: Dataset.from_list([json.loads(line) for line in open(path)])
    training, held_out = load(train_file), load(eval_file)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.pad_token = "<|endoftext|>"
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    config = DPOConfig(output_dir=output, per_device_train_batch_size=8, per_device_eval_batch_size=8, num_train_epochs=1, learning_rate=learning_rate,
                       lr_scheduler_type="linear", warmup_steps=0, weight_decay=0.0, max_grad_norm=1.0, beta=0.1, max_length=None,
                       precompute_ref_log_probs=True, bf16=False, fp16=False, logging_steps=1, disable_tqdm=True, save_strategy="no", eval_strategy="no",
                       report_to=[], seed=42, use_cpu=True, dataloader_num_workers=0)
    started = time.perf_counter()
    trainer = PreTokenizedDPOTrainer(model=model, args=config, train_dataset=training, eval_dataset=held_out, processing_class=tokenizer)
    reference_seconds = time.perf_counter() - started
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    evaluation = trainer.evaluate()
    print(json.dumps({"pairs": len(training), "seconds": seconds, "pairs_per_second": len(training) / seconds, "reference_seconds": reference_seconds,
                      "eval_loss": evaluation.get("eval_loss"), "eval_accuracy": evaluation.get("eval_rewards/accuracies"),
                      "eval_margin": evaluation.get("eval_rewards/margins")}))


if __name__ == "__main__":
    main()
