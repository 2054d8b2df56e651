// The applicant's screening test: flag outputs, rate and rank outputs, write responses to
// delicate prompts, and assess oneself. Answers go in one submission, checked whole by the server.
// Text from the server (prompts, outputs) goes through textContent only.
import { api, element, labelled, session, wireSignOut } from "/api.js";

const scale = [1, 2, 3, 4, 5, 6, 7];
const kindTitles = {
  flagging: "Flag any output with sensitive content",
  ranking: "Rate each output from 1 (bad) to 7 (excellent), then rank them (1 is best; equal ranks are ties)",
  demonstration: "Write the response a careful, helpful assistant would give",
  self_assessment: "How well can you do this? 1 (not at all) to 7 (very well)",
};

function numberSelect(name, values, placeholder) {
  const select = element("select");
  select.name = name;
  select.required = true;
  select.append(new Option(placeholder, ""), ...values.map((value) => new Option(String(value), String(value))));
  return select;
}

/// One item's controls; `answer()` reads them back into the shape the API takes.
function itemView(item, flags) {
  const card = element("li", undefined, "card screening-item");
  card.dataset.kind = item.kind;
  card.append(element("h3", `${item.position}. ${kindTitles[item.kind]}`), element("div", item.prompt, "prompt text"));
  const outputs = item.candidates.map((text, index) => {
    const box = element("div", undefined, "card output");
    box.append(element("strong", `Output ${String.fromCharCode(65 + index)}`), element("div", text, "text"));
    card.append(box);
    return box;
  });
  switch (item.kind) {
    case "flagging": {
      const boxes = outputs.map((box) => {
        const set = element("fieldset");
        set.append(element("legend", "Flags"));
        const checks = flags.map((flag) => {
          const check = element("input");
          check.type = "checkbox";
          check.value = flag;
          set.append(labelled(flag.replaceAll("_", " "), check));
          return check;
        });
        box.append(set);
        return checks;
      });
      return { card, answer: () => ({ itemId: item.id, flags: boxes.map((checks) => checks.filter((c) => c.checked).map((c) => c.value)) }) };
    }
    case "ranking": {
      const controls = outputs.map((box, index) => {
        const rating = numberSelect(`rating-${item.id}-${index}`, scale, "–");
        const rank = numberSelect(`rank-${item.id}-${index}`, item.candidates.map((_, i) => i + 1), "–");
        const set = element("fieldset");
        set.append(labelled("Rating", rating), labelled("Rank", rank));
        box.append(set);
        return { rating, rank };
      });
      return { card, answer: () => ({ itemId: item.id, ranks: controls.map((c) => Number(c.rank.value)), ratings: controls.map((c) => Number(c.rating.value)) }) };
    }
    case "demonstration": {
      const text = element("textarea");
      text.name = `response-${item.id}`;
      text.rows = 6;
      text.required = true;
      card.append(labelled("Your response", text));
      return { card, answer: () => ({ itemId: item.id, text: text.value }) };
    }
    default: {
      const value = numberSelect(`self-${item.id}`, scale, "–");
      card.append(labelled("Your answer", value));
      return { card, answer: () => ({ itemId: item.id, value: Number(value.value) }) };
    }
  }
}

function showSubmitted(message) {
  document.getElementById("screening").hidden = true;
  const done = document.getElementById("done");
  done.hidden = false;
  done.textContent = message;
}

async function start() {
  const current = await api("GET", "/api/session");
  session.csrf = current.csrfToken;
  document.getElementById("who").textContent = current.user.displayName;
  wireSignOut();
  if (current.user.status !== "applicant") {
    location.href = current.user.role === "labeler" ? "/home.html" : "/researcher.html";
    return;
  }
  const { test, attempt } = await api("GET", "/api/screening");
  document.getElementById("test-name").textContent = test.name;
  document.getElementById("instructions").textContent = test.instructions;
  if (attempt.submittedAt) {
    showSubmitted("You have submitted this test. An admin will review your answers and let you know.");
    return;
  }
  const views = test.items.map((item) => itemView(item, test.flags));
  document.getElementById("items").replaceChildren(...views.map((view) => view.card));
  document.getElementById("screening").addEventListener("submit", async (event) => {
    event.preventDefault();
    document.getElementById("error").textContent = "";
    try {
      const result = await api("POST", "/api/screening", { answers: views.map((view) => view.answer()) });
      showSubmitted(result.message);
    } catch (failure) {
      document.getElementById("error").textContent = failure.message;
    }
  });
}

start().catch((failure) => (document.getElementById("error").textContent = failure.message));
