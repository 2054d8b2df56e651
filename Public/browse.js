// The researcher's data browser: a project's prompts searched and filtered (text or id,
// category, split, source, status, gold, one labeler's work), and one prompt opened with its
// candidates, every ranking and rating with its labeler, its demonstrations and how well its
// rankers agree. Every text from the server is set with textContent (Markdown node by node).
import { api, element, session, showPrompt, wireSignOut } from "/api.js";
import { renderMarkdown } from "/markdown.js";
import { grades } from "/graded-scale.js";

const categories = ["generation", "open_qa", "brainstorming", "chat", "rewrite", "summarization", "classification", "closed_qa", "extract", "other"];
const state = { next: null, shown: 0 };

function letter(index) { return String.fromCharCode(65 + index); }

function preview(prompt) {
  const text = typeof prompt === "string" ? prompt : prompt.map((turn) => `${turn.role}: ${turn.content}`).join(" · ");
  return text.length > 140 ? `${text.slice(0, 140)}…` : text;
}

function cells(values) {
  const row = document.createElement("tr");
  for (const value of values) row.append(value instanceof Node ? wrap(value) : element("td", String(value)));
  return row;
}

function wrap(node) {
  const cell = document.createElement("td");
  cell.append(node);
  return cell;
}

function filters() {
  const form = document.getElementById("filters");
  const query = new URLSearchParams();
  for (const name of ["search", "category", "split", "source", "status", "gold", "labeler"]) {
    const value = form.elements[name].value.trim();
    if (value) query.set(name, value);
  }
  return query;
}

async function showPrompts(more = false) {
  const error = document.getElementById("error");
  error.textContent = "";
  const project = document.getElementById("project").value;
  const query = filters();
  if (more && state.next != null) query.set("after", String(state.next));
  // The page's address keeps the filters, so a view can be bookmarked or shared.
  history.replaceState(null, "", `/browse.html?project=${project}&${filters()}`);
  const body = document.querySelector("#prompts tbody");
  if (!more) {
    body.replaceChildren();
    state.shown = 0;
  }
  try {
    const page = await api("GET", `/api/projects/${project}/prompts?${query}`);
    for (const prompt of page.prompts) {
      const open = element("button", `#${prompt.id}`, "quiet");
      open.type = "button";
      open.addEventListener("click", () => showLabels(prompt.id));
      const status = prompt.gold ? `${prompt.status} · gold` : prompt.status;
      body.append(cells([open, preview(prompt.prompt), prompt.category || "–", prompt.split, prompt.source, prompt.candidates, prompt.rankings,
        prompt.demonstrations, status]));
    }
    state.shown += page.prompts.length;
    state.next = page.next;
    document.getElementById("more").hidden = page.next == null;
    document.getElementById("count").textContent = state.shown === 0 ? "No prompt matches." : `${state.shown} shown${page.next == null ? "" : ", more below"}.`;
  } catch (failure) {
    error.textContent = failure.message;
  }
}

function labelerLink(labeler) {
  const link = element("button", `${labeler.username} (${labeler.labelerGroup})`, "quiet");
  link.type = "button";
  link.title = "Show this labeler's work";
  link.addEventListener("click", () => {
    document.getElementById("filters").elements.labeler.value = String(labeler.id);
    const note = document.getElementById("labeler-filter");
    note.querySelector("span").textContent = `Only prompts ${labeler.username} ranked or wrote a demonstration for.`;
    note.hidden = false;
    showPrompts();
  });
  return link;
}

