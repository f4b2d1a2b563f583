"""JUnit XML reports: turning one into test results, and storing them like posted results.

JUnit XML has no single standard; runners (pytest, Maven Surefire, Gradle, go-junit-report,
Jest, ...) agree on this core, which is all that is read:

* `<testsuites>` and `<testsuite>` elements, nested to any depth, around `<testcase>` elements;
* a test case's `name` and optional `classname` attributes;
* its outcome as a child element: `<failure>` or `<error>` (FAILED), `<skipped>` (SKIPPED),
  none of them (PASSED);
* its output in `<system-out>` and `<system-err>` children;
* its `time` attribute, the seconds it took (a number; anything else, or a negative or
  infinite value, is taken as unknown rather than refusing the report).

Mapping to results: the name is `classname::name` when `classname` is present, else `name`;
the category is the name of the innermost enclosing `<testsuite>`; the log is the
failure/error/skip messages and texts followed by the output, cut at `IO_LOG_LIMIT`
characters. Within one report the last test case with a name wins, as within one POST.

The document is parsed completely before anything is stored, by defusedxml: a document type
declaration, and so any entity declaration (billion laughs, external entities) or external
reference, is refused.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from pydantic import BaseModel
from sqlalchemy import update
from sqlalchemy.orm import Session

from test_observer.db.models import TestExecution, TestResultStatus
from test_observer.errors import UnprocessableError

from .results import IncomingResult, completed_status, lock_execution, store_results

# Characters of a result's log; a longer log keeps its beginning, which carries the failure
# message, and ends with a note of how much was cut.
IO_LOG_LIMIT = 65_536

_FAILED = frozenset({"failure", "error"})
_SUITE = "testsuite"
_CONTAINERS = frozenset({"testsuites", _SUITE})


class JUnitUploadResponse(BaseModel):
    """How many results a report stored (one per distinct test name), by status."""

    stored: int
    passed: int
    failed: int
    skipped: int


@dataclass(frozen=True)
class _Case:
    element: Element
    suite: str
    position: int


def _local_name(tag: object) -> str:
    # Some generators put their elements in a namespace: "{uri}testcase".
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _cases(root: Element) -> Iterator[_Case]:
    """Test cases in document order with their innermost suite's name.

    Iterative, so that a deeply nested document cannot exhaust the interpreter's stack.
    """
    position = 0
    root_suite = root.get("name", "") if _local_name(root.tag) == _SUITE else ""
    stack: list[tuple[Iterator[Element], str]] = [(iter(root), root_suite)]
    while stack:
        children, suite = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            continue
        tag = _local_name(child.tag)
        if tag == "testcase":
            position += 1
            yield _Case(child, suite, position)
        elif tag in _CONTAINERS:
            stack.append((iter(child), child.get("name", "") if tag == _SUITE else suite))


def _truncated(log: str) -> str:
    if len(log) <= IO_LOG_LIMIT:
        return log
    # The note is under 64 characters, so the result stays within the limit.
    kept = log[: IO_LOG_LIMIT - 64]
    return f"{kept}\n[... {len(log) - len(kept)} more characters not stored]"


def _outcome_text(element: Element, kind: str) -> str:
    heading = ": ".join(
        part for part in (element.get("type", ""), element.get("message", "")) if part
    )
    lines = [f"[{kind}] {heading}" if heading else f"[{kind}]"]
    if element.text and element.text.strip():
        lines.append(element.text.strip("\n"))
    return "\n".join(lines)


def _duration(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        # Some generators write thousands separators ("1,234.5").
        seconds = float(value.strip().replace(",", ""))
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _result(case: _Case) -> IncomingResult:
    element = case.element
    name = element.get("name", "").strip()
    if not name:
        raise UnprocessableError(
            f"Test case number {case.position} in the report has no name attribute"
        )
    classname = element.get("classname", "").strip()
    status = TestResultStatus.PASSED
    outcome: list[str] = []
    output: list[str] = []
    for child in element:
        tag = _local_name(child.tag)
        if tag in _FAILED:
            status = TestResultStatus.FAILED
            outcome.append(_outcome_text(child, tag))
        elif tag == "skipped":
            if status != TestResultStatus.FAILED:
                status = TestResultStatus.SKIPPED
            outcome.append(_outcome_text(child, tag))
        elif tag in ("system-out", "system-err") and child.text and child.text.strip():
            output.append(f"[{tag}]\n{child.text.strip(chr(10))}")
    return IncomingResult(
        name=f"{classname}::{name}" if classname else name,
        status=status,
        category=case.suite,
        template_id="",
        comment="",
        io_log=_truncated("\n".join(outcome + output)),
        duration=_duration(element.get("time")),
    )


def parse_junit(document: bytes) -> list[IncomingResult]:
    """The results a JUnit XML report describes, one per distinct name, in document order.

    Raises UnprocessableError (422) for anything that is not a well-formed, safe JUnit report,
    naming the line and column where XML parsing stopped.
    """
    if not document.strip():
        raise UnprocessableError("The JUnit XML report is empty")
    try:
        root = fromstring(document, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except ParseError as error:
        line, column = error.position
        reason = str(error).split(":", 1)[0]
        raise UnprocessableError(
            f"Malformed XML at line {line}, column {column}: {reason}"
        ) from None
    except DefusedXmlException as error:
        raise UnprocessableError(
            "The XML carries a document type declaration, entities or external references; "
            f"JUnit reports need none of them, so they are refused ({type(error).__name__})"
        ) from None
    tag = _local_name(root.tag)
    if tag not in _CONTAINERS:
        raise UnprocessableError(
            f"Not a JUnit XML report: the root element is <{tag}>, "
            "expected <testsuites> or <testsuite>"
        )
    results = {result.name: result for result in map(_result, _cases(root))}
    return list(results.values())


def upload_junit(
    session: Session, execution_id: int, document: bytes, *, complete: bool, sign: bool = True
) -> JUnitUploadResponse:
    """Store a report's results in the execution, as POST test-results would.

    The report is parsed before the execution is locked, so a slow or failing parse holds no
    lock and stores nothing. With `complete`, the execution then ends as end-test ends it.
    """
    results = parse_junit(document)
    lock_execution(session, execution_id)
    store_results(session, execution_id, results, sign=sign)
    if complete:
        session.execute(
            update(TestExecution)
            .where(TestExecution.id == execution_id)
            .values(status=completed_status(session, execution_id))
        )
    statuses = [result.status for result in results]
    return JUnitUploadResponse(
        stored=len(results),
        passed=statuses.count(TestResultStatus.PASSED),
        failed=statuses.count(TestResultStatus.FAILED),
        skipped=statuses.count(TestResultStatus.SKIPPED),
    )
