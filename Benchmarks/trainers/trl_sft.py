#!/usr/bin/env python3
"""TRL's SFTTrainer, the peer of `make bench-sft`: the same base model on the same
demonstrations, given as the token ids Tally trains on (`input_ids` with a `completion_mask`,
which TRL takes as they are, its loss on the answer tokens only), with the same batch,
learning rate, schedule and length, one epoch on this CPU.

    python trl_sft.py MODEL_FOLDER DEMONSTRATIONS-ids.jsonl OUTPUT

Prints one JSON object: tokens trained on, seconds, tokens per second, and the validation loss
(mean cross-entropy per answer token over the held-out demonstrations) before and after.
Benchmark tooling only.
"""
import json, sys, time

import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import SFTConfig, SFTTrainer


def validation_loss(model, records):
    total, count = 0.0, 0
    model.eval()
    with torch.no_grad():
        for r in records:
            ids = torch.tensor([r["input_ids"]])
            logits = model(input_ids=ids).logits[0, :-1]
            targets = ids[0, 1:]
            mask = torch.tensor(r["completion_mask"][1:], dtype=torch.bool)
            losses = torch.nn.functional.cross_entropy(logits, targets, reduction="none")
            total += losses[mask].sum().item()
            count += int(mask.sum())
    model.train()
    return total / count


def main():
    folder, data, output = sys.argv[1:4]
    torch.manual_seed(42)
    records = [json.loads(line) for line in open(data)]
    training = [r for r in records if not r["validation"]]
    held_out = [r for r in records if r["validation"]]
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.pad_token = "<|endoftext|>"
    model = AutoModelForCausalLM.from_pretrained(folder, torch_dtype=torch.float32)
    before = validation_loss(model, held_out)
    dataset = Dataset.from_list([{"input_ids": r["input_ids"], "completion_mask": r["completion_mask"]} for r in training])
    config = SFTConfig(output_dir=output, per_device_train_batch_size=8, num_train_epochs=1, learning_rate=2e-5, lr_scheduler_type="linear",
                       warmup_steps=0.03, weight_decay=0.0, max_grad_norm=1.0, max_length=512, bf16=False, fp16=False,
                       gradient_checkpointing=False, completion_only_loss=True, logging_steps=5, save_strategy="no", report_to=[],
                       seed=42, use_cpu=True, dataloader_num_workers=0)
    trainer = SFTTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer)
    tokens = sum(len(r["input_ids"]) for r in training)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    after = validation_loss(model, held_out)
    print(json.dumps({"demonstrations": len(training), "tokens": tokens, "seconds": seconds, "tokens_per_second": tokens / seconds,
                      "validation_loss_before": before, "validation_loss_after": after}))


if __name__ == "__main__":
    main()
