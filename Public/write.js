// The prompt-writing screen (InstructGPT's labeler-written prompts): a prompt and its kind,
// stored in the project as written by this labeler; kept as a draft in the browser until sent.
import { api, drafts, signedInProject, onSubmitShortcut, wireSignOut } from "/api.js";

const state = { user: null, project: null };

function draftKey() { return `prompt:${state.user.username}:${state.project.id}`; }

function saveDraft() {
  const text = document.getElementById("prompt-text").value;
  if (text) drafts.save(draftKey(), { text, category: document.getElementById("category").value });
  else drafts.clear(draftKey());
}

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
    drafts.clear(draftKey());
    text.focus();
    await showWanted();
  } catch (failure) {
    error.textContent = failure.message;
  }
}

async function start() {
  const { user, project } = await signedInProject();
  state.user = user;
  state.project = project;
  if (!project) throw new Error("There are no projects yet.");
  const draft = drafts.load(draftKey());
  if (draft) {
    document.getElementById("prompt-text").value = draft.text;
    document.getElementById("category").value = draft.category;
    document.getElementById("written").textContent = "Your draft was restored.";
  }
  document.getElementById("prompt-text").addEventListener("input", saveDraft);
  document.getElementById("category").addEventListener("change", saveDraft);
  document.getElementById("guidelines").textContent = project.promptGuidelines || "No guidelines were given for writing prompts in this project.";
  await showWanted();
  document.getElementById("prompt-text").focus();
}

document.getElementById("prompt-form").addEventListener("submit", (event) => {
  event.preventDefault();
  submit();
});
onSubmitShortcut(submit);
wireSignOut();
start().catch((failure) => (document.getElementById("task-error").textContent = failure.message));
