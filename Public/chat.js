// A live conversation, as Anthropic collected HH-RLHF and as Chatbot Arena does: the labeler
// writes a message, two assistants answer it side by side as their text is generated (server-sent
// events read from the POST's body), the labeler picks the better on the graded pair's 8-point
// scale, and the chosen answer continues the conversation. Server text is set with textContent
// (Markdown node by node): answers are model output, never markup.
import { api, session, signedInProject, drafts, onSubmitShortcut, wireSignOut, wireKeyboardHelp, element } from "/api.js";
import { renderMarkdown } from "/markdown.js";
import { grades, showScale } from "/graded-scale.js";
/// The longest message, in code points, as the server counts it.
const maximumMessage = 100000;

const state = { user: null, project: null, conversation: null, sending: false, choosing: null, shownAt: 0 };

const draftKey = () => `${state.user.username}:conversation:${state.conversation ? state.conversation.id : "new"}`;

/// One turn: the labeler's message, then A's and B's answers; `chosenId` marks the one kept.
function turnElement(turn) {
  const item = element("li", undefined, "card live-turn");
  const message = element("div", undefined, "turn user");
  const text = element("div", undefined, "text");
  renderMarkdown(text, turn.message);
  message.append(element("strong", "you"), text);
  const pair = element("div", undefined, "pair");
  turn.answers.forEach((answer, index) => {
    const card = element("article", undefined, "card answer");
    card.dataset.side = index === 0 ? "a" : "b";
    const body = element("div", undefined, "text");
    renderMarkdown(body, answer.text || "(an empty answer)");
    const chosen = turn.chosenId === undefined || turn.chosenId === null ? "" : turn.chosenId === answer.candidateId ? " · chosen" : "";
    card.append(element("h3", `Answer ${index === 0 ? "A" : "B"}${chosen}`), body);
    if (turn.chosenId && turn.chosenId !== answer.candidateId) card.classList.add("not-chosen");
    pair.append(card);
  });
  item.append(message, pair);
  return item;
}

function show() {
  const conversation = state.conversation;
  const list = document.getElementById("turns");
  list.replaceChildren(...(conversation ? conversation.turns.map(turnElement) : []));
  const last = conversation && conversation.turns[conversation.turns.length - 1];
  state.choosing = last && !last.chosenId ? last : null;
  document.getElementById("choosing").hidden = !state.choosing;
  const ended = conversation && conversation.endedAt;
  document.getElementById("message-form").hidden = Boolean(state.choosing || ended);
  document.getElementById("end-conversation").hidden = !conversation || Boolean(ended) || conversation.turns.length === 0;
  document.getElementById("conversation-state").textContent = !conversation ? ""
    : ended ? `This conversation has ended after ${conversation.turns.length} turns.`
    : state.choosing ? `Turn ${state.choosing.turn}: pick the better answer to go on.`
    : `Turn ${conversation.turns.length + 1} of at most ${conversation.maximumTurns}.`;
  if (state.choosing) state.shownAt = performance.now();
  const message = document.getElementById("message");
  message.value = drafts.load(draftKey()) || "";
  count();
}

function count() {
  const length = [...document.getElementById("message").value].length;
  const counter = document.getElementById("message-count");
  counter.textContent = `${length} / ${maximumMessage}`;
  counter.classList.toggle("failed", length > maximumMessage);
}

/// The events of a server-sent event stream read from a fetch response, one call per event.
async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    buffer += decoder.decode(value || new Uint8Array(), { stream: !done });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const lines = block.split("\n");
      const name = (lines.find((line) => line.startsWith("event: ")) || "").slice(7);
      const data = lines.filter((line) => line.startsWith("data: ")).map((line) => line.slice(6)).join("\n");
      if (name) onEvent(name, JSON.parse(data));
    }
    if (done) return;
  }
}

