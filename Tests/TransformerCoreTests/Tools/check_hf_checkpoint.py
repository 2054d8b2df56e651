#!/usr/bin/env python3
"""Checks a Tally GPT-2 checkpoint folder against Hugging Face's own code, where it can run
without PyTorch: transformers reads config.json (GPT2Config) and the tokenizer files
(GPT2TokenizerFast), safetensors reads model.safetensors, and an independent numpy forward
pass over the tensors by their Hugging Face names reproduces the logits Tally computed.

    python3 check_hf_checkpoint.py FOLDER

FOLDER holds config.json, model.safetensors, vocab.json, merges.txt and expected.json
({"text", "ids", "logits"} from Tally). Exits non-zero, saying what differs, on any mismatch.
Test tooling only (run by the Swift test suite through `make test`).
"""
import json, math, os, sys
import numpy as np
from safetensors.numpy import load_file
from transformers import GPT2Config, GPT2TokenizerFast


def fail(message):
    print(f"MISMATCH: {message}")
    sys.exit(1)


def layer_norm(x, w, b, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


def gelu_new(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def main():
    folder = sys.argv[1]
    config = GPT2Config.from_pretrained(folder)
    tokenizer = GPT2TokenizerFast.from_pretrained(folder)
    expected = json.load(open(os.path.join(folder, "expected.json")))
    ids = tokenizer(expected["text"])["input_ids"]
    if ids != expected["ids"]:
        fail(f"transformers' tokenizer gives {ids}, Tally gave {expected['ids']}")

    weights = {k: v.astype(np.float64) for k, v in load_file(os.path.join(folder, "model.safetensors")).items()}
    C, L, NH = config.n_embd, config.n_layer, config.n_head
    names = {"transformer.wte.weight", "transformer.wpe.weight", "transformer.ln_f.weight", "transformer.ln_f.bias"}
    for l in range(L):
        for part in ("ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight", "attn.c_proj.bias",
                     "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias"):
            names.add(f"transformer.h.{l}.{part}")
    if set(weights) != names:
        fail(f"tensor names differ from GPT2LMHeadModel's: extra {sorted(set(weights) - names)}, missing {sorted(names - set(weights))}")
    w = lambda name: weights["transformer." + name]
    if w("wte.weight").shape != (config.vocab_size, C) or w("wpe.weight").shape != (config.n_positions, C):
        fail("embedding shapes do not match config.json")

    tokens = np.array(expected["ids"])
    T = len(tokens)
    x = w("wte.weight")[tokens] + w("wpe.weight")[:T]
    eps = config.layer_norm_epsilon
    mask = np.tril(np.ones((T, T), bool))
    for l in range(L):
        p = lambda part: w(f"h.{l}.{part}")
        h = layer_norm(x, p("ln_1.weight"), p("ln_1.bias"), eps)
        q, k, v = np.split(h @ p("attn.c_attn.weight") + p("attn.c_attn.bias"), 3, axis=-1)
        heads = lambda t: t.reshape(T, NH, C // NH).transpose(1, 0, 2)
        scores = heads(q) @ heads(k).transpose(0, 2, 1) / math.sqrt(C // NH)
        scores = np.where(mask, scores, -np.inf)
        att = np.exp(scores - scores.max(-1, keepdims=True))
        att /= att.sum(-1, keepdims=True)
        y = (att @ heads(v)).transpose(1, 0, 2).reshape(T, C)
        x = x + y @ p("attn.c_proj.weight") + p("attn.c_proj.bias")
        h = layer_norm(x, p("ln_2.weight"), p("ln_2.bias"), eps)
        x = x + gelu_new(h @ p("mlp.c_fc.weight") + p("mlp.c_fc.bias")) @ p("mlp.c_proj.weight") + p("mlp.c_proj.bias")
    logits = layer_norm(x, w("ln_f.weight"), w("ln_f.bias"), eps) @ w("wte.weight").T
    tally = np.array(expected["logits"]).reshape(logits.shape)
    error = np.abs(logits - tally).max() / np.abs(logits).max()
    if error > 1e-4:
        fail(f"logits differ: relative error {error:.2e}")
    print(f"OK: config, tokenizer and weights read by Hugging Face code; logits agree to {error:.1e}")


if __name__ == "__main__":
    main()
