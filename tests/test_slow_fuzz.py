"""Slow: schemathesis generates requests from the app's own /openapi.json, valid and invalid,
for every operation, against the real app over real HTTP (uvicorn in this process, on the
real corpus index). Checks: no 5xx, and every response matches the documented schema.

Bounded: ``MAX_EXAMPLES`` per operation and mode (valid, invalid), no deadline (a busy machine
is not a failure). Checks: not_a_server_error, response_schema_conformance, and also
status_code_conformance and content_type_conformance (every status and media type answered is
one the schema documents). No operation and no check is excluded; the admin route runs with an
admin key configured, which the fuzzer does not know, so it exercises the 401 path (reload
itself is covered by test_api_admin and test_robust_faults).

    HF_HUB_OFFLINE=1 pytest -m slow tests/test_slow_fuzz.py
"""

from __future__ import annotations

import os
from typing import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytest.register_assert_rewrite("tests.api_fixtures")
from tests.api_fixtures import api_settings  # noqa: E402
from tests.live_server import live_server  # noqa: E402

pytest_plugins = ["tests.api_fixtures"]

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 30
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]


@pytest.fixture(scope="module")
def fuzzed_server(api_index, shared_kb) -> Iterator[str]:
    # Generous limits on time only: a fuzzed request must never be refused for being slow.
    with live_server(api_settings(api_index, admin_key="fuzz-admin-key", request_timeout_s=60), kb=shared_kb) as (url, _):
        yield url


# Every operation of the schema, listed so that each is its own test (a test below checks
# that the list and the schema agree, so nothing can be skipped silently).
OPERATIONS = [
    ("POST", "/v1/search"), ("POST", "/v1/ask"), ("POST", "/v1/chat"), ("POST", "/v1/chat/completions"),
    ("GET", "/v1/models"), ("GET", "/v1/models/{model}"), ("GET", "/v1/documents"),
    ("GET", "/v1/documents/{lang}/{path}"), ("GET", "/v1/sections"), ("GET", "/v1/index"),
    ("GET", "/healthz"), ("GET", "/readyz"),
    ("GET", "/metrics"), ("POST", "/v1/admin/reload"), ("POST", "/v1/feedback"), ("GET", "/v1/admin/gaps"),
]


@pytest.fixture(scope="module")
def api_schema(fuzzed_server):
    # schemathesis' own pytest loader (schemathesis.pytest.from_fixture) does not run under
    # pytest 9 (it reads a private node attribute); its Hypothesis strategies are used directly.
    return schemathesis.openapi.from_url(f"{fuzzed_server}/openapi.json")


def test_the_operation_list_is_the_schema(api_schema):
    found = sorted((op.ok().method.upper(), op.ok().path) for op in api_schema.get_all_operations())
    assert found == sorted(OPERATIONS)


# Invalid data for every operation that takes any input; /healthz, /readyz and /metrics take
# none, so there is nothing to make invalid (Hypothesis would report Unsatisfiable).
NO_INPUT = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics")}
CASES = [pytest.param(m, p, GenerationMode.POSITIVE, id=f"{m} {p} valid") for m, p in OPERATIONS] + [
    pytest.param(m, p, GenerationMode.NEGATIVE, id=f"{m} {p} invalid") for m, p in OPERATIONS if (m, p) not in NO_INPUT]


@pytest.mark.parametrize("method, path, mode", CASES)
def test_no_server_error_and_responses_match_the_schema(api_schema, method, path, mode):
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(mode))
    # In CI the examples are derandomised, so a run is reproducible and a red build can be
    # replayed; locally every run explores new inputs.
    @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None,
              derandomize=bool(os.environ.get("CI")))
    def fuzz(case):
        case.call_and_validate(checks=CHECKS, timeout=120)

    fuzz()