async function send() {
  const input = document.getElementById("message");
  const content = input.value;
  const error = document.getElementById("chat-error");
  error.textContent = "";
  if (state.sending || state.choosing) return;
  if (!content.trim()) { error.textContent = "Write a message first."; return; }
  if ([...content].length > maximumMessage) { error.textContent = `A message has at most ${maximumMessage} characters.`; return; }
  state.sending = true;
  document.getElementById("send").disabled = true;
  try {
    if (!state.conversation || state.conversation.endedAt) await startConversation();
    const id = state.conversation.id;
    // The turn as it grows: the message at once, the answers piece by piece.
    const growing = { turn: state.conversation.turns.length + 1, message: content, answers: [{ text: "" }, { text: "" }] };
    const item = turnElement(growing);
    item.classList.add("writing");
    document.getElementById("turns").append(item);
    document.getElementById("message-form").hidden = true;
    const texts = ["", ""];
    const response = await fetch(`/api/conversations/${id}/messages`, {
      method: "POST", headers: { "Content-Type": "application/json", Accept: "text/event-stream", "X-CSRF-Token": session.csrf },
      body: JSON.stringify({ content }),
    });
    if (!response.ok) {
      item.remove();
      const body = await response.json().catch(() => ({}));
      throw new Error(body.error ? body.error.message : response.statusText);
    }
    let stored = null;
    await readEvents(response, (name, data) => {
      if (name === "answer") {
        const side = data.side === "a" ? 0 : 1;
        texts[side] += data.text;
        renderMarkdown(item.querySelector(`[data-side="${data.side}"] .text`), texts[side]);
      } else if (name === "turn") {
        stored = data;
      } else if (name === "error") {
        throw new Error(data.error.message);
      }
    });
    if (!stored) throw new Error("The answers stopped before they were stored; send the message again.");
    drafts.clear(draftKey());
    state.conversation.turns.push(stored);
    show();
  } catch (failure) {
    error.textContent = failure.message;
    state.conversation = state.conversation && await api("GET", `/api/conversations/${state.conversation.id}`);
    show();
    input.value = content;
  } finally {
    state.sending = false;
    document.getElementById("send").disabled = false;
  }
}

async function choose(index) {
  const turn = state.choosing;
  if (!turn || state.sending) return;
  const [, winner, strength] = grades[index];
  const [a, b] = turn.answers;
  const error = document.getElementById("chat-error");
  error.textContent = "";
  state.sending = true;
  document.querySelectorAll("#scale button").forEach((button) => (button.disabled = true));
  try {
    await api("POST", `/api/conversations/${state.conversation.id}/turns/${turn.turn}/choice`, {
      entries: [{ candidateId: a.candidateId, rank: winner === "a" ? 1 : 2 }, { candidateId: b.candidateId, rank: winner === "b" ? 1 : 2 }],
      strength,
      shownOrder: [a.candidateId, b.candidateId],
      secondsSpent: (performance.now() - state.shownAt) / 1000,
    });
    state.conversation = await api("GET", `/api/conversations/${state.conversation.id}`);
    show();
    document.getElementById("message").focus();
  } catch (failure) {
    error.textContent = failure.message;
  } finally {
    state.sending = false;
    document.querySelectorAll("#scale button").forEach((button) => (button.disabled = false));
  }
}

async function startConversation() {
  state.conversation = await api("POST", `/api/projects/${state.project.id}/conversations`);
  history.replaceState(null, "", `/chat.html?project=${state.project.id}&conversation=${state.conversation.id}`);
}

async function start() {
  const { user, project } = await signedInProject();
  state.user = user;
  state.project = project;
  const live = project && await api("GET", `/api/projects/${project.id}/conversations`);
  if (!live || !live.available) {
    document.getElementById("unavailable").hidden = false;
    return;
  }
  document.getElementById("guidelines").textContent = project.guidelines || "No guidelines were given for this project.";
  // Resume the conversation named in the address, else the latest one still open.
  const wanted = Number(new URLSearchParams(location.search).get("conversation"));
  const open = live.conversations.find((c) => (wanted ? c.id === wanted : !c.endedAt));
  if (open) state.conversation = await api("GET", `/api/conversations/${open.id}`);
  document.getElementById("chat").hidden = false;
  show();
  document.getElementById("message").focus();
}

showScale(document.getElementById("scale"), choose);
document.getElementById("message-form").addEventListener("submit", (event) => { event.preventDefault(); send(); });
document.getElementById("message").addEventListener("input", () => { drafts.save(draftKey(), document.getElementById("message").value); count(); });
onSubmitShortcut(() => { if (!document.getElementById("message-form").hidden) send(); });
document.getElementById("new-conversation").addEventListener("click", async () => {
  try { await startConversation(); show(); } catch (failure) { document.getElementById("chat-error").textContent = failure.message; }
});
document.getElementById("end-conversation").addEventListener("click", async () => {
  try { state.conversation = await api("POST", `/api/conversations/${state.conversation.id}/end`); show(); }
  catch (failure) { document.getElementById("chat-error").textContent = failure.message; }
});
document.addEventListener("keydown", (event) => {
  if (event.target instanceof HTMLTextAreaElement || event.target instanceof HTMLInputElement || event.ctrlKey || event.metaKey || event.altKey) return;
  const grade = Number(event.key);
  if (state.choosing && Number.isInteger(grade) && grade >= 1 && grade <= 8) {
    event.preventDefault();
    choose(grade - 1);
  }
});
wireSignOut();
wireKeyboardHelp();
start().catch((failure) => (document.getElementById("chat-error").textContent = failure.message));
