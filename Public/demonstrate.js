// The demonstration screen: the prompt, a response editor, and the model's answers as
// suggestions the labeler may start from (recorded as pre-filled). Server text goes through
// textContent only.
import { api, signedInProject, onSubmitShortcut, showPrompt, heldUntil, wireSkip } from "/api.js";

const state = { project: null, task: null, prefilledFrom: null, startedAt: 0 };


async function loadTask() {
  const task = await api("GET", `/api/projects/${state.project.id}/next-demonstration`);
  if (!task.prompt) {
    document.getElementById("task").hidden = true;
    document.getElementById("empty").hidden = false;
    return;
  }
  state.task = task;
  state.prefilledFrom = null;
  state.startedAt = performance.now();
  document.getElementById("guidelines").textContent = task.project.guidelines || "No guidelines were given for this project.";
  document.getElementById("remaining").textContent = `${task.remaining} to write · held until ${heldUntil(task.assignment)}`;
  showPrompt(document.getElementById("prompt"), task.prompt.prompt);
  const editor = document.getElementById("response");
  editor.value = "";
  const list = document.getElementById("suggestions");
  list.replaceChildren();
  for (const candidate of task.prompt.candidates) {
    const item = document.createElement("li");
    item.className = "candidate card";
    const text = document.createElement("div");
    text.className = "text";
    text.textContent = candidate.text;
    const use = document.createElement("button");
    use.type = "button";
    use.className = "quiet";
    use.textContent = "Start from this";
    use.addEventListener("click", () => {
      editor.value = candidate.text;
      state.prefilledFrom = candidate.id;
      editor.focus();
    });
    item.append(text, use);
    list.append(item);
  }
  document.getElementById("task").hidden = false;
  editor.focus();
}

async function submit() {
  const error = document.getElementById("task-error");
  error.textContent = "";
  try {
    await api("POST", `/api/prompts/${state.task.prompt.id}/demonstrations`, {
      text: document.getElementById("response").value,
      prefilledFromCandidateId: state.prefilledFrom,
      secondsSpent: (performance.now() - state.startedAt) / 1000,
    });
    await loadTask();
  } catch (failure) {
    error.textContent = failure.message;
  }
}

async function start() {
  const { project } = await signedInProject();
  state.project = project;
  if (!state.project) {
    document.getElementById("empty").hidden = false;
    return;
  }
  await loadTask();
}

document.getElementById("submit").addEventListener("click", submit);
wireSkip(() => state.task.assignment, loadTask);
onSubmitShortcut(submit);
start().catch((failure) => (document.getElementById("task-error").textContent = failure.message));
