// The demonstration screen: the prompt, a response editor, and the model's answers as
// suggestions the labeler may start from (recorded as pre-filled). What the labeler types is
// kept as a draft in the browser until it is sent. Server text goes through textContent only
// (Markdown node by node).
import { api, drafts, signedInProject, onSubmitShortcut, showPrompt, heldUntil, wireSkip, wireSignOut } from "/api.js";
import { renderMarkdown } from "/markdown.js";

const state = { user: null, project: null, task: null, prefilledFrom: null, startedAt: 0, correcting: null };

function draftKey() {
  return state.correcting ? `demonstration-correction:${state.user.username}:${state.correcting.id}` : `demonstration:${state.user.username}:${state.task.prompt.id}`;
}

function saveDraft() {
  const text = document.getElementById("response").value;
  if (text) drafts.save(draftKey(), { text, prefilledFrom: state.prefilledFrom });
  else drafts.clear(draftKey());
}


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
  document.getElementById("guidelines").textContent = task.project.demonstrationGuidelines || "No guidelines were given for writing demonstrations in this project.";
  document.getElementById("remaining").textContent = `${task.remaining} to write · held until ${heldUntil(task.assignment)}`;
  showPrompt(document.getElementById("prompt"), task.prompt.prompt);
  const editor = document.getElementById("response");
  const draft = drafts.load(draftKey());
  editor.value = draft?.text ?? "";
  state.prefilledFrom = draft?.prefilledFrom ?? null;
  document.getElementById("draft-status").textContent = draft ? "Your draft of this response was restored." : "";
  const list = document.getElementById("suggestions");
  list.replaceChildren();
  for (const candidate of task.prompt.candidates) {
    const item = document.createElement("li");
    item.className = "candidate card";
    const text = document.createElement("div");
    text.className = "text";
    renderMarkdown(text, candidate.text);
    const use = document.createElement("button");
    use.type = "button";
    use.className = "quiet";
    use.textContent = "Start from this";
    use.addEventListener("click", () => {
      // What the labeler wrote is theirs: replacing it asks first.
      if (editor.value.trim() && editor.value !== candidate.text && !window.confirm("Replace what you have written with this answer?")) return;
      editor.value = candidate.text;
      state.prefilledFrom = candidate.id;
      saveDraft();
      editor.focus();
    });
    item.append(text, use);
    list.append(item);
  }
  document.getElementById("task").hidden = false;
  editor.focus();
}

/// A correction of one of the labeler's own demonstrations (`?correct=ID`, from the home page's
/// history): the prompt and what they wrote, to edit and send as a correction.
async function loadCorrection(id) {
  const demonstration = await api("GET", `/api/demonstrations/${id}`);
  state.correcting = demonstration;
  state.prefilledFrom = demonstration.prefilledFromCandidateId;
  state.startedAt = performance.now();
  document.getElementById("guidelines").textContent = state.project?.demonstrationGuidelines || "Correct your demonstration: what you send replaces it in exports and training from now on; the original is kept.";
  document.getElementById("remaining").textContent = demonstration.correctable
    ? `correcting demonstration ${demonstration.id} · until ${new Date(demonstration.correctableUntil).toLocaleTimeString()}`
    : `demonstration ${demonstration.id} can no longer be corrected`;
  showPrompt(document.getElementById("prompt"), demonstration.prompt);
  const editor = document.getElementById("response");
  const draft = drafts.load(draftKey());
  editor.value = draft?.text ?? demonstration.text;
  document.getElementById("draft-status").textContent = draft ? "Your draft of this correction was restored." : "";
  document.getElementById("submit").textContent = "Send the correction (Ctrl+Enter)";
  document.getElementById("submit").disabled = !demonstration.correctable;
  for (const id of ["skip-task", "suggestions-section"]) {
    const element = document.getElementById(id);
    if (element) element.hidden = true;
  }
  document.getElementById("task").hidden = false;
  editor.focus();
}

async function sendCorrection() {
  await api("POST", `/api/demonstrations/${state.correcting.id}/corrections`, {
    text: document.getElementById("response").value,
    prefilledFromCandidateId: state.prefilledFrom,
    secondsSpent: (performance.now() - state.startedAt) / 1000,
  });
  drafts.clear(draftKey());
  location.href = "/home.html?corrected=demonstration";
}

async function submit() {
  const error = document.getElementById("task-error");
  error.textContent = "";
  if (state.correcting) {
    try { await sendCorrection(); } catch (failure) { error.textContent = failure.message; }
    return;
  }
  try {
    await api("POST", `/api/prompts/${state.task.prompt.id}/demonstrations`, {
      text: document.getElementById("response").value,
      prefilledFromCandidateId: state.prefilledFrom,
      secondsSpent: (performance.now() - state.startedAt) / 1000,
    });
    drafts.clear(draftKey());
    await loadTask();
  } catch (failure) {
    error.textContent = failure.message;
  }
}

async function start() {
  const { user, project } = await signedInProject();
  state.user = user;
  state.project = project;
  const correct = new URLSearchParams(location.search).get("correct");
  if (correct) {
    await loadCorrection(Number(correct));
    return;
  }
  if (!state.project) {
    document.getElementById("empty").hidden = false;
    return;
  }
  await loadTask();
}

document.getElementById("submit").addEventListener("click", submit);
document.getElementById("response").addEventListener("input", saveDraft);
wireSkip(() => state.task.assignment, () => {
  drafts.clear(draftKey());
  return loadTask();
});
onSubmitShortcut(submit);
wireSignOut();
start().catch((failure) => (document.getElementById("task-error").textContent = failure.message));
