// The researcher's view: create a project, import prompts and candidates (JSONL or CSV, checked
// whole: a refused file lists every problem by line and field), each project's counts and
// exports (plain links: a GET needs no CSRF token), tasks by kind and status, each labeler's
// output, and rankings per day. Text from the server goes through textContent only.
import { api, session, wireSignOut } from "/api.js";
import { showProjectSettings, wireProjectSettings } from "/project-settings.js";
import { showLiveSettings, wireLiveSettings } from "/live-settings.js";
import { showTrends, wireTrends } from "/trends.js";

const state = { role: null };

const exportFormats = [["comparisons", "TRL comparisons"], ["hh-rlhf", "HH-RLHF"], ["rankings", "raw rankings"], ["ratings-csv", "ratings CSV"],
  ["sft-messages", "SFT messages"], ["sft-prompt-completion", "SFT prompt/completion"]];

function percent(value) { return `${(value * 100).toFixed(1)}%`; }
function rate(agreement) {
  return agreement ? `${percent(agreement.estimate)} (${percent(agreement.lower)}–${percent(agreement.upper)}, ${agreement.pairs} pairs)` : "–";
}

/// Admins act on a labeler from the quality table: suspend or reactivate, move between groups.
function adminButtons(labeler) {
  const cell = document.createElement("td");
  if (state.role !== "admin") return cell;
  const actions = [labeler.status === "active" ? ["Suspend", { status: "suspended" }] : ["Reactivate", { status: "active" }],
    labeler.labelerGroup === "training" ? ["Hold out", { labelerGroup: "held_out" }] : ["Move to training", { labelerGroup: "training" }]];
  for (const [label, change] of actions) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "quiet";
    button.textContent = label;
    button.addEventListener("click", async () => {
      try {
        await api("PATCH", `/api/users/${labeler.labelerId}`, { ...change, note: "from the quality table" });
        await showProjects();
      } catch (failure) {
        document.getElementById("error").textContent = failure.message;
      }
    });
    cell.append(button, document.createTextNode(" "));
  }
  return cell;
}

function showQuality(project, quality) {
  const line = document.createElement("span");
  line.textContent = `${project.name}: agreement ${rate(quality.agreement)}; training ${rate(quality.trainingAgreement)}; held-out ${rate(quality.heldOutAgreement)}; `
    + `Kendall's tau ${quality.kendallTau === undefined ? "–" : quality.kendallTau.toFixed(3)}; `
    + `rating alpha ${quality.ratingAlpha === undefined ? "–" : quality.ratingAlpha.toFixed(3)}. `;
  document.getElementById("project-agreement").append(line);
  for (const labeler of quality.labelers) {
    const bias = labeler.positionBias ? `${percent(labeler.positionBias.firstShownRankedFirst)} (chance ${percent(labeler.positionBias.chance)})` : "–";
    const row = tableRow([project.name, labeler.username, labeler.labelerGroup, labeler.status, labeler.rankings, rate(labeler.agreement),
      labeler.kendallTau === undefined ? "–" : labeler.kendallTau.toFixed(3),
      labeler.goldRankings ? `${rate(labeler.goldAgreement)} on ${labeler.goldRankings} gold prompts` : "–", bias, labeler.needsReview ? "review" : ""]);
    if (labeler.needsReview) row.className = "failed";
    row.insertBefore(modelCheckCell(project, labeler), row.children[8]);
    row.append(adminButtons(labeler));
    document.querySelector("#quality tbody").append(row);
  }
  for (const judge of quality.aiLabelers || []) {
    const row = tableRow([project.name, judge.name, judge.method, judge.rankings, judge.promptsRankedByPeople, rate(judge.agreementWithPeople),
      rate(judge.agreementWithHeldOutLabelers)]);
    const cell = document.createElement("td");
    const link = document.createElement("a");
    link.href = `/api/projects/${project.id}/ai-labels?` + (judge.endpointId ? `endpoint=${judge.endpointId}` : `model=${judge.modelVersionId}`);
    link.textContent = "comparisons (JSONL)";
    cell.append(link);
    row.append(cell);
    document.querySelector("#ai-labelers tbody").append(row);
    document.getElementById("ai-labelers").hidden = false;
  }
}

/// The model's check of a labeler's preferences, linked to the rankings it disputes.
function modelCheckCell(project, labeler) {
  const cell = document.createElement("td");
  const check = labeler.modelCheck;
  if (!check) {
    cell.textContent = "–";
    cell.title = "Checked at the end of the project's next reward job";
    return cell;
  }
  const text = `${percent(check.share)} of ${check.pairs} pairs`;
  if (check.confidentDisagreements === 0) {
    cell.textContent = text;
    return cell;
  }
  const link = document.createElement("a");
  link.href = `/browse.html?project=${project.id}&labeler=${labeler.labelerId}&disputed=1`;
  link.textContent = text;
  cell.append(link);
  return cell;
}

function tableRow(values) {
  const row = document.createElement("tr");
  for (const value of values) {
    const cell = document.createElement("td");
    cell.textContent = String(value);
    row.append(cell);
  }
  return row;
}

