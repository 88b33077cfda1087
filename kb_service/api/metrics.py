"""Prometheus metrics with one registry per app, so tests can build many apps side by side.

Under ``kb serve --workers N`` (N > 1) ``PROMETHEUS_MULTIPROC_DIR`` is set (see workers.py):
prometheus_client then keeps every value in files there, and ``render`` adds up all the
workers' files, so a scrape sees the whole server whichever worker answers it.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

# Answers take milliseconds; the buckets resolve 1 ms … 2.5 s rather than the default 5 ms … 10 s.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("kb_requests", "HTTP requests answered.", ["route", "method", "status"], registry=r)
        self.duration = Histogram("kb_request_duration_seconds", "Time to answer a request, by route.", ["route"],
                                  buckets=LATENCY_BUCKETS, registry=r)
        self.abstentions = Counter("kb_abstentions", "Answers where the docs did not cover the question.", registry=r)
        # Every worker serves the same index: across workers, report the largest live value.
        self.index_chunks = Gauge("kb_index_chunks", "Chunks in the index being served.", registry=r,
                                  multiprocess_mode="livemax")
        self.index_documents = Gauge("kb_index_documents", "Documents in the index being served.", registry=r,
                                     multiprocess_mode="livemax")
        # The build served, as a label (1), and the builds served before it (0): which build a
        # replica answers from, for a rolling update's dashboard. Across workers: the largest.
        self.index_build = Gauge("kb_index_build_info", "Index build served (1) or served before (0).", ["build"],
                                 registry=r, multiprocess_mode="livemax")
        self.reloads = Counter("kb_reloads", "Index reloads, by result.", ["result"], registry=r)
        self.answers = Counter("kb_answers", "Answers given, by outcome (answered or abstained).", ["outcome"],
                               registry=r)
        self.feedback = Counter("kb_feedback", "Feedback received on answers, by rating.", ["rating"], registry=r)
        self.records_dropped = Counter("kb_answer_records_dropped", "Answer records not stored, by reason "
                                       "(queue_full: the writer fell behind; database: down, full or failing).",
                                       ["reason"], registry=r)
        self.rejected = Counter("kb_rejected", "Requests refused before any work, by reason.", ["reason"], registry=r)
        # Children created up front so every series is exported from the start (rate() needs a 0).
        for reason in ("overload", "rate_limit", "auth", "auth_limit", "body_timeout"):
            self.rejected.labels(reason)
        for result in ("success", "failure"):
            self.reloads.labels(result)
        for outcome in ("answered", "abstained"):
            self.answers.labels(outcome)
        for rating in ("up", "down"):
            self.feedback.labels(rating)
        for reason in ("queue_full", "database"):
            self.records_dropped.labels(reason)

    def serve_build(self, build: str | None, previous: str | None) -> None:
        if previous and previous != build:
            self.index_build.labels(previous).set(0)
        if build:
            self.index_build.labels(build).set(1)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.duration.labels(route).observe(seconds)

    def render(self) -> bytes:
        folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if not folder:
            return generate_latest(self.registry)
        from prometheus_client import multiprocess

        combined = CollectorRegistry()
        multiprocess.MultiProcessCollector(combined, path=folder)
        return generate_latest(combined)

    def process_exit(self) -> None:
        """Drop this worker's live gauges from the shared files (multi-worker servers only)."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid())
