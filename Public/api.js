// What every signed-in page shares: JSON calls with the session's CSRF token, the signed-in
// user and the project chosen by `?project=`, and the Ctrl+Enter shortcut.
export const session = { csrf: null };

/// Calls the API; a 401 sends the browser to the sign-in page, any other error throws its message.
export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRF-Token"] = session.csrf;
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 401) {
    location.href = "/login.html";
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
  document.getElementById("who").textContent = current.user.displayName;
  const { projects } = await api("GET", "/api/projects");
  const wanted = Number(new URLSearchParams(location.search).get("project"));
  return { user: current.user, project: projects.find((p) => p.id === wanted) || projects[0] || null };
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

/// Shows a prompt (a text, or a conversation's turns) in `element`, as text only: prompts are
/// hostile input.
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
    content.textContent = turn.content;
    row.append(role, content);
    element.append(row);
  }
}

/// The time an assignment returns to the queue, as the labeler's clock shows it.
export function heldUntil(assignment) {
  return new Date(assignment.expiresAt).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/// Wires the page's `#skip` form: the labeler gives the current task back with a reason (a
/// listed one, and any details), then `afterSkip` loads the next task.
export function wireSkip(currentAssignment, afterSkip) {
  const form = document.getElementById("skip");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = document.getElementById("task-error");
    error.textContent = "";
    const listed = form.elements.reason.value;
    const detail = form.elements.detail.value.trim();
    const reason = listed === "other" ? detail : detail ? `${listed}: ${detail}` : listed;
    try {
      await api("POST", `/api/assignments/${currentAssignment().id}/skip`, { reason });
      form.reset();
      form.closest("details").open = false;
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
