"""A plain numpy forward pass of a Llama-family model over Hugging Face's tensor names, as an
independent implementation for the tests (rotate_half RoPE, grouped-query attention, SwiGLU,
RMSNorm). Test tooling only."""
import numpy as np


def rms_norm(x, weight, epsilon):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + epsilon) * weight


def rotate(x, positions, theta):
    half = x.shape[-1] // 2
    frequencies = theta ** (-np.arange(half) * 2.0 / x.shape[-1])
    angles = positions[:, None] * frequencies[None, :]
    cos, sin = np.cos(angles), np.sin(angles)
    first, second = x[..., :half], x[..., half:]
    return np.concatenate([first * cos - second * sin, second * cos + first * sin], axis=-1)


def forward(tensors, config, ids):
    """Logits [T, V] of one sequence `ids`, in float64."""
    t = {k: v.astype(np.float64) for k, v in tensors.items()}
    heads, kv_heads = config["num_attention_heads"], config.get("num_key_value_heads", config["num_attention_heads"])
    width = config["hidden_size"]
    head_size = config.get("head_dim") or width // heads
    epsilon, theta = config["rms_norm_eps"], config.get("rope_theta", 10000.0)
    T = len(ids)
    positions = np.arange(T, dtype=np.float64)
    x = t["model.embed_tokens.weight"][ids]
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for layer in range(config["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        h = rms_norm(x, t[p + "input_layernorm.weight"], epsilon)
        q = (h @ t[p + "self_attn.q_proj.weight"].T).reshape(T, heads, head_size).transpose(1, 0, 2)
        k = (h @ t[p + "self_attn.k_proj.weight"].T).reshape(T, kv_heads, head_size).transpose(1, 0, 2)
        v = (h @ t[p + "self_attn.v_proj.weight"].T).reshape(T, kv_heads, head_size).transpose(1, 0, 2)
        q, k = rotate(q, positions, theta), rotate(k, positions, theta)
        k, v = np.repeat(k, heads // kv_heads, axis=0), np.repeat(v, heads // kv_heads, axis=0)
        scores = q @ k.transpose(0, 2, 1) / np.sqrt(head_size) + mask
        weights = np.exp(scores - scores.max(-1, keepdims=True))
        weights /= weights.sum(-1, keepdims=True)
        attention = (weights @ v).transpose(1, 0, 2).reshape(T, heads * head_size)
        x = x + attention @ t[p + "self_attn.o_proj.weight"].T
        h = rms_norm(x, t[p + "post_attention_layernorm.weight"], epsilon)
        gate, up = h @ t[p + "mlp.gate_proj.weight"].T, h @ t[p + "mlp.up_proj.weight"].T
        x = x + (gate / (1 + np.exp(-gate)) * up) @ t[p + "mlp.down_proj.weight"].T
    x = rms_norm(x, t["model.norm.weight"], epsilon)
    head = t.get("lm_head.weight", t["model.embed_tokens.weight"])
    return x @ head.T
