#!/usr/bin/env python3
"""Writes tiny GGUF files from the Llama reference fixture's weights, for the GGUF loader's tests.

    python3 make_tiny_gguf.py FIXTURE.safetensors OUTPUT_FOLDER

Writes, with the `gguf` package from PyPI (llama.cpp's own writer):
- tiny-f32.gguf: every tensor float32;
- tiny-quantized.gguf: the embedding Q8_0, the attention weights Q4_1, the gate and up
  projections F16, the down projection BF16, the norms F32;
- tiny-llama3-rope.gguf: tiny-f32.gguf plus the `rope_freqs.weight` table llama.cpp's converter
  writes for Llama 3's RoPE scaling (factor 8, low and high frequency factors 1 and 4, an
  original context of 1024), computed here as that converter computes it;
- kquants.gguf: three tensors of random Q4_K, Q5_K and Q6_K super-blocks (the types of
  llama.cpp's Q4_K_M and Q5_K_M files), with kquants-expected.safetensors holding what
  `gguf.quants` dequantizes them to;
- dequantized.safetensors: the quantized file's weights dequantized by `gguf.quants`, under
  Hugging Face's names and order, for checking Tally's dequantization exactly.
Query and key weights are permuted as llama.cpp's converter does (GGUF's RoPE rotates adjacent
pairs). A toy byte-level BPE tokenizer fills the vocabulary of 512: the 256 bytes, 255 merges of
two lowercase letters, and <|endoftext|>. Test tooling only.
"""
import os, sys
import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q
from safetensors.numpy import load_file, save_file

HEADS, KV_HEADS, HEAD_SIZE = 4, 2, 16
LLAMA3_ROPE = {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 1024}


def llama3_rope_factors(theta, head_size, rope):
    """Per-pair divisors of the inverse frequencies, as convert_hf_to_gguf.py writes rope_freqs."""
    frequencies = 1.0 / (theta ** (np.arange(0, head_size, 2, dtype=np.float32) / head_size))
    low_wavelength = rope["original_max_position_embeddings"] / rope["low_freq_factor"]
    high_wavelength = rope["original_max_position_embeddings"] / rope["high_freq_factor"]
    factors = []
    for frequency in frequencies:
        wavelength = 2 * np.pi / frequency
        if wavelength < high_wavelength:
            factors.append(1.0)
        elif wavelength > low_wavelength:
            factors.append(rope["factor"])
        else:
            smooth = (rope["original_max_position_embeddings"] / wavelength - rope["low_freq_factor"]) / (rope["high_freq_factor"] - rope["low_freq_factor"])
            factors.append(1.0 / ((1 - smooth) / rope["factor"] + smooth))
    return np.array(factors, dtype=np.float32)


