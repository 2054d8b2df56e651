// The pairwise evaluation screen: a held-out prompt and two model versions' answers, on the
// sides the pair was made with, without the versions' names; the labeler says which is better
// or that they tie. Server text goes through textContent only (Markdown node by node).
import { api, signedInProject, showPrompt, wireSignOut } from "/api.js";
import { renderMarkdown } from "/markdown.js";

const state = { project: null, pair: null, startedAt: 0, sending: false };

async function loadPair() {
  const task = await api("GET", `/api/projects/${state.project.id}/next-evaluation`);
  if (!task.pair) {
    document.getElementById("task").hidden = true;
    document.getElementById("empty").hidden = false;
    return;
  }
  state.pair = task.pair;
  state.startedAt = performance.now();
  document.getElementById("guidelines").textContent = task.project.guidelines || "No guidelines were given for this project.";
  document.getElementById("remaining").textContent = `${task.remaining} to compare`;
  showPrompt(document.getElementById("prompt"), task.pair.prompt.prompt);
  renderMarkdown(document.getElementById("left"), task.pair.left);
  renderMarkdown(document.getElementById("right"), task.pair.right);
  document.getElementById("comment").value = "";
  document.getElementById("task").hidden = false;
}

async function judge(preference) {
  if (state.sending || !state.pair) return;
  const error = document.getElementById("task-error");
  error.textContent = "";
  state.sending = true;
  try {
    await api("POST", `/api/evaluation-pairs/${state.pair.id}/judgments`, {
      preference,
      comment: document.getElementById("comment").value,
      secondsSpent: (performance.now() - state.startedAt) / 1000,
    });
    await loadPair();
  } catch (failure) {
    error.textContent = failure.message;
  } finally {
    state.sending = false;
  }
}

async function start() {
  const { project } = await signedInProject();
  state.project = project;
  if (!project) {
    document.getElementById("empty").hidden = false;
    return;
  }
  await loadPair();
}

for (const button of document.querySelectorAll("[data-preference]")) {
  button.addEventListener("click", () => judge(button.dataset.preference));
}
document.addEventListener("keydown", (event) => {
  // Typing a comment is not a verdict.
  if (event.target instanceof HTMLTextAreaElement || event.ctrlKey || event.metaKey || event.altKey) return;
  const preference = { 1: "left", 2: "tie", 3: "right" }[event.key];
  if (preference) {
    event.preventDefault();
    judge(preference);
  }
});
wireSignOut();
start().catch((failure) => (document.getElementById("task-error").textContent = failure.message));
