// Pure helpers for answers and their sources: where a source is, a deep link to the quoted
// sentence, and the "[n]" marks of an answer text as it streams in.

/** "Title › heading › sub-heading": the page title, then the headings below the page's own. */
export function where(source) {
  const trail = [source.title || "", ...(source.heading_path || []).slice(1)];
  return trail.filter(Boolean).join(" › ");
}

/** ``url`` when it is an http(s) address, else null: a source link never runs script. */
export function safeUrl(url) {
  try {
    const parsed = new URL(url);
    return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
  } catch {
    return null;
  }
}

const WORDS_EACH_SIDE = 4;

/** The words of ``snippet`` a reader sees on the page: Markdown marks removed, a table row
 * reduced to its longest cell (the page shows cells apart), only the first sentence. */
export function visibleQuote(snippet) {
  let text = String(snippet || "")
    .replace(/!\[[^\]]*\]\([^)]*\)/g, " ")      // images
    .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")    // links: their text
    .replace(/<[^>]*>/g, " ")                   // inline HTML
    .replace(/[*`]+|(^|\s)_+|_+(\s|$)/g, "$1$2"); // emphasis and code marks
  if (text.includes("|")) {
    const cells = text.split("|").map((c) => c.replace(/^[^:]{1,40}:\s+/, "").trim());
    text = cells.reduce((a, b) => (b.length > a.length ? b : a), "");
  }
  text = text.replace(/^\s*(?:[-+>]|\d+[.)])\s+/, "");  // a list or quote marker
  const sentence = text.split(/(?<=[.!?])\s+/)[0];
  // A sentence cut before a numbered list ends with the list's first number, which the page
  // shows as a list marker, not as text.
  return sentence.replace(/\s+/g, " ").trim().replace(/\s\d+[.)]?$/, "").replace(/[.:;,]$/, "");
}

// In a text directive, "-", "," and "&" are syntax: they are percent-encoded in the text.
function encodeDirectiveText(text) {
  return encodeURIComponent(text).replace(/-/g, "%2D");
}

/** ``url`` with a text fragment (``#anchor:~:text=…``) that makes the browser scroll to and
 * highlight the quoted sentence; a long sentence is matched by its first and last words. */
export function textFragmentUrl(url, snippet) {
  const base = safeUrl(url);
  if (!base) return null;
  const words = visibleQuote(snippet).split(" ").filter(Boolean);
  if (!words.length) return base;
  const [page, anchor = ""] = base.split("#");
  const directive = words.length <= WORDS_EACH_SIDE * 2
    ? encodeDirectiveText(words.join(" "))
    : encodeDirectiveText(words.slice(0, WORDS_EACH_SIDE).join(" ")) + ","
      + encodeDirectiveText(words.slice(-WORDS_EACH_SIDE).join(" "));
  return `${page}#${anchor}:~:text=${directive}`;
}

/** Cuts a streamed answer into text and "[n]" references, piece by piece: ``push`` returns
 * only what is complete, holding back a tail such as "[1" until the next piece says what it is,
 * so that what was already shown (and its links) is never rebuilt. */
export class ReferenceScanner {
  constructor() {
    this.pending = "";
  }

  push(piece) {
    this.pending += piece;
    const held = this.pending.match(/\[\d{0,3}$/);
    const ready = held ? this.pending.slice(0, held.index) : this.pending;
    this.pending = held ? held[0] : "";
    return splitReferences(ready);
  }

  flush() {
    const rest = splitReferences(this.pending);
    this.pending = "";
    return rest;
  }
}

/** ``text`` as ``{text}`` and ``{ref: n}`` parts, in order. */
export function splitReferences(text) {
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(/\[(\d{1,3})\]/g)) {
    if (match.index > last) parts.push({ text: text.slice(last, match.index) });
    parts.push({ ref: Number(match[1]) });
    last = match.index + match[0].length;
  }
  if (last < text.length) parts.push({ text: text.slice(last) });
  return parts;
}
