// The rate-and-rank screen (InstructGPT's labeling interface, one screen): the prompt, K
// answers, a 1-7 rating and flags per answer, and a full ranking with ties that follows the
// ratings until the labeler changes it. The order being built is spelled out ("B > C > A = D"),
// with a warning where a rank contradicts the ratings. Every text from the server is set with
// textContent (Markdown is rendered node by node), never parsed as markup: prompts and model
// outputs are hostile input.
import { api, signedInProject, onSubmitShortcut, showPrompt, heldUntil, wireSkip, wireSignOut, wireKeyboardHelp } from "/api.js";
import { renderMarkdown } from "/markdown.js";

// `correcting`: the labeler's own ranking being corrected (from ?correct=ID), else null.
const state = { project: null, task: null, candidates: [], manualRanks: false, startedAt: 0, sending: false, correcting: null, lastRankingID: null };


function letter(index) { return String.fromCharCode(65 + index); }
function flagLabel(flag) { return flag.replace(/_/g, " "); }

/// Dense ranking from ratings (1, 2, 2, 3, as the server takes it): 1 + the number of
/// distinct ratings strictly higher.
function ranksFromRatings() {
  const rated = (c) => (c.rating === null ? -Infinity : c.rating);
  const distinct = [...new Set(state.candidates.map(rated))];
  for (const candidate of state.candidates) {
    candidate.rank = 1 + distinct.filter((value) => value > rated(candidate)).length;
  }
}

/// The first rank missing below the highest one used (ranks 1, 3 lack 2), or null.
function missingRank() {
  const used = new Set(state.candidates.map((c) => c.rank));
  for (let rank = 1; rank <= Math.max(...used); rank += 1) if (!used.has(rank)) return rank;
  return null;
}