async function showModels() {
  const { models } = await api("GET", "/api/models");
  document.querySelector("#models tbody").replaceChildren(...models.map((model) => tableRow([model.name, model.kind, model.architecture,
    `${(model.parameterCount / 1e6).toFixed(1)}M`, model.checkpointPath, `${model.checkpointSha256.slice(0, 12)}…`])));
}

async function showProjects() {
  const { projects } = await api("GET", "/api/projects");
  wireGold(projects);
  showProjectSettings(projects);
  await showLiveSettings(projects);
  await showTrends(projects);
  for (const id of ["projects", "tasks", "quality", "ai-labelers", "labelers", "days"]) document.querySelector(`#${id} tbody`).replaceChildren();
  document.getElementById("project-agreement").replaceChildren();
  // The import form keeps the project chosen before the list was redrawn (after an import).
  const choice = document.getElementById("import-project");
  const chosen = choice.value;
  choice.replaceChildren(...projects.map((project) => new Option(project.name, String(project.id))));
  if (projects.some((project) => String(project.id) === chosen)) choice.value = chosen;
  for (const project of projects) {
    const statistics = await api("GET", `/api/projects/${project.id}/statistics`);
    showQuality(project, await api("GET", `/api/projects/${project.id}/quality`));
    const row = tableRow([project.name, statistics.prompts, statistics.rankings, statistics.promptsOpen, statistics.promptsComplete,
      statistics.demonstrations, statistics.promptsWritten]);
    for (const task of statistics.tasks) {
      document.querySelector("#tasks tbody").append(tableRow([project.name, task.kind, task.active, task.expired, task.submitted, task.skipped]));
    }
    for (const labeler of statistics.labelers) {
      document.querySelector("#labelers tbody").append(tableRow([project.name, labeler.username, labeler.labelerGroup, labeler.rankings,
        labeler.averageSeconds === null ? "–" : labeler.averageSeconds.toFixed(1), labeler.demonstrations, labeler.promptsWritten, labeler.skipped,
        labeler.lastSubmittedAt || "–"]));
    }
    for (const day of statistics.labelsPerDay) {
      document.querySelector("#days tbody").append(tableRow([project.name, day.day, day.rankings, day.demonstrations]));
    }
    const cell = document.createElement("td");
    const browse = document.createElement("a");
    browse.href = `/browse.html?project=${project.id}`;
    browse.textContent = "Browse";
    cell.append(browse, document.createTextNode(" "));
    for (const [format, label] of exportFormats) {
      const link = document.createElement("a");
      link.href = `/api/projects/${project.id}/exports/${format}`;
      link.textContent = label;
      cell.append(link, document.createTextNode(" "));
    }
    row.append(cell);
    document.querySelector("#projects tbody").append(row);
  }
}

async function createProject(event) {
  event.preventDefault();
  const form = event.target;
  const result = document.getElementById("create-result");
  result.textContent = "";
  try {
    const project = await api("POST", "/api/projects", {
      name: form.elements.name.value,
      guidelines: form.elements.guidelines.value,
      comparisonStyle: form.elements.comparisonStyle.value,
      rankingSize: Number(form.elements.rankingSize.value),
      overlap: Number(form.elements.overlap.value),
      promptsWanted: Number(form.elements.promptsWanted.value),
      goldRate: Number(form.elements.goldRate.value),
    });
    form.reset();
    form.elements.rankingSize.disabled = false;
    result.textContent = `Project “${project.name}” created.`;
    await showProjects();
  } catch (failure) {
    result.textContent = failure.message;
  }
}

/// Sends the chosen file as the request body; the server reads CSV or JSONL by its name.
async function importFile(event) {
  event.preventDefault();
  const form = event.target;
  const file = form.elements.file.files[0];
  const summary = document.getElementById("import-result");
  const problems = document.querySelector("#import-problems tbody");
  summary.textContent = "";
  problems.replaceChildren();
  problems.closest("table").hidden = true;
  if (!file) return;
  const response = await fetch(`/api/projects/${form.elements.project.value}/imports/prompts?file=${encodeURIComponent(file.name)}`, {
    method: "POST",
    headers: { "X-CSRF-Token": session.csrf, "Content-Type": file.name.toLowerCase().endsWith(".csv") ? "text/csv" : "application/jsonl" },
    body: file,
  });
  const body = await response.json();
  if (response.ok) {
    summary.textContent = `Imported: ${body.promptsCreated} new prompts, ${body.promptsExisting} already present, ${body.candidatesAdded} candidates added.`;
    await showProjects();
    return;
  }
  summary.textContent = body.error.message;
  for (const problem of body.error.problems || []) problems.append(tableRow([problem.file, problem.line, problem.field || "–", problem.message]));
  problems.closest("table").hidden = problems.children.length === 0;
}

/// The gold prompt editor: the project's gold rate, and a prompt's ranking and flags.
const gold = { projects: [], prompt: null };

function goldProject() {
  return gold.projects.find((project) => String(project.id) === document.getElementById("gold-project").value);
}

function showGoldRate() {
  const project = goldProject();
  if (project) document.querySelector("#gold-rate input[name=goldRate]").value = String(project.goldRate);
}

