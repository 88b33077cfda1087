// The chat: a question box, the conversation, answers streamed in with their sources.
// ``mountChat(container, {baseUrl})`` builds it inside ``container``: the page kb serves at /
// and the widget other sites embed (inside a shadow root) are the same code.

import { ApiProblem, KbClient } from "./api.js";
import { ReferenceScanner, safeUrl, textFragmentUrl, where } from "./citations.js";
import { append, h } from "./dom.js";
import { strings } from "./strings.js";

const KEY_STORAGE = "kb.apiKey";
let mounted = 0;

/** Interface words that follow the language switch: text nodes and attributes to re-label. */
class Labels {
  constructor(lang) {
    this.lang = lang;
    this.bound = [];
  }

  get s() {
    return strings(this.lang);
  }

  text(key) {
    const node = document.createTextNode(this.s[key]);
    this.bound.push(() => { node.nodeValue = this.s[key]; });
    return node;
  }

  attr(el, name, key) {
    const set = () => el.setAttribute(name, this.s[key]);
    set();
    this.bound.push(set);
    return el;
  }

  switchTo(lang) {
    this.lang = lang;
    for (const relabel of this.bound) relabel();
  }
}

function sessionKey() {
  try {
    return window.sessionStorage.getItem(KEY_STORAGE) || "";
  } catch {
    return "";  // storage refused (privacy settings): the key lives in the field only
  }
}

function storeSessionKey(value) {
  try {
    if (value) window.sessionStorage.setItem(KEY_STORAGE, value);
    else window.sessionStorage.removeItem(KEY_STORAGE);
  } catch {
    // as above
  }
}

function browserLang() {
  return (navigator.language || "en").toLowerCase().startsWith("fr") ? "fr" : "en";
}

