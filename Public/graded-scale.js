// The graded pair's 8-point scale, as Anthropic collected HH-RLHF: "A is much better" to "B is
// much better". Each point says which answer wins and how strongly: the scale folded on its
// middle, 4 (much better) to 1 (negligibly better, or unsure). Shared by the pairwise screen and
// live conversations, so both store the same strengths.
export const grades = [
  ["A is much better", "a", 4], ["A is better", "a", 3], ["A is slightly better", "a", 2], ["A is negligibly better or unsure", "a", 1],
  ["B is negligibly better or unsure", "b", 1], ["B is slightly better", "b", 2], ["B is better", "b", 3], ["B is much better", "b", 4],
];

/// Fills `scale` with one button per point (the middle two quiet); `choose` hears the point's index.
export function showScale(scale, choose) {
  grades.forEach(([text], index) => {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.grade = String(index + 1);
    button.className = index === 3 || index === 4 ? "quiet" : "";
    button.textContent = `${index + 1} · ${text}`;
    button.addEventListener("click", () => choose(index));
    scale.append(button);
  });
}
