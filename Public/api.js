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
