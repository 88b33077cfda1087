// Talking to kb: POST /v1/chat as Server-Sent Events, feedback, and the page's settings.
// Every failure becomes an ApiProblem whose ``kind`` the page words for people.

export class ApiProblem extends Error {
  constructor(kind, message, { status = 0, retryAfter = 0, requestId = null } = {}) {
    super(message);
    this.kind = kind;            // network | rate_limited | busy | unauthorized | too_long | timeout | invalid | server | stream
    this.status = status;
    this.retryAfter = retryAfter; // seconds, from Retry-After
    this.requestId = requestId;
  }
}

const KIND_BY_STATUS = { 400: "invalid", 401: "unauthorized", 413: "too_long", 415: "invalid", 422: "invalid",
                         429: "rate_limited", 503: "busy", 504: "timeout" };

async function problemOf(response) {
  let error = {};
  try {
    error = (await response.json()).error || {};
  } catch {
    // not kb's JSON error (a proxy's page): the status says enough
  }
  const retryAfter = Number.parseInt(response.headers.get("Retry-After") || "", 10);
  return new ApiProblem(KIND_BY_STATUS[response.status] || "server", error.message || response.statusText, {
    status: response.status,
    retryAfter: Number.isFinite(retryAfter) ? retryAfter : 0,
    requestId: error.request_id || response.headers.get("X-Request-ID"),
  });
}

/** The events of an SSE body, as ``{event, data}`` with ``data`` parsed as JSON. */
export async function* serverSentEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) yield { event, data: JSON.parse(data.join("\n")) };
    }
  }
}

export class KbClient {
  /** ``baseUrl``: "" for the page kb serves, kb's origin for the widget on another site. */
  constructor(baseUrl, apiKey = () => "") {
    this.baseUrl = baseUrl.replace(/\/$/, "");
    this.apiKey = apiKey;
  }

  headers() {
    const headers = { "Content-Type": "application/json" };
    const key = this.apiKey();
    if (key) headers.Authorization = `Bearer ${key}`;
    return headers;
  }

  async post(path, body, signal) {
    let response;
    try {
      response = await fetch(this.baseUrl + path, { method: "POST", headers: this.headers(),
                                                    body: JSON.stringify(body), signal });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ApiProblem("network", String(error.message || error));
    }
    if (!response.ok) throw await problemOf(response);
    return response;
  }

  /** What the page needs to know about this server (is a key required, the limits). */
  async settings() {
    try {
      const response = await fetch(this.baseUrl + "/ui/config");
      if (response.ok) return await response.json();
    } catch {
      // unreachable now: the first question will say so in words
    }
    return { api_key_required: false, max_question_chars: 2000, max_messages: 50 };
  }

  /** Stream the answer to the last user message: ``onDelta(text)`` per piece, then
   * ``onDone(meta)`` with citations, see_also, abstained, confidence, lang, approach. */
  async chat(messages, { lang = null, signal, onDelta, onDone }) {
    const body = { messages, stream: true };
    if (lang) body.lang = lang;
    const response = await this.post("/v1/chat", body, signal);
    let meta = null;
    try {
      for await (const { event, data } of serverSentEvents(response.body)) {
        if (event === "answer") onDelta(data.delta || "");
        else if (event === "citations") meta = { ...data };
        else if (event === "done" && meta) {
          if (data.answer_id && !meta.answer_id) meta.answer_id = data.answer_id;
          onDone(meta);
          return;
        }
      }
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ApiProblem("stream", String(error.message || error));
    }
    throw new ApiProblem("stream", "the answer ended before its sources arrived");
  }

  async feedback(answerId, rating) {
    await this.post("/v1/feedback", { answer_id: answerId, rating });
  }
}
