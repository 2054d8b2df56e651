// The grading screen: each undecided applicant's screening demonstrations, blind (attempt
// numbers, no names), graded 1 to 7 with an optional note and saved per applicant. Text from the
// server goes through textContent only.
import { api, element, labelled, session, wireSignOut } from "/api.js";

function attemptCard(attemptId, demonstrations) {
  const form = element("form", undefined, "card grading");
  form.dataset.attempt = String(attemptId);
  form.append(element("h3", `Applicant #${attemptId}`));
  const controls = demonstrations.map((demonstration) => {
    const block = element("section", undefined, "demonstration");
    block.append(element("h4", `Question ${demonstration.position}`), element("div", demonstration.prompt, "prompt text"));
    if (demonstration.referenceResponse) {
      const reference = element("details");
      reference.append(element("summary", "Reference response"), element("div", demonstration.referenceResponse, "text"));
      block.append(reference);
    }
    block.append(element("p", "Applicant's response:"), element("div", demonstration.response, "card text response"));
    const grade = element("fieldset");
    grade.append(element("legend", "Grade"));
    const radios = [1, 2, 3, 4, 5, 6, 7].map((value) => {
      const radio = element("input");
      radio.type = "radio";
      radio.name = `grade-${attemptId}-${demonstration.itemId}`;
      radio.value = String(value);
      radio.checked = demonstration.grade === value;
      grade.append(labelled(String(value), radio));
      return radio;
    });
    const note = element("input");
    note.name = `note-${attemptId}-${demonstration.itemId}`;
    note.maxLength = 2000;
    note.value = demonstration.gradeNote || "";
    block.append(grade, labelled("Note", note));
    form.append(block);
    return { itemId: demonstration.itemId, radios, note };
  });
  const save = element("button", "Save grades");
  save.type = "submit";
  const status = element("p", undefined, "status");
  status.setAttribute("role", "status");
  form.append(save, status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const grades = controls.flatMap(({ itemId, radios, note }) => {
      const chosen = radios.find((radio) => radio.checked);
      return chosen ? [{ itemId, grade: Number(chosen.value), ...(note.value.trim() ? { note: note.value.trim() } : {}) }] : [];
    });
    if (grades.length === 0) {
      status.textContent = "Choose a grade first.";
      return;
    }
    try {
      await api("POST", `/api/screening-attempts/${attemptId}/grades`, { grades });
      status.textContent = `Saved ${grades.length} grade(s).`;
      form.dataset.saved = "true";
    } catch (failure) {
      status.textContent = failure.message;
    }
  });
  return form;
}

async function show() {
  const graded = document.getElementById("show-graded").checked;
  const { demonstrations } = await api("GET", `/api/screening/demonstrations${graded ? "?graded=true" : ""}`);
  const byAttempt = new Map();
  for (const demonstration of demonstrations) {
    if (!byAttempt.has(demonstration.attemptId)) byAttempt.set(demonstration.attemptId, []);
    byAttempt.get(demonstration.attemptId).push(demonstration);
  }
  document.getElementById("nothing").hidden = byAttempt.size > 0;
  document.getElementById("attempts").replaceChildren(...[...byAttempt].map(([attemptId, list]) => attemptCard(attemptId, list)));
}

async function start() {
  const current = await api("GET", "/api/session");
  session.csrf = current.csrfToken;
  document.getElementById("who").textContent = current.user.displayName;
  document.getElementById("show-graded").addEventListener("change", () => show().catch((failure) => (document.getElementById("error").textContent = failure.message)));
  await show();
}

wireSignOut();
start().catch((failure) => (document.getElementById("error").textContent = failure.message));
