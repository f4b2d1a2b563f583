"""JUnit XML uploads: real runners' reports become results, unsafe or broken ones store nothing."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.db.models import (
    Issue,
    IssueSource,
    IssueTestResultAttachment,
    IssueTestResultAttachmentRule,
    Permission,
    TestCase,
    TestExecution,
    TestExecutionStatus,
    TestResult,
)
from test_observer.executions.junit import IO_LOG_LIMIT
from tests.backend.executions.conftest import EVERY_PERMISSION, result, snap, start
from tests.backend.executions.live import serve
from tests.backend.principals import make_application
from tests.backend.statements import count_statements

SAMPLES = Path(__file__).parent / "junit_samples"
XML = {"Content-Type": "application/xml"}


def junit_url(execution_id: int, complete: bool = False) -> str:
    suffix = "?complete=true" if complete else ""
    return f"/v1/test-executions/{execution_id}/junit{suffix}"


def stored(api: TestClient, execution_id: int) -> dict[str, dict[str, Any]]:
    response = api.get(f"/v1/test-executions/{execution_id}/test-results")
    assert response.status_code == 200
    return {item["name"]: item for item in response.json()}


def row_counts(session: Session) -> tuple[int, int]:
    session.expire_all()
    return (
        session.scalar(select(func.count()).select_from(TestResult)) or 0,
        session.scalar(select(func.count()).select_from(TestCase)) or 0,
    )


PYTEST_SAMPLE = """
import sys

import pytest


@pytest.fixture
def broken_fixture():
    raise RuntimeError("fixture could not connect")


def test_passes():
    print("hello from stdout")


def test_fails():
    print("about to compare", file=sys.stderr)
    assert 1 + 1 == 3, "arithmetic is off"


@pytest.mark.skip(reason="needs a GPU")
def test_skipped():
    pass


def test_errors(broken_fixture):
    pass


class TestGroup:
    def test_method(self):
        pass
"""


@pytest.fixture(scope="module")
def pytest_report(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A report written by pytest's own --junitxml on a small generated test file."""
    directory = tmp_path_factory.mktemp("pytest-junit")
    (directory / "test_sample.py").write_text(PYTEST_SAMPLE)
    (directory / "pytest.ini").write_text("[pytest]\n")
    report = directory / "report.xml"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "test_sample.py",
            f"--junitxml={report}",
            "-o",
            "junit_logging=all",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            "-q",
        ],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # pytest exits 1 when tests fail, which this sample means to.
    assert completed.returncode == 1, completed.stdout + completed.stderr
    return report.read_bytes()


def test_pytest_report_becomes_results(api: TestClient, pytest_report: bytes) -> None:
    execution_id = start(api, snap())
    response = api.post(junit_url(execution_id), content=pytest_report, headers=XML)
    assert response.status_code == 200, response.text
    assert response.json() == {"stored": 5, "passed": 2, "failed": 2, "skipped": 1}

    results = stored(api, execution_id)
    assert {name: item["status"] for name, item in results.items()} == {
        "test_sample::test_passes": "PASSED",
        "test_sample::test_fails": "FAILED",
        "test_sample::test_skipped": "SKIPPED",
        "test_sample::test_errors": "FAILED",
        "test_sample.TestGroup::test_method": "PASSED",
    }
    # pytest names its one suite "pytest".
    assert {item["category"] for item in results.values()} == {"pytest"}
    assert {item["template_id"] for item in results.values()} == {""}
    assert "hello from stdout" in results["test_sample::test_passes"]["io_log"]
    failed_log = results["test_sample::test_fails"]["io_log"]
    assert "arithmetic is off" in failed_log
    assert "about to compare" in failed_log
    assert "fixture could not connect" in results["test_sample::test_errors"]["io_log"]
    assert "needs a GPU" in results["test_sample::test_skipped"]["io_log"]


