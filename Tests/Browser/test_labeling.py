#!/usr/bin/env python3
"""Browser test: a labeler signs in with real headless Chromium, lands on their home page, ranks
candidates by keyboard and by mouse (ratings clicked, answers dragged), submits, and the database
holds exactly that; a candidate holding <script> renders as text and never runs. The labeler
also writes a demonstration, skips a task with a reason, writes a prompt, and ranks nine long
answers (the time to show them is printed); a researcher imports a CSV through the page and
makes a gold prompt; an
admin holds a labeler out from the quality table. An applicant registers and takes the demo's
screening test; an admin grades their demonstrations on the grading screen, sorts the applicants
table and accepts them into the held-out group, and they sign in to labeling work. Takes
screenshots into .build/screenshots/ (`make screenshots` copies them over Docs/screenshots/; a
test run leaves the tracked files alone). Run by `make test` after the Swift suite, against a
real `tally serve`.

Test tooling only: Selenium drives Debian's chromium through chromium-driver.
"""
import json, os, shutil, socket, sqlite3, subprocess, sys, tempfile, time, urllib.request
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TALLY = os.environ.get("TALLY", os.path.join(ROOT, ".build", "debug", "tally"))
SHOTS = os.environ.get("TALLY_SCREENSHOTS", os.path.join(ROOT, ".build", "screenshots"))
passed, failed = 0, 0


def check(condition, message):
    global passed, failed
    if condition:
        passed += 1
    else:
        failed += 1
        print(f"FAILED: {message}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api(port, method, path, body=None, cookie=None, csrf=None, raw=None, content_type="application/json"):
    data = raw.encode() if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", content_type)
    if cookie:
        request.add_header("Cookie", cookie)
    if csrf:
        request.add_header("X-CSRF-Token", csrf)
    with urllib.request.urlopen(request) as response:
        return response.headers, json.loads(response.read() or b"{}")


DRAG = """
const [source, target] = arguments;
const data = new DataTransfer();
source.dispatchEvent(new DragEvent('dragstart', {bubbles: true, dataTransfer: data}));
target.dispatchEvent(new DragEvent('dragover', {bubbles: true, cancelable: true, dataTransfer: data}));
target.dispatchEvent(new DragEvent('drop', {bubbles: true, cancelable: true, dataTransfer: data}));
source.dispatchEvent(new DragEvent('dragend', {bubbles: true, dataTransfer: data}));
"""


def sign_in(driver, port, username, password="tally-demo"):
    driver.delete_all_cookies()
    driver.get(f"http://127.0.0.1:{port}/login.html")
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "#sign-in button").click()


def screening(driver, wait, port, connection):
    """The demo's screening, end to end in the browser (registration is open in the demo)."""
    with open(os.path.join(ROOT, "Demo", "screening-test.json")) as f:
        test = json.load(f)
    items = connection.execute("SELECT id FROM screening_items ORDER BY position").fetchall()
    item_ids = [row[0] for row in items]

    # A second applicant, through the API, answers badly: nothing flagged, rankings reversed.
    headers, weak = api(port, "POST", "/api/applicants", {"username": "applicant-bo", "password": "long enough"})
    weak_cookie = headers["Set-Cookie"].split(";")[0]
    api(port, "GET", "/api/screening", cookie=weak_cookie)
    answers = []
    for item_id, item in zip(item_ids, test["items"]):
        answer = {"itemId": item_id}
        if item["kind"] == "flagging":
            answer["flags"] = [[] for _ in item["candidates"]]
        elif item["kind"] == "ranking":
            answer["ranks"] = [len(item["candidates"]) + 1 - rank for rank in item["goldRanks"]]
        elif item["kind"] == "demonstration":
            answer["text"] = "No."
        else:
            answer["value"] = 7
        answers.append(answer)
    api(port, "POST", "/api/screening", {"answers": answers}, cookie=weak_cookie, csrf=weak["csrfToken"])

    # The applicant registers through the page and takes the test as the gold answers say.
    driver.delete_all_cookies()
    driver.get(f"http://127.0.0.1:{port}/login.html")
    driver.find_element(By.ID, "apply-link").click()
    wait.until(lambda d: d.find_element(By.ID, "apply").is_displayed())
    form = driver.find_element(By.ID, "apply")
    form.find_element(By.NAME, "username").send_keys("applicant-ava")
    form.find_element(By.NAME, "displayName").send_keys("Ava")
    form.find_element(By.NAME, "password").send_keys("long enough")
    form.find_element(By.CSS_SELECTOR, "button").click()
    wait.until(lambda d: d.current_url.endswith("/screening.html"))
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".screening-item")) == len(test["items"]))
    cards = driver.find_elements(By.CSS_SELECTOR, ".screening-item")
    for card, item_id, item in zip(cards, item_ids, test["items"]):
        if item["kind"] == "flagging":
            for output, flags in zip(card.find_elements(By.CSS_SELECTOR, ".output"), item["goldFlags"]):
                for flag in flags:
                    output.find_element(By.CSS_SELECTOR, f"input[value='{flag}']").click()
        elif item["kind"] == "ranking":
            for index, rank in enumerate(item["goldRanks"]):
                Select(card.find_element(By.NAME, f"rank-{item_id}-{index}")).select_by_value(str(rank))
                Select(card.find_element(By.NAME, f"rating-{item_id}-{index}")).select_by_value(str(8 - rank))
        elif item["kind"] == "demonstration":
            card.find_element(By.NAME, f"response-{item_id}").send_keys("I hear you. Here is a careful, kind answer that points to real help.")
        else:
            Select(card.find_element(By.NAME, f"self-{item_id}")).select_by_value("6")
    driver.save_screenshot(os.path.join(SHOTS, "screening-test.png"))
    driver.find_element(By.CSS_SELECTOR, "#screening button[type=submit]").click()
    wait.until(lambda d: d.find_element(By.ID, "done").is_displayed())
    stored = connection.execute("""SELECT count(*) FROM screening_responses r JOIN screening_attempts a ON a.id = r.attempt_id
                                   JOIN users u ON u.id = a.applicant_id WHERE u.username = 'applicant-ava'""").fetchone()[0]
    check(stored == len(test["items"]), f"every answer stored: {stored}")

    # The admin grades the demonstrations on the grading screen, blind.
    sign_in(driver, port, "demo-admin")
    wait.until(lambda d: d.current_url.endswith("/researcher.html"))
    driver.find_element(By.CSS_SELECTOR, "#admin-links a[href='/grading.html']").click()
    attempt = connection.execute("SELECT a.id FROM screening_attempts a JOIN users u ON u.id = a.applicant_id WHERE u.username = 'applicant-ava'").fetchone()[0]
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, f"form.grading[data-attempt='{attempt}']"))
    card = driver.find_element(By.CSS_SELECTOR, f"form.grading[data-attempt='{attempt}']")
    check("applicant-ava" not in driver.find_element(By.ID, "attempts").text and "Ava" not in card.text, "grading is blind")
    check(len(driver.find_elements(By.CSS_SELECTOR, "form.grading")) == 2, "both applicants' demonstrations wait for grades")
    demonstration_items = [i for i, item in zip(item_ids, test["items"]) if item["kind"] == "demonstration"]
    for item_id, grade in zip(demonstration_items, ["7", "6"]):
        card.find_element(By.CSS_SELECTOR, f"input[name='grade-{attempt}-{item_id}'][value='{grade}']").click()
    card.find_element(By.NAME, f"note-{attempt}-{demonstration_items[0]}").send_keys("warm and safe")
    driver.save_screenshot(os.path.join(SHOTS, "grading.png"))
    card.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(lambda d: "Saved 2 grade(s)" in card.text)
    grades = connection.execute("SELECT grade, grade_note FROM screening_responses WHERE attempt_id = ? AND grade IS NOT NULL ORDER BY item_id", (attempt,)).fetchall()
    check(grades == [(7, "warm and safe"), (6, None)], f"grades stored: {grades}")
    weak_attempt = connection.execute("SELECT a.id FROM screening_attempts a JOIN users u ON u.id = a.applicant_id WHERE u.username = 'applicant-bo'").fetchone()[0]
    weak_card = driver.find_element(By.CSS_SELECTOR, f"form.grading[data-attempt='{weak_attempt}']")
    for item_id in demonstration_items:
        weak_card.find_element(By.CSS_SELECTOR, f"input[name='grade-{weak_attempt}-{item_id}'][value='2']").click()
    weak_card.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(lambda d: "Saved 2 grade(s)" in weak_card.text)

    # The applicants table: every score, sortable; the admin accepts Ava into the held-out group.
    driver.get(f"http://127.0.0.1:{port}/applicants.html")
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#applicants tbody tr")) == 2)
    ava = driver.find_element(By.CSS_SELECTOR, "#applicants tr[data-username='applicant-ava']").text
    check("100.0% ✓" in ava and "6.50 ✓" in ava and "met" in ava and "not met" not in ava, f"Ava's scores: {ava}")
    bo = driver.find_element(By.CSS_SELECTOR, "#applicants tr[data-username='applicant-bo']").text
    check("66.7% ✗" in bo and "0.0% ✗" in bo and "2.00 ✗" in bo and "not met" in bo, f"Bo's scores (nothing flagged: 4 of 6 outputs agree): {bo}")
    order = lambda: [r.get_attribute("data-username") for r in driver.find_elements(By.CSS_SELECTOR, "#applicants tbody tr")]
    heading = driver.find_element(By.CSS_SELECTOR, "#applicants th[data-key='ranking']")
    heading.click()
    first_sort = order()
    heading.click()
    check(first_sort == ["applicant-ava", "applicant-bo"] and order() == ["applicant-bo", "applicant-ava"], f"sorting by ranking agreement: {first_sort}, {order()}")
    row = driver.find_element(By.CSS_SELECTOR, "#applicants tr[data-username='applicant-ava']")
    Select(row.find_element(By.NAME, "group")).select_by_value("held_out")
    row.find_element(By.NAME, "note").send_keys("strong on every criterion")
    driver.save_screenshot(os.path.join(SHOTS, "applicants.png"))
    row.find_element(By.CSS_SELECTOR, "button.accept").click()
    wait.until(lambda d: "applicant-ava is now active (held-out)" in d.find_element(By.ID, "decision-result").text)
    user = connection.execute("SELECT status, labeler_group FROM users WHERE username = 'applicant-ava'").fetchone()
    check(user == ("active", "held_out"), f"Ava accepted into the held-out group: {user}")
    check(connection.execute("SELECT detail FROM audit_log WHERE action = 'applicant.accept'").fetchone()[0] == "group=held_out note=strong on every criterion",
          "the decision is audited with its note")

    # Ava now signs in to labeling work.
    sign_in(driver, port, "applicant-ava", "long enough")
    wait.until(lambda d: d.current_url.endswith("/home.html"))
    wait.until(lambda d: "Rank answers" in d.find_element(By.ID, "queues").text)
    check("Demo: rank Self-Instruct answers" in driver.find_element(By.ID, "queues").text, "the accepted labeler sees the demo's work")