function render() {
  const { task, project } = state;
  document.getElementById("guidelines").textContent = project.guidelines || "No guidelines were given for this project.";
  document.getElementById("remaining").textContent = state.correcting
    ? `correcting until ${new Date(state.correcting.correctableUntil).toLocaleTimeString()}`
    : `${task.remaining} to rank · held until ${heldUntil(task.assignment)}`;
  showPrompt(document.getElementById("prompt"), task.prompt.prompt);
  const list = document.getElementById("candidates");
  list.replaceChildren();
  // More than four answers: shorter answer boxes (each scrolls), so more of them fit on screen.
  list.classList.toggle("many", state.candidates.length > 4);
  const template = document.getElementById("candidate-template");
  state.candidates.forEach((candidate, index) => {
    const card = template.content.firstElementChild.cloneNode(true);
    card.dataset.id = candidate.id;
    card.querySelector(".label").textContent = `Answer ${letter(index)}`;
    renderMarkdown(card.querySelector(".text"), candidate.text);
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
    // With more than four answers the flags fold away under a summary that names those set,
    // so nine answers stay readable; with four or fewer they are open.
    const flags = card.querySelector(".flags");
    const summary = flags.querySelector("summary");
    const summarize = () => {
      summary.textContent = candidate.flags.size ? `Flags: ${[...candidate.flags].map(flagLabel).join(", ")}` : "Flags";
    };
    flags.open = state.candidates.length <= 4 || candidate.flags.size > 0;
    for (const flag of project.flags) {
      const label = document.createElement("label");
      const input = document.createElement("input");
      input.type = "checkbox";
      input.value = flag;
      input.checked = candidate.flags.has(flag);
      input.addEventListener("change", () => {
        if (input.checked) candidate.flags.add(flag);
        else candidate.flags.delete(flag);
        summarize();
      });
      label.append(input, document.createTextNode(flagLabel(flag)));
      flags.append(label);
    }
    summarize();
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
  showOrder();
}

/// The ranking as the labeler would say it: best first, ties joined by "=" ("B > C > A = D"),
/// letters as the answers are shown.
function orderText() {
  const ranks = [...new Set(state.candidates.map((c) => c.rank))].sort((a, b) => a - b);
  return ranks
    .map((rank) => state.candidates.map((c, index) => (c.rank === rank ? letter(index) : null)).filter(Boolean).join(" = "))
    .join(" > ");
}

/// Pairs where the answer rated higher is ranked lower: [higher-rated, lower-rated] indices.
function contradictions() {
  const found = [];
  state.candidates.forEach((a, i) => state.candidates.forEach((b, j) => {
    if (a.rating != null && b.rating != null && a.rating > b.rating && a.rank > b.rank) found.push([i, j]);
  }));
  return found;
}

function contradictionText(found) {
  const [i, j] = found[0];
  const [a, b] = [state.candidates[i], state.candidates[j]];
  const more = found.length > 1 ? ` (and ${found.length - 1} more ${found.length === 2 ? "pair" : "pairs"})` : "";
  return `Answer ${letter(i)} is rated ${a.rating} but ranked below answer ${letter(j)}, rated ${b.rating}${more}.`;
}

function showOrder() {
  const source = state.manualRanks ? "set by hand" : "from the ratings";
  document.getElementById("order").textContent = `Order (${source}): ${orderText()}`;
  const found = contradictions();
  document.getElementById("order-warning").hidden = found.length === 0;
  document.getElementById("contradiction").textContent = found.length ? contradictionText(found) : "";
}

function rankByRatings() {
  state.manualRanks = false;
  refreshRanks();
}

function setRating(candidate, value) {
  candidate.rating = value;
  // A complaint about missing ratings is stale once the labeler rates.
  document.getElementById("task-error").textContent = "";
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
  } else if (event.key === "r" || event.key === "R") {
    // Back to ranks that follow the ratings, after manual changes.
    rankByRatings();
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
  const button = document.getElementById("submit");
  // One request at a time: a double click or a second Ctrl+Enter sends nothing more.
  if (state.sending || !state.task) return;
  error.textContent = "";
  const unrated = state.candidates.findIndex((c) => c.rating == null);
  if (state.project.ratingsRequired && unrated >= 0) {
    error.textContent = `Rate every answer before submitting: answer ${unrated + 1} has no rating yet.`;
    document.querySelectorAll(".candidate")[unrated]?.focus();
    return;
  }
  const gap = missingRank();
  if (gap !== null) {
    error.textContent = `No answer has rank ${gap}: ranks go 1, 2, 2, 3 without gaps. Move an answer up, or press R to rank by the ratings again.`;
    return;
  }
  const found = contradictions();
  if (found.length && !window.confirm(`${contradictionText(found)} Submit this ranking anyway? (Cancel to go back; R ranks by the ratings.)`)) return;
  const noneAcceptable = document.getElementById("none-acceptable").checked;
  const allTied = state.candidates.every((c) => c.rank === 1);
  // A ranking that ties every answer is a verdict only when the labeler says so.
  let allEqual = false;
  if (allTied && !noneAcceptable) {
    allEqual = window.confirm("Every answer is ranked first, tied. Are they all equally good? (Cancel to go back and rank them.)");
    if (!allEqual) return;
  }
  state.sending = true;
  button.disabled = true;
  try {
    const ranking = {
      entries: state.candidates.map((c) => ({ candidateId: c.id, rank: c.rank, rating: c.rating, flags: [...c.flags] })),
      shownOrder: state.task.prompt.candidates.map((c) => c.id),
      noneAcceptable,
      allEqual,
      comment: document.getElementById("comment").value,
      secondsSpent: (performance.now() - state.startedAt) / 1000,
    };
    const corrected = state.correcting;
    const stored = corrected
      ? await api("POST", `/api/rankings/${corrected.id}/corrections`, ranking)
      : await api("POST", `/api/prompts/${state.task.prompt.id}/rankings`, ranking);
    // The next task comes at once; the one just sent stays one click from a correction.
    showSubmitted(stored.id, corrected ? `Ranking ${corrected.id} corrected.` : "Ranking submitted.");
    if (corrected) history.replaceState(null, "", `/label.html?project=${state.project.id}`);
    state.correcting = null;
    document.getElementById("correcting").hidden = true;
    await loadTask();
    window.scrollTo(0, 0);
  } catch (failure) {
    error.textContent = failure.message;
  } finally {
    state.sending = false;
    button.disabled = false;
  }
}

function showSubmitted(rankingID, text) {
  state.lastRankingID = rankingID;
  document.getElementById("submitted-text").textContent = text;
  document.getElementById("submitted-correct").href = `/label.html?project=${state.project.id}&correct=${rankingID}`;
  document.getElementById("submitted").hidden = false;
}

/// Undo: the ranking just sent is withdrawn and its task comes back, filled in as it was sent.
async function undo() {
  const error = document.getElementById("task-error");
  error.textContent = "";
  try {
    const ranking = await api("GET", `/api/rankings/${state.lastRankingID}`);
    await api("POST", `/api/rankings/${ranking.id}/withdrawal`);
    document.getElementById("submitted").hidden = true;
    await loadTask();
    if (state.task?.prompt?.id !== ranking.prompt.id) return;
    const given = new Map(ranking.entries.map((entry) => [entry.candidateId, entry]));
    for (const candidate of state.candidates) {
      const entry = given.get(candidate.id);
      if (!entry) continue;
      Object.assign(candidate, { rating: entry.rating, rank: entry.rank, flags: new Set(entry.flags) });
    }
    state.manualRanks = true;
    document.getElementById("none-acceptable").checked = ranking.noneAcceptable;
    document.getElementById("comment").value = ranking.comment;
    render();
    document.querySelector(".candidate").focus();
  } catch (failure) {
    error.textContent = failure.message;
  }
}

/// The correction screen: the labeler's own ranking, its answers in the order first shown, with
/// what they gave filled in; submitting stores a correction that supersedes it.
async function loadCorrection(rankingID) {
  const ranking = await api("GET", `/api/rankings/${rankingID}`);
  if (!ranking.correctable) {
    document.getElementById("task-error").textContent = ranking.supersededAt
      ? `Ranking ${ranking.id} was corrected already; correct the newer one from your home page.`
      : `Ranking ${ranking.id} can no longer be corrected${ranking.correctableUntil ? ` (it could until ${new Date(ranking.correctableUntil).toLocaleString()})` : ": this project allows no corrections"}.`;
    await loadTask();
    return;
  }
  state.correcting = ranking;
  state.task = { project: state.project, assignment: null, prompt: ranking.prompt, remaining: 0 };
  const given = new Map(ranking.entries.map((entry) => [entry.candidateId, entry]));
  state.candidates = ranking.prompt.candidates.map((c) => {
    const entry = given.get(c.id);
    return { id: c.id, text: c.text, rating: entry?.rating ?? null, rank: entry?.rank ?? 1, flags: new Set(entry?.flags ?? []) };
  });
  state.manualRanks = true;
  state.startedAt = performance.now();
  document.getElementById("none-acceptable").checked = ranking.noneAcceptable;
  document.getElementById("comment").value = ranking.comment;
  const notice = document.getElementById("correcting");
  notice.textContent = `You are correcting your ranking ${ranking.id} of ${new Date(ranking.submittedAt).toLocaleString()}. The correction replaces it in exports and training from now on; the original is kept.`;
  notice.hidden = false;
  document.getElementById("task").hidden = false;
  document.getElementById("empty").hidden = true;
  render();
  document.querySelector(".candidate").focus();
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
  // A graded-pair project's tasks have their own screen (two answers on an 8-point scale).
  if (project.comparisonStyle === "graded-pair") {
    location.replace(`/pair.html?project=${project.id}`);
    return;
  }
  const correct = Number(new URLSearchParams(location.search).get("correct"));
  if (correct > 0) await loadCorrection(correct);
  else await loadTask();
}

document.getElementById("submit").addEventListener("click", submit);
document.getElementById("submitted-undo").addEventListener("click", undo);
document.getElementById("rank-by-ratings").addEventListener("click", rankByRatings);
wireKeyboardHelp();
wireSkip(() => state.task.assignment, loadTask);
onSubmitShortcut(submit);
wireSignOut();
start().catch((failure) => (document.getElementById("task-error").textContent = failure.message));