@pytest.mark.skipif(shutil.which("curl") is None, reason="no curl binary")
def test_curl_upload_as_the_how_to_shows(
    make_client: Callable[..., TestClient],
    db_session: Session,
    pytest_report: bytes,
    tmp_path: Path,
) -> None:
    """start-test, then the report with --data-binary and ?complete=true, through curl and a
    real server, with an application key that has change_test only."""
    _, key = make_application(db_session, "ci", [Permission.change_test])
    db_session.commit()
    (tmp_path / "report.xml").write_bytes(pytest_report)
    app = make_client().app
    with serve(app) as base:  # type: ignore[arg-type]

        def curl(*arguments: str) -> Any:
            completed = subprocess.run(
                ["curl", "-sf", *arguments, "-H", f"Authorization: Bearer {key}"],
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            )
            return json.loads(completed.stdout)

        started = curl(
            "-X", "PUT", f"{base}/v1/test-executions/start-test",
            "-H", "Content-Type: application/json", "-d", json.dumps(snap()),
        )  # fmt: skip
        url = f"{base}/v1/test-executions/{started['id']}/junit?complete=true"
        arguments = ("-X", "POST", url, "-H", "Content-Type: application/xml")
        first = curl(*arguments, "--data-binary", "@report.xml")
        assert first == {"stored": 5, "passed": 2, "failed": 2, "skipped": 1}
        assert curl(*arguments, "--data-binary", "@report.xml") == first
    execution = db_session.get(TestExecution, started["id"])
    assert execution is not None
    assert execution.status == TestExecutionStatus.FAILED
    assert row_counts(db_session) == (5, 5)


def test_uploading_the_same_report_again_changes_nothing(
    api: TestClient, pytest_report: bytes, db_session: Session
) -> None:
    execution_id = start(api, snap())
    api.post(junit_url(execution_id), content=pytest_report, headers=XML)
    before = stored(api, execution_id)
    counts = row_counts(db_session)
    response = api.post(junit_url(execution_id), content=pytest_report, headers=XML)
    assert response.json()["stored"] == 5
    after = stored(api, execution_id)
    fields = ("id", "status", "category", "io_log", "template_id", "comment")
    assert {n: [r[f] for f in fields] for n, r in after.items()} == {
        n: [r[f] for f in fields] for n, r in before.items()
    }
    assert row_counts(db_session) == counts


def test_multipart_file_field_is_the_same_upload(api: TestClient, pytest_report: bytes) -> None:
    raw, form = start(api, snap()), start(api, snap(environment="other"))
    api.post(junit_url(raw), content=pytest_report, headers=XML)
    response = api.post(junit_url(form), files={"file": ("report.xml", pytest_report, "text/xml")})
    assert response.status_code == 200, response.text
    assert response.json() == {"stored": 5, "passed": 2, "failed": 2, "skipped": 1}
    strip = ("id", "created_at", "updated_at", "test_execution_id", "previous_results")

    def comparable(execution_id: int) -> dict[str, dict[str, Any]]:
        return {
            name: {k: v for k, v in item.items() if k not in strip}
            for name, item in stored(api, execution_id).items()
        }

    assert comparable(form) == comparable(raw)


def test_multipart_without_file_field_is_refused(api: TestClient) -> None:
    execution_id = start(api, snap())
    response = api.post(junit_url(execution_id), files={"report": ("r.xml", b"<testsuite/>")})
    assert response.status_code == 422
    assert "file field 'file'" in response.json()["detail"]


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        (
            "surefire.xml",
            {
                "org.example.inventory.StockTest::addsStock": "PASSED",
                "org.example.inventory.StockTest::rejectsNegativeQuantity": "FAILED",
                "org.example.inventory.StockTest::loadsFromDatabase": "FAILED",
                "org.example.inventory.StockTest::exportsCsv": "SKIPPED",
                # Passed on a rerun: Surefire records the earlier failure as flakyFailure.
                "org.example.inventory.StockTest::retriesOnTimeout": "PASSED",
            },
        ),
        (
            "go-junit-report.xml",
            {
                "example.com/shop/cart::TestAdd": "PASSED",
                "example.com/shop/cart::TestTotal/with_discount": "FAILED",
                "example.com/shop/cart::TestCheckout": "SKIPPED",
                "example.com/shop/price::TestRound": "PASSED",
                "example.com/shop/price::TestRound/negative": "PASSED",
            },
        ),
        (
            "jest-junit.xml",
            {
                "Cart adds an item::Cart adds an item": "PASSED",
                "Cart applies a discount code::Cart applies a discount code": "FAILED",
                "Cart checks out::Cart checks out": "SKIPPED",
                "Price rounds half up::Price rounds half up": "PASSED",
            },
        ),
    ],
)
def test_runner_dialects(api: TestClient, sample: str, expected: dict[str, str]) -> None:
    execution_id = start(api, snap())
    response = api.post(junit_url(execution_id), content=(SAMPLES / sample).read_bytes())
    assert response.status_code == 200, response.text
    assert {name: item["status"] for name, item in stored(api, execution_id).items()} == expected


