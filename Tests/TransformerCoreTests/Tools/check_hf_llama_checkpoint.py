#!/usr/bin/env python3
"""Checks a Tally Llama checkpoint folder against Hugging Face's code where it runs without
PyTorch: transformers reads config.json (LlamaConfig), safetensors reads model.safetensors, and
an independent numpy forward pass (llama_numpy.py) over the tensors by their Hugging Face names
reproduces the logits Tally computed.

    python3 check_hf_llama_checkpoint.py FOLDER

FOLDER holds config.json, model.safetensors (or shards listed by model.safetensors.index.json)
and expected.json ({"ids", "logits"} from Tally, and "positions" when not 0..T-1). RoPE scaling
(`rope_scaling`: llama3 or linear) is computed by a numpy port of transformers' own rule.
Exits non-zero, saying what differs, on any mismatch. Test tooling only.
"""
import json, os, sys
import numpy as np
from safetensors.numpy import load_file
from transformers import LlamaConfig

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama_numpy import forward


def main():
    folder = sys.argv[1]
    config = LlamaConfig.from_pretrained(folder)
    index = os.path.join(folder, "model.safetensors.index.json")
    if os.path.exists(index):
        tensors = {}
        for shard in sorted(set(json.load(open(index))["weight_map"].values())):
            tensors.update(load_file(os.path.join(folder, shard)))
    else:
        tensors = load_file(os.path.join(folder, "model.safetensors"))
    expected_names = {"model.embed_tokens.weight", "model.norm.weight"} | ({"lm_head.weight"} if not config.tie_word_embeddings else set())
    for layer in range(config.num_hidden_layers):
        for name in ["input_layernorm", "post_attention_layernorm", "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                     "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]:
            expected_names.add(f"model.layers.{layer}.{name}.weight")
    if set(tensors) != expected_names:
        print(f"MISMATCH: tensor names differ: {sorted(set(tensors) ^ expected_names)}")
        sys.exit(1)
    rope = dict(getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {})
    rope_theta = rope.get("rope_theta") or getattr(config, "rope_theta", 10000.0)
    settings = {"num_attention_heads": config.num_attention_heads, "num_key_value_heads": config.num_key_value_heads,
                "hidden_size": config.hidden_size, "head_dim": config.head_dim, "rms_norm_eps": config.rms_norm_eps,
                "rope_theta": rope_theta, "num_hidden_layers": config.num_hidden_layers, "rope_scaling": rope}
    expected = json.load(open(os.path.join(folder, "expected.json")))
    logits = forward(tensors, settings, np.array(expected["ids"]), expected.get("positions"))
    tally = np.array(expected["logits"]).reshape(logits.shape)
    error = np.abs(logits - tally).max() / np.abs(logits).max()
    if error > 1e-4:
        print(f"MISMATCH: logits differ by {error:.3g} of their scale")
        sys.exit(1)
    print(f"OK: {len(tensors)} tensors, logits agree to {error:.2g}")


if __name__ == "__main__":
    main()
