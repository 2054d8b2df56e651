// The researcher's view: each project's counts and exports (plain links: a GET needs no CSRF
// token), each labeler's output, and rankings per day. Text from the server goes through
// textContent only.
"use strict";

function tableRow(values) {
  const row = document.createElement("tr");
  for (const value of values) {
    const cell = document.createElement("td");
    cell.textContent = String(value);
    row.append(cell);
  }
  return row;
}

async function start() {
  const session = await fetch("/api/session");
  if (session.status === 401) {
    location.href = "/login.html";
    return;
  }
  document.getElementById("who").textContent = (await session.json()).user.displayName;
  const response = await fetch("/api/projects");
  const body = await response.json();
  if (!response.ok) throw new Error(body.error.message);
  const rows = document.querySelector("#projects tbody");
  for (const project of body.projects) {
    const statistics = await (await fetch(`/api/projects/${project.id}/statistics`)).json();
    const row = tableRow([project.name, statistics.prompts, statistics.rankings, statistics.promptsOpen, statistics.promptsComplete]);
    for (const labeler of statistics.labelers) {
      document.querySelector("#labelers tbody").append(tableRow([project.name, labeler.username, labeler.labelerGroup, labeler.rankings,
        labeler.averageSeconds === null ? "–" : labeler.averageSeconds.toFixed(1), labeler.lastSubmittedAt || "–"]));
    }
    for (const day of statistics.rankingsPerDay) {
      document.querySelector("#days tbody").append(tableRow([project.name, day.day, day.rankings]));
    }
    const cell = document.createElement("td");
    for (const [format, label] of [["comparisons", "TRL comparisons"], ["hh-rlhf", "HH-RLHF"], ["rankings", "raw rankings"], ["ratings-csv", "ratings CSV"]]) {
      const link = document.createElement("a");
      link.href = `/api/projects/${project.id}/exports/${format}`;
      link.textContent = label;
      cell.append(link, document.createTextNode(" "));
    }
    row.append(cell);
    rows.append(row);
  }
}

start().catch((failure) => (document.getElementById("error").textContent = failure.message));
