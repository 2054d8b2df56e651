// The training dashboard: the project's jobs, a job's live progress and curves (server-sent
// events from /api/jobs/{id}/events), its samples and log; starting, pausing, resuming and
// cancelling jobs; the model versions as a lineage tree.
import { api, signedInProject, wireSignOut } from "/api.js";
import { svg } from "/charts.js";
import { showEndpoints, wireEndpointForm } from "/endpoints.js";

const parameters = new URLSearchParams(location.search);
const jobID = Number(parameters.get("job")) || null;
let projectID = null;

/// The curves a job draws, each from the metrics of its names (TRL's), with the unit on its
/// axis and, where there is one, the baseline beside it.
const CHARTS = [
  { title: "Loss", unit: "loss", names: ["loss", "eval_loss"] },
  { title: "Accuracy", unit: "share of pairs", names: ["accuracy", "eval_accuracy", "rewards/accuracies", "eval_rewards/accuracies"],
    baseline: { value: 0.5, label: "chance" }, extra: ["eval_length_baseline_accuracy"] },
  { title: "Reward", unit: "reward-model score", names: ["reward", "objective/scores", "eval_reward"] },
  // The policy's curves beside the starting (SFT) policy's value (its first iteration) and the
  // bound of the project's reward-hacking watch, when one is set.
  { title: "KL to the reference", unit: "nats per answer", names: ["kl_per_answer", "eval_kl_per_answer"],
    bound: () => watch.alarmKlPerAnswer || null },
  { title: "Entropy", unit: "nats per token", names: ["entropy", "policy/entropy_avg"], fromStart: true,
    bound: (start) => (watch.alarmEntropyFraction ? start * watch.alarmEntropyFraction : null) },
  { title: "Answer length", unit: "tokens", names: ["answer_length", "completions/mean_length", "eval_answer_length"], fromStart: true,
    bound: (start) => (watch.alarmLengthRatio ? start * watch.alarmLengthRatio : null) },
  { title: "Candidates written", unit: "candidates", names: ["candidates_added", "duplicates_dropped"] },
];
const COLORS = ["#1f5fbf", "#c0392b", "#2e8b57", "#8e44ad", "#d35400"];
const points = new Map(); // metric name -> [[step, value]]
/// The project's reward-hacking bounds (0: off).
const watch = { alarmKlPerAnswer: 0, alarmLengthRatio: 0, alarmEntropyFraction: 0 };

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

