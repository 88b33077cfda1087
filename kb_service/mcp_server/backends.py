"""Where the MCP tools get their answers: the same five questions, asked of three places.

* ``LocalBackend``: a KnowledgeBase loaded in this process (``kb mcp``);
* ``RemoteBackend``: a running kb server's REST API over HTTP (``kb mcp --url``), which
  imports neither torch nor the index;
* ``ServiceBackend`` (in http.py): the index the kb server itself is serving (``/mcp``).

Every backend returns the API's JSON shapes (kb_service/views.py, kb_service/sections.py), so
the tools format one shape whichever transport they run behind. A failure the caller can act
on (index not ready, server unreachable, key refused) is a ``BackendError`` with its message.
"""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import quote

import anyio

from kb_service.sections import SectionNotFound, sections_of


class BackendError(RuntimeError):
    """kb could not answer; the message says why and what to do."""


class DocsBackend(Protocol):
    async def search(self, query: str, lang: str | None, k: int) -> dict[str, Any]: ...

    async def ask(self, question: str, lang: str | None, record: bool = True) -> dict[str, Any]:
        """The answer view, with the ``answer_id`` it was recorded under (surface "mcp");
        ``record=False`` for a later page of an answer already recorded (where it can be helped)."""
        ...

    async def section(self, url: str) -> dict[str, Any]:
        """The section view; raises SectionNotFound."""
        ...

    async def documents(self) -> list[dict[str, Any]]: ...

    async def page(self, lang: str, path: str) -> dict[str, Any] | None:
        """The page's outline with its sections' text (``sections``), None when not indexed."""
        ...


def page_with_text(kb: Any, lang: str, path: str) -> dict[str, Any] | None:
    """``kb.outline`` (title, URL) with every section's text: what a page resource shows."""
    outline = kb.outline(lang, path)
    if outline is None:
        return None
    return {**outline, "sections": sections_of(kb).page_sections(lang, path) or []}


class LocalBackend:
    """A loaded KnowledgeBase; each call runs in a worker thread so the stdio loop stays free.

    ``recorder``: the started AnswerRecorder answers are recorded through (``kb mcp`` makes one
    from the settings); None records nothing and answers carry no ``answer_id``.
    """

    def __init__(self, kb: Any, recorder: Any = None) -> None:
        self.kb = kb
        self.recorder = recorder

    async def search(self, query: str, lang: str | None, k: int) -> dict[str, Any]:
        from kb_service.views import hit_view

        result = await anyio.to_thread.run_sync(lambda: self.kb.search(query, k=k, lang=lang))
        return {"hits": [hit_view(h) for h in result.hits], "took_ms": round(result.took_ms, 3)}

    async def ask(self, question: str, lang: str | None, record: bool = True) -> dict[str, Any]:
        from kb_service.views import answer_view

        answer = await anyio.to_thread.run_sync(lambda: self.kb.ask(question, lang=lang))
        answer_id = (self.recorder.record(answer, question, answer.lang, "mcp")
                     if record and self.recorder is not None else None)
        return answer_view(answer, answer_id)

    async def section(self, url: str) -> dict[str, Any]:
        return await anyio.to_thread.run_sync(lambda: sections_of(self.kb).section(url))

    async def documents(self) -> list[dict[str, Any]]:
        return await anyio.to_thread.run_sync(self.kb.documents)

    async def page(self, lang: str, path: str) -> dict[str, Any] | None:
        return await anyio.to_thread.run_sync(lambda: page_with_text(self.kb, lang, path))


class RemoteBackend:
    """A kb server's REST API (``/v1/search``, ``/v1/ask``, ``/v1/sections``, ``/v1/documents``)."""

    def __init__(self, url: str, api_key: str | None = None, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.timeout_s = timeout_s

    async def _call(self, method: str, route: str, *, json: dict | None = None, params: dict | None = None,
                    missing_ok: bool = False) -> Any:
        import httpx

        try:
            async with httpx.AsyncClient(base_url=self.url, headers=self.headers, timeout=self.timeout_s) as client:
                response = await client.request(method, route, json=json, params=params)
        except httpx.HTTPError as exc:
            raise BackendError(f"cannot reach the kb server at {self.url}: {exc}") from None
        if response.status_code == 404 and missing_ok:
            return None
        if response.status_code != 200:
            try:
                error = response.json()["error"]
                code, said = error["code"], str(error["message"])
            except (ValueError, KeyError, TypeError):
                code, said = "", response.text[:200]
            if code == "section_not_found":
                raise SectionNotFound(said)
            raise BackendError(f"the kb server at {self.url} said {response.status_code} {code}: {said}".replace(" :", ":"))
        return response.json()

    async def search(self, query: str, lang: str | None, k: int) -> dict[str, Any]:
        payload = {"query": query, "k": k, **({"lang": lang} if lang else {})}
        return await self._call("POST", "/v1/search", json=payload)

    async def ask(self, question: str, lang: str | None, record: bool = True) -> dict[str, Any]:
        # The server records every /v1/ask (surface "ask") and its answer_id comes back in the
        # body; there is no way to ask it not to, so a later page is recorded again.
        return await self._call("POST", "/v1/ask", json={"question": question, **({"lang": lang} if lang else {})})

    async def section(self, url: str) -> dict[str, Any]:
        return await self._call("GET", "/v1/sections", params={"url": url})

    async def documents(self) -> list[dict[str, Any]]:
        return (await self._call("GET", "/v1/documents"))["documents"]

    async def page(self, lang: str, path: str) -> dict[str, Any] | None:
        return await self._call("GET", f"/v1/documents/{quote(lang, safe='')}/{quote(path)}",
                                params={"text": "true"}, missing_ok=True)
