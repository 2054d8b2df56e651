// The researcher's trends: a project's labeling per day as four charts (labels, labelers,
// seconds per ranking, agreement with each other and with gold), from /api/projects/{id}/trends.
import { api } from "/api.js";
import { dailyChart } from "/charts.js";

async function draw() {
  const id = document.getElementById("trends-project").value;
  const charts = document.getElementById("trend-charts");
  if (!id) return charts.replaceChildren();
  const { days } = await api("GET", `/api/projects/${id}/trends`);
  document.getElementById("trends-empty").hidden = days.length > 0;
  if (days.length === 0) return charts.replaceChildren();
  const names = days.map((day) => day.day);
  const percent = (value) => `${Math.round(value * 100)}%`;
  // Counts are whole: a tick between two whole numbers is left unlabelled.
  const count = (value) => (Number.isInteger(value) ? String(value) : "");
  const seconds = (value) => (value < 10 ? value.toFixed(1) : value.toFixed(0));
  charts.replaceChildren(
    dailyChart({ title: "Labels", unit: "per day", days: names, format: count,
                 series: [{ name: "rankings", values: days.map((d) => d.rankings) }, { name: "demonstrations", values: days.map((d) => d.demonstrations) }] }),
    dailyChart({ title: "Labelers at work", unit: "labelers", days: names, format: count, series: [{ name: "labelers", values: days.map((d) => d.labelers) }] }),
    dailyChart({ title: "Time per ranking", unit: "median seconds", days: names,
                 series: [{ name: "median seconds", values: days.map((d) => d.medianSecondsPerRanking) }], format: seconds }),
    dailyChart({ title: "Agreement", unit: "share of pairs", days: names, maximum: 1, format: percent,
                 series: [{ name: "between labelers", values: days.map((d) => d.agreement) },
                          { name: "with gold", values: days.map((d) => d.goldAgreement) }] }),
  );
}

/// Redraws the project choice (keeping the one chosen) and its charts.
export async function showTrends(projects) {
  const choice = document.getElementById("trends-project");
  const chosen = choice.value;
  choice.replaceChildren(...projects.map((project) => new Option(project.name, String(project.id))));
  if (chosen && projects.some((project) => String(project.id) === chosen)) choice.value = chosen;
  await draw();
}

export function wireTrends() {
  document.getElementById("trends-project").addEventListener("change", () => draw().catch((failure) => {
    document.getElementById("trends-empty").textContent = failure.message;
    document.getElementById("trends-empty").hidden = false;
  }));
}
