#!/usr/bin/env python3
"""`make bench-train`, the peer's side: the same GPT-2 training step (forward, backward, AdamW)
and sampling with a key/value cache, written in JAX and run on this machine's CPU, printed as
one JSON line like Tally's TrainBenchmark.

    python3 jax_peer.py small|gpt2-124m|smollm2-135m [steps]

The models match Tally's: GPT-2 (learned positions, pre-LayerNorm blocks, GELU tanh, tied head)
and, for smollm2-135m, the Llama family (RMSNorm, rotary embeddings, grouped-query attention,
SwiGLU, tied head); the same batch and sequence sizes, mean next-token cross-entropy, AdamW (0.9,
0.95, eps 1e-8, weight decay 0.1 on matrices) after clipping the global norm to 1. Benchmark
tooling only.
"""
import json, math, os, resource, sys, time
import jax
import jax.numpy as jnp

SETUPS = {
    "small": dict(V=8192, T=256, C=256, L=4, NH=4, B=8),
    "gpt2-124m": dict(V=50257, T=256, C=768, L=12, NH=12, B=4),
    # SmolLM2-135M's architecture: Llama blocks, grouped-query attention, SwiGLU, RoPE base 1e5.
    "smollm2-135m": dict(V=49152, T=256, C=576, L=30, NH=9, KVH=3, HS=64, I=1536, B=4, llama=True),
}


def init(key, V, T, C, L):
    def normal(key, shape, std=0.02):
        return jax.random.normal(key, shape, jnp.float32) * std
    keys = iter(jax.random.split(key, 4 + 6 * L))
    scale = 0.02 / math.sqrt(2 * L)
    blocks = []
    for _ in range(L):
        blocks.append(dict(
            ln1_w=jnp.ones(C), ln1_b=jnp.zeros(C),
            qkv_w=normal(next(keys), (C, 3 * C)), qkv_b=jnp.zeros(3 * C),
            proj_w=normal(next(keys), (C, C), scale), proj_b=jnp.zeros(C),
            ln2_w=jnp.ones(C), ln2_b=jnp.zeros(C),
            fc_w=normal(next(keys), (C, 4 * C)), fc_b=jnp.zeros(4 * C),
            fcproj_w=normal(next(keys), (4 * C, C), scale), fcproj_b=jnp.zeros(C)))
    return dict(wte=normal(next(keys), (V, C)), wpe=normal(next(keys), (T, C)), blocks=blocks,
                lnf_w=jnp.ones(C), lnf_b=jnp.zeros(C))


def layer_norm(x, w, b):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + 1e-5) * w + b


