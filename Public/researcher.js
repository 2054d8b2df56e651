// The researcher's project list with the comparisons export of each (a plain link: a GET needs
// no CSRF token). Text from the server goes through textContent only.
"use strict";

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
    const row = document.createElement("tr");
    for (const value of [project.name, project.rankingSize, project.overlap]) {
      const cell = document.createElement("td");
      cell.textContent = String(value);
      row.append(cell);
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
