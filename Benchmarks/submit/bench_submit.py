#!/usr/bin/env python3
"""`make bench-submit`: durable ranking submissions per second over HTTP, beside the ceiling of
raw SQLite on the same disk (WAL, synchronous=FULL, one row per transaction), in one run.

64 labelers, each with an API token, submit rankings through wrk (64 connections at once, each
request a different labeler's ranking). Each prompt is ranked by 16 labelers, within the
project's overlap of 20, so every planned submission is one the server must accept. Only 201
answers count; each is a ranking the server has made durable before answering. Benchmark
tooling only.
"""
import hashlib, json, os, re, socket, sqlite3, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RESULTS = os.path.join(ROOT, "Benchmarks", "results")
TALLY = os.path.join(ROOT, ".build", "release", "tally")
LABELERS, PROMPTS, LABELERS_PER_PROMPT = 64, 8000, 16
SECONDS = int(os.environ.get("BENCH_SECONDS", "8"))
TALLY_LOG_LEVEL = os.environ.get("BENCH_TALLY_LOG_LEVEL", "info")


def remove(path):
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)


def raw_ceiling(path):
    """Single-row transactions per second of raw SQLite: WAL, synchronous=FULL."""
    remove(path)
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("CREATE TABLE submissions (id INTEGER PRIMARY KEY, labeler INTEGER, prompt INTEGER, body TEXT)")
    body = "x" * 200
    count, start = 0, time.time()
    while time.time() - start < SECONDS:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("INSERT INTO submissions (labeler, prompt, body) VALUES (?, ?, ?)", (count % 64, count, body))
        connection.execute("COMMIT")
        count += 1
    rate = count / (time.time() - start)
    connection.close()
    remove(path)
    return rate


def prepare(database):
    remove(database)
    subprocess.run([TALLY, "migrate", "--database", database, "--log-level", "warning"], cwd=ROOT, check=True, capture_output=True)
    connection = sqlite3.connect(database, isolation_level=None)
    connection.execute("BEGIN")
    connection.execute("INSERT INTO projects (name, ranking_size, overlap, flags) VALUES ('bench', 2, 20, '[]')")
    project = connection.execute("SELECT last_insert_rowid()").fetchone()[0]
    prompts = []
    for index in range(PROMPTS):
        text = f"Benchmark prompt {index}"
        connection.execute("INSERT INTO prompts (project_id, kind, content, source, content_hash) VALUES (?, 'text', ?, 'imported', ?)",
                           (project, text, hashlib.sha256(text.encode()).hexdigest()))
        prompt = connection.execute("SELECT last_insert_rowid()").fetchone()[0]
        candidates = []
        for model in ("a", "b"):
            connection.execute("INSERT INTO candidates (prompt_id, text, model_name, content_hash) VALUES (?, ?, ?, ?)",
                               (prompt, f"answer {model} {index}", model, f"{model}{index}"))
            candidates.append(connection.execute("SELECT last_insert_rowid()").fetchone()[0])
        prompts.append((prompt, candidates))
    tokens = []
    for labeler in range(LABELERS):
        connection.execute("INSERT INTO users (username, display_name, role, password_hash) VALUES (?, ?, 'labeler', 'unused')",
                           (f"bench{labeler}", f"bench {labeler}"))
        user = connection.execute("SELECT last_insert_rowid()").fetchone()[0]
        token = f"tally_bench_{labeler}_{os.urandom(16).hex()}"
        connection.execute("INSERT INTO api_tokens (user_id, name, token_hash) VALUES (?, 'bench', ?)", (user, hashlib.sha256(token.encode()).hexdigest()))
        tokens.append(token)
    connection.execute("COMMIT")
    connection.close()
    plan = os.path.join(RESULTS, "submit-plan.tsv")
    with open(plan, "w") as output:
        # Prompt-major order: the 64 connections each submit for a different labeler at once,
        # on four prompts at a time.
        for index, (prompt, (first, second)) in enumerate(prompts):
            for offset in range(LABELERS_PER_PROMPT):
                token = tokens[(index * LABELERS_PER_PROMPT + offset) % LABELERS]
                body = json.dumps({"entries": [{"candidateId": first, "rank": 1, "rating": 6}, {"candidateId": second, "rank": 2, "rating": 3}],
                                   "shownOrder": [second, first], "secondsSpent": 12.5})
                output.write(f"{token}\t/api/prompts/{prompt}/rankings\t{body}\n")
    return plan


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_listening(port):
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)


