// The admin's screening desk: the sortable applicants table with every score and the accept or
// reject decision, the registration policy and invite codes, and the screening tests. Text from
// the server goes through textContent only.
import { api, element, session, wireSignOut } from "/api.js";

const state = { applicants: [], sortKey: "submitted", descending: true };

const percent = (value) => (value === undefined ? "–" : `${(value * 100).toFixed(1)}%`);
const verdict = (passes) => (passes === undefined ? "" : passes ? " ✓" : " ✗");

/// The value each sortable column sorts by (missing scores sort last).
function sortValue(applicant, key) {
  const scores = applicant.scores || {};
  switch (key) {
    case "username": return applicant.user.username.toLowerCase();
    case "status": return applicant.user.status;
    case "submitted": return applicant.attempt?.submittedAt ?? "";
    case "flags": return scores.flagAgreement ?? -1;
    case "ranking": return scores.rankingAgreement ?? -1;
    case "demonstrations": return scores.demonstrationGrade ?? -1;
    case "self": return scores.selfAssessment ?? -1;
    default: return scores.meetsThresholds === undefined ? 0 : scores.meetsThresholds ? 2 : 1;
  }
}

function decisionCell(applicant) {
  const cell = element("td");
  if (applicant.user.status !== "applicant") {
    cell.textContent = applicant.attempt?.decisionNote ? `${applicant.attempt.decision}: ${applicant.attempt.decisionNote}` : applicant.user.status;
    return cell;
  }
  const group = element("select");
  group.name = "group";
  group.append(new Option("training", "training"), new Option("held out", "held_out"));
  const note = element("input");
  note.name = "note";
  note.placeholder = "Note (required)";
  note.maxLength = 2000;
  const decide = (decision) => async () => {
    const result = document.getElementById("decision-result");
    result.textContent = "";
    try {
      const body = { decision, note: note.value };
      if (decision === "accept") body.labelerGroup = group.value;
      const user = await api("POST", `/api/applicants/${applicant.user.id}/decision`, body);
      result.textContent = `${user.username} is now ${user.status}${user.status === "active" ? ` (${user.labelerGroup.replace("_", "-")})` : ""}.`;
      await showApplicants();
    } catch (failure) {
      result.textContent = failure.message;
    }
  };
  const accept = element("button", "Accept");
  accept.type = "button";
  accept.className = "accept";
  accept.addEventListener("click", decide("accept"));
  const reject = element("button", "Reject");
  reject.type = "button";
  reject.className = "quiet reject";
  reject.addEventListener("click", decide("reject"));
  cell.append(group, " ", note, " ", accept, " ", reject);
  return cell;
}

function renderApplicants() {
  const rows = [...state.applicants].sort((a, b) => {
    const [x, y] = [sortValue(a, state.sortKey), sortValue(b, state.sortKey)];
    return (x < y ? -1 : x > y ? 1 : 0) * (state.descending ? -1 : 1);
  });
  document.querySelector("#applicants tbody").replaceChildren(...rows.map((applicant) => {
    const scores = applicant.scores || {};
    const row = element("tr");
    row.dataset.username = applicant.user.username;
    const demonstrations = scores.demonstrationsAwaitingGrade ? `${scores.demonstrationsAwaitingGrade} to grade`
      : scores.demonstrationGrade === undefined ? "–" : `${scores.demonstrationGrade.toFixed(2)}${verdict(scores.passesDemonstrations)}`;
    const passMarks = scores.meetsThresholds === undefined ? (applicant.attempt?.submittedAt ? "incomplete" : "not taken") : scores.meetsThresholds ? "met" : "not met";
    for (const value of [`${applicant.user.displayName} (${applicant.user.username})`, applicant.user.status, applicant.attempt?.submittedAt ?? "not yet",
      `${percent(scores.flagAgreement)}${verdict(scores.passesFlagging)}`, `${percent(scores.rankingAgreement)}${verdict(scores.passesRanking)}`,
      demonstrations, scores.selfAssessment === undefined ? "–" : scores.selfAssessment.toFixed(1), passMarks]) {
      row.append(element("td", String(value)));
    }
    row.append(decisionCell(applicant));
    return row;
  }));
  for (const heading of document.querySelectorAll("#applicants th[data-key]")) {
    heading.setAttribute("aria-sort", heading.dataset.key === state.sortKey ? (state.descending ? "descending" : "ascending") : "none");
  }
}