def test_categories_logs_and_messages_of_samples(api: TestClient) -> None:
    execution_id = start(api, snap())
    api.post(junit_url(execution_id), content=(SAMPLES / "go-junit-report.xml").read_bytes())
    results = stored(api, execution_id)
    assert results["example.com/shop/cart::TestAdd"]["category"] == "example.com/shop/cart"
    assert results["example.com/shop/price::TestRound"]["category"] == "example.com/shop/price"
    assert (
        "total = 90, want 85" in results["example.com/shop/cart::TestTotal/with_discount"]["io_log"]
    )

    other = start(api, snap(environment="jvm"))
    api.post(junit_url(other), content=(SAMPLES / "surefire.xml").read_bytes())
    results = stored(api, other)
    failed = results["org.example.inventory.StockTest::rejectsNegativeQuantity"]["io_log"]
    assert failed.startswith("[failure] org.opentest4j.AssertionFailedError: expected: <0>")
    assert "StockTest.java:31" in failed
    assert "checking quantity -5" in failed
    errored = results["org.example.inventory.StockTest::loadsFromDatabase"]["io_log"]
    assert "Connection refused" in errored
    assert "[system-err]\nWARN connection pool exhausted" in errored
    assert results["org.example.inventory.StockTest::addsStock"]["io_log"] == ""


def test_nesting_classname_and_namespaces(api: TestClient) -> None:
    document = b"""<?xml version="1.0"?>
    <testsuites xmlns="urn:example:junit">
      <testsuite name="outer">
        <testcase name="in_outer"/>
        <testsuite name="inner">
          <testsuites>
            <testcase name="deep" classname="pkg.mod"><skipped/></testcase>
          </testsuites>
        </testsuite>
        <testcase name="after_inner"><error message="boom"/></testcase>
      </testsuite>
      <testcase name="no_suite"/>
    </testsuites>"""
    execution_id = start(api, snap())
    response = api.post(junit_url(execution_id), content=document, headers=XML)
    assert response.status_code == 200, response.text
    results = stored(api, execution_id)
    assert {name: (r["status"], r["category"]) for name, r in results.items()} == {
        "in_outer": ("PASSED", "outer"),
        "pkg.mod::deep": ("SKIPPED", "inner"),
        "after_inner": ("FAILED", "outer"),
        "no_suite": ("PASSED", ""),
    }


def test_a_failure_outranks_a_skip_and_the_last_duplicate_wins(api: TestClient) -> None:
    document = b"""<testsuite name="s">
      <testcase name="both"><skipped/><failure message="x"/></testcase>
      <testcase name="twice"><failure/></testcase>
      <testcase name="twice"/>
    </testsuite>"""
    execution_id = start(api, snap())
    response = api.post(junit_url(execution_id), content=document, headers=XML)
    assert response.json() == {"stored": 2, "passed": 1, "failed": 1, "skipped": 0}
    assert {n: r["status"] for n, r in stored(api, execution_id).items()} == {
        "both": "FAILED",
        "twice": "PASSED",
    }


def test_long_logs_are_cut_at_the_documented_limit(api: TestClient) -> None:
    output = "x" * (IO_LOG_LIMIT * 2)
    document = f'<testsuite name="s"><testcase name="noisy"><system-out>{output}</system-out>'
    document += "</testcase></testsuite>"
    execution_id = start(api, snap())
    api.post(junit_url(execution_id), content=document.encode(), headers=XML)
    log = stored(api, execution_id)["noisy"]["io_log"]
    assert len(log) <= IO_LOG_LIMIT
    assert log.startswith("[system-out]\nxxx")
    assert log.endswith("more characters not stored]")