def dashboard(driver, wait, port, connection, project_id):
    """The training dashboard follows a running job: its progress bar moves and its loss curve
    gains points as the job's reports arrive (written here as a worker writes them: the worker
    itself is tested by the Swift suite; this tests the page)."""
    connection.execute("INSERT INTO model_versions (name, kind, architecture, checkpoint_path, checkpoint_sha256, parameter_count) "
                       "VALUES ('browser-base', 'policy', 'llama', '/nowhere', ?, 1)", ("0" * 64,))
    base = connection.execute("SELECT id FROM model_versions WHERE name = 'browser-base'").fetchone()[0]
    connection.execute("INSERT INTO jobs (project_id, kind, status, base_model_id, worker, heartbeat_at, step, total_steps, seconds_running) "
                       "VALUES (?, 'reward', 'running', ?, 'browser-test', ?, 0, 100, 0)", (project_id, base, time.time() + 3600))
    job = connection.execute("SELECT max(id) FROM jobs").fetchone()[0]
    connection.commit()

    def report(step):
        connection.execute("UPDATE jobs SET step = ?, seconds_running = ? WHERE id = ?", (step, step * 0.5, job))
        connection.executemany("INSERT INTO job_metrics (job_id, phase, step, name, value) VALUES (?, 'train', ?, ?, ?)",
                               [(job, step, "loss", 0.7 - step / 200), (job, step, "accuracy", 0.5 + step / 400)])
        connection.commit()

    for step in (10, 20):
        report(step)
    sign_in(driver, port, "demo-researcher")
    wait.until(lambda d: d.current_url.endswith("/researcher.html") or d.current_url.endswith("/home.html"))
    driver.get(f"http://127.0.0.1:{port}/jobs.html?project={project_id}&job={job}")
    progress = lambda: float(driver.find_element(By.ID, "job-progress").get_attribute("value") or 0)
    loss_points = lambda: len((driver.find_elements(By.CSS_SELECTOR, "polyline[data-series='loss']") or [None])[0].get_attribute("points").split()) \
        if driver.find_elements(By.CSS_SELECTOR, "polyline[data-series='loss']") else 0
    wait.until(lambda d: progress() == 20)
    # The feed sends a step once a later one exists (a step's metrics are whole by then): 10 is drawn.
    wait.until(lambda d: loss_points() >= 1)
    before = loss_points()
    for step in (30, 40, 50):
        report(step)
    wait.until(lambda d: progress() == 50)
    wait.until(lambda d: loss_points() > before)
    check(loss_points() > before, "the loss curve gained points while the job ran")
    status = driver.find_element(By.ID, "job-status").text
    check("step 50 of 100" in status and "left" in status, f"the status says the step and the time left: {status}")
    chart = driver.find_element(By.CSS_SELECTOR, "figure[data-chart='Accuracy']").text
    check("optimizer step" in chart and "share of pairs" in chart and "chance" in chart, f"the accuracy chart has its axes, unit and baseline: {chart}")
    driver.save_screenshot(os.path.join(SHOTS, "training-dashboard.png"))
    connection.execute("UPDATE jobs SET status = 'succeeded', worker = NULL, heartbeat_at = NULL, step = 100 WHERE id = ?", (job,))
    connection.commit()
    wait.until(lambda d: "succeeded" in d.find_element(By.ID, "job-status").text)
    check(progress() == 100, "the bar is full once the job has succeeded")


