// Model answers and prompts written in Markdown, shown as a reader expects them: paragraphs,
// headings, lists, quotes, code blocks and inline code, emphasis and links. The text is hostile
// input, so nothing here parses markup: every node is made with createElement and filled with
// textContent, and HTML in the text stays visible text. Links open only http(s) addresses.
// Each block takes its direction from its own first strong character (dir="auto"), so a
// right-to-left answer reads right to left.

const fence = /^\s{0,3}(`{3,}|~{3,})\s*([\w+#.-]*)\s*$/;
const heading = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const listItem = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;
const quote = /^\s{0,3}>\s?(.*)$/;
const rule = /^\s{0,3}([-*_])(\s*\1){2,}\s*$/;

/// Fills `container` with `text` rendered as Markdown.
export function renderMarkdown(container, text) {
  container.replaceChildren(...blocks(String(text ?? "").replace(/\r\n?/g, "\n").split("\n")));
  container.classList.add("markdown");
}

function blocks(lines) {
  const nodes = [];
  let index = 0;
  while (index < lines.length) {
    const line = lines[index];
    if (line.trim() === "") { index += 1; continue; }
    const opening = line.match(fence);
    if (opening) {
      // A fenced block runs to its closing fence (of the same character, at least as long),
      // or to the end of the text when the answer was cut before closing it.
      const body = [];
      index += 1;
      while (index < lines.length) {
        const closing = lines[index].match(fence);
        if (closing && closing[1][0] === opening[1][0] && closing[1].length >= opening[1].length && closing[2] === "") break;
        body.push(lines[index]);
        index += 1;
      }
      index += 1;
      const pre = document.createElement("pre");
      const code = document.createElement("code");
      if (opening[2]) code.dataset.language = opening[2];
      code.textContent = body.join("\n");
      pre.append(code);
      nodes.push(pre);
      continue;
    }
    const title = line.match(heading);
    if (title) {
      // Headings inside an answer sit below the page's own (h2), whatever their level.
      const node = block(`h${Math.min(6, title[1].length + 2)}`);
      node.append(...inline(title[2]));
      nodes.push(node);
      index += 1;
      continue;
    }
    if (rule.test(line)) {
      nodes.push(document.createElement("hr"));
      index += 1;
      continue;
    }
    if (quote.test(line)) {
      const quoted = [];
      while (index < lines.length && quote.test(lines[index])) {
        quoted.push(lines[index].match(quote)[1]);
        index += 1;
      }
      const node = block("blockquote");
      node.append(...blocks(quoted));
      nodes.push(node);
      continue;
    }
    if (listItem.test(line)) {
      const [list, next] = listFrom(lines, index);
      nodes.push(list);
      index = next;
      continue;
    }
    // A paragraph: lines up to a blank one or the start of another block. Single line breaks
    // are kept, as chat interfaces show them.
    const paragraph = block("p");
    let first = true;
    while (index < lines.length && lines[index].trim() !== "" && (first || !startsBlock(lines[index]))) {
      if (!first) paragraph.append(document.createElement("br"));
      paragraph.append(...inline(lines[index]));
      first = false;
      index += 1;
    }
    nodes.push(paragraph);
  }
  return nodes;
}

function startsBlock(line) {
  return fence.test(line) || heading.test(line) || quote.test(line) || listItem.test(line) || rule.test(line);
}

/// A list from `lines[start]`: items of the same kind (numbered or not) at the first item's
/// indentation, each with its more indented lines, which may hold a nested list.
function listFrom(lines, start) {
  const [, indent, marker] = lines[start].match(listItem);
  const ordered = /\d/.test(marker);
  const list = block(ordered ? "ol" : "ul");
  if (ordered && parseInt(marker, 10) !== 1) list.start = parseInt(marker, 10);
  let index = start;
  while (index < lines.length) {
    const match = lines[index].match(listItem);
    if (!match || match[1].length !== indent.length || /\d/.test(match[2]) !== ordered) break;
    const body = [match[3]];
    index += 1;
    while (index < lines.length && lines[index].trim() !== "" && !(listItem.test(lines[index]) && lines[index].match(listItem)[1].length <= indent.length)) {
      body.push(lines[index].slice(Math.min(lines[index].search(/\S/), indent.length + 2)));
      index += 1;
    }
    const item = document.createElement("li");
    if (body.length === 1) item.append(...inline(body[0]));
    else item.append(...blocks(body));
    list.append(item);
    // A blank line between items keeps the list going.
    if (index < lines.length && lines[index].trim() === "" && index + 1 < lines.length) {
      const after = lines[index + 1].match(listItem);
      if (after && after[1].length === indent.length && /\d/.test(after[2]) === ordered) index += 1;
    }
  }
  return [list, index];
}

function block(tag) {
  const node = document.createElement(tag);
  node.dir = "auto";
  return node;
}

// Inline spans, earliest first: code (its content literal), links, strong and emphasis.
const span = /(`+)([\s\S]*?[^`]|[^`])\1(?!`)|\[([^\]\n]+)\]\(([^)\s]+)\)|\*\*(?=\S)([\s\S]*?\S)\*\*|__(?=\S)([\s\S]*?\S)__|\*(?=[^\s*])([^*]*?[^\s*])\*|(?<![\w])_(?=[^\s_])([^_]*?[^\s_])_(?![\w])/g;

function inline(text) {
  const nodes = [];
  let last = 0;
  for (const match of text.matchAll(span)) {
    if (match.index > last) nodes.push(document.createTextNode(text.slice(last, match.index)));
    last = match.index + match[0].length;
    const [, ticks, code, linkText, address, strong, strongUnderscore, emphasis, emphasisUnderscore] = match;
    if (ticks) {
      const node = document.createElement("code");
      node.textContent = code;
      nodes.push(node);
    } else if (linkText) {
      nodes.push(link(linkText, address, match[0]));
    } else if (strong ?? strongUnderscore) {
      const node = document.createElement("strong");
      node.append(...inline(strong ?? strongUnderscore));
      nodes.push(node);
    } else {
      const node = document.createElement("em");
      node.append(...inline(emphasis ?? emphasisUnderscore));
      nodes.push(node);
    }
  }
  if (last < text.length) nodes.push(document.createTextNode(text.slice(last)));
  return nodes;
}

/// A link to an http(s) address, opened apart from Tally's page; any other scheme
/// (javascript:, data:, a relative path into Tally) stays as the text it was written as.
function link(text, address, written) {
  let url = null;
  try {
    url = new URL(address);
  } catch {
    return document.createTextNode(written);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return document.createTextNode(written);
  const node = document.createElement("a");
  node.href = url.href;
  node.rel = "noopener noreferrer nofollow";
  node.target = "_blank";
  node.title = url.href;
  node.append(...inline(text));
  return node;
}