def permute(weights, heads):
    rows, columns = weights.shape
    return weights.reshape(heads, 2, rows // heads // 2, columns).swapaxes(1, 2).reshape(rows, columns)


def byte_alphabet():
    printable = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    codes, extra = list(printable), 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    table = dict(zip(printable, codes))
    return [chr(table[byte]) for byte in range(256)]


def main():
    fixture, folder = sys.argv[1], sys.argv[2]
    params = {name[len("param/"):]: value for name, value in load_file(fixture).items() if name.startswith("param/")}
    letters = "abcdefghijklmnop"
    merges = [f"{a} {b}" for a in letters for b in letters][:255]
    tokens = byte_alphabet() + [m.replace(" ", "") for m in merges] + ["<|endoftext|>"]
    types = [1] * 511 + [3]
    dequantized = {}
    for variant in ("f32", "quantized", "llama3-rope"):
        writer = gguf.GGUFWriter(os.path.join(folder, f"tiny-{variant}.gguf"), "llama")
        writer.add_block_count(2)
        writer.add_context_length(128)
        writer.add_embedding_length(64)
        writer.add_feed_forward_length(176)
        writer.add_head_count(HEADS)
        writer.add_head_count_kv(KV_HEADS)
        writer.add_layer_norm_rms_eps(1e-5)
        writer.add_rope_freq_base(10000.0)
        writer.add_tokenizer_model("gpt2")
        writer.add_tokenizer_pre("gpt2")
        writer.add_token_list(tokens)
        writer.add_token_types(types)
        writer.add_token_merges(merges)
        writer.add_eos_token_id(511)

        def add(name, huggingface_name, values, kind):
            values = np.ascontiguousarray(values, dtype=np.float32)
            if variant != "quantized" or kind == Q.F32:
                writer.add_tensor(name, values)
                stored, dequantized_values = values, values
            elif kind in (Q.F16,):
                stored = values.astype(np.float16)
                writer.add_tensor(name, stored)
                dequantized_values = stored.astype(np.float32)
            else:
                stored = gguf.quants.quantize(values, kind)
                writer.add_tensor(name, stored, raw_shape=stored.shape, raw_dtype=kind)
                dequantized_values = gguf.quants.dequantize(stored, kind).reshape(values.shape)
            if variant == "quantized":
                dequantized[huggingface_name] = dequantized_values

        add("token_embd.weight", "model.embed_tokens.weight", params["model.embed_tokens.weight"], Q.Q8_0)
        for layer in range(2):
            prefix = f"model.layers.{layer}."
            add(f"blk.{layer}.attn_norm.weight", prefix + "input_layernorm.weight", params[prefix + "input_layernorm.weight"], Q.F32)
            add(f"blk.{layer}.attn_q.weight", prefix + "self_attn.q_proj.weight", permute(params[prefix + "self_attn.q_proj.weight"], HEADS), Q.Q4_1)
            add(f"blk.{layer}.attn_k.weight", prefix + "self_attn.k_proj.weight", permute(params[prefix + "self_attn.k_proj.weight"], KV_HEADS), Q.Q4_1)
            add(f"blk.{layer}.attn_v.weight", prefix + "self_attn.v_proj.weight", params[prefix + "self_attn.v_proj.weight"], Q.Q4_1)
            add(f"blk.{layer}.attn_output.weight", prefix + "self_attn.o_proj.weight", params[prefix + "self_attn.o_proj.weight"], Q.Q4_1)
            add(f"blk.{layer}.ffn_norm.weight", prefix + "post_attention_layernorm.weight", params[prefix + "post_attention_layernorm.weight"], Q.F32)
            add(f"blk.{layer}.ffn_gate.weight", prefix + "mlp.gate_proj.weight", params[prefix + "mlp.gate_proj.weight"], Q.F16)
            add(f"blk.{layer}.ffn_up.weight", prefix + "mlp.up_proj.weight", params[prefix + "mlp.up_proj.weight"], Q.F16)
            add(f"blk.{layer}.ffn_down.weight", prefix + "mlp.down_proj.weight", params[prefix + "mlp.down_proj.weight"], Q.BF16)
        add("output_norm.weight", "model.norm.weight", params["model.norm.weight"], Q.F32)
        if variant == "llama3-rope":
            writer.add_tensor("rope_freqs.weight", llama3_rope_factors(10000.0, HEAD_SIZE, LLAMA3_ROPE))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
    # The dequantized query and key weights go back to Hugging Face's row order.
    for name in list(dequantized):
        if name.endswith("q_proj.weight") or name.endswith("k_proj.weight"):
            heads = HEADS if name.endswith("q_proj.weight") else KV_HEADS
            rows, columns = dequantized[name].shape
            dequantized[name] = dequantized[name].reshape(heads, rows // heads // 2, 2, columns).swapaxes(1, 2).reshape(rows, columns)
    save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in dequantized.items()}, os.path.join(folder, "dequantized.safetensors"))
    write_kquants(folder)
    print("OK: wrote tiny-f32.gguf, tiny-quantized.gguf, tiny-llama3-rope.gguf, kquants.gguf and their expectations")


def write_kquants(folder):
    """Random k-quant blocks (random bytes, with finite half-precision scales where the layout
    has them), stored raw, and llama.cpp's reference dequantization of them."""
    generator = np.random.default_rng(11)
    writer = gguf.GGUFWriter(os.path.join(folder, "kquants.gguf"), "llama")
    expected = {}
    for kind, half_offsets in ((Q.Q4_K, (0, 2)), (Q.Q5_K, (0, 2)), (Q.Q6_K, (208,))):
        rows, columns = 3, 512
        block_size, type_size = gguf.GGML_QUANT_SIZES[kind]
        blocks = generator.integers(0, 256, size=(rows * columns // block_size, type_size), dtype=np.uint8)
        for offset in half_offsets:
            blocks[:, offset:offset + 2] = (generator.standard_normal(len(blocks)) * 0.05).astype(np.float16).view(np.uint8).reshape(-1, 2)
        raw = blocks.reshape(rows, columns // block_size * type_size)
        writer.add_tensor(kind.name.lower(), raw, raw_shape=raw.shape, raw_dtype=kind)
        expected[kind.name.lower()] = gguf.quants.dequantize(raw, kind).reshape(rows, columns).astype(np.float32)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    save_file(expected, os.path.join(folder, "kquants-expected.safetensors"))


if __name__ == "__main__":
    main()