def pairwise(driver, wait, port, connection, project_id):
    """Human evaluation: a labeler compares two versions' answers to a held-out prompt without
    their names (hostile answers shown as text), decides with a key, and the researcher's
    dashboard shows the leaderboard. The pair is written here as an evaluation job writes it
    (the job itself is tested by the Swift suite)."""
    connection.execute("INSERT INTO prompts (project_id, kind, content, split, source, content_hash) VALUES (?, 'text', ?, 'test', 'api', ?)",
                       (project_id, "Which fruit is yellow?", "browser-held-out"))
    prompt = connection.execute("SELECT id FROM prompts WHERE content_hash = 'browser-held-out'").fetchone()[0]
    versions = []
    for name in ("browser-policy-a", "browser-policy-b"):
        connection.execute("INSERT INTO model_versions (name, kind, architecture, checkpoint_path, checkpoint_sha256, parameter_count) "
                           "VALUES (?, 'policy', 'llama', '/nowhere', ?, 1)", (name, "1" * 64))
        versions.append(connection.execute("SELECT id FROM model_versions WHERE name = ?", (name,)).fetchone()[0])
    answers = []
    for version, text in zip(versions, ("<b onmouseover=\"window.__pwned = true\">A banana.</b>", "A lemon, or a banana.")):
        connection.execute("INSERT INTO evaluation_answers (prompt_id, model_version_id, text, ended) VALUES (?, ?, ?, 1)", (prompt, version, text))
        answers.append(connection.execute("SELECT max(id) FROM evaluation_answers").fetchone()[0])
    connection.execute("INSERT INTO evaluation_pairs (project_id, prompt_id, left_answer_id, right_answer_id) VALUES (?, ?, ?, ?)",
                       (project_id, prompt, answers[0], answers[1]))
    connection.commit()
    driver.delete_all_cookies()
    sign_in(driver, port, "demo-labeler")
    wait.until(lambda d: d.current_url.endswith("/home.html"))
    wait.until(lambda d: "Compare answers: 1 waiting" in d.find_element(By.ID, "queues").text)
    driver.find_element(By.CSS_SELECTOR, f"a[href='/compare.html?project={project_id}']").click()
    wait.until(lambda d: "banana" in d.find_element(By.ID, "left").text)
    page = driver.find_element(By.TAG_NAME, "body").text
    check("Which fruit is yellow?" in page and "A lemon, or a banana." in driver.find_element(By.ID, "right").text, "the prompt and both answers are shown")
    check("<b onmouseover" in driver.find_element(By.ID, "left").text and driver.execute_script("return window.__pwned === undefined"), "a hostile answer shows as text")
    check("browser-policy" not in page, "the page does not say which versions wrote the answers")
    driver.save_screenshot(os.path.join(SHOTS, "compare.png"))
    driver.find_element(By.TAG_NAME, "body").send_keys("3")
    wait.until(lambda d: d.find_element(By.ID, "empty").is_displayed())
    stored = connection.execute("SELECT preference FROM evaluation_judgments j JOIN users u ON u.id = j.labeler_id WHERE u.username = 'demo-labeler'").fetchall()
    check(stored == [("right",)], f"the key 3 stored 'right': {stored}")
    driver.delete_all_cookies()
    sign_in(driver, port, "demo-researcher")
    wait.until(lambda d: d.current_url.endswith("/researcher.html") or d.current_url.endswith("/home.html"))
    driver.get(f"http://127.0.0.1:{port}/jobs.html?project={project_id}")
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#leaderboard tbody tr")) == 2)
    rows = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "#leaderboard tbody tr")]
    check(rows[0].startswith("1 browser-policy-b") and "1 / 0 / 0" in rows[0], f"the version that won leads the board: {rows}")
    check("1 verdict on 1 pair" in driver.find_element(By.ID, "evaluation-summary").text, "the summary counts the verdicts")
    driver.execute_script("document.getElementById('evaluation-heading').scrollIntoView()")
    driver.save_screenshot(os.path.join(SHOTS, "leaderboard.png"))
    # The retraining rule, set from the same page.
    field = driver.find_element(By.CSS_SELECTOR, "#retraining input[name=retrainAfterRankings]")
    check(field.get_attribute("value") == "0", "the rule is off by default")
    field.clear()
    field.send_keys("50")
    driver.find_element(By.CSS_SELECTOR, "#retraining button").click()
    wait.until(lambda d: "every 50 new rankings" in d.find_element(By.ID, "retraining-result").text)
    check(connection.execute("SELECT retrain_after_rankings FROM projects WHERE id = ?", (project_id,)).fetchone()[0] == 50, "the rule was stored")
    # The reward-hacking watch, set from the same page: a bound that would always ring is
    # refused with the server's reason; the accepted ones are stored and drawn on the curves.
    form = driver.find_element(By.ID, "watch")
    for name, value in (("alarmKlPerAnswer", "12"), ("alarmLengthRatio", "0.5")):
        field = form.find_element(By.NAME, name)
        field.clear()
        field.send_keys(value)
    form.find_element(By.TAG_NAME, "button").click()
    wait.until(lambda d: "alarmLengthRatio" in d.find_element(By.ID, "watch-result").text)
    field = form.find_element(By.NAME, "alarmLengthRatio")
    field.clear()
    field.send_keys("2")
    form.find_element(By.NAME, "alarmPausesJob").click()
    form.find_element(By.TAG_NAME, "button").click()
    wait.until(lambda d: "Alarms on" in d.find_element(By.ID, "watch-result").text)
    check(driver.find_element(By.ID, "watch-result").text == "Alarms on KL above 12 nats, length above 2x the start; an alarm pauses the job.",
          f"the watch says what it watches: {driver.find_element(By.ID, 'watch-result').text}")
    check(connection.execute("SELECT alarm_kl_per_answer, alarm_length_ratio, alarm_pauses_job FROM projects WHERE id = ?", (project_id,)).fetchone() == (12.0, 2.0, 1),
          "the watch was stored")
    connection.execute("INSERT INTO jobs (project_id, kind, status, base_model_id, reward_model_id, step, total_steps) VALUES (?, 'rloo', 'paused', ?, ?, 3, 10)",
                       (project_id, versions[0], versions[1]))
    policy_job = connection.execute("SELECT max(id) FROM jobs").fetchone()[0]
    connection.executemany("INSERT INTO job_metrics (job_id, phase, step, name, value) VALUES (?, 'train', ?, 'answer_length', ?)",
                           [(policy_job, 1, 20.0), (policy_job, 2, 31.0), (policy_job, 3, 45.0)])
    connection.execute("INSERT INTO job_alarms (job_id, kind, step, value, bound, baseline) VALUES (?, 'length', 3, 45, 40, 20)", (policy_job,))
    connection.commit()
    driver.get(f"http://127.0.0.1:{port}/jobs.html?project={project_id}&job={policy_job}")
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#alarms li") and d.find_elements(By.CSS_SELECTOR, "figure[data-chart='Answer length']"))
    alarm = driver.find_element(By.CSS_SELECTOR, "#alarms li").text
    check(alarm.startswith("Reward-hacking alarm (length): Mean answer length 45.0 tokens at step 3, above 40.0 (2.00x the starting policy's 20.0)"), f"the alarm is shown: {alarm}")
    wait.until(lambda d: len(d.find_element(By.CSS_SELECTOR, "figure[data-chart='Answer length'] polyline").get_attribute("points").split()) == 3)
    chart = driver.find_element(By.CSS_SELECTOR, "figure[data-chart='Answer length']")
    check("the starting (SFT) policy" in chart.text and "red: the alarm bound" in chart.text and chart.find_elements(By.CSS_SELECTOR, "line[data-bound='alarm']"),
          f"the length curve shows the starting policy and the bound: {chart.text}")
    driver.save_screenshot(os.path.join(SHOTS, "reward-hacking-alarm.png"))


def graded_pairs(driver, wait, port, connection):
    """Anthropic's graded pairwise screen: two answers on an 8-point scale. A session that
    expired sends the labeler back to the same page after signing in; the rate-and-rank screen
    hands a graded-pair project to this one; a key or a button stores a ranking of two with its
    strength."""
    headers, session = api(port, "POST", "/api/session", {"username": "demo-researcher", "password": "tally-demo"})
    cookie = headers["Set-Cookie"].split(";")[0]
    _, project = api(port, "POST", "/api/projects", {"name": "Graded pairs", "comparisonStyle": "graded-pair", "flags": ["hallucination"]},
                     cookie=cookie, csrf=session["csrfToken"])
    lines = [{"prompt": "Name a prime.", "candidates": [{"text": "**7**", "model": "a"}, {"text": "9", "model": "b"}]},
             {"prompt": "Name a colour.", "candidates": [{"text": "Blue.", "model": "a"}, {"text": "Loud.", "model": "b"}]}]
    api(port, "POST", f"/api/projects/{project['id']}/imports/prompts", raw="\n".join(json.dumps(l) for l in lines),
        cookie=cookie, csrf=session["csrfToken"], content_type="application/jsonl")
    driver.delete_all_cookies()
    driver.get(f"http://127.0.0.1:{port}/pair.html?project={project['id']}")
    wait.until(lambda d: "/login.html?next=" in d.current_url)
    driver.find_element(By.ID, "username").send_keys("demo-labeler")
    driver.find_element(By.ID, "password").send_keys("tally-demo")
    driver.find_element(By.CSS_SELECTOR, "#sign-in button").click()
    wait.until(lambda d: d.current_url.endswith(f"/pair.html?project={project['id']}"))
    check(True, "signing in again returns to the page the session expired on")
    driver.get(f"http://127.0.0.1:{port}/label.html?project={project['id']}")
    wait.until(lambda d: "/pair.html" in d.current_url)
    wait.until(lambda d: d.find_element(By.ID, "answer-a").text != "")
    check(len(driver.find_elements(By.CSS_SELECTOR, "#scale button")) == 8, "the scale has eight points")
    first = connection.execute("SELECT id FROM prompts WHERE project_id = ? ORDER BY id", (project["id"],)).fetchall()
    shown = driver.find_element(By.ID, "answer-a").text
    driver.save_screenshot(os.path.join(SHOTS, "graded-pair.png"))
    driver.find_element(By.TAG_NAME, "body").send_keys("3")
    wait.until(lambda d: d.find_element(By.ID, "answer-a").text not in ("", shown))
    driver.find_element(By.CSS_SELECTOR, "#scale button[data-grade='8']").click()
    wait.until(lambda d: d.find_element(By.ID, "empty").is_displayed())
    stored = connection.execute("""SELECT r.strength, (SELECT c.text FROM ranking_entries e JOIN candidates c ON c.id = e.candidate_id
                                                       WHERE e.ranking_id = r.id AND e.rank = 1)
                                   FROM rankings r JOIN prompts p ON p.id = r.prompt_id WHERE p.project_id = ? ORDER BY r.id""", (project["id"],)).fetchall()
    check([row[0] for row in stored] == [2.0, 4.0], f"key 3 stored 'A is slightly better' (2), the last button 'B is much better' (4): {stored}")
    check(stored[0][1].replace("**", "") == shown, f"answer A won the first pair: {stored}, A was {shown!r}")
    check(len(first) == 2, "both prompts were labeled")


