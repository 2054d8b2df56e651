// The researcher's project settings form: guidelines for each task kind, overlap, ranking size,
// prompts wanted and assignment minutes, each with what changing it does. Only the fields that
// changed are sent; the server checks each and names the one it refuses.
import { api } from "/api.js";

const fields = ["guidelines", "demonstrationGuidelines", "promptGuidelines", "overlap", "rankingSize", "promptsWanted", "assignmentMinutes",
  "correctionMinutes", "queueOrder", "randomShare"];
const numeric = new Set(["overlap", "rankingSize", "promptsWanted", "assignmentMinutes", "correctionMinutes", "randomShare"]);
const settings = { projects: [], onSaved: async () => {} };

function chosenProject() {
  return settings.projects.find((project) => String(project.id) === document.getElementById("settings-project").value);
}

function fill() {
  const form = document.getElementById("project-settings");
  const project = chosenProject();
  if (!project) return;
  for (const field of fields) form.elements[field].value = String(project[field]);
  // A graded pair is two answers side by side: its size cannot change.
  form.elements.rankingSize.disabled = project.comparisonStyle === "graded-pair";
}

async function save(event) {
  event.preventDefault();
  const form = event.target;
  const result = document.getElementById("settings-result");
  const project = chosenProject();
  const change = {};
  for (const field of fields) {
    if (form.elements[field].disabled) continue;
    const value = numeric.has(field) ? Number(form.elements[field].value) : form.elements[field].value;
    if (value !== project[field]) change[field] = value;
  }
  if (Object.keys(change).length === 0) {
    result.textContent = "Nothing changed.";
    return;
  }
  try {
    const saved = await api("PATCH", `/api/projects/${project.id}`, change);
    result.textContent = `${saved.name}: saved ${Object.keys(change).join(", ")}.`;
    await settings.onSaved();
  } catch (failure) {
    result.textContent = failure.message;
  }
}

/// Redraws the project choice (keeping the one chosen) after the project list is loaded.
export function showProjectSettings(projects) {
  settings.projects = projects;
  const choice = document.getElementById("settings-project");
  const chosen = choice.value;
  choice.replaceChildren(...projects.map((project) => new Option(project.name, String(project.id))));
  if (chosen && projects.some((project) => String(project.id) === chosen)) choice.value = chosen;
  fill();
}

export function wireProjectSettings(onSaved) {
  settings.onSaved = onSaved;
  document.getElementById("settings-project").addEventListener("change", fill);
  document.getElementById("project-settings").addEventListener("submit", save);
}