async function showLabels(id) {
  const error = document.getElementById("error");
  error.textContent = "";
  let labels;
  try {
    labels = await api("GET", `/api/prompts/${id}/labels`);
  } catch (failure) {
    error.textContent = failure.message;
    return;
  }
  const { summary } = labels;
  document.getElementById("detail-heading").textContent = `Prompt #${summary.id}`;
  document.getElementById("detail-facts").textContent = [summary.category || "no category", summary.split, summary.source, summary.status,
    summary.gold ? "gold prompt" : null, `added ${summary.createdAt}`].filter(Boolean).join(" · ");
  showPrompt(document.getElementById("detail-prompt"), summary.prompt);
  // Candidates are lettered as the researcher sees them here (by id); a ranking's own shown
  // order is the one the labeler saw.
  const letters = new Map(labels.candidates.map((candidate, index) => [candidate.id, letter(index)]));
  document.getElementById("detail-candidates").replaceChildren(...labels.candidates.map((candidate) => {
    const item = element("li", undefined, "card");
    const gold = labels.goldRanks ? ` · gold rank ${labels.goldRanks[String(candidate.id)] ?? "–"}` : "";
    const heading = element("strong", `${letters.get(candidate.id)} · candidate ${candidate.id} · ${candidate.modelName}${candidate.modelVersion ? ` ${candidate.modelVersion}` : ""}${gold}`);
    const text = element("div", undefined, "text");
    renderMarkdown(text, candidate.text);
    item.append(heading, text);
    return item;
  }));
  document.getElementById("detail-agreement").textContent = labels.agreement == null
    ? `${labels.rankings.length} ${labels.rankings.length === 1 ? "ranking" : "rankings"}: agreement needs two.`
    : `Agreement between its rankers: ${(100 * labels.agreement).toFixed(1)}% of ${labels.agreementPairs} candidate pairs ordered alike.`;
  document.querySelector("#detail-rankings tbody").replaceChildren(...labels.rankings.map((ranking) => {
    const ranks = [...new Set(ranking.entries.map((entry) => entry.rank))].sort((a, b) => a - b);
    let order = ranks.map((rank) => ranking.entries.filter((entry) => entry.rank === rank).map((entry) => letters.get(entry.candidateId)).join(" = ")).join(" > ");
    if (ranking.allEqual) order += " (all equally good)";
    if (ranking.noneAcceptable) order += " (none acceptable)";
    const ratings = ranking.entries.map((entry) => `${letters.get(entry.candidateId)} ${entry.rating ?? "–"}`).join(", ");
    const flags = ranking.entries.filter((entry) => entry.flags.length).map((entry) => `${letters.get(entry.candidateId)}: ${entry.flags.join(", ")}`).join("; ");
    return cells([labelerLink(ranking.labeler), order, ratings, flags || "–", ranking.strength ?? "–", ranking.comment || "–",
      ranking.secondsSpent == null ? "–" : ranking.secondsSpent.toFixed(0), ranking.submittedAt]);
  }));
  document.getElementById("detail-demonstrations").replaceChildren(...(labels.demonstrations.length === 0 ? [element("p", "None yet.")]
    : labels.demonstrations.map((demonstration) => {
      const card = element("article", undefined, "card");
      const from = demonstration.prefilledFromCandidateId ? ` · started from ${letters.get(demonstration.prefilledFromCandidateId) ?? "a candidate"}` : "";
      const heading = element("p");
      heading.append(labelerLink(demonstration.labeler), document.createTextNode(` · ${demonstration.submittedAt}${from}`));
      const text = element("div", undefined, "text");
      renderMarkdown(text, demonstration.text);
      card.append(heading, text);
      return card;
    })));
  showConversation(labels.conversation);
  document.getElementById("detail").hidden = false;
  document.getElementById("detail").scrollIntoView();
}

/// What answered one side of a live conversation: a version, or an endpoint.
const side = (modelID, endpointID) => (endpointID ? `endpoint ${endpointID}` : `version ${modelID}`);