def live_conversation(driver, wait, port, connection, database):
    """A live conversation with the real SmolLM2 policy (skipped without it): a researcher chooses
    the model in the researcher page's form, a labeler finds the conversation on the home page,
    writes a message, both answers stream in side by side, a key on the scale picks B, and the
    chosen answer is what the second turn's prompt goes on with."""
    model = os.path.join(ROOT, ".build-models", "SmolLM2-135M-Instruct.Q4_1.gguf")
    if not os.path.exists(model):
        print("skip: live conversation (SmolLM2 was not fetched)")
        return
    began = time.time()
    subprocess.run([TALLY, "model", "add", "--database", database, "--path", model, "--name", "smollm2-live", "--log-level", "warning"],
                   cwd=ROOT, check=True, capture_output=True)
    headers, session = api(port, "POST", "/api/session", {"username": "demo-researcher", "password": "tally-demo"})
    cookie = headers["Set-Cookie"].split(";")[0]
    _, project = api(port, "POST", "/api/projects", {"name": "Live chat", "flags": []}, cookie=cookie, csrf=session["csrfToken"])
    sign_in(driver, port, "demo-researcher")
    wait.until(lambda d: d.current_url.endswith("/researcher.html"))
    driver.execute_script("document.getElementById('live-settings').open = true")
    wait.until(lambda d: "Live chat" in d.find_element(By.ID, "live-project").text)
    Select(driver.find_element(By.ID, "live-project")).select_by_visible_text("Live chat")
    wait.until(lambda d: any("smollm2-live" in l.text for l in d.find_elements(By.CSS_SELECTOR, "#live-models label")))
    box = next(l for l in driver.find_elements(By.CSS_SELECTOR, "#live-models label") if "smollm2-live" in l.text).find_element(By.TAG_NAME, "input")
    check(not box.is_selected(), "the new project has no live models")
    box.click()
    tokens = driver.find_element(By.CSS_SELECTOR, "#live-form input[name='maximumTokens']")
    tokens.clear()
    tokens.send_keys("24")
    driver.find_element(By.CSS_SELECTOR, "#live-form button[type='submit']").click()
    wait.until(lambda d: "Saved" in d.find_element(By.ID, "live-result").text)
    stored = connection.execute("SELECT model_version_ids, maximum_tokens FROM live_conversation_settings WHERE project_id = ?", (project["id"],)).fetchone()
    model_id = connection.execute("SELECT id FROM model_versions WHERE name = 'smollm2-live'").fetchone()[0]
    check(stored == (f"[{model_id}]", 24), f"the form stored the model and the length: {stored}")

    sign_in(driver, port, "demo-labeler")
    wait.until(lambda d: "Live chat" in d.find_element(By.ID, "queues").text)
    link = f"a[href='/chat.html?project={project['id']}']"
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, link).is_displayed())
    driver.find_element(By.CSS_SELECTOR, link).click()
    wait.until(lambda d: d.find_element(By.ID, "chat").is_displayed())
    check(driver.find_element(By.ID, "task-project").text == "Live chat", "the conversation page names its project")
    message = driver.find_element(By.ID, "message")
    message.send_keys("Name one fruit that is yellow.")
    check(driver.find_element(By.ID, "message-count").text == "30 / 100000", f"the counter counts the message: {driver.find_element(By.ID, 'message-count').text}")
    started = time.time()
    message.send_keys(Keys.CONTROL, Keys.ENTER)
    WebDriverWait(driver, 120).until(lambda d: d.find_element(By.ID, "choosing").is_displayed())
    seconds = time.time() - started
    answers = [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".live-turn .answer .text")]
    check(len(answers) == 2 and all(answers), f"both answers were written, side by side ({seconds:.1f} s): {answers}")
    check(not driver.find_element(By.ID, "message-form").is_displayed(), "no next message before a choice")
    driver.save_screenshot(os.path.join(SHOTS, "live-conversation.png"))
    driver.find_element(By.TAG_NAME, "body").send_keys("7")
    wait.until(lambda d: d.find_element(By.ID, "message-form").is_displayed())
    ranking = connection.execute("""SELECT r.strength, c.text FROM rankings r JOIN ranking_entries e ON e.ranking_id = r.id AND e.rank = 1
                                    JOIN candidates c ON c.id = e.candidate_id JOIN prompts p ON p.id = r.prompt_id WHERE p.project_id = ?""",
                                 (project["id"],)).fetchall()
    check(len(ranking) == 1 and ranking[0][0] == 3.0, f"key 7 stored 'B is better' (3): {ranking}")
    check("chosen" in driver.find_elements(By.CSS_SELECTOR, ".live-turn .answer h3")[1].text, "answer B is marked as chosen")
    driver.find_element(By.ID, "message").send_keys("Why that one?")
    driver.find_element(By.ID, "send").click()
    WebDriverWait(driver, 120).until(lambda d: d.find_element(By.ID, "choosing").is_displayed())
    prompt = connection.execute("""SELECT p.content FROM conversation_turns t JOIN prompts p ON p.id = t.prompt_id
                                   WHERE p.project_id = ? AND t.turn = 2""", (project["id"],)).fetchone()
    turns = json.loads(prompt[0]) if prompt else []
    check([t["role"] for t in turns] == ["user", "assistant", "user"] and turns[1]["content"] == ranking[0][1],
          f"the second turn goes on with the chosen answer: {turns}")
    print(f"browser: a live conversation of two turns on SmolLM2 in {time.time() - began:.1f} s (the first turn's answers {seconds:.1f} s)")

    # The researcher's data browser shows a turn with its whole conversation as one thread.
    first_turn = connection.execute("""SELECT t.prompt_id FROM conversation_turns t JOIN prompts p ON p.id = t.prompt_id
                                       WHERE p.project_id = ? AND t.turn = 1""", (project["id"],)).fetchone()[0]
    sign_in(driver, port, "demo-researcher")
    wait.until(lambda d: "login.html" not in d.current_url)
    driver.get(f"http://127.0.0.1:{port}/browse.html?project={project['id']}&prompt={first_turn}")
    wait.until(lambda d: d.find_element(By.ID, "detail-conversation").is_displayed())
    thread = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#conversation-turns > li")]
    heading = driver.find_element(By.ID, "conversation-heading").text
    check(heading.startswith("Live conversation #") and "turn 1 of 2" in heading and "demo-labeler" in heading, f"the thread's heading: {heading}")
    check(len(thread) == 2 and "B · chosen (better)" in thread[0] and "Why that one?" in thread[1] and "Not chosen yet." in thread[1],
          f"both turns in order, the chosen answer marked with its strength: {thread}")
    driver.find_element(By.ID, "detail-conversation").location_once_scrolled_into_view
    driver.save_screenshot(os.path.join(SHOTS, "conversation-thread.png"))


def browse(driver, wait, port, project_id):
    """The researcher's data browser: a search narrows the list, a prompt opens with its
    candidates (Markdown rendered, hostile text as text) and its ranking by the labeler, whose
    name then filters the list to their work; the address keeps the filters."""
    driver.get(f"http://127.0.0.1:{port}/browse.html?project={project_id}")
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#prompts tbody tr")) >= 3)
    search = driver.find_element(By.CSS_SELECTOR, "#filters input[name=search]")
    search.send_keys("which answer")
    driver.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#prompts tbody tr")) == 1)
    check("search=which+answer" in driver.current_url, f"the address keeps the filters: {driver.current_url}")
    driver.find_element(By.CSS_SELECTOR, "#prompts tbody tr button").click()
    wait.until(lambda d: d.find_element(By.ID, "detail").is_displayed())
    rows = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "#detail-rankings tbody tr")]
    check(len(rows) == 1 and "demo-labeler" in rows[0] and ">" in rows[0], f"the prompt's ranking is listed with its labeler and order: {rows}")
    check(driver.find_element(By.CSS_SELECTOR, "#detail-candidates .text strong").text == "third" and driver.execute_script("return window.__pwned === undefined"),
          "candidates render as Markdown, hostile ones as text")
    agreement = driver.find_element(By.ID, "detail-agreement").text
    check("agreement needs two" in agreement, f"one ranking has no agreement yet: {agreement}")
    driver.save_screenshot(os.path.join(SHOTS, "data-browser.png"))
    driver.find_element(By.CSS_SELECTOR, "#detail-rankings tbody tr button").click()
    wait.until(lambda d: d.find_element(By.ID, "labeler-filter").is_displayed())
    check("labeler=" in driver.current_url and "demo-labeler" in driver.find_element(By.ID, "labeler-filter").text, "a labeler's name shows their work")