async function showApplicants() {
  state.applicants = (await api("GET", "/api/applicants")).applicants;
  renderApplicants();
}

async function showRegistration() {
  const [{ tests }, policy, { invites }] = await Promise.all([api("GET", "/api/screening-tests"), api("GET", "/api/registration"), api("GET", "/api/invites")]);
  const form = document.getElementById("registration");
  form.elements.mode.value = policy.mode;
  const choice = document.getElementById("registration-test");
  choice.replaceChildren(new Option("(none)", ""), ...tests.map((test) => new Option(test.name, String(test.id))));
  choice.value = policy.screeningTestId ? String(policy.screeningTestId) : "";
  document.querySelector("#tests tbody").replaceChildren(...tests.map((test) => {
    const row = element("tr");
    const items = Object.entries(test.itemsByKind).map(([kind, count]) => `${count} ${kind.replace("_", "-")}`).join(", ");
    row.append(element("td", test.name), element("td", items), element("td", test.createdAt));
    return row;
  }));
  document.querySelector("#invites tbody").replaceChildren(...invites.map((invite) => {
    const row = element("tr");
    row.append(element("td", invite.note || "–"), element("td", `${invite.uses} of ${invite.usesAllowed}`), element("td", invite.expiresAt),
      element("td", invite.revokedAt || ""));
    return row;
  }));
  return tests;
}

async function start() {
  const current = await api("GET", "/api/session");
  session.csrf = current.csrfToken;
  document.getElementById("who").textContent = current.user.displayName;
  for (const heading of document.querySelectorAll("#applicants th[data-key]")) {
    heading.tabIndex = 0;
    const sort = () => {
      state.descending = state.sortKey === heading.dataset.key ? !state.descending : true;
      state.sortKey = heading.dataset.key;
      renderApplicants();
    };
    heading.addEventListener("click", sort);
    heading.addEventListener("keydown", (event) => { if (event.key === "Enter") sort(); });
  }
  await showRegistration();
  document.getElementById("registration").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    const result = document.getElementById("registration-result");
    try {
      const saved = await api("PUT", "/api/registration", { mode: form.elements.mode.value, ...(form.elements.test.value ? { screeningTestId: Number(form.elements.test.value) } : {}) });
      result.textContent = `Registration is ${saved.mode}.`;
    } catch (failure) {
      result.textContent = failure.message;
    }
  });
  document.getElementById("invite").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    const result = document.getElementById("invite-result");
    try {
      const created = await api("POST", "/api/invites", { note: form.elements.note.value, usesAllowed: Number(form.elements.usesAllowed.value), validDays: Number(form.elements.validDays.value) });
      result.textContent = `Code: ${created.code}\nLink: ${location.origin}/apply.html?code=${encodeURIComponent(created.code)}\nIt is shown only now.`;
      await showRegistration();
    } catch (failure) {
      result.textContent = failure.message;
    }
  });
  document.getElementById("upload-test").addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = event.target.elements.file.files[0];
    const result = document.getElementById("upload-result");
    if (!file) return;
    try {
      let test;
      try { test = JSON.parse(await file.text()); } catch (syntax) { throw new Error(`${file.name} is not JSON: ${syntax.message}`); }
      const created = await api("POST", "/api/screening-tests", test);
      result.textContent = `Test “${created.name}” created with ${created.items.length} items.`;
      await showRegistration();
    } catch (failure) {
      result.textContent = failure.message;
    }
  });
  await showApplicants();
}

wireSignOut();
start().catch((failure) => (document.getElementById("error").textContent = failure.message));
