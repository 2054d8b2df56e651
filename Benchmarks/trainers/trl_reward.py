#!/usr/bin/env python3
"""TRL's RewardTrainer, the peer of `make bench-reward`: trains the same base model on the same
pairs, given as the token ids Tally trains on (`chosen_ids`/`rejected_ids`, which TRL takes
as they are), with the same batch, learning rate, schedule and maximum length, on this CPU.

    python trl_reward.py MODEL_FOLDER PAIRS.jsonl OUTPUT [--eval EVAL.jsonl] [--limit N] [--cut]

Prints one JSON object: pairs and tokens trained on, seconds, pairs and tokens per second,
peak resident memory, and, with --eval, held-out accuracy. Benchmark tooling only.
"""
import argparse, json, resource, time

import torch
from datasets import Dataset
from transformers import AutoModelForSequenceClassification, AutoTokenizer
from trl import RewardConfig, RewardTrainer


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("data")
    parser.add_argument("output")
    parser.add_argument("--eval")
    parser.add_argument("--limit", type=int, default=None, help="train on the first N pairs only")
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=2e-5)
    parser.add_argument("--cut", action="store_true", help="train and evaluate on the ids as Tally cuts them to the length, so TRL drops none")
    arguments = parser.parse_args()
    torch.manual_seed(42)
    records = [json.loads(line) for line in open(arguments.data)]
    if arguments.limit:
        records = records[: arguments.limit]
    suffix = "_cut" if arguments.cut else ""
    train = Dataset.from_list([{"chosen_ids": r["chosen_ids" + suffix], "rejected_ids": r["rejected_ids" + suffix]} for r in records])
    tokenizer = AutoTokenizer.from_pretrained(arguments.model)
    # Tally pads with <|endoftext|>, not the end of turn, so both read the score at <|im_end|>.
    tokenizer.pad_token = "<|endoftext|>"
    model = AutoModelForSequenceClassification.from_pretrained(arguments.model, num_labels=1, torch_dtype=torch.float32)
    model.config.pad_token_id = tokenizer.pad_token_id
    config = RewardConfig(output_dir=arguments.output, per_device_train_batch_size=arguments.batch_size, num_train_epochs=1,
                          learning_rate=arguments.learning_rate, lr_scheduler_type="linear", warmup_steps=0.03, weight_decay=0.0,
                          max_grad_norm=1.0, max_length=arguments.max_length, bf16=False, fp16=False, gradient_checkpointing=False,
                          logging_steps=10, save_strategy="no", report_to=[], seed=42, dataloader_num_workers=0, use_cpu=True)
    trainer = RewardTrainer(model=model, args=config, train_dataset=train, processing_class=tokenizer)
    kept = len(trainer.train_dataset)
    tokens = sum(len(r["chosen_ids"]) + len(r["rejected_ids"]) for r in trainer.train_dataset)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    result = {"pairs_given": len(records), "pairs_trained": kept, "tokens": tokens, "seconds": seconds,
              "pairs_per_second": kept / seconds, "tokens_per_second": tokens / seconds,
              "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if arguments.eval:
        model.eval()
        correct = total = 0
        with torch.no_grad():
            for line in open(arguments.eval):
                r = json.loads(line)
                scores = []
                pair = (r["chosen_ids_cut"], r["rejected_ids_cut"]) if arguments.cut else (r["chosen_ids"][-arguments.max_length:], r["rejected_ids"][-arguments.max_length:])
                for ids in pair:
                    scores.append(model(input_ids=torch.tensor([ids])).logits[0, 0].item())
                correct += scores[0] > scores[1]
                total += 1
        result["eval_accuracy"] = correct / total
    print(json.dumps(result))


if __name__ == "__main__":
    main()
