// Registration for applicants: the form shows only when the admin has opened registration, with
// an invite-code field when registering needs one. A registered applicant is signed in and goes
// straight to the screening test.
const form = document.getElementById("apply");

async function start() {
  const policy = await (await fetch("/api/registration")).json();
  if (policy.mode === "closed") {
    document.getElementById("closed").hidden = false;
    return;
  }
  form.hidden = false;
  document.getElementById("invite-field").hidden = !policy.inviteCodeNeeded;
  form.elements.inviteCode.required = policy.inviteCodeNeeded;
  const code = new URLSearchParams(location.search).get("code");
  if (code) form.elements.inviteCode.value = code;
  form.elements.username.focus();
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("apply-error");
  error.textContent = "";
  const body = { username: form.elements.username.value, password: form.elements.password.value };
  if (form.elements.displayName.value.trim()) body.displayName = form.elements.displayName.value.trim();
  if (form.elements.inviteCode.value.trim()) body.inviteCode = form.elements.inviteCode.value.trim();
  const response = await fetch("/api/applicants", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const answer = await response.json();
  if (!response.ok) {
    error.textContent = answer.error ? answer.error.message : response.statusText;
    return;
  }
  sessionStorage.setItem("csrfToken", answer.csrfToken);
  location.href = "/screening.html";
});

start().catch((failure) => (document.getElementById("apply-error").textContent = failure.message));
