// The researcher's view: create a project, import prompts and candidates (JSONL or CSV, checked
// whole: a refused file lists every problem by line and field), each project's counts and
// exports (plain links: a GET needs no CSRF token), tasks by kind and status, each labeler's
// output, and rankings per day. Text from the server goes through textContent only.
import { api, session } from "/api.js";

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
    row.append(adminButtons(labeler));
    document.querySelector("#quality tbody").append(row);
  }
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
  for (const id of ["projects", "tasks", "quality", "labelers", "days"]) document.querySelector(`#${id} tbody`).replaceChildren();
  document.getElementById("project-agreement").replaceChildren();
  const choice = document.getElementById("import-project");
  choice.replaceChildren(...projects.map((project) => {
    const option = document.createElement("option");
    option.value = String(project.id);
    option.textContent = project.name;
    return option;
  }));
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
      rankingSize: Number(form.elements.rankingSize.value),
      overlap: Number(form.elements.overlap.value),
      promptsWanted: Number(form.elements.promptsWanted.value),
      goldRate: Number(form.elements.goldRate.value),
    });
    form.reset();
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

async function start() {
  const current = await api("GET", "/api/session");
  session.csrf = current.csrfToken;
  state.role = current.user.role;
  document.getElementById("admin-links").hidden = state.role !== "admin";
  document.getElementById("who").textContent = current.user.displayName;
  document.getElementById("create-project").addEventListener("submit", createProject);
  document.getElementById("import").addEventListener("submit", importFile);
  await showProjects();
  await showModels();
}

start().catch((failure) => (document.getElementById("error").textContent = failure.message));