def load(port, plan):
    """wrk's output for the plan's submissions: 2 threads, 64 connections, SECONDS seconds."""
    return subprocess.run(["wrk", "-t2", "-c64", f"-d{SECONDS}s", "--latency", "-s", os.path.join(ROOT, "Benchmarks", "submit", "submit.lua"),
                           f"http://127.0.0.1:{port}", "--", plan, "2"], capture_output=True, text=True, check=True).stdout


def main():
    os.makedirs(RESULTS, exist_ok=True)
    database = os.path.join(RESULTS, "bench-submit.sqlite")
    ceiling = raw_ceiling(os.path.join(RESULTS, "ceiling.sqlite"))
    print(f"  raw SQLite, one row per transaction: {ceiling:.0f}/s", flush=True)
    plan = prepare(database)
    port = free_port()
    # Tally as a user runs it: the default log level, so every submission's access-log line is
    # written (to Benchmarks/results/submit-serve.log); BENCH_TALLY_LOG_LEVEL=warning turns it off.
    server_log = open(os.path.join(RESULTS, "submit-serve.log"), "w")
    server = subprocess.Popen([TALLY, "serve", "--database", database, "--port", str(port), "--log-level", TALLY_LOG_LEVEL], cwd=ROOT,
                              stdout=server_log, stderr=subprocess.STDOUT)
    try:
        wait_until_listening(port)
        if os.environ.get("BENCH_PROFILE"):
            subprocess.Popen(["perf", "record", "-F", "2000", "-g", "-o", "/tmp/perf-submit.data", "-p", str(server.pid), "--", "sleep", "5"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        output = load(port, plan)
    finally:
        server.terminate()
        server.wait(timeout=30)
    requests = int(re.search(r"(\d+) requests in ([\d.]+)(s|m)", output).group(1))
    duration = float(re.search(r"requests in ([\d.]+)s", output).group(1))
    refused = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    p99 = re.search(r"99%\s+([\d.]+\w+)", output).group(1)
    connection = sqlite3.connect(database)
    stored = connection.execute("SELECT count(*) FROM rankings").fetchone()[0]
    integrity = connection.execute("PRAGMA integrity_check").fetchone()[0]
    connection.close()
    accepted = requests - (int(refused.group(1)) if refused else 0)
    rate = stored / duration
    lines = [
        f"wrk, 2 threads, 64 connections, {SECONDS} s; {LABELERS} labelers submitting rankings of {PROMPTS} prompts ({LABELERS_PER_PROMPT} labelers each) over HTTP, each answered 201 only once durable; Tally at log level {TALLY_LOG_LEVEL} ({'access log on, as a user runs it' if TALLY_LOG_LEVEL in ('trace', 'debug', 'info') else 'access log off'}).",
        "",
        "| measure | per second |",
        "|---|---:|",
        f"| raw SQLite, WAL, synchronous=FULL, one row per transaction (same disk) | {ceiling:.0f} |",
        f"| Tally: durable ranking submissions over HTTP | {rate:.0f} |",
        f"| ratio | {rate / ceiling:.2f} |",
        "",
        f"Rankings stored: {stored} (answered 201: {accepted}); p99 latency {p99}; integrity check: {integrity}.",
    ]
    report = "\n".join(lines)
    print(report)
    with open(os.path.join(RESULTS, "submit.md"), "w") as output_file:
        output_file.write(report + "\n")
    os.remove(plan)


if __name__ == "__main__":
    main()
