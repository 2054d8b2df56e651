// The rate-and-rank screen (InstructGPT's labeling interface, one screen): the prompt, K
// answers, a 1-7 rating and flags per answer, and a full ranking with ties that follows the
// ratings until the labeler changes it. Every text from the server is set with textContent,
// never parsed as markup: prompts and model outputs are hostile input.
import { api, signedInProject, onSubmitShortcut, showPrompt, heldUntil, wireSkip, wireSignOut } from "/api.js";

const state = { project: null, task: null, candidates: [], manualRanks: false, startedAt: 0 };


function letter(index) { return String.fromCharCode(65 + index); }
function flagLabel(flag) { return flag.replace(/_/g, " "); }

/// Competition ranking from ratings: 1 + the number of answers rated strictly higher.
function ranksFromRatings() {
  const rated = (c) => (c.rating === null ? -Infinity : c.rating);
  for (const candidate of state.candidates) {
    candidate.rank = 1 + state.candidates.filter((other) => rated(other) > rated(candidate)).length;
  }
}

function render() {
  const { task, project } = state;
  document.getElementById("guidelines").textContent = project.guidelines || "No guidelines were given for this project.";
  document.getElementById("remaining").textContent = `${task.remaining} to rank · held until ${heldUntil(task.assignment)}`;
  showPrompt(document.getElementById("prompt"), task.prompt.prompt);
  const list = document.getElementById("candidates");
  list.replaceChildren();
  const template = document.getElementById("candidate-template");
  state.candidates.forEach((candidate, index) => {
    const card = template.content.firstElementChild.cloneNode(true);
    card.dataset.id = candidate.id;
    card.querySelector(".label").textContent = `Answer ${letter(index)}`;
    card.querySelector(".text").textContent = candidate.text;
    const select = card.querySelector("select");
    select.setAttribute("aria-label", `Rank of answer ${letter(index)}`);
    for (let rank = 1; rank <= state.candidates.length; rank += 1) {
      const option = document.createElement("option");
      option.value = String(rank);
      option.textContent = String(rank);
      select.append(option);
    }
    select.addEventListener("change", () => {
      state.manualRanks = true;
      candidate.rank = Number(select.value);
    });
    const rating = card.querySelector(".rating");
    for (let value = project.ratingMinimum; value <= project.ratingMaximum; value += 1) {
      const label = document.createElement("label");
      const input = document.createElement("input");
      input.type = "radio";
      input.name = `rating-${candidate.id}`;
      input.value = String(value);
      input.addEventListener("change", () => setRating(candidate, value));
      label.append(input, document.createTextNode(String(value)));
      rating.append(label);
    }
    const flags = card.querySelector(".flags");
    for (const flag of project.flags) {
      const label = document.createElement("label");
      const input = document.createElement("input");
      input.type = "checkbox";
      input.value = flag;
      input.addEventListener("change", () => (input.checked ? candidate.flags.add(flag) : candidate.flags.delete(flag)));
      label.append(input, document.createTextNode(flagLabel(flag)));
      flags.append(label);
    }
    card.addEventListener("keydown", (event) => onCardKey(event, candidate, card));
    card.addEventListener("dragstart", (event) => event.dataTransfer.setData("text/plain", String(candidate.id)));
    card.addEventListener("dragover", (event) => event.preventDefault());
    card.addEventListener("drop", (event) => {
      event.preventDefault();
      moveBefore(Number(event.dataTransfer.getData("text/plain")), candidate.id);
    });
    list.append(card);
  });
  refreshRanks();
}

function refreshRanks() {
  if (!state.manualRanks) ranksFromRatings();
  for (const candidate of state.candidates) {
    const card = document.querySelector(`.candidate[data-id="${candidate.id}"]`);
    card.querySelector("select").value = String(candidate.rank);
    for (const input of card.querySelectorAll(".rating input")) input.checked = Number(input.value) === candidate.rating;
  }
}

function setRating(candidate, value) {
  candidate.rating = value;
  refreshRanks();
}

function onCardKey(event, candidate, card) {
  if (event.target.tagName === "TEXTAREA") return;
  const value = Number(event.key);
  if (Number.isInteger(value) && value >= state.project.ratingMinimum && value <= state.project.ratingMaximum) {
    setRating(candidate, value);
    event.preventDefault();
  } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    const sibling = event.key === "ArrowDown" ? card.nextElementSibling : card.previousElementSibling;
    if (sibling) sibling.focus();
    event.preventDefault();
  } else if (event.key === "[" || event.key === "]") {
    state.manualRanks = true;
    candidate.rank = Math.min(state.candidates.length, Math.max(1, candidate.rank + (event.key === "[" ? -1 : 1)));
    refreshRanks();
    event.preventDefault();
  }
}

/// Dragging answer `draggedID` onto answer `targetID` places it just above, and the ranking
/// becomes the order of the list (no ties).
function moveBefore(draggedID, targetID) {
  if (draggedID === targetID) return;
  const list = document.getElementById("candidates");
  const dragged = list.querySelector(`.candidate[data-id="${draggedID}"]`);
  const target = list.querySelector(`.candidate[data-id="${targetID}"]`);
  list.insertBefore(dragged, target);
  state.manualRanks = true;
  [...list.children].forEach((card, index) => {
    state.candidates.find((c) => c.id === Number(card.dataset.id)).rank = index + 1;
  });
  refreshRanks();
}

async function submit() {
  const error = document.getElementById("task-error");
  error.textContent = "";
  try {
    await api("POST", `/api/prompts/${state.task.prompt.id}/rankings`, {
      entries: state.candidates.map((c) => ({ candidateId: c.id, rank: c.rank, rating: c.rating, flags: [...c.flags] })),
      shownOrder: state.task.prompt.candidates.map((c) => c.id),
      noneAcceptable: document.getElementById("none-acceptable").checked,
      comment: document.getElementById("comment").value,
      secondsSpent: (performance.now() - state.startedAt) / 1000,
    });
    await loadTask();
  } catch (failure) {
    error.textContent = failure.message;
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
  state.task = task;
  state.candidates = task.prompt.candidates.map((c) => ({ id: c.id, text: c.text, rating: null, rank: 1, flags: new Set() }));
  state.manualRanks = false;
  state.startedAt = performance.now();
  document.getElementById("none-acceptable").checked = false;
  document.getElementById("comment").value = "";
  document.getElementById("task").hidden = false;
  document.getElementById("empty").hidden = true;
  render();
  document.querySelector(".candidate").focus();
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
wireSignOut();
start().catch((failure) => (document.getElementById("task-error").textContent = failure.message));