async function showGoldPrompt(event) {
  event?.preventDefault();
  const result = document.getElementById("gold-result");
  result.textContent = "";
  const id = Number(document.querySelector("#gold-find input[name=prompt]").value);
  try {
    const prompt = await api("GET", `/api/prompts/${id}`);
    const project = gold.projects.find((p) => p.id === prompt.projectId);
    let entries = [];
    try { entries = (await api("GET", `/api/prompts/${id}/gold`)).entries; } catch { entries = []; }
    gold.prompt = prompt;
    document.getElementById("gold-prompt").textContent = typeof prompt.prompt === "string" ? prompt.prompt
      : prompt.prompt.map((turn) => `${turn.role}: ${turn.content}`).join("\n");
    document.getElementById("gold-candidates").replaceChildren(...prompt.candidates.map((candidate, index) => {
      const item = document.createElement("li");
      item.className = "card";
      item.dataset.candidate = String(candidate.id);
      const text = document.createElement("div");
      text.className = "text";
      text.textContent = candidate.text;
      const rank = document.createElement("input");
      rank.type = "number";
      rank.min = "1";
      rank.max = String(prompt.candidates.length);
      rank.required = true;
      rank.name = "rank";
      const existing = entries.find((entry) => entry.candidateId === candidate.id);
      rank.value = String(existing ? existing.rank : index + 1);
      const label = document.createElement("label");
      label.append(document.createTextNode("Rank "), rank);
      const flags = document.createElement("fieldset");
      for (const flag of project ? project.flags : []) {
        const box = document.createElement("input");
        box.type = "checkbox";
        box.value = flag;
        box.checked = Boolean(existing && existing.flags.includes(flag));
        const flagLabel = document.createElement("label");
        flagLabel.append(box, document.createTextNode(` ${flag.replaceAll("_", " ")}`));
        flags.append(flagLabel);
      }
      item.append(text, label, flags);
      return item;
    }));
    document.getElementById("gold-answer").hidden = false;
    result.textContent = entries.length ? "This is a gold prompt; its ranking is shown." : "Not a gold prompt yet.";
  } catch (failure) {
    document.getElementById("gold-answer").hidden = true;
    result.textContent = failure.message;
  }
}

async function saveGold(event) {
  event.preventDefault();
  const result = document.getElementById("gold-result");
  const entries = [...document.querySelectorAll("#gold-candidates li")].map((item) => ({
    candidateId: Number(item.dataset.candidate),
    rank: Number(item.querySelector("input[name=rank]").value),
    flags: [...item.querySelectorAll("input[type=checkbox]:checked")].map((box) => box.value),
  }));
  try {
    await api("PUT", `/api/prompts/${gold.prompt.id}/gold`, { entries });
    result.textContent = `Prompt ${gold.prompt.id} is a gold prompt.`;
  } catch (failure) {
    result.textContent = failure.message;
  }
}

function wireGold(projects) {
  gold.projects = projects;
  const choice = document.getElementById("gold-project");
  const chosen = choice.value;
  choice.replaceChildren(...projects.map((project) => new Option(project.name, String(project.id))));
  if (chosen) choice.value = chosen;
  showGoldRate();
}

async function start() {
  const current = await api("GET", "/api/session");
  session.csrf = current.csrfToken;
  state.role = current.user.role;
  document.getElementById("admin-links").hidden = state.role !== "admin";
  document.getElementById("who").textContent = current.user.displayName;
  document.getElementById("create-project").addEventListener("submit", createProject);
  // A graded pair compares two answers: the size follows the style (the server checks it too).
  const createForm = document.getElementById("create-project");
  createForm.elements.comparisonStyle.addEventListener("change", () => {
    const graded = createForm.elements.comparisonStyle.value === "graded-pair";
    createForm.elements.rankingSize.value = graded ? "2" : "4";
    createForm.elements.rankingSize.disabled = graded;
  });
  document.getElementById("import").addEventListener("submit", importFile);
  document.getElementById("gold-project").addEventListener("change", showGoldRate);
  wireProjectSettings(showProjects);
  wireLiveSettings();
  wireTrends();
  document.getElementById("gold-find").addEventListener("submit", showGoldPrompt);
  document.getElementById("gold-answer").addEventListener("submit", saveGold);
  document.getElementById("gold-remove").addEventListener("click", async () => {
    try {
      await api("DELETE", `/api/prompts/${gold.prompt.id}/gold`);
      document.getElementById("gold-result").textContent = `Prompt ${gold.prompt.id} is an ordinary prompt again.`;
    } catch (failure) {
      document.getElementById("gold-result").textContent = failure.message;
    }
  });
  document.getElementById("gold-rate").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const project = await api("PATCH", `/api/projects/${goldProject().id}`, { goldRate: Number(event.target.elements.goldRate.value) });
      document.getElementById("gold-result").textContent = `${project.name}: gold rate ${project.goldRate}.`;
      await showProjects();
    } catch (failure) {
      document.getElementById("gold-result").textContent = failure.message;
    }
  });
  await showProjects();
  await showModels();
}

wireSignOut();
start().catch((failure) => (document.getElementById("error").textContent = failure.message));
