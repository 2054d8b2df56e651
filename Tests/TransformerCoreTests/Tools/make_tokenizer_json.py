#!/usr/bin/env python3
"""Writes a Hugging Face `tokenizer.json` and the encodings Hugging Face's own `tokenizers`
library gives, for the test of Tally's tokenizer.json loader.

    python3 make_tokenizer_json.py VOCAB.json MERGES.txt OUTPUT_FOLDER

The tokenizer is GPT-2's byte-level BPE (the fixture's files) behind SmolLM2's pre-tokenizer
(each digit a piece of its own, then GPT-2's rule), with two added special tokens. Writes
tokenizer.json and expected.json ({"texts": [...], "ids": [[...], ...]}). Test tooling only.
"""
import json, os, sys
from tokenizers import Tokenizer, models, pre_tokenizers, decoders

TEXTS = [
    "Hello, world! It's 2024-11-22 and 3.14159 is π.",
    "<|im_start|>user\nWhat is 12 + 30?<|im_end|>\n",
    "  spaces   and\ttabs\n\nnewlines 100000 times",
    "Ünïcödé, 中文, emoji 🤖 and numbers ١٢٣",
]


def main():
    vocab_path, merges_path, folder = sys.argv[1:4]
    vocab = json.load(open(vocab_path))
    merges = [tuple(line.split(" ")) for line in open(merges_path, encoding="utf-8").read().split("\n")
              if line and not line.startswith("#version")]
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(["<|im_start|>", "<|im_end|>"])
    tokenizer.save(os.path.join(folder, "tokenizer.json"))
    ids = [tokenizer.encode(text).ids for text in TEXTS]
    json.dump({"texts": TEXTS, "ids": ids}, open(os.path.join(folder, "expected.json"), "w"))
    print(f"OK: {len(TEXTS)} texts encoded")


if __name__ == "__main__":
    main()
