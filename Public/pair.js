// The graded pairwise screen, as Anthropic collected HH-RLHF: a prompt, two answers side by
// side, and an 8-point scale from "A is much better" to "B is much better". The choice is stored
// as a ranking of the two with its strength: the scale folded on its middle, 4 (much better) to
// 1 (negligibly better, or unsure). Server text is set with textContent (Markdown node by node).
import { api, signedInProject, showPrompt, heldUntil, wireSkip, wireSignOut, wireKeyboardHelp } from "/api.js";
import { renderMarkdown } from "/markdown.js";
import { grades, showScale } from "/graded-scale.js";

const state = { project: null, task: null, flags: { a: new Set(), b: new Set() }, startedAt: 0, sending: false };

function showFlags(side) {
  const fieldset = document.getElementById(`flags-${side}`);
  fieldset.querySelectorAll("label").forEach((label) => label.remove());
  state.flags[side] = new Set();
  for (const flag of state.project.flags) {
    const label = document.createElement("label");
    const input = document.createElement("input");
    input.type = "checkbox";
    input.value = flag;
    input.addEventListener("change", () => (input.checked ? state.flags[side].add(flag) : state.flags[side].delete(flag)));
    label.append(input, document.createTextNode(flag.replace(/_/g, " ")));
    fieldset.append(label);
  }
}

async function loadTask() {
  const task = await api("GET", `/api/projects/${state.project.id}/next-ranking`);
  state.project = task.project;
  if (!task.prompt) {
    document.getElementById("task").hidden = true;
    document.getElementById("empty").hidden = false;
    return;
  }
  const error = document.getElementById("task-error");
  error.textContent = "";
  state.task = task;
  state.startedAt = performance.now();
  document.getElementById("guidelines").textContent = task.project.guidelines || "No guidelines were given for this project.";
  document.getElementById("remaining").textContent = `${task.remaining} to compare · held until ${heldUntil(task.assignment)}`;
  showPrompt(document.getElementById("prompt"), task.prompt.prompt);
  const [a, b] = task.prompt.candidates;
  renderMarkdown(document.getElementById("answer-a"), a ? a.text : "");
  renderMarkdown(document.getElementById("answer-b"), b ? b.text : "");
  if (task.prompt.candidates.length !== 2) {
    error.textContent = `This prompt has ${task.prompt.candidates.length} answers, and a graded pair compares two: skip it and tell the researcher.`;
  }
  showFlags("a");
  showFlags("b");
  document.getElementById("none-acceptable").checked = false;
  document.getElementById("comment").value = "";
  document.getElementById("task").hidden = false;
  document.getElementById("empty").hidden = true;
  window.scrollTo(0, 0);
}

async function choose(index) {
  if (state.sending || !state.task) return;
  const [, winner, strength] = grades[index];
  const [a, b] = state.task.prompt.candidates;
  const error = document.getElementById("task-error");
  error.textContent = "";
  state.sending = true;
  document.querySelectorAll("#scale button").forEach((button) => (button.disabled = true));
  try {
    await api("POST", `/api/prompts/${state.task.prompt.id}/rankings`, {
      entries: [
        { candidateId: a.id, rank: winner === "a" ? 1 : 2, rating: null, flags: [...state.flags.a] },
        { candidateId: b.id, rank: winner === "b" ? 1 : 2, rating: null, flags: [...state.flags.b] },
      ],
      strength,
      shownOrder: state.task.prompt.candidates.map((c) => c.id),
      noneAcceptable: document.getElementById("none-acceptable").checked,
      comment: document.getElementById("comment").value,
      secondsSpent: (performance.now() - state.startedAt) / 1000,
    });
    await loadTask();
  } catch (failure) {
    error.textContent = failure.message;
  } finally {
    state.sending = false;
    document.querySelectorAll("#scale button").forEach((button) => (button.disabled = false));
  }
}

async function start() {
  const { project } = await signedInProject();
  state.project = project;
  if (!project) {
    document.getElementById("empty").hidden = false;
    return;
  }
  // A rate-and-rank project's tasks belong on the ranking screen.
  if (project.comparisonStyle !== "graded-pair") {
    location.replace(`/label.html?project=${project.id}`);
    return;
  }
  await loadTask();
}

showScale(document.getElementById("scale"), choose);
document.addEventListener("keydown", (event) => {
  // Typing a comment or a skip reason is not a choice.
  if (event.target instanceof HTMLTextAreaElement || event.target instanceof HTMLInputElement || event.ctrlKey || event.metaKey || event.altKey) return;
  const grade = Number(event.key);
  if (Number.isInteger(grade) && grade >= 1 && grade <= 8) {
    event.preventDefault();
    choose(grade - 1);
  }
});
wireSkip(() => state.task.assignment, loadTask);
wireSignOut();
wireKeyboardHelp();
start().catch((failure) => (document.getElementById("task-error").textContent = failure.message));
