// Charts as plain SVG, no library: the shared element helper, and a chart of values per day
// (the researcher's trends). The training dashboard draws its per-step charts with `svg` too.

export const COLORS = ["#0969da", "#cf222e", "#1a7f37", "#8250df", "#bf8700", "#57606a"];

export function svg(name, attributes, text) {
  const element = document.createElementNS("http://www.w3.org/2000/svg", name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  if (text !== undefined) element.textContent = text;
  return element;
}

/// A line chart of `series` ([{name, values}], one value or null per day) over `days`
/// ("2026-12-01", ...): the days on x, `unit` on y from `minimum` (0 by default) to `maximum`
/// (the largest value unless given), a point per value, a legend. Null values leave a gap.
export function dailyChart({ title, unit, days, series, minimum = 0, maximum = null, format = (value) => String(value) }) {
  const width = 420, height = 200, left = 48, right = 12, top = 12, bottom = 36;
  const values = series.flatMap((line) => line.values).filter((value) => value !== null);
  const high = maximum ?? Math.max(minimum + 1, ...values);
  const x = (index) => left + (days.length === 1 ? 0.5 : index / (days.length - 1)) * (width - left - right);
  const y = (value) => top + (high - value) / (high - minimum) * (height - top - bottom);
  const figure = document.createElement("figure");
  figure.className = "chart";
  figure.dataset.chart = title;
  const caption = document.createElement("figcaption");
  caption.textContent = title;
  const plot = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": `${title} per day` });
  plot.append(svg("line", { x1: left, y1: height - bottom, x2: width - right, y2: height - bottom, stroke: "#555" }),
              svg("line", { x1: left, y1: top, x2: left, y2: height - bottom, stroke: "#555" }));
  for (const value of [minimum, (minimum + high) / 2, high]) {
    plot.append(svg("text", { x: left - 4, y: y(value) + 4, "text-anchor": "end", "font-size": 10 }, format(value)));
  }
  const labelled = days.length <= 3 ? days.map((_, index) => index) : [0, Math.floor((days.length - 1) / 2), days.length - 1];
  for (const index of labelled) {
    plot.append(svg("text", { x: x(index), y: height - bottom + 14, "text-anchor": "middle", "font-size": 10 }, days[index].slice(5)));
  }
  plot.append(svg("text", { x: 12, y: (top + height - bottom) / 2, "text-anchor": "middle", "font-size": 11,
                            transform: `rotate(-90 12 ${(top + height - bottom) / 2})` }, unit));
  const legend = document.createElement("p");
  legend.className = "legend";
  series.forEach((line, index) => {
    const color = COLORS[index % COLORS.length];
    // Consecutive days with values form one stroke; a day without a value breaks the line.
    let run = [];
    const flush = () => {
      if (run.length > 1) plot.append(svg("polyline", { fill: "none", stroke: color, "stroke-width": 1.5, "data-series": line.name, points: run.join(" ") }));
      run = [];
    };
    line.values.forEach((value, day) => {
      if (value === null) return flush();
      run.push(`${x(day).toFixed(1)},${y(value).toFixed(1)}`);
      const point = svg("circle", { cx: x(day), cy: y(value), r: 2.5, fill: color, "data-series": line.name });
      point.append(svg("title", {}, `${days[day]}: ${format(value)}`));
      plot.append(point);
    });
    flush();
    const key = document.createElement("span");
    key.style.color = color;
    key.textContent = `${line.name} `;
    legend.append(key);
  });
  figure.append(caption, plot, legend);
  return figure;
}
