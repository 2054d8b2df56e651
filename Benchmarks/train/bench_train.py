#!/usr/bin/env python3
"""`make bench-train`: Tally's transformer core beside a JAX peer on this machine's CPU.

For each configuration (small: vocabulary 8192, context 256, width 256, 4 layers, 4 heads,
batch 8; GPT-2 124M: vocabulary 50257, width 768, 12 layers, 12 heads, batch 4, sequence 256;
SmolLM2-135M's Llama architecture: vocabulary 49152, width 576, 30 layers, 9 query and 3
key/value heads, SwiGLU 1536, batch 4, sequence 256)
it prints tokens per second of a training step (forward, backward, AdamW) and of sampling
with a key/value cache, for both, with the ratio; Tally's share of step time in cblas_sgemm;
and Tally's peak memory against the sum of parameters, gradients, moments and activations.
Then it reruns Tally's small configuration under other OPENBLAS_CORETYPE kernels.
Writes Benchmarks/results/train.md. Benchmark tooling only.
"""
import json, os, subprocess, sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TALLY = os.path.join(ROOT, ".build", "release", "TrainBenchmark")
PYTHON = os.path.join(ROOT, ".build-python", "bench", "bin", "python")
PEER = os.path.join(ROOT, "Benchmarks", "train", "jax_peer.py")
STEPS = os.environ.get("BENCH_STEPS", "3")
CORETYPES = os.environ.get("BENCH_CORETYPES", "Haswell,SkylakeX,Zen").split(",")
# The instructions each forced kernel needs: forcing one the processor lacks kills the process
# with an illegal instruction, so such kernels are reported as skipped.
CORETYPE_NEEDS = {"Haswell": "avx2", "Zen": "avx2", "SkylakeX": "avx512f", "Cooperlake": "avx512_bf16", "SapphireRapids": "amx_tile"}


def processor_flags():
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def run(command, environment=None):
    output = subprocess.run(command, capture_output=True, text=True, env=environment, cwd=ROOT)
    if output.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{output.stderr[-2000:]}")
    return json.loads(output.stdout.strip().splitlines()[-1])


def main():
    rows = []
    for name in ("small", "gpt2-124m", "smollm2-135m"):
        tally = run([TALLY, name, STEPS])
        print(f"  Tally {name}: {json.dumps(tally)}", flush=True)
        peer = run([PYTHON, PEER, name, STEPS])
        print(f"  JAX {name}: {json.dumps(peer)}", flush=True)
        rows.append((name, tally, peer))
    kernels = []
    flags = processor_flags()
    for coretype in CORETYPES:
        needed = CORETYPE_NEEDS.get(coretype)
        if needed and needed not in flags:
            print(f"  Tally small with OPENBLAS_CORETYPE={coretype}: skipped, this processor lacks {needed}", flush=True)
            kernels.append((coretype, None))
            continue
        environment = dict(os.environ, OPENBLAS_CORETYPE=coretype)
        environment.pop("OPENBLAS_L2_SIZE", None)
        result = run([TALLY, "small", STEPS], environment)
        kernels.append((coretype, result))
        print(f"  Tally small with OPENBLAS_CORETYPE={coretype}: {json.dumps(result)}", flush=True)

    lines = [
        f"Median of {STEPS} training steps after a warm-up; sampling: batch of prompts of 16 tokens, 64 new tokens each, temperature 1, key/value cache. "
        f"{os.cpu_count()} cores. Peer: {rows[0][2]['implementation']} on CPU (jit-compiled; compile time excluded).",
        "",
        "| configuration | parameters | Tally train tok/s | JAX train tok/s | ratio | Tally sample tok/s | JAX sample tok/s | ratio | sgemm share of step | Tally peak MB | sum MB | peak / sum |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, tally, peer in rows:
        lines.append(
            f"| {name} | {tally['parameters']:,} | {tally['train_tokens_per_second']:.0f} | {peer['train_tokens_per_second']:.0f} | "
            f"{tally['train_tokens_per_second'] / peer['train_tokens_per_second']:.2f} | {tally['sample_tokens_per_second']:.0f} | "
            f"{peer['sample_tokens_per_second']:.0f} | {tally['sample_tokens_per_second'] / peer['sample_tokens_per_second']:.2f} | "
            f"{tally['gemm_share'] * 100:.0f}% | {tally['peak_memory_mb']:.0f} | {tally['expected_memory_mb']:.0f} | "
            f"{tally['peak_memory_mb'] / tally['expected_memory_mb']:.2f} |")
    lines += ["", f"OpenBLAS chose the `{rows[0][1]['blas_core']}` kernel on this processor. Tally's small configuration under other kernels:", "",
              "| OPENBLAS_CORETYPE | train tok/s | sample tok/s |", "|---|---:|---:|",
              f"| (default: {rows[0][1]['blas_core']}) | {rows[0][1]['train_tokens_per_second']:.0f} | {rows[0][1]['sample_tokens_per_second']:.0f} |"]
    for coretype, result in kernels:
        if result is None:
            lines.append(f"| {coretype} | skipped: this processor lacks {CORETYPE_NEEDS[coretype]} | |")
        else:
            lines.append(f"| {coretype} (reported: {result['blas_core']}) | {result['train_tokens_per_second']:.0f} | {result['sample_tokens_per_second']:.0f} |")
    report = "\n".join(lines)
    print()
    print(report)
    os.makedirs(os.path.join(ROOT, "Benchmarks", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "Benchmarks", "results", "train.md"), "w") as output:
        output.write(report + "\n")


if __name__ == "__main__":
    main()