def model_check(driver, wait, port, connection):
    """The model's check of the labels on the quality table and in the data browser: a check
    written as a reward job's end writes it (the worker's check itself is tested by the Swift
    suite; this tests the pages) shows as the labeler's share, linked to the disputed rankings,
    each of which opens its prompt."""
    ranking, project_id = connection.execute(
        "SELECT r.id, p.project_id FROM current_rankings r JOIN prompts p ON p.id = r.prompt_id JOIN users u ON u.id = r.labeler_id "
        "JOIN projects j ON j.id = p.project_id WHERE u.username = 'demo-labeler' AND j.name = 'Browser test' ORDER BY r.id LIMIT 1").fetchone()
    connection.execute("INSERT INTO model_versions (name, kind, architecture, checkpoint_path, checkpoint_sha256, parameter_count) "
                       "VALUES ('browser-reward', 'reward', 'llama', '/nowhere', ?, 1)", ("1" * 64,))
    model = connection.execute("SELECT id FROM model_versions WHERE name = 'browser-reward'").fetchone()[0]
    connection.execute("INSERT INTO label_checks (ranking_id, model_version_id, pairs, confident_disagreements, strongest_disagreement) VALUES (?, ?, 3, 2, 0.93)",
                       (ranking, model))
    connection.commit()
    driver.get(f"http://127.0.0.1:{port}/researcher.html")
    wait.until(lambda d: "demo-labeler" in d.find_element(By.ID, "quality").text)
    row = next(r for r in driver.find_elements(By.CSS_SELECTOR, "#quality tbody tr") if "Browser test" in r.text and "demo-labeler" in r.text)
    link = row.find_element(By.XPATH, ".//a[contains(@href, 'disputed=1')]")
    check(link.text == "66.7% of 3 pairs", f"the labeler's share of disputed preferences: {link.text}")
    link.click()
    wait.until(lambda d: d.find_element(By.ID, "disputed").is_displayed() and d.find_elements(By.CSS_SELECTOR, "#disputed-rankings tbody tr button"))
    listed = driver.find_element(By.CSS_SELECTOR, "#disputed-rankings tbody tr").text
    check("demo-labeler" in listed and "2 of 3" in listed and "93%" in listed, f"the disputed ranking is listed: {listed}")
    driver.execute_script("document.getElementById('disputed').scrollIntoView()")
    driver.save_screenshot(os.path.join(SHOTS, "model-check.png"))
    driver.find_element(By.CSS_SELECTOR, "#disputed-rankings tbody tr button").click()
    wait.until(lambda d: d.find_element(By.ID, "detail").is_displayed())
    check("demo-labeler" in driver.find_element(By.ID, "detail-rankings").text, "the disputed ranking's prompt opens with its rankings")


def endpoints(driver, wait, port, connection, project_id):
    """An OpenAI-compatible endpoint registered on the training page: its key never comes back
    to the page, the check says what the server answered (here Tally's own /v1 without a key:
    401), a sample job starts from it, and removing it empties the table. The job's run against
    a live endpoint is tested by the Swift suite."""
    driver.get(f"http://127.0.0.1:{port}/jobs.html?project={project_id}")
    form = wait.until(lambda d: d.find_element(By.ID, "endpoint-form"))
    secret = "sk-browser-secret-7f3a"
    for name, value in (("name", "browser-vllm"), ("baseUrl", f"http://127.0.0.1:{port}/v1"), ("model", "served-model"), ("apiKey", secret), ("retries", "1")):
        form.find_element(By.NAME, name).send_keys(value)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(lambda d: "Registered browser-vllm" in d.find_element(By.ID, "endpoint-result").text)
    row = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#endpoints tbody tr"))
    check("browser-vllm" in row.text and "…7f3a" in row.text and "1 retries" in row.text, f"the endpoint is listed with its key's ending: {row.text}")
    check(secret not in driver.page_source, "the key is not on the page")
    check(form.find_element(By.NAME, "apiKey").get_attribute("value") == "", "the key field is emptied")
    row.find_element(By.XPATH, ".//button[text()='Check']").click()
    wait.until(lambda d: "answered 401" in d.find_element(By.ID, "endpoint-result").text)
    Select(driver.find_element(By.CSS_SELECTOR, "#start select[name=kind]")).select_by_value("sample")
    start_from = Select(driver.find_element(By.ID, "base-model"))
    check("browser-vllm (served-model)" in [o.text for o in start_from.options], "a sample job can start from the endpoint")
    start_from.select_by_visible_text("browser-vllm (served-model)")
    driver.find_element(By.CSS_SELECTOR, "#start button[type=submit]").click()
    wait.until(lambda d: "Queued job" in d.find_element(By.ID, "start-result").text)
    stored = connection.execute("SELECT j.kind, e.name FROM jobs j JOIN model_endpoints e ON e.id = j.endpoint_id ORDER BY j.id DESC LIMIT 1").fetchone()
    check(stored == ("sample", "browser-vllm"), f"the job starts from the endpoint: {stored}")
    driver.execute_script("document.getElementById('endpoints-heading').scrollIntoView()")
    driver.save_screenshot(os.path.join(SHOTS, "endpoints.png"))
    # The live-conversation form offers it beside the model versions.
    driver.get(f"http://127.0.0.1:{port}/researcher.html")
    wait.until(lambda d: d.find_element(By.ID, "live-settings"))
    driver.execute_script("document.getElementById('live-settings').open = true")
    wait.until(lambda d: any("browser-vllm (endpoint: served-model)" in l.text for l in d.find_elements(By.CSS_SELECTOR, "#live-models label")))
    driver.get(f"http://127.0.0.1:{port}/jobs.html?project={project_id}")
    row = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#endpoints tbody tr"))
    # Removing it leaves the job (which, if it has not run, fails when it starts, saying so).
    row.find_element(By.XPATH, ".//button[text()='Remove']").click()
    driver.switch_to.alert.accept()
    wait.until(lambda d: "Removed browser-vllm" in d.find_element(By.ID, "endpoint-result").text)
    wait.until(lambda d: not d.find_element(By.ID, "endpoints").is_displayed())
    check(connection.execute("SELECT api_key FROM model_endpoints WHERE name = 'browser-vllm'").fetchone() == (None,), "removing erases the key")