function duration(seconds) {
  if (seconds == null) return "";
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/// One chart: axes with ticks, the step on x, the unit on y, a legend, the baseline dashed.
function drawChart(chart) {
  const series = chart.names.concat(chart.extra || []).filter((name) => points.has(name));
  if (series.length === 0) return null;
  const width = 420, height = 220, left = 56, right = 12, top = 12, bottom = 40;
  const all = series.flatMap((name) => points.get(name));
  let [minX, maxX] = [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
  const start = points.get(series[0])[0][1];
  const baseline = chart.baseline || (chart.fromStart ? { value: start, label: "the starting (SFT) policy" } : null);
  const bound = chart.bound ? chart.bound(start) : null;
  let values = all.map((p) => p[1]).concat(baseline ? [baseline.value] : [], bound ? [bound] : []);
  let [minY, maxY] = [Math.min(...values), Math.max(...values)];
  if (maxX === minX) maxX = minX + 1;
  if (maxY === minY) { maxY += 0.5; minY -= 0.5; }
  const x = (step) => left + (step - minX) / (maxX - minX) * (width - left - right);
  const y = (value) => top + (maxY - value) / (maxY - minY) * (height - top - bottom);
  const figure = document.createElement("figure");
  figure.className = "chart";
  figure.dataset.chart = chart.title;
  const caption = document.createElement("figcaption");
  caption.textContent = chart.title;
  const plot = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": `${chart.title} by step` });
  plot.append(svg("line", { x1: left, y1: height - bottom, x2: width - right, y2: height - bottom, stroke: "#555" }),
              svg("line", { x1: left, y1: top, x2: left, y2: height - bottom, stroke: "#555" }));
  for (const fraction of [0, 0.5, 1]) {
    const value = minY + fraction * (maxY - minY), step = Math.round(minX + fraction * (maxX - minX));
    plot.append(svg("text", { x: left - 4, y: y(value) + 4, "text-anchor": "end", "font-size": 10 }, value.toPrecision(3)),
                svg("text", { x: x(step), y: height - bottom + 14, "text-anchor": "middle", "font-size": 10 }, String(step)));
  }
  plot.append(svg("text", { x: (left + width) / 2, y: height - 6, "text-anchor": "middle", "font-size": 11 }, "optimizer step"),
              svg("text", { x: 12, y: (top + height - bottom) / 2, "text-anchor": "middle", "font-size": 11,
                            transform: `rotate(-90 12 ${(top + height - bottom) / 2})` }, chart.unit));
  if (baseline) {
    plot.append(svg("line", { x1: left, x2: width - right, y1: y(baseline.value), y2: y(baseline.value), stroke: "#888", "stroke-dasharray": "4 3" }));
  }
  if (bound) {
    plot.append(svg("line", { x1: left, x2: width - right, y1: y(bound), y2: y(bound), stroke: "#cf222e", "stroke-dasharray": "2 2", "data-bound": "alarm" }));
  }
  const legend = document.createElement("p");
  legend.className = "legend";
  series.forEach((name, index) => {
    const color = COLORS[index % COLORS.length];
    const line = points.get(name);
    plot.append(svg("polyline", { fill: "none", stroke: color, "stroke-width": 1.5, "data-series": name,
                                  points: line.map(([step, value]) => `${x(step).toFixed(1)},${y(value).toFixed(1)}`).join(" ") }));
    for (const [step, value] of line.length <= 40 ? line : []) plot.append(svg("circle", { cx: x(step), cy: y(value), r: 2, fill: color }));
    const key = document.createElement("span");
    key.style.color = color;
    key.textContent = `${name === "eval_length_baseline_accuracy" ? "longer answer wins (baseline)" : name} `;
    legend.append(key);
  });
  if (baseline) legend.append(document.createTextNode(`dashed: ${baseline.label}${bound ? "; red: the alarm bound" : ""}`));
  else if (bound) legend.append(document.createTextNode("red: the alarm bound"));
  figure.append(caption, plot, legend);
  return figure;
}

function drawCharts() {
  document.getElementById("charts").replaceChildren(...CHARTS.map(drawChart).filter(Boolean));
}

function addMetrics(metrics) {
  for (const metric of metrics) {
    const line = points.get(metric.name) || [];
    if (!line.some(([step]) => step === metric.step)) line.push([metric.step, metric.value]);
    line.sort((a, b) => a[0] - b[0]);
    points.set(metric.name, line);
  }
  drawCharts();
}

function showProgress(job) {
  const bar = document.getElementById("job-progress");
  bar.max = job.totalSteps || 1;
  bar.value = job.step;
  const left = job.secondsLeft != null ? `, about ${duration(job.secondsLeft)} left` : "";
  const total = job.totalSteps ? `step ${job.step} of ${job.totalSteps}` : "not started";
  document.getElementById("job-status").textContent = `${job.status}: ${total}${left}` + (job.error ? ` (${job.error})` : "")
    + (job.requested ? ` (${job.requested} requested)` : "");
  document.getElementById("job-pause").hidden = !(job.status === "running" || job.status === "queued");
  document.getElementById("job-resume").hidden = job.status !== "paused";
  document.getElementById("job-cancel").hidden = ["succeeded", "failed", "cancelled"].includes(job.status);
}

async function showJobDetail() {
  const detail = await api("GET", `/api/jobs/${jobID}`);
  document.getElementById("job").hidden = false;
  document.getElementById("job-heading").textContent = `Job ${detail.job.id}: ${detail.job.kind}`;
  showProgress(detail.job);
  document.getElementById("job-model").textContent = detail.model ? `Made ${detail.model.name}` : "";
  document.getElementById("alarms").replaceChildren(...(detail.alarms || []).map((alarm) => {
    const item = document.createElement("li");
    item.className = "failed";
    item.textContent = `Reward-hacking alarm (${alarm.kind}): ${alarm.message}`;
    return item;
  }));
  document.querySelector("#samples tbody").replaceChildren(...detail.samples.map((sample) => {
    const row = document.createElement("tr");
    row.append(cell(sample.step), cell(sample.prompt), cell(sample.answer), cell(sample.reward == null ? "" : sample.reward.toFixed(3)), cell(sample.ended ? "yes" : "cut"));
    return row;
  }));
  document.getElementById("log").replaceChildren(...detail.log.map((line) => {
    const item = document.createElement("li");
    item.textContent = `${line.at.slice(11, 19)} ${line.line}`;
    return item;
  }));
}

function followJob() {
  const events = new EventSource(`/api/jobs/${jobID}/events`);
  events.addEventListener("progress", (event) => showProgress(JSON.parse(event.data)));
  events.addEventListener("metrics", (event) => addMetrics(JSON.parse(event.data)));
  events.addEventListener("end", () => { events.close(); showJobDetail(); showJobs(); });
  events.addEventListener("error", () => events.close());
}

async function act(action) {
  try {
    showProgress(await api("POST", `/api/jobs/${jobID}/${action}`));
    if (action === "resume") followJob();
  } catch (error) {
    document.getElementById("error").textContent = error.message;
  }
}

async function showJobs() {
  const jobs = await api("GET", `/api/projects/${projectID}/jobs`);
  document.querySelector("#jobs tbody").replaceChildren(...jobs.map((job) => {
    const row = document.createElement("tr");
    const link = document.createElement("a");
    link.href = `/jobs.html?project=${projectID}&job=${job.id}`;
    link.textContent = `Job ${job.id}${job.automatic ? " (automatic)" : ""}`;
    const name = document.createElement("td");
    name.append(link);
    const progress = document.createElement("progress");
    progress.max = job.totalSteps || 1;
    progress.value = job.step;
    const bar = document.createElement("td");
    bar.append(progress);
    row.append(name, cell(job.kind), cell(job.status + (job.error ? `: ${job.error}` : "")), bar, cell(duration(job.secondsLeft)),
               cell(job.resultModelId ?? ""), cell(job.createdAt.slice(0, 16).replace("T", " ")));
    return row;
  }));
}

async function showModels() {
  const [{ models }, endpoints] = await Promise.all([api("GET", "/api/models"), showEndpoints(showModels)]);
  const options = (kind) => models.filter((model) => (kind === "reward") === (model.kind === "reward")).map((model) => {
    const option = document.createElement("option");
    option.value = model.id;
    option.textContent = `${model.name} (${model.kind})`;
    return option;
  });
  // A reward model's evaluation starts from a reward model; a sample job from a policy or an
  // endpoint (its answers); an ai-labels job from a policy, a reward model or an endpoint (its
  // judgments); every other kind from a policy.
  const kindSelect = document.querySelector("#start select[name=kind]");
  const fillBase = () => {
    const kind = kindSelect.value;
    const choices = kind === "reward-evaluation" ? options("reward") : kind === "ai-labels" ? options("policy").concat(options("reward")) : options("policy");
    if ((kind === "sample" || kind === "ai-labels") && endpoints.length > 0) {
      const group = document.createElement("optgroup");
      group.label = "Endpoints";
      group.append(...endpoints.map((endpoint) => {
        const option = document.createElement("option");
        option.value = `endpoint:${endpoint.id}`;
        option.textContent = `${endpoint.name} (${endpoint.model})`;
        return option;
      }));
      choices.push(group);
    }
    document.getElementById("base-model").replaceChildren(...choices);
  };
  kindSelect.onchange = fillBase;
  fillBase();
  const none = document.createElement("option");
  none.value = "";
  none.textContent = "none";
  document.getElementById("reward-model").replaceChildren(none, ...options("reward"));
  const children = new Map();
  for (const model of models) children.set(model.parentId ?? 0, (children.get(model.parentId ?? 0) || []).concat([model]));
  const branch = (parent) => (children.get(parent) || []).map((model) => {
    const item = document.createElement("li");
    const metrics = Object.entries(model.metrics || {}).slice(0, 4).map(([name, value]) => `${name} ${typeof value === "number" ? value.toPrecision(3) : value}`);
    item.textContent = `${model.name} · ${model.kind}${model.jobId ? ` · job ${model.jobId}` : ""}${metrics.length ? ` · ${metrics.join(", ")}` : ""}`;
    const below = branch(model.id);
    if (below.length) {
      const list = document.createElement("ul");
      list.append(...below);
      item.append(list);
    }
    return item;
  });
  document.getElementById("lineage").replaceChildren(...branch(0));
}

/// Human evaluation: the Bradley-Terry leaderboard with its intervals, each pairing's win rate,
/// the reward models' agreement with the labelers, and the left side's share.
async function showLeaderboard() {
  const { results, pairs, models } = await api("GET", `/api/projects/${projectID}/leaderboard`);
  const name = (id) => (models.find((model) => model.id === id) || { name: `version ${id}` }).name;
  const percent = (share) => `${(100 * share).toFixed(0)}%`;
  const row = (...texts) => {
    const tr = document.createElement("tr");
    tr.append(...texts.map(cell));
    return tr;
  };
  document.querySelector("#leaderboard tbody").replaceChildren(...results.leaderboard.map((standing, index) =>
    row(String(index + 1), name(standing.modelId), standing.rating.toFixed(0), `${standing.lower.toFixed(0)} to ${standing.upper.toFixed(0)}`,
        `${standing.wins} / ${standing.losses} / ${standing.ties}`)));
  // Each pairing read from its leader's side: "B over A, 70%" rather than "A over B, 30%".
  document.querySelector("#matchups tbody").replaceChildren(...results.matchups.map((matchup) => {
    const leads = matchup.winRateA >= 0.5;
    const [first, second] = leads ? [matchup.modelA, matchup.modelB] : [matchup.modelB, matchup.modelA];
    const [rate, lower, upper] = leads ? [matchup.winRateA, matchup.lower, matchup.upper] : [1 - matchup.winRateA, 1 - matchup.upper, 1 - matchup.lower];
    return row(`${name(first)} over ${name(second)}`, percent(rate), `${percent(lower)} to ${percent(upper)}`, String(matchup.winsA + matchup.winsB + matchup.ties));
  }));
  const share = (part) => part ? `${percent(part.share)} (${percent(part.lower)} to ${percent(part.upper)}) of ${part.verdicts}` : "none judged";
  document.querySelector("#agreement tbody").replaceChildren(...results.rewardModels.map((agreement) =>
    row(name(agreement.rewardModelId), share(agreement.all), share(agreement.heldOutLabelers))));
  if (results.rewardModels.length === 0) {
    document.querySelector("#agreement tbody").replaceChildren(row("No reward model has scored judged answers yet (an evaluation job scores them with every reward model).", "", ""));
  }
  const side = results.leftSide;
  const count = (number, noun) => `${number} ${noun}${number === 1 ? "" : "s"}`;
  document.getElementById("evaluation-summary").textContent = `${count(results.verdicts, "verdict")} on ${count(pairs, "pair")}.`
    + (side ? ` The left answer won ${percent(side.share)} of the decided verdicts (${percent(side.lower)} to ${percent(side.upper)}; sides are drawn at random, so far from 50% means position bias).` : "");
}

async function start(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  const result = document.getElementById("start-result");
  let parameters;
  try { parameters = JSON.parse(form.get("parameters") || "{}"); } catch {
    result.textContent = "Parameters: not valid JSON.";
    return;
  }
  const from = String(form.get("baseModelId") || "");
  const body = { kind: form.get("kind"), parameters };
  if (from.startsWith("endpoint:")) body.endpointId = Number(from.slice("endpoint:".length));
  else body.baseModelId = Number(from);
  if (form.get("rewardModelId")) body.rewardModelId = Number(form.get("rewardModelId"));
  try {
    const job = await api("POST", `/api/projects/${projectID}/jobs`, body);
    result.textContent = `Queued job ${job.id}.`;
    showJobs();
  } catch (error) {
    result.textContent = error.message;
  }
}

async function saveRetraining(event) {
  event.preventDefault();
  const result = document.getElementById("retraining-result");
  const count = Number(new FormData(event.target).get("retrainAfterRankings"));
  try {
    const project = await api("PATCH", `/api/projects/${projectID}`, { retrainAfterRankings: count });
    result.textContent = project.retrainAfterRankings === 0 ? "The project does not retrain by itself."
      : `The project retrains after every ${project.retrainAfterRankings} new rankings.`;
  } catch (error) {
    result.textContent = error.message;
  }
}

async function saveWatch(event) {
  event.preventDefault();
  const result = document.getElementById("watch-result");
  const form = event.target;
  const bounds = {
    alarmKlPerAnswer: Number(form.elements.alarmKlPerAnswer.value),
    alarmLengthRatio: Number(form.elements.alarmLengthRatio.value),
    alarmEntropyFraction: Number(form.elements.alarmEntropyFraction.value),
    alarmRewardHumanGap: Number(form.elements.alarmRewardHumanGap.value),
    alarmPausesJob: form.elements.alarmPausesJob.checked,
  };
  try {
    const project = await api("PATCH", `/api/projects/${projectID}`, bounds);
    for (const name of ["alarmKlPerAnswer", "alarmLengthRatio", "alarmEntropyFraction"]) watch[name] = project[name];
    drawCharts();
    const on = [project.alarmKlPerAnswer && `KL above ${project.alarmKlPerAnswer} nats`, project.alarmLengthRatio && `length above ${project.alarmLengthRatio}x the start`,
      project.alarmEntropyFraction && `entropy below ${project.alarmEntropyFraction} of the start`,
      project.alarmRewardHumanGap && `the reward model above people's verdicts by ${project.alarmRewardHumanGap}`].filter(Boolean);
    result.textContent = on.length === 0 ? "The watch is off." : `Alarms on ${on.join(", ")}${project.alarmPausesJob ? "; an alarm pauses the job." : "."}`;
  } catch (error) {
    result.textContent = error.message;
  }
}

async function main() {
  const { project } = await signedInProject();
  if (!project) {
    document.getElementById("error").textContent = "There is no project yet.";
    return;
  }
  projectID = project.id;
  document.getElementById("project-name").textContent = `· ${project.name}`;
  document.getElementById("projects-link").href = `/researcher.html?project=${projectID}`;
  document.getElementById("start").addEventListener("submit", start);
  wireEndpointForm(showModels);
  const retraining = document.getElementById("retraining");
  retraining.elements.retrainAfterRankings.value = project.retrainAfterRankings ?? 0;
  retraining.addEventListener("submit", saveRetraining);
  const watchForm = document.getElementById("watch");
  for (const name of ["alarmKlPerAnswer", "alarmLengthRatio", "alarmEntropyFraction"]) {
    watch[name] = project[name] ?? 0;
    watchForm.elements[name].value = String(watch[name]);
  }
  watchForm.elements.alarmRewardHumanGap.value = String(project.alarmRewardHumanGap ?? 0);
  watchForm.elements.alarmPausesJob.checked = Boolean(project.alarmPausesJob);
  watchForm.addEventListener("submit", saveWatch);
  for (const action of ["pause", "resume", "cancel"]) document.getElementById(`job-${action}`).addEventListener("click", () => act(action));
  await Promise.all([showJobs(), showModels(), showLeaderboard()]);
  if (jobID) {
    await showJobDetail();
    followJob();
  }
}

wireSignOut();
main().catch((error) => { document.getElementById("error").textContent = error.message; });
