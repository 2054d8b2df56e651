"""A plain numpy forward pass of a Llama-family model over Hugging Face's tensor names, as an
independent implementation for the tests (rotate_half RoPE, grouped-query attention, SwiGLU,
RMSNorm). Test tooling only."""
import numpy as np


def rms_norm(x, weight, epsilon):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + epsilon) * weight


def rotate(x, positions, frequencies):
    half = x.shape[-1] // 2
    angles = positions[:, None] * frequencies[None, :]
    cos, sin = np.cos(angles), np.sin(angles)
    first, second = x[..., :half], x[..., half:]
    return np.concatenate([first * cos - second * sin, second * cos + first * sin], axis=-1)


def llama3_frequencies(frequencies, rope):
    """transformers' _compute_llama3_parameters, in numpy: Llama 3.1's RoPE scaling."""
    factor, low, high = rope["factor"], rope["low_freq_factor"], rope["high_freq_factor"]
    original = rope["original_max_position_embeddings"]
    low_wavelength, high_wavelength = original / low, original / high
    wavelength = 2 * np.pi / frequencies
    scaled = np.where(wavelength > low_wavelength, frequencies / factor, frequencies)
    smooth = (original / wavelength - low) / (high - low)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = ~(wavelength < high_wavelength) & ~(wavelength > low_wavelength)
    return np.where(medium, smoothed, scaled)


def inverse_frequencies(config, head_size):
    """RoPE's per-pair frequencies: theta^(-2i/head_size), then the config's scaling if any."""
    theta = config.get("rope_theta", 10000.0)
    frequencies = theta ** (-np.arange(head_size // 2) * 2.0 / head_size)
    rope = config.get("rope_scaling") or {}
    kind = rope.get("rope_type", rope.get("type", "default"))
    if kind == "llama3":
        return llama3_frequencies(frequencies, rope)
    if kind == "linear":
        return frequencies / rope["factor"]
    if kind != "default":
        raise ValueError(f"rope type {kind} is not computed here")
    return frequencies


def forward(tensors, config, ids, positions=None):
    """Logits [T, V] of one sequence `ids` (at `positions`, 0..T-1 by default), in float64."""
    t = {k: v.astype(np.float64) for k, v in tensors.items()}
    head = t.get("lm_head.weight", t["model.embed_tokens.weight"])
    return final_hidden_states(t, config, ids, positions) @ head.T


def final_hidden_states(tensors, config, ids, positions=None):
    """The final hidden states [T, C] (after the last RMSNorm): what a score head reads."""
    t = {k: v.astype(np.float64) for k, v in tensors.items()}
    heads, kv_heads = config["num_attention_heads"], config.get("num_key_value_heads", config["num_attention_heads"])
    width = config["hidden_size"]
    head_size = config.get("head_dim") or width // heads
    epsilon = config["rms_norm_eps"]
    frequencies = inverse_frequencies(config, head_size)
    T = len(ids)
    positions = np.arange(T, dtype=np.float64) if positions is None else np.asarray(positions, dtype=np.float64)
    x = t["model.embed_tokens.weight"][ids]
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for layer in range(config["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        h = rms_norm(x, t[p + "input_layernorm.weight"], epsilon)
        q = (h @ t[p + "self_attn.q_proj.weight"].T).reshape(T, heads, head_size).transpose(1, 0, 2)
        k = (h @ t[p + "self_attn.k_proj.weight"].T).reshape(T, kv_heads, head_size).transpose(1, 0, 2)
        v = (h @ t[p + "self_attn.v_proj.weight"].T).reshape(T, kv_heads, head_size).transpose(1, 0, 2)
        q, k = rotate(q, positions, frequencies), rotate(k, positions, frequencies)
        k, v = np.repeat(k, heads // kv_heads, axis=0), np.repeat(v, heads // kv_heads, axis=0)
        scores = q @ k.transpose(0, 2, 1) / np.sqrt(head_size) + mask
        weights = np.exp(scores - scores.max(-1, keepdims=True))
        weights /= weights.sum(-1, keepdims=True)
        attention = (weights @ v).transpose(1, 0, 2).reshape(T, heads * head_size)
        x = x + attention @ t[p + "self_attn.o_proj.weight"].T
        h = rms_norm(x, t[p + "post_attention_layernorm.weight"], epsilon)
        gate, up = h @ t[p + "mlp.gate_proj.weight"].T, h @ t[p + "mlp.up_proj.weight"].T
        x = x + (gate / (1 + np.exp(-gate)) * up) @ t[p + "mlp.down_proj.weight"].T
    return rms_norm(x, t["model.norm.weight"], epsilon)
