// The researcher's live-conversation form: which model versions and registered endpoints
// answer a project's live conversations, at what temperature and length. The server checks every model and names the
// field it refuses.
import { api, element } from "/api.js";

const live = { projects: [], models: [], endpoints: [] };

async function fill() {
  const form = document.getElementById("live-form");
  const projectID = document.getElementById("live-project").value;
  if (!projectID) return;
  const settings = await api("GET", `/api/projects/${projectID}/live-settings`);
  const fieldset = document.getElementById("live-models");
  fieldset.querySelectorAll("label, p").forEach((node) => node.remove());
  const writers = live.models.filter((model) => model.kind === "policy" || model.kind === "sft");
  if (writers.length === 0) fieldset.append(element("p", "No policy or SFT model is registered yet (`tally model add`, or a training job)."));
  for (const model of writers) {
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.value = String(model.id);
    box.checked = settings.modelIds.includes(model.id);
    label.append(box, document.createTextNode(` ${model.name} (${model.kind}, id ${model.id})`));
    fieldset.append(label);
  }
  for (const endpoint of live.endpoints) {
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.value = String(endpoint.id);
    box.dataset.endpoint = "1";
    box.checked = (settings.endpointIds || []).includes(endpoint.id);
    label.append(box, document.createTextNode(` ${endpoint.name} (endpoint: ${endpoint.model})`));
    fieldset.append(label);
  }
  form.elements.temperature.value = String(settings.temperature);
  form.elements.maximumTokens.value = String(settings.maximumTokens);
}

async function save(event) {
  event.preventDefault();
  const form = event.target;
  const result = document.getElementById("live-result");
  const checked = [...document.querySelectorAll("#live-models input:checked")];
  const modelIds = checked.filter((box) => !box.dataset.endpoint).map((box) => Number(box.value));
  const endpointIds = checked.filter((box) => box.dataset.endpoint).map((box) => Number(box.value));
  try {
    const saved = await api("PUT", `/api/projects/${form.elements.project.value}/live-settings`, {
      modelIds, endpointIds, temperature: Number(form.elements.temperature.value), maximumTokens: Number(form.elements.maximumTokens.value),
    });
    const answerers = saved.modelIds.length + (saved.endpointIds || []).length;
    result.textContent = answerers === 0 ? "Live conversations are off." : `Saved: ${answerers} answerer(s).`;
  } catch (failure) {
    result.textContent = failure.message;
  }
}

/// Redraws the project choice (keeping the one chosen) and the models after a reload.
export async function showLiveSettings(projects) {
  live.projects = projects;
  live.models = (await api("GET", "/api/models")).models || [];
  live.endpoints = (await api("GET", "/api/model-endpoints")).endpoints || [];
  const choice = document.getElementById("live-project");
  const chosen = choice.value;
  choice.replaceChildren(...projects.map((project) => new Option(project.name, String(project.id))));
  if (chosen && projects.some((project) => String(project.id) === chosen)) choice.value = chosen;
  await fill();
}

export function wireLiveSettings() {
  document.getElementById("live-project").addEventListener("change", () => fill().catch((failure) => (document.getElementById("live-result").textContent = failure.message)));
  document.getElementById("live-form").addEventListener("submit", save);
}
