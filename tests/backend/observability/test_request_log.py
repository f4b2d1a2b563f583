"""One structured log line per request, tied to the request id the client sees."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from test_observer.observability.logging import (
    JsonFormatter,
    RequestIdFilter,
    TextFormatter,
    configure_logging,
    logging_config,
)
from test_observer.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def _stamp_request_ids(caplog: pytest.LogCaptureFixture) -> None:
    # As the configured handler does (see logging_config).
    caplog.handler.addFilter(RequestIdFilter())


def request_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "test_observer.request"]


def test_a_request_id_from_the_client_is_kept_and_returned(
    make_client: Callable[..., TestClient], caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(ignore_permissions="view_artefact")
    with caplog.at_level(logging.INFO, logger="test_observer.request"):
        response = client.get("/v1/artefacts/424242", headers={"X-Request-ID": "ci-run-7.3"})

    assert response.status_code == 404
    assert response.headers["x-request-id"] == "ci-run-7.3"
    (record,) = request_records(caplog)
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "ci-run-7.3"
    assert line["method"] == "GET"
    assert line["route"] == "/v1/artefacts/{artefact_id}"
    assert line["path"] == "/v1/artefacts/424242"
    assert line["status"] == 404
    assert line["level"] == "info"
    assert isinstance(line["duration_ms"], float)


def test_a_request_id_is_generated_when_missing_or_unusable(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="test_observer.request"):
        first = client.get("/v1/version")
        second = client.get("/v1/version", headers={"X-Request-ID": "two words\tand a tab"})

    ids = [first.headers["x-request-id"], second.headers["x-request-id"]]
    assert all(len(rid) == 32 for rid in ids)
    assert ids[0] != ids[1]
    assert [
        json.loads(JsonFormatter().format(r))["request_id"] for r in request_records(caplog)
    ] == ids


def test_lines_logged_while_handling_a_request_carry_its_id(
    make_client: Callable[..., TestClient], caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(ignore_permissions="view_test")
    with caplog.at_level(logging.INFO, logger="test_observer"):
        client.get("/v1/test-executions/1/test-results", headers={"X-Request-ID": "abc"})
    # Only our lines: the test client's HTTP library logs too when an earlier test in the
    # process left the root logger at INFO, and those lines are not the app's.
    formatted = [
        json.loads(JsonFormatter().format(record))
        for record in caplog.records
        if record.name.startswith("test_observer")
    ]
    assert formatted
    assert {line.get("request_id") for line in formatted} == {"abc"}


def test_health_probes_are_not_logged_when_they_succeed(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="test_observer.request"):
        assert client.get("/health/live").status_code == 200
    assert request_records(caplog) == []


def test_text_format_reads_as_a_sentence_with_fields() -> None:
    record = logging.LogRecord(
        "test_observer.request", logging.INFO, "", 0, "GET / 200", None, None
    )
    record.status = 200
    line = TextFormatter().format(record)
    assert line.endswith("INFO    test_observer.request: GET / 200 status=200")


def test_log_format_setting_chooses_the_formatter() -> None:
    assert logging_config("json", "info")["handlers"]["default"]["formatter"] == "json"
    assert logging_config("text", "debug")["handlers"]["default"]["formatter"] == "text"
    assert load_settings(log_format="JSON").log_format == "json"
    with pytest.raises(SettingsError, match="LOG_FORMAT"):
        load_settings(log_format="xml")


def test_the_configured_handler_writes_json_lines_with_the_request_id(
    client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    configure_logging("json", "info")
    try:
        client.get("/v1/version", headers={"X-Request-ID": "from-ci"})
    finally:
        # Back to pytest's own handlers for the tests that follow.
        for name in ("test_observer", "uvicorn"):
            logger = logging.getLogger(name)
            logger.handlers.clear()
            logger.propagate = True
            logger.setLevel(logging.NOTSET)
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]

    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    (request_line,) = [line for line in lines if line["logger"] == "test_observer.request"]
    assert request_line["request_id"] == "from-ci"
    assert request_line["route"] == "/v1/version"
    assert request_line["status"] == 200
