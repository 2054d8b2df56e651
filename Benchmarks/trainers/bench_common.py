"""What the training benchmarks share: the paths of Tally, its benchmark helper, the peers'
Python and the base model; the environment Tally runs in; running a command under
/usr/bin/time for its peak memory; recording a result. Benchmark tooling only."""
import json, os, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RESULTS = os.path.join(ROOT, "Benchmarks", "results")
TALLY = os.path.join(ROOT, ".build", "release", "tally")
HELPER = os.path.join(ROOT, ".build", "release", "TrainerBenchmark")
TORCH_PYTHON = os.path.join(ROOT, ".build-python", "torch", "bin", "python")
BASE = os.path.join(ROOT, ".build-models", "SmolLM2-135M-Instruct.Q4_1.gguf")
PEERS = os.path.join(ROOT, "Benchmarks", "trainers")

# This machine's environment sets OPENBLAS_CORETYPE=Haswell (AVX2); a user's does not, and
# OpenBLAS then picks its kernel by the processor (Cooperlake here: 1.5 times faster on these
# products). Tally's runs get OpenBLAS's own choice unless BENCH_OPENBLAS_CORETYPE names one;
# PyTorch does not use OpenBLAS.
TALLY_ENVIRONMENT = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
if os.environ.get("BENCH_OPENBLAS_CORETYPE"):
    TALLY_ENVIRONMENT["OPENBLAS_CORETYPE"] = os.environ["BENCH_OPENBLAS_CORETYPE"]


def log(text):
    print(text, file=sys.stderr, flush=True)


def run(command, stream_to=None):
    """Runs `command` (Tally's in TALLY_ENVIRONMENT), stopping the benchmark if it fails. With
    `stream_to`, each line of its output is also appended to that file as it comes, so that a
    long run cut short still leaves its reports."""
    log("$ " + " ".join(command))
    environment = TALLY_ENVIRONMENT if any(part in (TALLY, HELPER) for part in command) else os.environ
    if stream_to is None:
        result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=environment)
    else:
        log(f"  (its reports stream to {stream_to})")
        with open(stream_to, "a") as stream, subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                                               cwd=ROOT, env=environment) as process:
            # stderr drains on a thread so that neither pipe fills while the other is read.
            import threading
            errors = []
            drain = threading.Thread(target=lambda: errors.append(process.stderr.read()))
            drain.start()
            lines = []
            for line in process.stdout:
                lines.append(line)
                stream.write(line)
                stream.flush()
            drain.join()
            process.wait()
        result = subprocess.CompletedProcess(command, process.returncode, "".join(lines), errors[0] if errors else "")
    if result.returncode != 0:
        sys.exit(f"failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result


def timed(command, stream_to=None):
    """Runs `command` under /usr/bin/time -v: its result and peak resident memory (MiB)."""
    result = run(["/usr/bin/time", "-v"] + command, stream_to)
    peak = next(int(line.split(":")[1]) for line in result.stderr.splitlines() if "Maximum resident set size" in line) / 1024
    return result, peak


def hugging_face_base(work):
    """The base model as a Hugging Face folder, for the peers (made once)."""
    folder = os.path.join(work, "smollm2-hf")
    if not os.path.exists(os.path.join(folder, "model.safetensors")):
        run([HELPER, "convert", BASE, folder])
    return folder


def record(result, name):
    """Appends `result` to Benchmarks/results/NAME.jsonl and prints it."""
    os.makedirs(RESULTS, exist_ok=True)
    result["date"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with open(os.path.join(RESULTS, name + ".jsonl"), "a") as output:
        output.write(json.dumps(result) + "\n")
    print(json.dumps(result, indent=1))