def main():
    os.makedirs(SHOTS, exist_ok=True)
    folder = tempfile.mkdtemp(prefix="tally-browser-")
    database = os.path.join(folder, "tally.sqlite")
    subprocess.run([TALLY, "demo", "--database", database, "--log-level", "warning"], cwd=ROOT, check=True, capture_output=True)
    port = free_port()
    server = subprocess.Popen([TALLY, "serve", "--database", database, "--port", str(port), "--log-level", "warning"], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    driver = None
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        headers, session = api(port, "POST", "/api/session", {"username": "demo-researcher", "password": "tally-demo"})
        cookie = headers["Set-Cookie"].split(";")[0]
        _, project = api(port, "POST", "/api/projects", {"name": "Browser test", "rankingSize": 3, "flags": ["hallucination", "harmful_advice"],
                                                         "promptsWanted": 3, "guidelines": "Prefer the answer a careful expert would give."},
                         cookie=cookie, csrf=session["csrfToken"])
        lines = [
            {"prompt": "Which answer is best?", "candidates": [
                {"text": "<script>window.__pwned = true</script>Plain answer", "model": "evil"},
                {"text": "<img src=x onerror=\"window.__pwned = true\"> second", "model": "evil"},
                {"text": "A **third**, harmless answer:\n\n```python\nprint('<b>hi</b>')\n```\n\n- [unsafe](javascript:window.__pwned=1)\n- [docs](https://example.com/guide)\n\nمرحبا بالعالم", "model": "good"}]},
            {"prompt": [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi!"}, {"role": "user", "content": "Pick one."}],
             "candidates": [{"text": "one", "model": "a"}, {"text": "two", "model": "b"}, {"text": "three", "model": "c"}]},
        ]
        api(port, "POST", f"/api/projects/{project['id']}/imports/prompts", raw="\n".join(json.dumps(l) for l in lines),
            cookie=cookie, csrf=session["csrfToken"], content_type="application/jsonl")

        options = webdriver.ChromeOptions()
        for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1400"):
            options.add_argument(argument)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        wait = WebDriverWait(driver, 10)
        driver.get(f"http://127.0.0.1:{port}/login.html")
        driver.find_element(By.ID, "username").send_keys("demo-labeler")
        driver.find_element(By.ID, "password").send_keys("tally-demo")
        driver.save_screenshot(os.path.join(SHOTS, "sign-in.png"))
        driver.find_element(By.CSS_SELECTOR, "#sign-in button").click()
        wait.until(lambda d: d.current_url.endswith("/home.html"))
        wait.until(lambda d: "Browser test" in d.find_element(By.ID, "queues").text)
        check("Rank answers: 2 waiting" in driver.find_element(By.ID, "queues").text, "the home page counts the project's ranking queue")
        driver.find_element(By.CSS_SELECTOR, f"a[href='/label.html?project={project['id']}']").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".candidate")) == 3)
        # The page names its project, and its links stay in it.
        check(driver.find_element(By.ID, "task-project").text == "Browser test", "the ranking page names its project")
        check(all(f"project={project['id']}" in a.get_attribute("href") for a in driver.find_elements(By.CSS_SELECTOR, "header.bar a[href*='demonstrate']")),
              "the header's task links keep the project")

        # Hostile candidates render as text and never run.
        texts = [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".candidate .text")]
        check(any("<script>window.__pwned = true</script>Plain answer" in t for t in texts), f"the <script> candidate shows as text: {texts}")
        check(any("<img src=x" in t for t in texts), "the <img> candidate shows as text")
        check(driver.execute_script("return window.__pwned === undefined"), "no candidate's script ran")
        check(len(driver.find_elements(By.CSS_SELECTOR, ".candidate .text img, .candidate .text script")) == 0, "no element was made from a candidate")
        # Markdown renders node by node: emphasis, a code block kept literal, only http(s) links,
        # and a right-to-left paragraph that takes its own direction.
        check(driver.find_element(By.CSS_SELECTOR, ".candidate .text strong").text == "third", "Markdown emphasis is rendered")
        check(driver.find_element(By.CSS_SELECTOR, ".candidate .text pre code").text == "print('<b>hi</b>')", "a code block keeps its text literally")
        links = [(a.get_attribute("href"), a.get_attribute("rel")) for a in driver.find_elements(By.CSS_SELECTOR, ".candidate .text a")]
        check(links == [("https://example.com/guide", "noopener noreferrer nofollow")], f"only the https link became a link: {links}")
        check(any("[unsafe](javascript:window.__pwned=1)" in t for t in [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".candidate .text")]),
              "a javascript: link stays text")
        check(driver.execute_script("return [...document.querySelectorAll('.candidate .text p')].some(p => p.dir === 'auto' && p.textContent.startsWith('مرحبا') && getComputedStyle(p).direction === 'rtl')"),
              "the Arabic paragraph reads right to left")
        # ? shows the keys; Escape closes the list.
        driver.find_element(By.TAG_NAME, "body").send_keys("?")
        check(driver.find_element(By.ID, "keyboard-help").is_displayed(), "? opens the list of keys")
        driver.switch_to.active_element.send_keys(Keys.ESCAPE)
        check(not driver.find_element(By.ID, "keyboard-help").is_displayed(), "Escape closes it")

        # Submitting at once is refused on the page (no request): every answer needs a rating.
        driver.find_element(By.ID, "submit").click()
        check("Rate every answer before submitting" in driver.find_element(By.ID, "task-error").text, "an untouched ranking is not sent")
        check(sqlite3.connect(database).execute("SELECT count(*) FROM rankings").fetchone()[0] == 0, "nothing was stored")

        # Keyboard: ratings 7, 3, 5 on the answers as shown; ranks follow (1, 3, 2); Ctrl+Enter submits.
        cards = driver.find_elements(By.CSS_SELECTOR, ".candidate")
        shown = [int(c.get_attribute("data-id")) for c in cards]
        cards[0].click()
        for key in ("7", Keys.ARROW_DOWN, "3", Keys.ARROW_DOWN, "5"):
            driver.switch_to.active_element.send_keys(key)
        ranks = [Select(c).first_selected_option.text for c in driver.find_elements(By.CSS_SELECTOR, ".candidate select")]
        check(ranks == ["1", "3", "2"], f"ranks follow ratings: {ranks}")
        check(driver.find_element(By.ID, "order").text == "Order (from the ratings): A > C > B", f"the order is spelled out: {driver.find_element(By.ID, 'order').text}")
        check(not driver.find_element(By.ID, "order-warning").is_displayed(), "no warning while ranks follow the ratings")
        driver.find_elements(By.CSS_SELECTOR, ".candidate .flags input")[0].click()
        driver.save_screenshot(os.path.join(SHOTS, "rate-and-rank.png"))
        driver.switch_to.active_element.send_keys(Keys.CONTROL, Keys.ENTER)
        wait.until(lambda d: "Pick one." in d.find_element(By.ID, "prompt").text)

        # Mouse: click ratings, then drag the last answer to the top: ranks become the list order.
        cards = driver.find_elements(By.CSS_SELECTOR, ".candidate")
        second_shown = [int(c.get_attribute("data-id")) for c in cards]
        for card, value in zip(cards, ("4", "4", "2")):
            # As a user scrolls: the answer to the middle of the window, clear of the sticky submit bar.
            rating = card.find_element(By.CSS_SELECTOR, f".rating input[value='{value}']")
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", rating)
            rating.click()
        ranks = [Select(c).first_selected_option.text for c in driver.find_elements(By.CSS_SELECTOR, ".candidate select")]
        check(ranks == ["1", "1", "2"], f"equal ratings tie, and ranks stay dense: {ranks}")
        driver.execute_script(DRAG, cards[2], cards[0])
        order = [int(c.get_attribute("data-id")) for c in driver.find_elements(By.CSS_SELECTOR, ".candidate")]
        check(order == [second_shown[2], second_shown[0], second_shown[1]], f"the dragged answer moved to the top: {order}")
        # Answer C, rated 2, now leads two answers rated 4: the page says so and offers the fix.
        warning = driver.find_element(By.ID, "order-warning")
        check(driver.find_element(By.ID, "order").text == "Order (set by hand): C > A > B", f"the order follows the drag: {driver.find_element(By.ID, 'order').text}")
        check(warning.is_displayed() and "Answer A is rated 4 but ranked below answer C, rated 2 (and 1 more pair)." in warning.text, f"the contradiction is named: {warning.text}")
        driver.find_element(By.ID, "rank-by-ratings").click()
        check(driver.find_element(By.ID, "order").text == "Order (from the ratings): A = B > C" and not warning.is_displayed(), "one click ranks by the ratings again")
        driver.execute_script(DRAG, cards[2], cards[0])
        driver.save_screenshot(os.path.join(SHOTS, "conversation-dragged.png"))
        # Submitting a contradiction asks first: cancelling sends nothing, confirming sends it.
        driver.find_element(By.ID, "submit").click()
        wait.until(EC.alert_is_present())
        check("Submit this ranking anyway?" in driver.switch_to.alert.text, "a contradicting ranking asks before it is sent")
        driver.switch_to.alert.dismiss()
        check(sqlite3.connect(database).execute("SELECT count(*) FROM rankings").fetchone()[0] == 1, "cancelling sent nothing")
        driver.find_element(By.ID, "submit").click()
        wait.until(EC.alert_is_present())
        driver.switch_to.alert.accept()
        wait.until(lambda d: d.find_element(By.ID, "empty").is_displayed())

        # What the database holds.
        connection = sqlite3.connect(database)
        rows = connection.execute("""SELECT r.prompt_id, e.candidate_id, e.rank, e.rating, e.flags, r.shown_order
                                     FROM rankings r JOIN ranking_entries e ON e.ranking_id = r.id ORDER BY r.id, e.rank, e.candidate_id""").fetchall()
        first = {row[1]: (row[2], row[3]) for row in rows if json.loads(row[5]) == shown}
        check(first == {shown[0]: (1, 7), shown[2]: (2, 5), shown[1]: (3, 3)}, f"keyboard ranking stored: {first}")
        check(any(json.loads(row[4]) == ["hallucination"] for row in rows), "the flag was stored")
        second = {row[1]: row[2] for row in rows if json.loads(row[5]) == second_shown}
        check(second == {second_shown[2]: 1, second_shown[0]: 2, second_shown[1]: 3}, f"mouse ranking stored: {second}")
        check(connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok", "database integrity")

        # The ranking just sent can be corrected: the page offers it, the correction screen shows
        # what was given, and the correction supersedes the original, which stays.
        notice = driver.find_element(By.ID, "submitted")
        check(notice.is_displayed() and "Ranking submitted." in notice.text, f"the submission is confirmed: {notice.text}")
        driver.find_element(By.ID, "submitted-correct").click()
        wait.until(lambda d: d.find_element(By.ID, "correcting").is_displayed())
        check(driver.find_element(By.ID, "order").text == "Order (set by hand): C > A > B", f"the correction starts from what was sent: {driver.find_element(By.ID, 'order').text}")
        driver.find_element(By.ID, "rank-by-ratings").click()
        driver.find_element(By.ID, "submit").click()
        wait.until(lambda d: "corrected." in d.find_element(By.ID, "submitted").text)
        corrections = connection.execute("SELECT count(*), sum(superseded_at IS NOT NULL), sum(corrects_id IS NOT NULL) FROM rankings").fetchone()
        check(corrections == (3, 1, 1), f"the correction is a new ranking and the original stays, superseded: {corrections}")
        # Undo withdraws the correction just sent and gives the task back, filled in as it was sent.
        driver.find_element(By.ID, "submitted-undo").click()
        wait.until(lambda d: d.find_element(By.ID, "task").is_displayed() and not d.find_element(By.ID, "submitted").is_displayed())
        check(driver.find_element(By.ID, "order").text == "Order (set by hand): A = B > C", f"the withdrawn ranking fills the task: {driver.find_element(By.ID, 'order').text}")
        check(connection.execute("SELECT count(*) FROM rankings WHERE superseded_at IS NULL").fetchone()[0] == 1, "the undone ranking left the labels in force")
        driver.find_element(By.ID, "submit").click()
        wait.until(lambda d: d.find_element(By.ID, "empty").is_displayed())
        check(connection.execute("SELECT count(*) FROM rankings WHERE superseded_at IS NULL").fetchone()[0] == 2, "sent again after the undo")
        driver.get(f"http://127.0.0.1:{port}/home.html")
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#history tbody tr")) == 2)
        check("Correct (until" in driver.find_element(By.ID, "history").text, "the home page lists the rankings with their correction links")

        # Demonstrations: start from a suggestion, edit it, submit with Ctrl+Enter.
        driver.get(f"http://127.0.0.1:{port}/demonstrate.html?project={project['id']}")
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#suggestions button")) == 3)
        suggestion_texts = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#suggestions .text")]
        check(any("<script>" in t for t in suggestion_texts), "suggestions show hostile text as text")
        driver.find_elements(By.CSS_SELECTOR, "#suggestions button")[2].click()
        editor = driver.find_element(By.ID, "response")
        editor.send_keys(" Edited.")
        # A reload keeps the draft (and where it started from); another suggestion asks before
        # it replaces what was typed.
        driver.refresh()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#suggestions button")) == 3)
        editor = driver.find_element(By.ID, "response")
        check(editor.get_attribute("value").endswith(" Edited.") and "restored" in driver.find_element(By.ID, "draft-status").text,
              f"the draft came back after a reload: {editor.get_attribute('value')!r}")
        driver.find_elements(By.CSS_SELECTOR, "#suggestions button")[0].click()
        wait.until(EC.alert_is_present())
        check("Replace what you have written" in driver.switch_to.alert.text, "starting from another answer asks first")
        driver.switch_to.alert.dismiss()
        check(editor.get_attribute("value").endswith(" Edited."), "cancelling keeps what was written")
        driver.save_screenshot(os.path.join(SHOTS, "demonstration.png"))
        editor.send_keys(Keys.CONTROL, Keys.ENTER)
        wait.until(lambda d: "Pick one." in d.find_element(By.ID, "prompt").text)
        row = connection.execute("SELECT text, prefilled_from_candidate_id FROM demonstrations").fetchone()
        check(row is not None and row[0].endswith(" Edited.") and row[1] is not None, f"demonstration stored with its pre-fill: {row}")
        check(driver.execute_script("return Object.keys(localStorage).filter(k => k.startsWith('tally-draft:')).length") == 0, "a sent draft is forgotten")

        # Skip the second prompt with a reason: the queue is then empty for this labeler.
        driver.find_element(By.CSS_SELECTOR, "details.skip summary").click()
        Select(driver.find_element(By.CSS_SELECTOR, "#skip select")).select_by_index(0)
        driver.find_element(By.CSS_SELECTOR, "#skip input[name=detail]").send_keys("no context given")
        driver.find_element(By.CSS_SELECTOR, "#skip button").click()
        wait.until(lambda d: d.find_element(By.ID, "empty").is_displayed())
        skipped = connection.execute("SELECT status, skip_reason FROM assignments WHERE kind = 'demonstration' AND status = 'skipped'").fetchone()
        check(skipped == ("skipped", "I lack the expertise to judge this: no context given"), f"skip stored with its reason: {skipped}")

        # Correct the demonstration from the home page's history: the editor holds what was sent.
        driver.get(f"http://127.0.0.1:{port}/home.html")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#demonstration-history tbody tr a"))
        driver.find_element(By.CSS_SELECTOR, "#demonstration-history tbody tr a").click()
        wait.until(lambda d: d.find_element(By.ID, "task").is_displayed() and d.find_element(By.ID, "response").get_attribute("value"))
        editor = driver.find_element(By.ID, "response")
        check(editor.get_attribute("value").endswith(" Edited.") and not driver.find_element(By.ID, "suggestions-section").is_displayed(),
              f"the correction starts from the demonstration as sent: {editor.get_attribute('value')!r}")
        editor.send_keys(" Fixed.")
        editor.send_keys(Keys.CONTROL, Keys.ENTER)
        wait.until(lambda d: "home.html" in d.current_url)
        versions = connection.execute("SELECT text, superseded_at IS NULL, corrects_id FROM demonstrations ORDER BY id").fetchall()
        check(len(versions) == 2 and versions[0][1] == 0 and versions[1][0].endswith(" Edited. Fixed.") and versions[1][1] == 1 and versions[1][2] is not None,
              f"the correction supersedes the demonstration, which stays: {[(t[-20:], c, k) for t, c, k in versions]}")

        # Write a prompt.
        driver.get(f"http://127.0.0.1:{port}/write.html?project={project['id']}")
        wait.until(lambda d: d.find_element(By.ID, "wanted").text == "3 wanted")
        driver.find_element(By.ID, "prompt-text").send_keys("Explain <b>tides</b> to a child.")
        Select(driver.find_element(By.ID, "category")).select_by_value("open_qa")
        driver.find_element(By.ID, "prompt-text").send_keys(Keys.CONTROL, Keys.ENTER)
        wait.until(lambda d: d.find_element(By.ID, "wanted").text == "2 wanted")
        driver.save_screenshot(os.path.join(SHOTS, "write-prompt.png"))
        written = connection.execute("SELECT content, category, source FROM prompts WHERE source = 'labeler'").fetchone()
        check(written == ("Explain <b>tides</b> to a child.", "open_qa", "labeler"), f"written prompt stored: {written}")

        # Nine long answers stay fast: every one rated by keyboard, then submitted.
        words = " ".join(["The tide rises and falls twice a day as the moon pulls on the oceans."] * 300)
        _, nine = api(port, "POST", "/api/projects", {"name": "Nine long answers", "rankingSize": 9}, cookie=cookie, csrf=session["csrfToken"])
        api(port, "POST", f"/api/projects/{nine['id']}/imports/prompts", cookie=cookie, csrf=session["csrfToken"], content_type="application/jsonl",
            raw=json.dumps({"prompt": "Explain tides at length.", "candidates": [{"text": f"Answer {i}. {words}", "model": f"m{i}"} for i in range(9)]}))
        started = time.perf_counter()
        driver.get(f"http://127.0.0.1:{port}/label.html?project={nine['id']}")
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".candidate")) == 9)
        shown_after = time.perf_counter() - started
        key_ms = driver.execute_script("""
            const card = document.querySelector('.candidate'); card.focus();
            const begin = performance.now();
            card.dispatchEvent(new KeyboardEvent('keydown', {key: '6', bubbles: true}));
            return performance.now() - begin;""")
        print(f"browser: nine answers of {len(words.split()) + 2} words shown {shown_after * 1000:.0f} ms after navigation; "
              f"a rating key handled in {key_ms:.1f} ms", flush=True)
        folded = driver.execute_script("return [...document.querySelectorAll('.candidate details.flags')].filter(d => !d.open).length")
        check(folded == 9, f"with nine answers every answer's flags are folded away: {folded} of 9")
        driver.save_screenshot(os.path.join(SHOTS, "nine-answers.png"))
        cards = driver.find_elements(By.CSS_SELECTOR, ".candidate")
        cards[0].click()
        for index in range(9):
            driver.switch_to.active_element.send_keys(str(7 - index % 7))
            driver.switch_to.active_element.send_keys(Keys.ARROW_DOWN)
        driver.switch_to.active_element.send_keys(Keys.CONTROL, Keys.ENTER)
        wait.until(lambda d: d.find_element(By.ID, "empty").is_displayed())
        entries = connection.execute("""SELECT count(*) FROM ranking_entries e JOIN rankings r ON r.id = e.ranking_id
                                        JOIN prompts p ON p.id = r.prompt_id WHERE p.project_id = ?""", (nine["id"],)).fetchone()[0]
        check(entries == 9, f"all nine answers ranked: {entries}")

        # The home page counts today's work.
        driver.get(f"http://127.0.0.1:{port}/home.html")
        wait.until(lambda d: d.find_element(By.ID, "today-rankings").text == "3")
        check(driver.find_element(By.ID, "today-demonstrations").text == "1" and driver.find_element(By.ID, "today-prompts").text == "1"
              and driver.find_element(By.ID, "today-skipped").text == "1", "today's work is counted")
        driver.save_screenshot(os.path.join(SHOTS, "labeler-home.png"))

        # A researcher imports a CSV through the page: a bad file lists its problems, a good one imports.
        driver.delete_all_cookies()
        driver.get(f"http://127.0.0.1:{port}/login.html")
        driver.find_element(By.ID, "username").send_keys("demo-researcher")
        driver.find_element(By.ID, "password").send_keys("tally-demo")
        driver.find_element(By.CSS_SELECTOR, "#sign-in button").click()
        wait.until(lambda d: d.current_url.endswith("/researcher.html"))
        wait.until(lambda d: "Browser test" in d.find_element(By.ID, "projects").text)
        Select(driver.find_element(By.ID, "import-project")).select_by_visible_text("Browser test")
        bad_csv = os.path.join(folder, "bad.csv")
        with open(bad_csv, "w") as f:
            f.write("prompt,split,candidate,model\nGood row.,train,an answer,m1\nBad split.,holdout,,\n")
        driver.find_element(By.CSS_SELECTOR, "#import input[type=file]").send_keys(bad_csv)
        driver.find_element(By.CSS_SELECTOR, "#import button").click()
        wait.until(lambda d: "bad.csv" in d.find_element(By.ID, "import-problems").text)
        problem_rows = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "#import-problems tbody tr")]
        check(problem_rows == ["bad.csv 3 split must be train, validation or test"], f"the CSV's problem is listed by line and field: {problem_rows}")
        driver.save_screenshot(os.path.join(SHOTS, "researcher.png"))
        good_csv = os.path.join(folder, "good.csv")
        with open(good_csv, "w") as f:
            f.write("prompt,split,candidate,model\nGood row.,train,an answer,m1\nGood row.,train,another,m2\n")
        driver.find_element(By.CSS_SELECTOR, "#import input[type=file]").send_keys(good_csv)
        driver.find_element(By.CSS_SELECTOR, "#import button").click()
        wait.until(lambda d: "Imported: 1 new prompts" in d.find_element(By.ID, "import-result").text)
        check(connection.execute("SELECT count(*) FROM candidates c JOIN prompts p ON p.id = c.prompt_id WHERE p.content = 'Good row.'").fetchone()[0] == 2,
              "the CSV's candidates were stored")

        # The researcher sets the project's gold rate and makes a prompt a gold prompt on the page.
        driver.find_element(By.CSS_SELECTOR, "#gold summary").click()
        Select(driver.find_element(By.ID, "gold-project")).select_by_visible_text("Browser test")
        rate = driver.find_element(By.CSS_SELECTOR, "#gold-rate input[name=goldRate]")
        rate.clear()
        rate.send_keys("0.25")
        driver.find_element(By.CSS_SELECTOR, "#gold-rate button").click()
        wait.until(lambda d: "gold rate 0.25" in d.find_element(By.ID, "gold-result").text)
        gold_prompt = connection.execute("SELECT min(id) FROM prompts WHERE project_id = ?", (project["id"],)).fetchone()[0]
        driver.find_element(By.CSS_SELECTOR, "#gold-find input[name=prompt]").send_keys(str(gold_prompt))
        driver.find_element(By.CSS_SELECTOR, "#gold-find button").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#gold-candidates li")) == 3)
        items = driver.find_elements(By.CSS_SELECTOR, "#gold-candidates li")
        items[1].find_element(By.CSS_SELECTOR, "input[value=harmful_advice]").click()
        driver.find_element(By.CSS_SELECTOR, "#gold-answer button[type=submit]").click()
        wait.until(lambda d: "is a gold prompt" in d.find_element(By.ID, "gold-result").text)
        stored_gold = connection.execute("SELECT rank, flags FROM gold_answers WHERE prompt_id = ? ORDER BY candidate_id", (gold_prompt,)).fetchall()
        check(stored_gold == [(1, "[]"), (2, '["harmful_advice"]'), (3, "[]")], f"the gold ranking and flag were stored: {stored_gold}")
        check(connection.execute("SELECT gold_rate FROM projects WHERE id = ?", (project["id"],)).fetchone()[0] == 0.25, "the gold rate was stored")

        # The researcher changes the project's settings: guidelines for demonstrations, a higher overlap.
        driver.find_element(By.CSS_SELECTOR, "#settings summary").click()
        Select(driver.find_element(By.ID, "settings-project")).select_by_visible_text("Browser test")
        settings_form = driver.find_element(By.ID, "project-settings")
        settings_form.find_element(By.NAME, "demonstrationGuidelines").send_keys("Write two sentences at most.")
        overlap = settings_form.find_element(By.NAME, "overlap")
        overlap.clear()
        overlap.send_keys("2")
        settings_form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait.until(lambda d: "saved" in d.find_element(By.ID, "settings-result").text)
        check("demonstrationGuidelines, overlap" in driver.find_element(By.ID, "settings-result").text,
              f"only the changed settings were sent: {driver.find_element(By.ID, 'settings-result').text}")
        stored_settings = connection.execute("SELECT demonstration_guidelines, overlap FROM projects WHERE id = ?", (project["id"],)).fetchone()
        check(stored_settings == ("Write two sentences at most.", 2), f"the settings were stored: {stored_settings}")

        # The trends: four charts of the project's days, a point for today on each line with values.
        Select(driver.find_element(By.ID, "trends-project")).select_by_visible_text("Browser test")
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#trend-charts figure")) == 4)
        titles = [f.get_attribute("data-chart") for f in driver.find_elements(By.CSS_SELECTOR, "#trend-charts figure")]
        check(titles == ["Labels", "Labelers at work", "Time per ranking", "Agreement"], f"the trend charts: {titles}")
        check(len(driver.find_elements(By.CSS_SELECTOR, "#trend-charts figure[data-chart='Labels'] circle")) >= 2, "the labels chart has today's rankings and demonstrations")
        driver.execute_script("document.getElementById('trends').scrollIntoView()")
        driver.save_screenshot(os.path.join(SHOTS, "researcher-trends.png"))

        browse(driver, wait, port, project["id"])

        # An admin sees the labeler in the quality table and holds them out.
        driver.delete_all_cookies()
        driver.get(f"http://127.0.0.1:{port}/login.html")
        driver.find_element(By.ID, "username").send_keys("demo-admin")
        driver.find_element(By.ID, "password").send_keys("tally-demo")
        driver.find_element(By.CSS_SELECTOR, "#sign-in button").click()
        wait.until(lambda d: "demo-labeler" in d.find_element(By.ID, "quality").text)
        row = next(r for r in driver.find_elements(By.CSS_SELECTOR, "#quality tbody tr") if "Browser test" in r.text and "demo-labeler" in r.text)
        row.find_element(By.XPATH, ".//button[text()='Hold out']").click()
        wait.until(lambda d: connection.execute("SELECT labeler_group FROM users WHERE username = 'demo-labeler'").fetchone()[0] == "held_out")
        check(connection.execute("SELECT count(*) FROM audit_log WHERE action = 'user.update'").fetchone()[0] == 1, "the change is audited")
        wait.until(lambda d: "held_out" in d.find_element(By.ID, "quality").text and "Nine long answers" in d.find_element(By.ID, "days").text)
        driver.execute_script("document.getElementById('quality').scrollIntoView()")
        driver.save_screenshot(os.path.join(SHOTS, "quality.png"))
        model_check(driver, wait, port, connection)
        screening(driver, wait, port, connection)
        dashboard(driver, wait, port, connection, project["id"])
        endpoints(driver, wait, port, connection, project["id"])
        pairwise(driver, wait, port, connection, project["id"])
        graded_pairs(driver, wait, port, connection)
        live_conversation(driver, wait, port, connection, database)
    finally:
        if driver:
            driver.quit()
        server.terminate()
        server.wait(timeout=15)
        shutil.rmtree(folder, ignore_errors=True)
    print(f"browser: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
