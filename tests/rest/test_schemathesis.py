"""Property-based run of schemathesis over /openapi.json against a live AgentMem: for every
documented operation (aliases included), valid and invalid requests (bounded to MAX_EXAMPLES
each) never get a 5xx, and every answer matches the document (status, content type, body,
headers)."""
from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.rest.docs import openapi_document
from app.rest.events import EVENTS_PATHS
from app.settings import GraphSettings, Settings
from tests.rest.live import LiveServer, live_server

schemathesis = pytest.importorskip("schemathesis", reason="pip install schemathesis (the test extra)")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

# bounded for CI; raise it for a deeper run: SCHEMATHESIS_MAX_EXAMPLES=300 pytest tests/rest/test_schemathesis.py
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "30"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
# paths of their own: DELETE /v1/memories/{memory_id} with memory_id "reset" *is* the reset route
RESERVED_IDS = {"reset", "search"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data: Path = tmp_path_factory.mktemp("schemathesis")
    with live_server(Settings(data_dir=data, graph=GraphSettings(enabled=False), auth={"mode": "development"})) as server:
        yield server


# Loaded from the same function that serves /openapi.json (test_the_served_document_is_the_one_tested
# checks they are equal): schemathesis' lazy from_fixture loader does not work with pytest 9.
schema = schemathesis.openapi.from_dict(openapi_document())


def test_the_served_document_is_the_one_tested(live: LiveServer) -> None:
    with urllib.request.urlopen(f"{live.url}/openapi.json", timeout=30) as resp:
        assert json.load(resp) == json.loads(json.dumps(openapi_document()))


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_conforms_and_never_fails(case: Any, live: LiveServer) -> None:
    if (case.path_parameters or {}).get("memory_id") in RESERVED_IDS:
        return
    if case.path in EVENTS_PATHS:  # an event stream never ends: tests/api/test_sse_events.py reads it
        return
    case.call_and_validate(base_url=live.url, checks=CHECKS)
