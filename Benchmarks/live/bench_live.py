#!/usr/bin/env python3
"""`make bench-live`: how fast a labeler's live conversation answers, with and without a training
job beside it. A labeler (over HTTP, with an API token) holds conversations with the base policy
SmolLM2-135M-Instruct answering twice per message (two samples, the default when one model is
chosen), at the defaults a researcher gets (temperature 0.7, at most 256 tokens per answer):
each message's two answers stream back as server-sent events, the labeler picks one, and the
conversation goes on, `BENCH_TURNS_PER_CONVERSATION` turns per conversation.

    idle          `tally serve` with its worker and no job
    training      the same while its worker trains a reward model (SmolLM2, 400 rankings of another
                  project, as `make bench-loop` does) at background priority
    two-versions  idle, with two versions answering (SmolLM2 registered twice, from two copies of
                  its file: two loaded models), which run at once on half the cores each

Reports, per configuration, p50 and p95 over the turns of: the time from sending the message
to the first piece of text (of either answer), to text on both sides (the labeler sees both
answers grow), and to both answers whole and stored (the `turn` event), measured by the client;
and the answers' mean length. Appends to
Benchmarks/results/live.jsonl. Benchmark tooling only.
"""
import hashlib, http.client, json, os, sqlite3, subprocess, sys, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "submit"))
import bench_loop, bench_submit  # noqa: E402

ROOT, TALLY, RESULTS = bench_submit.ROOT, bench_submit.TALLY, bench_submit.RESULTS
CONVERSATIONS = int(os.environ.get("BENCH_CONVERSATIONS", "3"))
TURNS = int(os.environ.get("BENCH_TURNS_PER_CONVERSATION", "3"))
OPENINGS = ["Give me three tips for writing a clear email to my manager.", "What is the difference between weather and climate?",
            "Suggest a name for a small bakery and explain it.", "How do I keep basil alive on a windowsill?",
            "Explain what a hash table is to a new programmer."]
FOLLOW_UPS = ["Can you make that shorter?", "Why is that?", "Give me one more example.", "Thanks. What should I avoid?"]


def prepare(database, two_versions=False):
    """A migrated database: one labeler with an API token, a live project answered by SmolLM2
    (twice over, from two copies of its file, with `two_versions`)."""
    bench_submit.remove(database)
    subprocess.run([TALLY, "migrate", "--database", database, "--log-level", "warning"], cwd=ROOT, check=True, capture_output=True)
    subprocess.run([TALLY, "model", "add", "--database", database, "--path", bench_loop.BASE, "--name", "smollm2", "--log-level", "warning"],
                   cwd=ROOT, check=True, capture_output=True)
    connection = sqlite3.connect(database, isolation_level=None)
    connection.execute("INSERT INTO users (username, display_name, role, password_hash) VALUES ('talker', 'talker', 'labeler', 'unused')")
    user = connection.execute("SELECT last_insert_rowid()").fetchone()[0]
    token = f"tally_bench_live_{os.urandom(16).hex()}"
    connection.execute("INSERT INTO api_tokens (user_id, name, token_hash) VALUES (?, 'bench', ?)", (user, hashlib.sha256(token.encode()).hexdigest()))
    connection.execute("INSERT INTO projects (name, flags) VALUES ('live', '[]')")
    project = connection.execute("SELECT last_insert_rowid()").fetchone()[0]
    models = [connection.execute("SELECT id FROM model_versions WHERE name = 'smollm2'").fetchone()[0]]
    if two_versions:
        copy = os.path.join(RESULTS, "bench-live-smollm2-copy.gguf")
        subprocess.run(["cp", bench_loop.BASE, copy], check=True)
        subprocess.run([TALLY, "model", "add", "--database", database, "--path", copy, "--name", "smollm2-b", "--log-level", "warning"],
                       cwd=ROOT, check=True, capture_output=True)
        models.append(connection.execute("SELECT id FROM model_versions WHERE name = 'smollm2-b'").fetchone()[0])
    # The defaults a researcher gets when choosing models: only the models are named.
    connection.execute("INSERT INTO live_conversation_settings (project_id, model_version_ids) VALUES (?, ?)", (project, json.dumps(models)))
    connection.close()
    return token, project


