// What every signed-in page shares: JSON calls with the session's CSRF token, the signed-in
// user and the project chosen by `?project=`, and the Ctrl+Enter shortcut.
import { renderMarkdown } from "/markdown.js";

export const session = { csrf: null };

/// Calls the API; a 401 sends the browser to the sign-in page, any other error throws its message.
export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRF-Token"] = session.csrf;
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 401) {
    // Back to this page after signing in again: a session that expired mid-task loses nothing.
    location.href = `/login.html?next=${encodeURIComponent(location.pathname + location.search)}`;
    throw new Error("signed out");
  }
  const text = await response.text();
  const json = text ? JSON.parse(text) : {};
  if (!response.ok) throw new Error(json.error ? json.error.message : response.statusText);
  return json;
}

/// The signed-in user (shown in `#who`) and the project named by `?project=`, else the first.
export async function signedInProject() {
  const current = await api("GET", "/api/session");
  session.csrf = current.csrfToken;
  // An applicant has no projects yet: their page is the screening test.
  if (current.user.status === "applicant") {
    location.replace("/screening.html");
    return new Promise(() => {});
  }
  document.getElementById("who").textContent = current.user.displayName;
  const { projects } = await api("GET", "/api/projects");
  const wanted = Number(new URLSearchParams(location.search).get("project"));
  const project = projects.find((p) => p.id === wanted) || projects[0] || null;
  if (project) keepProject(project);
  return { user: current.user, project };
}

/// The task pages name their project, and their links to the other task pages stay in it: a
/// labeler never lands in another project without noticing.
function keepProject(project) {
  const name = document.getElementById("task-project");
  if (name) name.textContent = project.name;
  for (const link of document.querySelectorAll("header.bar a[href]")) {
    const target = new URL(link.getAttribute("href"), location.origin);
    if (["/label.html", "/pair.html", "/demonstrate.html", "/write.html", "/compare.html", "/chat.html"].includes(target.pathname)) {
      target.searchParams.set("project", String(project.id));
      link.setAttribute("href", target.pathname + target.search);
    }
  }
}

/// A new element with text (as text, never markup) and a class.
export function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

/// A label holding its text and then the control.
export function labelled(text, control) {
  const label = document.createElement("label");
  label.append(document.createTextNode(`${text} `), control);
  return label;
}

/// Runs `action` on Ctrl+Enter (Cmd+Enter on a Mac) anywhere on the page.
export function onSubmitShortcut(action) {
  document.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      action();
    }
  });
}

/// A draft kept in this browser's localStorage under `key` (the page names the user and the
/// task in it), so a reload, a lost connection or a new sign-in does not lose what was typed.
export const drafts = {
  load(key) {
    try { return JSON.parse(localStorage.getItem(`tally-draft:${key}`)); } catch { return null; }
  },
  save(key, value) {
    try { localStorage.setItem(`tally-draft:${key}`, JSON.stringify(value)); } catch { /* storage full or off: the draft is only lost */ }
  },
  clear(key) { localStorage.removeItem(`tally-draft:${key}`); },
};

/// Opens the page's `#keyboard-help` dialog on `?`, unless the labeler is typing.
export function wireKeyboardHelp() {
  const dialog = document.getElementById("keyboard-help");
  document.addEventListener("keydown", (event) => {
    const typing = event.target instanceof HTMLTextAreaElement || (event.target instanceof HTMLInputElement && event.target.type === "text");
    if (event.key === "?" && !typing && !dialog.open) {
      event.preventDefault();
      dialog.showModal();
    }
  });
}

/// Shows a prompt (a text, or a conversation's turns) in `element`, its Markdown rendered
/// node by node and never parsed as markup: prompts are hostile input.
export function showPrompt(element, prompt) {
  element.replaceChildren();
  const turns = typeof prompt === "string" ? [{ role: "user", content: prompt }] : prompt;
  for (const turn of turns) {
    const row = document.createElement("div");
    row.className = `turn ${turn.role}`;
    const role = document.createElement("strong");
    role.textContent = turn.role;
    const content = document.createElement("div");
    content.className = "text";
    renderMarkdown(content, turn.content);
    row.append(role, content);
    element.append(row);
  }
}

/// The time an assignment returns to the queue, as the labeler's clock shows it.
export function heldUntil(assignment) {
  return new Date(assignment.expiresAt).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/// Reasons a labeler may give for skipping, besides their own words.
const skipReasons = ["I lack the expertise to judge this", "The prompt is unclear or broken", "The content is too disturbing for me"];

/// Fills the page's `#skip-task` element with a form to give the current task back with a
/// reason (a listed one, and any details); `afterSkip` then loads the next task.
export function wireSkip(currentAssignment, afterSkip) {
  const details = document.getElementById("skip-task");
  const summary = document.createElement("summary");
  summary.textContent = "Skip this task";
  const form = document.createElement("form");
  form.id = "skip";
  form.className = "narrow";
  const reason = document.createElement("select");
  reason.name = "reason";
  for (const text of [...skipReasons, "other"]) {
    const option = document.createElement("option");
    option.value = text;
    option.textContent = text === "other" ? "Other (say why below)" : text;
    reason.append(option);
  }
  const detail = document.createElement("input");
  detail.name = "detail";
  detail.maxLength = 900;
  const button = document.createElement("button");
  button.type = "submit";
  button.className = "quiet";
  button.textContent = "Skip";
  form.append(labelled("Reason", reason), labelled("Details", detail), button);
  details.append(summary, form);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = document.getElementById("task-error");
    error.textContent = "";
    const listed = reason.value;
    const words = detail.value.trim();
    const text = listed === "other" ? words : words ? `${listed}: ${words}` : listed;
    try {
      await api("POST", `/api/assignments/${currentAssignment().id}/skip`, { reason: text });
      form.reset();
      details.open = false;
      await afterSkip();
    } catch (failure) {
      error.textContent = failure.message;
    }
  });
}

/// The `#sign-out` button ends the session and returns to the sign-in page.
export function wireSignOut() {
  document.getElementById("sign-out").addEventListener("click", async () => {
    await api("DELETE", "/api/session");
    location.href = "/login.html";
  });
}