/** Build the chat in ``container``; resolves once the server's settings are known. */
export async function mountChat(container, { baseUrl = "", embedded = false } = {}) {
  const id = `kb${++mounted}`;
  const ui = new Labels(browserLang());
  const state = { turns: [], lang: null, busy: false, controller: null, settings: null };

  const keyInput = h("input", { id: `${id}-key`, type: "password", autocomplete: "off", spellcheck: "false",
                                "aria-describedby": `${id}-key-hint` });
  keyInput.value = sessionKey();
  keyInput.addEventListener("input", () => storeSessionKey(keyInput.value.trim()));
  const keyBox = h("div", { class: "kb-key", hidden: true },
    h("label", { for: keyInput.id }, ui.text("apiKey")), keyInput,
    h("p", { id: `${id}-key-hint`, class: "kb-hint" }, ui.text("apiKeyHint")));

  const client = new KbClient(baseUrl, () => keyInput.value.trim());

  const langChoices = [["", "auto"], ["en", null], ["fr", null]].map(([value, key]) => {
    const input = h("input", { type: "radio", name: `${id}-lang`, value, checked: value === "" });
    input.addEventListener("change", () => {
      if (!input.checked) return;
      state.lang = value || null;
      ui.switchTo(value || browserLang());
      root.setAttribute("lang", ui.lang);
    });
    const label = key ? ui.text(key) : (value === "en" ? "English" : "Français");
    const choice = h("label", { class: "kb-lang-choice", lang: value || null }, input, label);
    return key ? ui.attr(choice, "title", "autoHint") : choice;
  });
  const langSwitch = h("fieldset", { class: "kb-lang" }, h("legend", {}, ui.text("language")), ...langChoices);

  const newButton = h("button", { type: "button", class: "kb-new" }, ui.text("newConversation"));
  const log = ui.attr(h("div", { class: "kb-log", role: "log", "aria-live": "polite" }), "aria-label", "conversation");
  const status = h("p", { class: "kb-status", role: "status" });
  const question = ui.attr(h("textarea", { id: `${id}-question`, rows: 2, required: true,
                                            "aria-describedby": `${id}-hint` }), "placeholder", "placeholder");
  const sendButton = h("button", { type: "submit", class: "kb-send" }, ui.text("send"));
  const form = h("form", { class: "kb-ask" },
    h("label", { for: question.id, class: "kb-question-label" }, ui.text("question")),
    h("div", { class: "kb-ask-row" }, question, sendButton),
    h("p", { id: `${id}-hint`, class: "kb-hint" }, ui.text("hint")));

  const root = h("div", { class: "kb-chat", lang: ui.lang },
    h("div", { class: "kb-header" },
      h("div", { class: "kb-brand" },
        h(embedded ? "h2" : "h1", { class: "kb-title" }, ui.text("title")),  // a host page has its own h1
        h("p", { class: "kb-subtitle" }, ui.text("subtitle"))),
      h("div", { class: "kb-tools" }, langSwitch, newButton),
      keyBox),
    log, status, form);
  container.append(root);

  function showKeyField() {
    keyBox.hidden = false;
  }

  // ---- asking ----------------------------------------------------------------------------

  function conversation(upTo) {
    const messages = [];
    for (const turn of state.turns.slice(0, upTo)) {
      if (turn.answer === null) continue;  // a question that failed is not part of the context
      messages.push({ role: "user", content: turn.question }, { role: "assistant", content: turn.answer });
    }
    messages.push({ role: "user", content: state.turns[upTo].question });
    const limit = state.settings?.max_messages || 50;
    let recent = messages.slice(-limit);
    while (recent.length && recent[0].role !== "user") recent = recent.slice(1);
    return recent;
  }

  async function ask(turn) {
    const index = state.turns.indexOf(turn);
    const controller = new AbortController();
    state.controller = controller;
    setBusy(true);
    turn.answerBox.replaceChildren();
    const view = renderAnswer(turn);
    status.textContent = ui.s.thinking;
    try {
      await client.chat(conversation(index), {
        lang: state.lang,
        signal: controller.signal,
        onDelta: view.delta,
        onDone: (meta) => {
          view.done(meta);
          turn.answer = view.text();
        },
      });
      status.textContent = ui.s.answered;
    } catch (error) {
      if (error.name === "AbortError") return;
      turn.answer = null;
      showProblem(turn, error instanceof ApiProblem ? error : new ApiProblem("server", String(error)));
    } finally {
      if (state.controller === controller) {
        state.controller = null;
        setBusy(false);
      }
    }
  }

  function setBusy(busy) {
    state.busy = busy;
    sendButton.disabled = busy;
    log.setAttribute("aria-busy", busy ? "true" : "false");
  }

  function submit() {
    const text = question.value.trim();
    if (!text || state.busy) return;
    question.value = "";
    const turn = { question: text, answer: null };
    const answerBox = h("div", { class: "kb-turn-answer" });
    turn.answerBox = answerBox;
    turn.el = h("article", { class: "kb-turn" },
      h("div", { class: "kb-question" },
        h("p", { class: "kb-who" }, ui.text("you")),
        h("p", { class: "kb-question-text" }, text)),
      answerBox);
    state.turns.push(turn);
    log.append(turn.el);
    ask(turn).then(() => turn.el.scrollIntoView({ block: "nearest" }));
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  question.addEventListener("keydown", (event) => {
    // Enter sends; Shift+Enter is a new line; Enter that ends an IME composition is not a send.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });
  newButton.addEventListener("click", () => {
    state.controller?.abort();
    state.controller = null;
    state.turns = [];
    log.replaceChildren();
    status.textContent = "";
    setBusy(false);
    question.focus();
  });

  // ---- one answer --------------------------------------------------------------------------

  function citationId(turn, number) {
    return `${id}-t${state.turns.indexOf(turn)}-c${number}`;
  }

  function focusCitation(turn, number) {
    const target = root.querySelector(`#${CSS.escape(citationId(turn, number))}`);
    if (!target) {
      turn.wantedCitation = number;  // clicked while the answer streams: shown once the sources arrive
      return;
    }
    turn.wantedCitation = null;
    target.scrollIntoView({ block: "nearest" });
    target.focus();
  }

  function renderAnswer(turn) {
    const box = turn.answerBox;
    const body = h("section", { class: "kb-answer kb-pending", "aria-busy": "true" });
    const who = h("h2", { class: "kb-who" }, ui.text("kb"));  // each answer a section under the page's h1
    const text = h("p", { class: "kb-answer-text" });
    append(body, who, text);
    box.append(body);
    const scanner = new ReferenceScanner();
    let full = "";

    // Appended piece by piece, never rebuilt: a [n] link already shown stays where it is and
    // keeps working while the rest of the answer arrives.
    function show(parts) {
      for (const part of parts) {
        if (part.text !== undefined) {
          text.append(part.text);
          continue;
        }
        const n = part.ref;
        const link = h("a", { class: "kb-ref", href: `#${citationId(turn, n)}`, "aria-label": ui.s.source(n) }, `[${n}]`);
        link.addEventListener("click", (event) => {
          event.preventDefault();
          focusCitation(turn, n);
        });
        text.append(link);
      }
    }

    return {
      text: () => full,
      delta(piece) {
        full += piece;
        show(scanner.push(piece));
      },
      done(meta) {
        show(scanner.flush());
        const s = strings(meta.lang);
        body.classList.remove("kb-pending");
        body.setAttribute("aria-busy", "false");
        body.setAttribute("lang", meta.lang || ui.lang);
        if (meta.abstained) {
          body.classList.add("kb-abstention");
          who.after(h("h3", { class: "kb-abstention-title" }, s.notCovered));
          if (meta.see_also?.length) {
            body.append(h("h3", { class: "kb-sources-title" }, s.closest),
              h("ul", { class: "kb-closest" }, meta.see_also.map((hit) => h("li", {}, sourceLink(hit, hit.url)))));
          }
          return;
        }
        if (meta.approach) {
          who.after(h("p", { class: "kb-approach" },
            h("span", { class: "kb-approach-label" }, s.recommended),
            h("strong", { class: "kb-approach-name" }, s.approaches[meta.approach] || meta.approach)));
        }
        if (meta.citations?.length) {
          body.append(h("h3", { class: "kb-sources-title" }, s.sources),
            h("ol", { class: "kb-citations" }, meta.citations.map((c) => citationItem(turn, c))));
        }
        if (meta.answer_id) body.append(feedbackButtons(meta.answer_id, s));
        if (turn.wantedCitation) focusCitation(turn, turn.wantedCitation);
      },
    };
  }

  function sourceLink(source, href) {
    const url = safeUrl(href) ? href : null;
    return h("a", { class: "kb-source-link", href: url, target: "_blank", rel: "noopener noreferrer" },
      where(source));
  }

  function citationItem(turn, c) {
    const s = strings(c.lang);
    const item = h("li", { id: citationId(turn, c.number), class: "kb-citation", tabindex: "-1", lang: c.lang },
      h("span", { class: "kb-cite-number", "aria-hidden": "true" }, `[${c.number}]`),
      h("div", { class: "kb-cite-body" },
        sourceLink(c, textFragmentUrl(c.url, c.snippet)),
        h("span", { class: "kb-cite-url" }, c.url),
        c.snippet ? h("blockquote", { class: "kb-cite-quote" }, c.snippet.replace(/^\s*[-*+]\s+/, "")) : null,
        safeUrl(c.alt_url)
          ? h("a", { class: "kb-cite-alt", href: c.alt_url, target: "_blank", rel: "noopener noreferrer",
                     hreflang: c.lang === "fr" ? "en" : "fr" }, s.otherLanguage)
          : null));
    return item;
  }

  function feedbackButtons(answerId, s) {
    const note = h("span", { class: "kb-feedback-note", role: "status" });
    // Words, not emoji: the page ships no font, and a machine without an emoji font shows boxes.
    const buttons = [["up", s.helpful], ["down", s.notHelpful]].map(([rating, label]) => {
      const button = h("button", { type: "button", class: "kb-vote", "aria-pressed": "false", "aria-label": label,
                                   title: label, "data-rating": rating }, label);
      button.addEventListener("click", async () => {
        for (const other of buttons) other.setAttribute("aria-pressed", String(other === button));
        try {
          await client.feedback(answerId, rating);
          note.textContent = s.thanks;
        } catch {
          note.textContent = s.feedbackFailed;
        }
      });
      return button;
    });
    return h("div", { class: "kb-feedback" }, ...buttons, note);
  }

  // ---- errors ------------------------------------------------------------------------------

  function showProblem(turn, problem) {
    const s = ui.s;
    const worded = s.errors[problem.kind] || s.errors.server;
    const seconds = Math.max(1, problem.retryAfter || 1);
    const message = typeof worded === "function" ? worded(seconds) : worded;
    const retry = h("button", { type: "button", class: "kb-retry" }, s.retry);
    retry.addEventListener("click", () => {
      if (!state.busy) ask(turn);
    });
    const detail = problem.requestId ? h("p", { class: "kb-error-detail" }, s.requestId(problem.requestId)) : null;
    turn.answerBox.replaceChildren(h("div", { class: "kb-error", role: "alert" },
      h("p", { class: "kb-error-text" }, message), detail, retry));
    status.textContent = message;
    if (problem.kind === "unauthorized") {
      showKeyField();
      keyInput.focus();
    }
    if (problem.kind === "rate_limited") {
      // Counted down, then offered again: the page recovers by itself once the limit allows.
      retry.disabled = true;
      let left = seconds;
      retry.textContent = s.retryIn(left);
      const timer = setInterval(() => {
        left -= 1;
        if (left > 0) {
          retry.textContent = s.retryIn(left);
          return;
        }
        clearInterval(timer);
        retry.disabled = false;
        retry.textContent = s.retry;
      }, 1000);
    }
  }

  // ---- the server's settings -----------------------------------------------------------------

  state.settings = await client.settings();
  if (state.settings.api_key_required) showKeyField();
  if (state.settings.max_question_chars) question.maxLength = state.settings.max_question_chars;
  root.dataset.ready = "true";
  return root;
}