def call(port, token, method, path, body=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    connection.request(method, path, body=json.dumps(body) if body is not None else None,
                       headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    if response.status >= 300:
        raise SystemExit(f"{method} {path}: {response.status} {data[:300]!r}")
    return json.loads(data)


def message(port, token, conversation, content):
    """Sends a message; returns (seconds to the first text, to text on both sides, to the stored
    turn, the turn)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    started = time.perf_counter()
    connection.request("POST", f"/api/conversations/{conversation}/messages", body=json.dumps({"content": content}),
                       headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Accept": "text/event-stream"})
    response = connection.getresponse()
    if response.status != 200:
        raise SystemExit(f"message: {response.status} {response.read()[:300]!r}")
    first, sides, buffer, event = None, {}, b"", None
    while True:
        line = response.fp.readline()
        if not line:
            break
        line = line.rstrip(b"\r\n")
        if line.startswith(b"event: "):
            event = line[7:].decode()
        elif line.startswith(b"data: "):
            buffer += line[6:]
        elif not line and event:
            data = json.loads(buffer)
            if event == "answer" and data["text"]:
                now = time.perf_counter() - started
                first = now if first is None else first
                sides.setdefault(data["side"], now)
            elif event == "turn":
                connection.close()
                whole = time.perf_counter() - started
                return first, max(sides.values()) if len(sides) == 2 else whole, whole, data
            elif event == "error":
                raise SystemExit(f"message: {data}")
            buffer, event = b"", None
    raise SystemExit("the stream ended without its turn")


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def run(mode):
    database = os.path.join(RESULTS, f"bench-live-{mode}.sqlite")
    token, project = prepare(database, two_versions=mode == "two-versions")
    job = None
    if mode == "training":
        job = bench_loop.queue_reward_job(database, bench_loop.add_training_project(database), registered=True)
    port = bench_submit.free_port()
    models = os.path.join(RESULTS, f"bench-live-{mode}-models")
    subprocess.run(["rm", "-rf", models])
    # The log at its default level, as a user runs it.
    server = subprocess.Popen([TALLY, "serve", "--database", database, "--port", str(port), "--models", models], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    firsts, both_sides, wholes = [], [], []
    try:
        bench_submit.wait_until_listening(port)
        if job:
            bench_loop.wait_for_training(database, job)
        for index in range(CONVERSATIONS):
            conversation = call(port, token, "POST", f"/api/projects/{project}/conversations")["id"]
            for turn in range(1, TURNS + 1):
                content = OPENINGS[index % len(OPENINGS)] if turn == 1 else FOLLOW_UPS[(index + turn) % len(FOLLOW_UPS)]
                first, both, whole, stored = message(port, token, conversation, content)
                firsts.append(first)
                both_sides.append(both)
                wholes.append(whole)
                a, b = stored["answers"]
                call(port, token, "POST", f"/api/conversations/{conversation}/turns/{turn}/choice",
                     {"entries": [{"candidateId": a["candidateId"], "rank": 1}, {"candidateId": b["candidateId"], "rank": 2}],
                      "strength": 2, "shownOrder": [a["candidateId"], b["candidateId"]]})
                print(f"  {mode} conversation {index + 1} turn {turn}: first text {first:.2f} s, both sides {both:.2f} s, both answers {whole:.2f} s", flush=True)
        steps = None
        if job:
            connection = sqlite3.connect(database)
            status, steps = connection.execute("SELECT status, step FROM jobs WHERE id = ?", (job,)).fetchone()
            connection.close()
            if status != "running":
                raise SystemExit(f"the reward job was {status} by the end, so the conversations did not run beside training throughout")
        lengths = sqlite3.connect(database).execute("""SELECT avg(length(text)) FROM candidates WHERE model_version IS 'live'""").fetchone()[0]
    finally:
        server.terminate()
        server.wait(timeout=120)
    subprocess.run(["rm", "-rf", models, os.path.join(RESULTS, "bench-live-smollm2-copy.gguf")])
    bench_submit.remove(database)
    return {"turns": len(firsts), "first_text_p50_s": percentile(firsts, 0.5), "first_text_p95_s": percentile(firsts, 0.95),
            "both_sides_text_p50_s": percentile(both_sides, 0.5), "both_sides_text_p95_s": percentile(both_sides, 0.95),
            "both_answers_p50_s": percentile(wholes, 0.5), "both_answers_p95_s": percentile(wholes, 0.95),
            "answer_characters_mean": lengths, "training_steps_at_end": steps}


def main():
    if not os.path.exists(bench_loop.BASE):
        sys.exit(f"{bench_loop.BASE} is missing: run `make smollm2` first")
    os.makedirs(RESULTS, exist_ok=True)
    result = {"cores": os.cpu_count(), "conversations": CONVERSATIONS, "turns_per_conversation": TURNS}
    for mode in os.environ.get("BENCH_MODES", "idle,training").split(","):
        result[mode] = run(mode)
        print(f"  {mode}: {json.dumps(result[mode])}", flush=True)
    print(json.dumps(result, indent=1))
    with open(os.path.join(RESULTS, "live.jsonl"), "a") as output:
        output.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