def test_complete_ends_the_execution_like_end_test(
    api: TestClient, db_session: Session, pytest_report: bytes
) -> None:
    failing = start(api, snap())
    api.post(junit_url(failing, complete=True), content=pytest_report, headers=XML)
    passing = start(api, snap(environment="other"))
    clean = b'<testsuite name="s"><testcase name="a"/><testcase name="b"><skipped/></testcase>'
    api.post(junit_url(passing, complete=True), content=clean + b"</testsuite>", headers=XML)
    untouched = start(api, snap(environment="third"))
    api.post(junit_url(untouched), content=pytest_report, headers=XML)

    def status(execution_id: int) -> TestExecutionStatus:
        execution = db_session.get(TestExecution, execution_id)
        assert execution is not None
        return execution.status

    assert status(failing) == TestExecutionStatus.FAILED
    assert status(passing) == TestExecutionStatus.PASSED
    assert status(untouched) == TestExecutionStatus.IN_PROGRESS


def test_complete_counts_results_posted_before(api: TestClient, db_session: Session) -> None:
    execution_id = start(api, snap())
    api.post(f"/v1/test-executions/{execution_id}/test-results", json=[result("x", "FAILED")])
    document = b'<testsuite name="s"><testcase name="a"/></testsuite>'
    api.post(junit_url(execution_id, complete=True), content=document, headers=XML)
    execution = db_session.get(TestExecution, execution_id)
    assert execution is not None
    assert execution.status == TestExecutionStatus.FAILED


def test_unknown_execution_is_404_and_anonymous_is_403(api: TestClient, client: TestClient) -> None:
    document = b'<testsuite name="s"><testcase name="a"/></testsuite>'
    response = api.post(junit_url(999), content=document, headers=XML)
    assert response.status_code == 404
    assert response.json() == {"detail": "TestExecution not found"}
    execution_id = start(api, snap())
    response = client.post(junit_url(execution_id), content=document, headers=XML)
    assert response.status_code == 403


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<testsuite name="s"><testcase name="a"><system-out>&lol9;</system-out></testcase></testsuite>
"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE testsuite [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<testsuite name="s"><testcase name="a"><system-out>&secret;</system-out></testcase></testsuite>
"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE testsuite SYSTEM "http://attacker.invalid/junit.dtd">
<testsuite name="s"><testcase name="a"/></testsuite>
"""

TRUNCATED = b"""<?xml version="1.0"?>
<testsuite name="s">
  <testcase name="a"/>
  <testcase name="b"><failure message="x">trace