/// A live conversation's turns as one thread: each message, both answers (the chosen one
/// marked, with how strongly), and a link to the turn's own prompt.
function showConversation(conversation) {
  const section = document.getElementById("detail-conversation");
  section.hidden = !conversation;
  if (!conversation) return;
  // The scale's own words for a strength: "A is much better" gives "much better".
  const strengths = Object.fromEntries(grades.filter(([, side]) => side === "a").map(([text, , strength]) => [strength, text.replace(/^A is /, "")]));
  document.getElementById("conversation-heading").textContent = `Live conversation #${conversation.id} · turn ${conversation.turn} of `
    + `${conversation.turns.length} · ${conversation.labeler.username} · ${side(conversation.modelAId, conversation.endpointAId)} (A) and ${side(conversation.modelBId, conversation.endpointBId)} (B)`
    + `${conversation.endedAt ? " · ended" : ""}`;
  document.getElementById("conversation-turns").replaceChildren(...conversation.turns.map((turn) => {
    const item = element("li", undefined, turn.turn === conversation.turn ? "card current" : "card");
    const heading = element("p");
    const open = element("button", `Turn ${turn.turn} · prompt #${turn.promptId}`, "quiet");
    open.type = "button";
    open.addEventListener("click", () => showLabels(turn.promptId));
    heading.append(open);
    const message = element("div", undefined, "text");
    renderMarkdown(message, turn.message);
    item.append(heading, element("strong", "User"), message);
    turn.answers.forEach((answer, index) => {
      const chosen = answer.candidateId === turn.chosenId;
      const label = `${letter(index)}${chosen ? ` · chosen${turn.strength ? ` (${strengths[turn.strength] || `strength ${turn.strength}`})` : ""}` : ""}`;
      const text = element("div", undefined, "text");
      renderMarkdown(text, answer.text);
      item.append(element("strong", label), text);
    });
    if (turn.chosenId == null) item.append(element("p", "Not chosen yet."));
    return item;
  }));
}

/// The rankings the model's label check disputes (the address's `disputed=1`; one labeler's with `labeler`).
async function showDisputed(project, labeler) {
  const query = new URLSearchParams({ limit: "200" });
  if (labeler) query.set("labeler", labeler);
  const page = await api("GET", `/api/projects/${project}/label-checks?${query}`);
  document.getElementById("disputed-confidence").textContent = `${Math.round(page.confidence * 100)}%`;
  document.querySelector("#disputed-rankings tbody").replaceChildren(...(page.rankings.length === 0
    ? [cells(["None: the model disputes no ranking in force (or no reward job has checked them yet)."])]
    : page.rankings.map((ranking) => {
      const open = element("button", `#${ranking.promptId}`, "quiet");
      open.type = "button";
      open.addEventListener("click", () => showLabels(ranking.promptId));
      return cells([open, ranking.username, `${ranking.confidentDisagreements} of ${ranking.pairs}`,
        `${(100 * ranking.strongestDisagreement).toFixed(0)}%`, ranking.modelVersionId]);
    })));
  document.getElementById("disputed").hidden = false;
}

async function start() {
  const current = await api("GET", "/api/session");
  session.csrf = current.csrfToken;
  document.getElementById("who").textContent = current.user.displayName;
  const form = document.getElementById("filters");
  for (const category of categories) form.elements.category.append(new Option(category.replace("_", " "), category));
  const { projects } = await api("GET", "/api/projects");
  const choice = document.getElementById("project");
  choice.replaceChildren(...projects.map((project) => new Option(project.name, String(project.id))));
  // Filters from the address: a bookmarked or shared view opens as it was.
  const wanted = new URLSearchParams(location.search);
  if (projects.some((project) => String(project.id) === wanted.get("project"))) choice.value = wanted.get("project");
  for (const name of ["search", "category", "split", "source", "status", "gold", "labeler"]) {
    if (wanted.get(name)) form.elements[name].value = wanted.get(name);
  }
  if (wanted.get("labeler")) {
    const note = document.getElementById("labeler-filter");
    note.querySelector("span").textContent = `Only the prompts of labeler ${wanted.get("labeler")}.`;
    note.hidden = false;
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    showPrompts();
  });
  choice.addEventListener("change", () => showPrompts());
  document.getElementById("more").addEventListener("click", () => showPrompts(true));
  document.getElementById("all-labelers").addEventListener("click", () => {
    form.elements.labeler.value = "";
    document.getElementById("labeler-filter").hidden = true;
    showPrompts();
  });
  if (projects.length) await showPrompts();
  if (projects.length && wanted.get("disputed")) await showDisputed(choice.value, wanted.get("labeler"));
  if (wanted.get("prompt")) await showLabels(Number(wanted.get("prompt")));
}

wireSignOut();
start().catch((failure) => (document.getElementById("error").textContent = failure.message));
