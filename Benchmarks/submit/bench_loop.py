#!/usr/bin/env python3
"""`make bench-loop`: the labelers' experience while training runs. The load of
`make bench-submit` (64 labelers submitting durable rankings over HTTP through wrk) in three
configurations, each on a fresh database:

    idle       `tally serve` with its worker and no job
    training   `tally serve` while its own worker trains a reward model (SmolLM2-135M-Instruct,
               on 400 rankings of another project) at background priority
    separate   `tally serve --no-worker` beside a `tally worker` process training the same job
               against the same database (a second writer)

Reports p50 and p99 latency and durable submissions per second of each, and the training
configurations' p99 over idle's (goal: within 1.5x). Appends to Benchmarks/results/loop.jsonl.
Benchmark tooling only.
"""
import json, os, re, sqlite3, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_submit  # noqa: E402

ROOT, TALLY, RESULTS, SECONDS = bench_submit.ROOT, bench_submit.TALLY, bench_submit.RESULTS, bench_submit.SECONDS
BASE = os.path.join(ROOT, ".build-models", "SmolLM2-135M-Instruct.Q4_1.gguf")
TRAINING_PROMPTS = 400


def add_training_project(database):
    """A second project whose rankings the reward job trains on, ranked by a researcher."""
    connection = sqlite3.connect(database, isolation_level=None)
    connection.execute("BEGIN")
    connection.execute("INSERT INTO users (username, display_name, role, password_hash) VALUES ('trainer', 'trainer', 'researcher', 'unused')")
    researcher = connection.execute("SELECT last_insert_rowid()").fetchone()[0]
    connection.execute("INSERT INTO projects (name, ranking_size, overlap, flags) VALUES ('training', 2, 1, '[]')")
    project = connection.execute("SELECT last_insert_rowid()").fetchone()[0]
    for index in range(TRAINING_PROMPTS):
        text = f"Explain idea number {index} to a curious child in a few sentences."
        connection.execute("INSERT INTO prompts (project_id, kind, content, source, content_hash) VALUES (?, 'text', ?, 'imported', ?)",
                           (project, text, f"training{index}"))
        prompt = connection.execute("SELECT last_insert_rowid()").fetchone()[0]
        ids = []
        for model, answer in (("good", f"Idea {index} is like a seed: it starts small and grows when you care for it, step by step."), ("bad", "No.")):
            connection.execute("INSERT INTO candidates (prompt_id, text, model_name, content_hash) VALUES (?, ?, ?, ?)", (prompt, answer, model, f"{model}{index}"))
            ids.append(connection.execute("SELECT last_insert_rowid()").fetchone()[0])
        connection.execute("INSERT INTO rankings (prompt_id, labeler_id, shown_order) VALUES (?, ?, ?)", (prompt, researcher, json.dumps(ids)))
        ranking = connection.execute("SELECT last_insert_rowid()").fetchone()[0]
        connection.executemany("INSERT INTO ranking_entries (ranking_id, candidate_id, rank) VALUES (?, ?, ?)", [(ranking, ids[0], 1), (ranking, ids[1], 2)])
    connection.execute("COMMIT")
    connection.close()
    return project


def queue_reward_job(database, project, registered=False):
    """A reward job on SmolLM2 (registered as `smollm2` first unless it is already)."""
    if not registered:
        subprocess.run([TALLY, "model", "add", "--database", database, "--path", BASE, "--name", "smollm2", "--log-level", "warning"], cwd=ROOT, check=True, capture_output=True)
    connection = sqlite3.connect(database, isolation_level=None)
    base = connection.execute("SELECT id FROM model_versions WHERE name = 'smollm2'").fetchone()[0]
    parameters = json.dumps({"max-length": 128, "validation-fraction": 0, "logging-steps": 1})
    connection.execute("INSERT INTO jobs (project_id, kind, parameters, base_model_id) VALUES (?, 'reward', ?, ?)", (project, parameters, base))
    job = connection.execute("SELECT last_insert_rowid()").fetchone()[0]
    connection.close()
    return job


def wait_for_training(database, job, timeout=300):
    """Until the job has reported a step: the model is loaded and optimizer steps are running."""
    connection = sqlite3.connect(database)
    deadline = time.time() + timeout
    while time.time() < deadline:
        status, step = connection.execute("SELECT status, step FROM jobs WHERE id = ?", (job,)).fetchone()
        if status == "running" and step >= 1:
            connection.close()
            return
        if status in ("failed", "cancelled", "succeeded"):
            raise SystemExit(f"the reward job ended ({status}) before the load: {connection.execute('SELECT error FROM jobs WHERE id = ?', (job,)).fetchone()[0]}")
        time.sleep(0.5)
    raise SystemExit("the reward job did not start training in time")


def run(mode):
    database = os.path.join(RESULTS, f"bench-loop-{mode}.sqlite")
    plan = bench_submit.prepare(database)
    project = add_training_project(database)
    job = queue_reward_job(database, project) if mode != "idle" else None
    port = bench_submit.free_port()
    models = os.path.join(RESULTS, f"bench-loop-{mode}-models")
    subprocess.run(["rm", "-rf", models])
    serve = [TALLY, "serve", "--database", database, "--port", str(port), "--log-level", "warning", "--models", models]
    processes = [subprocess.Popen(serve + (["--no-worker"] if mode == "separate" else []), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    if mode == "separate":
        processes.append(subprocess.Popen([TALLY, "worker", "--database", database, "--models", models, "--log-level", "warning"], cwd=ROOT,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    try:
        bench_submit.wait_until_listening(port)
        if job:
            wait_for_training(database, job)
        output = bench_submit.load(port, plan)
        steps = None
        if job:
            connection = sqlite3.connect(database)
            status, steps = connection.execute("SELECT status, step FROM jobs WHERE id = ?", (job,)).fetchone()
            connection.close()
            if status != "running":
                raise SystemExit(f"the reward job was {status} by the end of the load, so the load did not run beside training throughout")
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=120)
    def milliseconds(text):
        value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
    duration = float(re.search(r"requests in ([\d.]+)s", output).group(1))
    connection = sqlite3.connect(database)
    stored = connection.execute("SELECT count(*) FROM rankings r JOIN prompts p ON p.id = r.prompt_id JOIN projects j ON j.id = p.project_id WHERE j.name = 'bench'").fetchone()[0]
    connection.close()
    os.remove(plan)
    subprocess.run(["rm", "-rf", models])
    bench_submit.remove(database)
    return {"p50_ms": milliseconds(re.search(r"50%\s+(\S+)", output).group(1)), "p99_ms": milliseconds(re.search(r"99%\s+(\S+)", output).group(1)),
            "submissions_per_second": stored / duration, "training_steps_at_end": steps}


def main():
    if not os.path.exists(BASE):
        sys.exit(f"{BASE} is missing: run `make smollm2` first")
    os.makedirs(RESULTS, exist_ok=True)
    result = {"seconds": SECONDS, "cores": os.cpu_count()}
    for mode in os.environ.get("BENCH_MODES", "idle,training,separate").split(","):
        result[mode] = run(mode)
        print(f"  {mode}: {json.dumps(result[mode])}", flush=True)
    for mode in ("training", "separate"):
        if mode in result and "idle" in result:
            result[mode]["p99_over_idle"] = result[mode]["p99_ms"] / result["idle"]["p99_ms"]
    print(json.dumps(result, indent=1))
    with open(os.path.join(RESULTS, "loop.jsonl"), "a") as output:
        output.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
