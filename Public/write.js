// The prompt-writing screen (InstructGPT's labeler-written prompts): a prompt and its kind,
// stored in the project as written by this labeler.
import { api, signedInProject, onSubmitShortcut } from "/api.js";

const state = { project: null };

async function showWanted() {
  const work = await api("GET", "/api/me/work");
  const queue = work.projects.find((q) => q.project.id === state.project.id);
  document.getElementById("wanted").textContent = queue ? `${queue.promptsWanted} wanted` : "";
}

async function submit() {
  const error = document.getElementById("task-error");
  const written = document.getElementById("written");
  error.textContent = "";
  written.textContent = "";
  const text = document.getElementById("prompt-text");
  const category = document.getElementById("category").value;
  try {
    await api("POST", `/api/projects/${state.project.id}/prompts`, category ? { prompt: text.value, category } : { prompt: text.value });
    written.textContent = "Thank you: your prompt is in the project.";
    text.value = "";
    text.focus();
    await showWanted();
  } catch (failure) {
    error.textContent = failure.message;
  }
}

async function start() {
  const { project } = await signedInProject();
  state.project = project;
  if (!project) throw new Error("There are no projects yet.");
  document.getElementById("guidelines").textContent = project.guidelines || "No guidelines were given for this project.";
  await showWanted();
  document.getElementById("prompt-text").focus();
}

document.getElementById("prompt-form").addEventListener("submit", (event) => {
  event.preventDefault();
  submit();
});
onSubmitShortcut(submit);
start().catch((failure) => (document.getElementById("task-error").textContent = failure.message));