def gelu(x):
    return 0.5 * x * (1 + jnp.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def block(p, x, NH):
    B, T, C = x.shape
    h = layer_norm(x, p["ln1_w"], p["ln1_b"])
    q, k, v = jnp.split(h @ p["qkv_w"] + p["qkv_b"], 3, axis=-1)
    heads = lambda t: t.reshape(B, T, NH, C // NH).transpose(0, 2, 1, 3)
    q, k, v = heads(q), heads(k), heads(v)
    scores = (q @ k.transpose(0, 1, 3, 2)) / math.sqrt(C // NH)
    mask = jnp.tril(jnp.ones((T, T), bool))
    att = jax.nn.softmax(jnp.where(mask, scores, -jnp.inf), axis=-1)
    y = (att @ v).transpose(0, 2, 1, 3).reshape(B, T, C)
    x = x + y @ p["proj_w"] + p["proj_b"]
    h = layer_norm(x, p["ln2_w"], p["ln2_b"])
    return x + gelu(h @ p["fc_w"] + p["fc_b"]) @ p["fcproj_w"] + p["fcproj_b"]


def loss_fn(params, tokens, targets, NH):
    T = tokens.shape[1]
    x = params["wte"][tokens] + params["wpe"][:T]
    for p in params["blocks"]:
        x = block(p, x, NH)
    logits = layer_norm(x, params["lnf_w"], params["lnf_b"]) @ params["wte"].T
    logp = jax.nn.log_softmax(logits, axis=-1)
    valid = targets >= 0
    picked = jnp.take_along_axis(logp, jnp.maximum(targets, 0)[..., None], axis=-1)[..., 0]
    return -(picked * valid).sum() / valid.sum()


# The Llama family (Tally's LlamaModel): RMSNorm, rotary embeddings in rotate_half's layout,
# grouped-query attention, SwiGLU, no biases, tied head.
def init_llama(key, V, C, L, NH, KVH, HS, I):
    def normal(key, shape):
        return jax.random.normal(key, shape, jnp.float32) * 0.02
    keys = iter(jax.random.split(key, 1 + 7 * L))
    blocks = [dict(attn_norm=jnp.ones(C), q=normal(next(keys), (C, NH * HS)), k=normal(next(keys), (C, KVH * HS)),
                   v=normal(next(keys), (C, KVH * HS)), o=normal(next(keys), (NH * HS, C)), ffn_norm=jnp.ones(C),
                   gate=normal(next(keys), (C, I)), up=normal(next(keys), (C, I)), down=normal(next(keys), (I, C))) for _ in range(L)]
    return dict(wte=normal(next(keys), (V, C)), blocks=blocks, norm=jnp.ones(C))


def rms_norm(x, w):
    return x * jax.lax.rsqrt((x * x).mean(-1, keepdims=True) + 1e-5) * w


def rotary(x, positions, HS):
    half = HS // 2
    frequencies = 100000.0 ** (-jnp.arange(half) * 2.0 / HS)
    angles = positions[:, None] * frequencies[None, :]
    cos, sin = jnp.cos(angles), jnp.sin(angles)
    first, second = x[..., :half], x[..., half:]
    return jnp.concatenate([first * cos - second * sin, second * cos + first * sin], axis=-1)


def llama_attention_inputs(p, h, positions, NH, KVH, HS):
    B, S, _ = h.shape
    q = (h @ p["q"]).reshape(B, S, NH, HS).transpose(0, 2, 1, 3)
    k = (h @ p["k"]).reshape(B, S, KVH, HS).transpose(0, 2, 1, 3)
    v = (h @ p["v"]).reshape(B, S, KVH, HS).transpose(0, 2, 1, 3)
    return rotary(q, positions, HS), rotary(k, positions, HS), v


def llama_attend(q, k, v, mask, NH, KVH, HS):
    k, v = jnp.repeat(k, NH // KVH, axis=1), jnp.repeat(v, NH // KVH, axis=1)
    scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(HS)
    att = jax.nn.softmax(jnp.where(mask, scores, -jnp.inf), axis=-1)
    B, _, S, _ = q.shape
    return (att @ v).transpose(0, 2, 1, 3).reshape(B, S, NH * HS)


def llama_feed_forward(p, x):
    h = rms_norm(x, p["ffn_norm"])
    return x + (jax.nn.silu(h @ p["gate"]) * (h @ p["up"])) @ p["down"]


def llama_loss_fn(params, tokens, targets, NH, KVH, HS):
    T = tokens.shape[1]
    positions = jnp.arange(T, dtype=jnp.float32)
    mask = jnp.tril(jnp.ones((T, T), bool))
    x = params["wte"][tokens]
    for p in params["blocks"]:
        q, k, v = llama_attention_inputs(p, rms_norm(x, p["attn_norm"]), positions, NH, KVH, HS)
        x = llama_feed_forward(p, x + llama_attend(q, k, v, mask, NH, KVH, HS) @ p["o"])
    logits = rms_norm(x, params["norm"]) @ params["wte"].T
    logp = jax.nn.log_softmax(logits, axis=-1)
    valid = targets >= 0
    picked = jnp.take_along_axis(logp, jnp.maximum(targets, 0)[..., None], axis=-1)[..., 0]
    return -(picked * valid).sum() / valid.sum()


def make_llama_sampler(NH, KVH, HS, L, capacity):
    def forward_positions(params, tokens, positions, cache_k, cache_v, length):
        x = params["wte"][tokens]
        new_k, new_v = [], []
        for layer, p in enumerate(params["blocks"]):
            q, k, v = llama_attention_inputs(p, rms_norm(x, p["attn_norm"]), positions.astype(jnp.float32), NH, KVH, HS)
            ck = jax.lax.dynamic_update_slice(cache_k[layer], k, (0, 0, length, 0))
            cv = jax.lax.dynamic_update_slice(cache_v[layer], v, (0, 0, length, 0))
            new_k.append(ck)
            new_v.append(cv)
            mask = jnp.arange(capacity)[None, :] <= positions[:, None]
            x = llama_feed_forward(p, x + llama_attend(q, ck, cv, mask, NH, KVH, HS) @ p["o"])
        logits = rms_norm(x[:, -1], params["norm"]) @ params["wte"].T
        return logits, jnp.stack(new_k), jnp.stack(new_v)

    prefill = jax.jit(forward_positions)

    return prefill, make_decode(forward_positions)


def make_decode(forward_positions):
    """One decoding step: the next token of each sequence from its last, with the cache updated."""
    @jax.jit
    def decode(params, token, position, cache_k, cache_v, key):
        logits, cache_k, cache_v = forward_positions(params, token[:, None], position[None], cache_k, cache_v, position)
        logp = jax.nn.log_softmax(logits, axis=-1)
        next_token = jax.random.categorical(key, logits)
        return next_token, jnp.take_along_axis(logp, next_token[:, None], -1)[:, 0], cache_k, cache_v
    return decode


def make_train_step(loss):
    def step(params, m, v, t, tokens, targets):
        loss_value, grads = jax.value_and_grad(loss)(params, tokens, targets)
        norm = jnp.sqrt(sum(jnp.sum(g * g) for g in jax.tree_util.tree_leaves(grads)))
        grads = jax.tree_util.tree_map(lambda g: g * jnp.minimum(1.0, 1.0 / (norm + 1e-12)), grads)
        b1, b2, lr, eps, wd = 0.9, 0.95, 1e-4, 1e-8, 0.1
        m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, m, grads)
        v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, v, grads)
        def update(p, m, v):
            decay = wd * p if p.ndim >= 2 else 0.0
            return p - lr * ((m / (1 - b1 ** t)) / (jnp.sqrt(v / (1 - b2 ** t)) + eps) + decay)
        params = jax.tree_util.tree_map(update, params, m, v)
        return params, m, v, loss_value
    return jax.jit(step)


def make_sampler(NH, L, C, capacity):
    """Prefill the prompts, then decode one token per step with a fixed-size key/value cache."""
    def forward_positions(params, tokens, positions, cache_k, cache_v, length):
        # tokens [B, S] at `positions` [S]; attends to cache entries < length + S.
        B, S = tokens.shape
        x = params["wte"][tokens] + params["wpe"][positions]
        new_k, new_v = [], []
        for layer, p in enumerate(params["blocks"]):
            h = layer_norm(x, p["ln1_w"], p["ln1_b"])
            q, k, v = jnp.split(h @ p["qkv_w"] + p["qkv_b"], 3, axis=-1)
            ck = jax.lax.dynamic_update_slice(cache_k[layer], k, (0, length, 0))
            cv = jax.lax.dynamic_update_slice(cache_v[layer], v, (0, length, 0))
            new_k.append(ck)
            new_v.append(cv)
            heads = lambda t: t.reshape(B, t.shape[1], NH, C // NH).transpose(0, 2, 1, 3)
            scores = heads(q) @ heads(ck).transpose(0, 1, 3, 2) / math.sqrt(C // NH)
            key_positions = jnp.arange(capacity)
            mask = key_positions[None, :] <= positions[:, None]
            att = jax.nn.softmax(jnp.where(mask, scores, -jnp.inf), axis=-1)
            y = (att @ heads(cv)).transpose(0, 2, 1, 3).reshape(B, S, C)
            x = x + y @ p["proj_w"] + p["proj_b"]
            h = layer_norm(x, p["ln2_w"], p["ln2_b"])
            x = x + gelu(h @ p["fc_w"] + p["fc_b"]) @ p["fcproj_w"] + p["fcproj_b"]
        logits = layer_norm(x[:, -1], params["lnf_w"], params["lnf_b"]) @ params["wte"].T
        return logits, jnp.stack(new_k), jnp.stack(new_v)

    prefill = jax.jit(forward_positions)

    return prefill, make_decode(forward_positions)


def main():
    name = sys.argv[1]
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    s = SETUPS[name]
    V, T, C, L, NH, B = s["V"], s["T"], s["C"], s["L"], s["NH"], s["B"]
    llama = s.get("llama", False)
    if llama:
        KVH, HS = s["KVH"], s["HS"]
        params = init_llama(jax.random.PRNGKey(1), V, C, L, NH, KVH, HS, s["I"])
        loss = lambda params, tokens, targets: llama_loss_fn(params, tokens, targets, NH, KVH, HS)
    else:
        params = init(jax.random.PRNGKey(1), V, T, C, L)
        loss = lambda params, tokens, targets: loss_fn(params, tokens, targets, NH)
    m = jax.tree_util.tree_map(jnp.zeros_like, params)
    v = jax.tree_util.tree_map(jnp.zeros_like, params)
    tokens = jax.random.randint(jax.random.PRNGKey(2), (B, T), 0, V)
    targets = jnp.concatenate([tokens[:, 1:], -jnp.ones((B, 1), tokens.dtype)], axis=1)
    step = make_train_step(loss)
    params, m, v, loss = step(params, m, v, 1, tokens, targets)  # compile and warm up
    loss.block_until_ready()
    times = []
    for t in range(2, steps + 2):
        start = time.perf_counter()
        params, m, v, loss = step(params, m, v, t, tokens, targets)
        loss.block_until_ready()
        times.append(time.perf_counter() - start)
    median = sorted(times)[len(times) // 2]

    prompt_length, new_tokens = 16, 64
    capacity = prompt_length + new_tokens
    if llama:
        prefill, decode = make_llama_sampler(NH, KVH, HS, L, capacity)
        cache_shape = (L, B, KVH, capacity, HS)
    else:
        prefill, decode = make_sampler(NH, L, C, capacity)
        cache_shape = (L, B, capacity, C)

    def sample(key):
        cache_k = jnp.zeros(cache_shape)
        cache_v = jnp.zeros(cache_shape)
        logits, cache_k, cache_v = prefill(params, tokens[:, :prompt_length], jnp.arange(prompt_length), cache_k, cache_v, 0)
        token = jax.random.categorical(key, logits)
        generated = [token]
        for position in range(prompt_length, capacity - 1):
            key, sub = jax.random.split(key)
            token, _, cache_k, cache_v = decode(params, token, jnp.int32(position), cache_k, cache_v, sub)
            generated.append(token)
        return jnp.stack(generated).block_until_ready()

    sample(jax.random.PRNGKey(3))  # compile
    start = time.perf_counter()
    out = sample(jax.random.PRNGKey(4))
    sample_seconds = time.perf_counter() - start
    count = sum(x.size for x in jax.tree_util.tree_leaves(params))
    print(json.dumps(dict(
        implementation=f"jax {jax.__version__}", configuration=name, parameters=int(count), batch_size=B, sequence_length=T,
        step_seconds=median, train_tokens_per_second=B * T / median,
        sample_tokens_per_second=out.size / sample_seconds, loss=float(loss),
        peak_memory_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6,
    ), sort_keys=True))


if __name__ == "__main__":
    main()