"""


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (BILLION_LAUGHS, "document type declaration"),
        (EXTERNAL_ENTITY, "document type declaration"),
        (EXTERNAL_DTD, "document type declaration"),
        (TRUNCATED, "Malformed XML at line 5, column 0: no element found"),
        (b'<testsuite name="s"><testcase name="a"></testsuite>', "line 1, column 41"),
        (b"", "empty"),
        (b"<html><body/></html>", "root element is <html>"),
        (b'<testsuite><testcase name="a"/><testcase/></testsuite>', "number 2"),
    ],
    ids=[
        "billion-laughs",
        "external-entity",
        "external-dtd",
        "truncated",
        "mismatched",
        "empty",
        "not-junit",
        "nameless",
    ],
)
def test_unsafe_or_broken_reports_store_nothing(
    api: TestClient, db_session: Session, document: bytes, message: str
) -> None:
    execution_id = start(api, snap())
    response = api.post(junit_url(execution_id, complete=True), content=document, headers=XML)
    assert response.status_code == 422
    assert message in response.json()["detail"]
    assert row_counts(db_session) == (0, 0)
    execution = db_session.get(TestExecution, execution_id)
    assert execution is not None
    assert execution.status == TestExecutionStatus.IN_PROGRESS
    # The server goes on serving.
    assert api.get(f"/v1/test-executions/{execution_id}").status_code == 200


def test_a_body_over_the_limit_is_413(api: TestClient, db_session: Session) -> None:
    execution_id = start(api, snap())
    body = b"<testsuite>" + b" " * (60 * 1024 * 1024) + b"</testsuite>"
    response = api.post(junit_url(execution_id), content=body, headers=XML)
    assert response.status_code == 413
    assert "MAX_UPLOAD_BYTES" in response.json()["detail"]
    assert row_counts(db_session) == (0, 0)
    assert api.get(f"/v1/test-executions/{execution_id}").status_code == 200


def test_the_limit_is_a_setting(make_client: Callable[..., TestClient]) -> None:
    api = make_client(ignore_permissions=EVERY_PERMISSION, max_upload_bytes=100)
    execution_id = start(api, snap())
    small = b'<testsuite name="s"><testcase name="a"/></testsuite>'
    assert api.post(junit_url(execution_id), content=small, headers=XML).status_code == 200
    large = small.replace(b'"a"', b'"' + b"a" * 100 + b'"')
    assert api.post(junit_url(execution_id), content=large, headers=XML).status_code == 413


def test_a_streamed_body_is_refused_without_reading_it_all(
    make_client: Callable[..., TestClient],
) -> None:
    """Without a Content-Length, the application stops reading at the limit: of the 60 MB the
    client offers it takes in about the limit, and the server keeps serving."""
    limit = 1024 * 1024
    api = make_client(ignore_permissions=EVERY_PERMISSION, max_upload_bytes=limit)
    execution_id = start(api, snap())
    app = api.app
    taken_in = 0

    async def counting_app(scope: Any, receive: Any, send: Any) -> None:
        async def counted_receive() -> Any:
            nonlocal taken_in
            message = await receive()
            taken_in += len(message.get("body", b""))
            return message

        await app(scope, counted_receive, send)

    def chunks() -> Iterator[bytes]:
        yield b"<testsuite>"
        for _ in range(60 * 16):
            yield b" " * (64 * 1024)

    with serve(counting_app) as base:  # type: ignore[arg-type]
        try:
            response = httpx.post(
                f"{base}{junit_url(execution_id)}", content=chunks(), headers=XML, timeout=60
            )
            assert response.status_code == 413
        except httpx.TransportError:
            # The server may close the connection on a client still sending.
            pass
        assert taken_in < 2 * limit
        assert httpx.get(f"{base}/v1/test-executions/{execution_id}").status_code == 200


def test_results_go_through_the_attachment_hook(api: TestClient, db_session: Session) -> None:
    issue = Issue(source=IssueSource.GITHUB, project="o/r", key="9")
    db_session.add(issue)
    db_session.flush()
    db_session.add(
        IssueTestResultAttachmentRule(issue_id=issue.id, test_result_statuses=["FAILED"])
    )
    db_session.commit()
    execution_id = start(api, snap())
    document = b'<testsuite name="s"><testcase name="a"/><testcase name="b"><failure/></testcase>'
    api.post(junit_url(execution_id), content=document + b"</testsuite>", headers=XML)
    attached = db_session.execute(
        select(TestCase.name)
        .join(TestResult, TestResult.test_case_id == TestCase.id)
        .join(IssueTestResultAttachment, IssueTestResultAttachment.test_result_id == TestResult.id)
    ).all()
    assert [row[0] for row in attached] == ["b"]


def _junit(prefix: str, size: int) -> bytes:
    cases = "".join(
        f'<testcase classname="{prefix}" name="t{i}">'
        + ("<failure>no</failure>" if i % 7 == 0 else "")
        + "</testcase>"
        for i in range(size)
    )
    return f'<testsuite name="{prefix}">{cases}</testsuite>'.encode()


def test_statement_count_is_that_of_posting_results(api: TestClient, engine: Engine) -> None:
    execution_id = start(api, snap())

    def junit_statements(size: int, prefix: str) -> int:
        with count_statements(engine) as counter:
            response = api.post(junit_url(execution_id), content=_junit(prefix, size))
            assert response.status_code == 200
        return counter.count

    def post_statements(size: int, prefix: str) -> int:
        payload = [
            result(f"{prefix}::t{i}", "FAILED" if i % 7 == 0 else "PASSED") for i in range(size)
        ]
        with count_statements(engine) as counter:
            response = api.post(f"/v1/test-executions/{execution_id}/test-results", json=payload)
            assert response.status_code == 200
        return counter.count

    small, large = junit_statements(10, "small"), junit_statements(1000, "large")
    assert small == large
    assert small == post_statements(10, "posted")
    assert len(stored(api, execution_id)) == 1020
