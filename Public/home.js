// The labeler's home: what they did today and, per project, the work waiting in each queue,
// the guidelines, and the tasks they hold (with when each returns to the queue).
import { api, session, heldUntil, wireSignOut } from "/api.js";

function minutes(seconds) {
  const total = Math.round(seconds / 60);
  return total < 60 ? `${total} min` : `${Math.floor(total / 60)} h ${total % 60} min`;
}

function showQueue(queue) {
  const card = document.getElementById("queue-template").content.firstElementChild.cloneNode(true);
  const { project } = queue;
  card.querySelector(".name").textContent = project.name;
  // Each task kind has its own guidelines; the ones given are shown, each under its kind.
  const guidelines = [["Ranking", project.guidelines], ["Demonstrations", project.demonstrationGuidelines], ["Prompts", project.promptGuidelines]]
    .filter(([, text]) => text)
    .map(([kind, text]) => `${kind}: ${text}`);
  card.querySelector(".guidelines-text").textContent = guidelines.join("\n\n") || "No guidelines were given for this project.";
  const links = [
    project.comparisonStyle === "graded-pair"
      ? [".rank", `/pair.html?project=${project.id}`, `Compare pairs: ${queue.rankingsRemaining} waiting`]
      : [".rank", `/label.html?project=${project.id}`, `Rank answers: ${queue.rankingsRemaining} waiting`],
    [".demonstrate", `/demonstrate.html?project=${project.id}`, `Write demonstrations: ${queue.demonstrationsRemaining} waiting`],
    [".write", `/write.html?project=${project.id}`, `Write prompts: ${queue.promptsWanted} wanted`],
    [".compare", `/compare.html?project=${project.id}`, `Compare answers: ${queue.evaluationsRemaining} waiting`],
  ];
  for (const [selector, href, text] of links) {
    const link = card.querySelector(selector);
    link.href = href;
    link.textContent = text;
  }
  if (queue.promptsWanted === 0) card.querySelector(".write").closest("li").hidden = true;
  if (queue.evaluationsRemaining === 0) card.querySelector(".compare").closest("li").hidden = true;
  // Live conversations are offered where a researcher chose models to answer.
  const chat = card.querySelector(".chat");
  chat.href = `/chat.html?project=${project.id}`;
  chat.textContent = "Converse live: two assistants answer, you pick the better";
  api("GET", `/api/projects/${project.id}/conversations`).then((live) => { chat.closest("li").hidden = !live.available; }).catch(() => {});
  card.querySelector(".held").textContent = queue.held.length === 0 ? ""
    : `You hold ${queue.held.map((a) => `a ${a.kind} task until ${heldUntil(a)}`).join(", ")}.`;
  return card;
}

/// The first words of a prompt (its text, or its last turn's), for the history table.
function promptPreview(prompt) {
  const text = typeof prompt === "string" ? prompt : prompt[prompt.length - 1]?.content ?? "";
  return text.length > 90 ? `${text.slice(0, 90)}…` : text;
}

/// One label of the history (a ranking on `label.html`, a demonstration on `demonstrate.html`),
/// with its correction link while the project allows it.
function historyRow(label, prompt, page) {
  const row = document.createElement("tr");
  const cells = [label.projectName, promptPreview(prompt), new Date(label.submittedAt).toLocaleString()].map((text) => {
    const cell = document.createElement("td");
    cell.textContent = text;
    return cell;
  });
  const action = document.createElement("td");
  if (label.correctable) {
    const link = document.createElement("a");
    link.href = `/${page}?project=${label.projectId}&correct=${label.id}`;
    link.textContent = `Correct (until ${new Date(label.correctableUntil).toLocaleTimeString()})`;
    action.append(link);
  } else {
    action.textContent = label.correctsId ? "corrected" : "";
  }
  row.append(...cells, action);
  return row;
}

async function start() {
  const current = await api("GET", "/api/session");
  session.csrf = current.csrfToken;
  document.getElementById("who").textContent = current.user.displayName;
  const work = await api("GET", "/api/me/work");
  document.getElementById("today-rankings").textContent = String(work.today.rankings);
  document.getElementById("today-demonstrations").textContent = String(work.today.demonstrations);
  document.getElementById("today-evaluations").textContent = String(work.today.evaluations);
  document.getElementById("today-prompts").textContent = String(work.today.promptsWritten);
  document.getElementById("today-skipped").textContent = String(work.today.skipped);
  document.getElementById("today-time").textContent = minutes(work.today.secondsSpent);
  const queues = document.getElementById("queues");
  queues.replaceChildren(...work.projects.map(showQueue));
  document.getElementById("no-projects").hidden = work.projects.length > 0;
  const { rankings } = await api("GET", "/api/me/rankings");
  document.querySelector("#history tbody").replaceChildren(...rankings.map((ranking) => historyRow(ranking, ranking.prompt.prompt, "label.html")));
  document.getElementById("history").hidden = rankings.length === 0;
  document.getElementById("no-history").hidden = rankings.length > 0;
  const { demonstrations } = await api("GET", "/api/me/demonstrations");
  document.querySelector("#demonstration-history tbody").replaceChildren(...demonstrations.map((demonstration) =>
    historyRow(demonstration, demonstration.prompt, "demonstrate.html")));
  document.getElementById("demonstration-history").hidden = demonstrations.length === 0;
  document.getElementById("no-demonstration-history").hidden = demonstrations.length > 0;
}

wireSignOut();
start().catch((failure) => (document.getElementById("error").textContent = failure.message));
