"""The gaps report as rich tables, for the docs writer reading it in a terminal."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from rich.console import Console
from rich.table import Table


def print_report(report: dict[str, Any], replayed: dict[str, Any] | None = None, console: Console | None = None) -> None:
    console = console or Console()
    if replayed is not None:
        console.print(f"Replayed {replayed['questions']} open gap question(s) against build {replayed['build']}: "
                      f"{replayed['resolved']} answer(s) now resolved.")
    console.print(f"[bold]Coverage gaps[/bold] {report['since']} → {report['until']} (build {report['build'] or '?'}): "
                  f"{report['answers']} answers, {report['abstained']} abstained, "
                  f"{report['up_votes']} up / {report['down_votes']} down votes")
    if report["questions_not_stored"]:
        console.print(f"[yellow]{report['questions_not_stored']} gap answer(s) have no question text "
                      "(KB_STORE_QUESTIONS was off): counted, not grouped.[/yellow]")
    _topics(console, "Topics the docs do not answer", report["topics"])
    if report["resolved"]:
        _topics(console, "Resolved by a later build", report["resolved"], resolved=True)
    if report["most_down_voted"]:
        table = Table(title="Most down-voted answers", show_lines=True)
        for column in ("votes", "question", "cited", "comments"):
            table.add_column(column, overflow="fold")
        for entry in report["most_down_voted"]:
            cited = "\n".join(_section(c) if c["url"] else f"[dim]{c['chunk_id']} (no longer indexed)[/dim]"
                              for c in entry["cited"])
            table.add_row(str(entry["down_votes"]), entry["question"] or "[dim](not stored)[/dim]", cited or "—",
                          "\n".join(f"“{c}”" for c in entry["comments"]) or "—")
        console.print(table)


TERMINAL_SECTIONS = 2  # --json has them all, with full URLs


def _section(section: dict) -> str:
    """The heading as a terminal link, then the page and anchor (the URL's tail) dimmed."""
    url = section["url"]
    parts = urlsplit(url)
    tail = parts.path.rstrip("/").rsplit("/", 1)[-1] + (f"#{parts.fragment}" if parts.fragment else "")
    return f"[link={url}]{section['heading']}[/link] [dim]({tail})[/dim]"


def _topics(console: Console, title: str, topics: list[dict], resolved: bool = False) -> None:
    if not topics:
        console.print(f"{title}: none.")
        return
    table = Table(title=title, show_lines=True)
    table.add_column("#", justify="right")
    table.add_column("topic (most central question)", overflow="fold")
    table.add_column("asks", justify="right")
    table.add_column("abst. / down", justify="right")
    table.add_column("other questions", overflow="fold")
    table.add_column("closest sections of the docs", overflow="fold")
    if resolved:
        table.add_column("resolved by")
    for number, topic in enumerate(topics, start=1):
        others = [f"{e['question']}" + (f" ×{e['asks']}" if e["asks"] > 1 else "")
                  for e in topic["examples"] if e["question"] != topic["topic"]]
        sections = [_section(s) for s in topic["sections"][:TERMINAL_SECTIONS]]
        row = [str(number), topic["topic"], str(topic["asks"]), f"{topic['abstained']} / {topic['down_votes']}",
               "\n".join(others) or "—", "\n".join(sections) or "—"]
        if resolved:
            row.append(topic["resolved_by"] or "")
        table.add_row(*row)
    console.print(table)
