"""The gate's decisions as a table: when the leader drains to migrate, and what it records."""

from __future__ import annotations

import pytest
from test_observer_charm import migrations
from test_observer_charm.database import DatabaseInfo
from test_observer_charm.migrations import (
    DrainPurpose,
    GateRecord,
    GateStatus,
    SchemaReport,
    all_drained,
)

DB = "test_observer@relation-3"
OTHER_DB = "test_observer@relation-9"
HEAD = "b2"
OLD = "a1"
NOW = 1_000_000.0

BEHIND = SchemaReport((OLD,), (HEAD,), known=True)
AT_HEAD = SchemaReport((HEAD,), (HEAD,), known=True)
NEWER = SchemaReport(("f9",), (HEAD,), known=False)


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(migrations, "now", lambda: NOW)


@pytest.mark.parametrize(
    ("record", "report", "upgrade"),
    [
        (GateRecord(), BEHIND, True),
        (GateRecord(), AT_HEAD, False),
        (GateRecord(), NEWER, False),
        (GateRecord(OLD, OTHER_DB, GateStatus.HELD, HEAD), BEHIND, True),
        (GateRecord(OLD, DB, GateStatus.APPLIED, OLD), BEHIND, True),
        (GateRecord(OLD, DB, GateStatus.HELD, HEAD), BEHIND, False),
        (GateRecord(OLD, DB, GateStatus.HELD, "c3"), BEHIND, True),
        (GateRecord(OLD, DB, GateStatus.DRAINING, HEAD, drain="2"), BEHIND, False),
        (GateRecord(OLD, DB, GateStatus.FAILED, HEAD, retry_after=NOW + 1), BEHIND, False),
        (GateRecord(OLD, DB, GateStatus.FAILED, HEAD, retry_after=NOW), BEHIND, True),
        (GateRecord(OLD, DB, GateStatus.FAILED, "c3", retry_after=NOW + 99), BEHIND, True),
    ],
)
def test_wants_upgrade(record, report, upgrade):
    assert record.wants_upgrade(DB, report) is upgrade


def test_a_drain_numbers_itself_and_records_the_database_revision():
    first = GateRecord().start_drain(DB, BEHIND, DrainPurpose.UPGRADE)
    second = first.start_drain(DB, BEHIND, DrainPurpose.OPERATOR)

    assert (first.status, first.revision, first.target, first.drain) == (
        GateStatus.DRAINING,
        OLD,
        HEAD,
        "1",
    )
    assert second.drain == "2"
    assert second.drain_for is DrainPurpose.OPERATOR
    assert first.draining(DB)
    assert not first.draining(OTHER_DB)


@pytest.mark.parametrize(
    ("acks", "drained"),
    [(["4", "4"], True), (["4", "3"], False), (["4", ""], False), ([], True)],
)
def test_all_drained(acks, drained):
    assert all_drained(GateRecord(drain="4"), acks) is drained


@pytest.mark.parametrize(
    ("report", "automatic", "status"),
    [
        (AT_HEAD, True, GateStatus.APPLIED),
        (AT_HEAD, False, GateStatus.APPLIED),
        (BEHIND, True, GateStatus.FAILED),
        (BEHIND, False, GateStatus.HELD),
        (NEWER, False, GateStatus.SCHEMA_NEWER),
    ],
)
def test_after_a_command_the_record_is_where_the_database_is(report, automatic, status):
    draining = GateRecord(OLD, DB, GateStatus.DRAINING, HEAD, drain="1")

    after = draining.after_command(DB, report, automatic=automatic, error="boom")

    assert after.status is status
    assert after.revision == report.revision
    assert after.drain_for is DrainPurpose.NONE
    assert not after.draining(DB)


def test_observing_the_database_at_the_head_ends_a_stale_record():
    stale = GateRecord(OLD, DB, GateStatus.FAILED, HEAD, "disk full", attempts=2)

    assert stale.observed(DB, AT_HEAD) == GateRecord(HEAD, DB, GateStatus.APPLIED, HEAD)


def test_record_round_trips_through_the_databag():
    record = GateRecord(
        OLD, DB, GateStatus.FAILED, HEAD, "disk full", "3", DrainPurpose.UPGRADE, 2, NOW
    )

    assert GateRecord.from_databag(record.to_databag()) == record


def test_an_unknown_status_in_the_databag_is_ignored():
    assert GateRecord.from_databag({"migration-status": "exploded"}).status is GateStatus.NONE


@pytest.mark.parametrize(
    ("output", "report"),
    [
        ('{"current": [], "heads": ["b2"], "known": true}\n', SchemaReport((), ("b2",), True)),
        (
            'Running upgrade\n{"current": ["a1"], "heads": ["b2"], "known": true, "error": "x"}',
            SchemaReport(("a1",), ("b2",), True, "x"),
        ),
        ("no report here\n", None),
        ('{"current": 1}\n', None),
    ],
)
def test_schema_report_parsing(output, report):
    assert SchemaReport.parse(output) == report


@pytest.mark.parametrize(
    ("endpoints", "url"),
    [
        (("db:5432",), "postgresql://u%3Ax:p%40ss@db:5432/test_observer"),
        (("[fd00::1]:5432",), "postgresql://u%3Ax:p%40ss@[fd00::1]:5432/test_observer"),
        (
            ("10.0.0.1:5432", "10.0.0.2:5432"),
            "postgresql://u%3Ax:p%40ss@/test_observer?host=10.0.0.1:5432&host=10.0.0.2:5432",
        ),
    ],
)
def test_database_url(endpoints, url):
    assert DatabaseInfo(3, "test_observer", endpoints, "u:x", "p@ss").url("/ca.pem") == url


@pytest.mark.parametrize(
    ("endpoints", "url"),
    [
        (
            ("db:5432",),
            "postgresql://u:p@db:5432/test_observer?sslmode=verify-full&sslrootcert=/ca.pem",
        ),
        (
            ("10.0.0.1:5432", "10.0.0.2:5432"),
            "postgresql://u:p@/test_observer?host=10.0.0.1:5432&host=10.0.0.2:5432"
            "&sslmode=verify-full&sslrootcert=/ca.pem",
        ),
    ],
)
def test_database_url_with_tls_verifies_the_server(endpoints, url):
    info = DatabaseInfo(3, "test_observer", endpoints, "u", "p", tls_ca="-----BEGIN...")

    assert info.url("/ca.pem") == url


MIDDLE = SchemaReport(("m5",), (HEAD,), known=True)


@pytest.mark.parametrize(
    ("record", "report", "previous"),
    [
        # A new upgrade remembers where the database was.
        (GateRecord(OLD, DB, GateStatus.APPLIED, OLD), BEHIND, OLD),
        (GateRecord(), BEHIND, OLD),
        # The first migration of an empty database starts from base.
        (GateRecord(), SchemaReport((), (HEAD,), known=True), "base"),
        # A retry after a failure that committed part of the release keeps the first start.
        (GateRecord("m5", DB, GateStatus.FAILED, HEAD, previous=OLD), MIDDLE, OLD),
        # A new release after a failed one starts its own record.
        (GateRecord("m5", DB, GateStatus.FAILED, "z0", previous=OLD), MIDDLE, "m5"),
        # Nothing to upgrade, nothing to remember.
        (GateRecord(HEAD, DB, GateStatus.APPLIED, HEAD, previous=OLD), AT_HEAD, OLD),
    ],
)
def test_an_upgrade_remembers_where_it_started(record, report, previous):
    assert record.upgrade_from(report).previous == previous
    drained = record.start_drain(DB, report, DrainPurpose.UPGRADE)
    if not report.at_head:
        assert drained.previous == previous
    # An operator's drain is not an upgrade yet: it changes nothing to remember.
    assert record.start_drain(DB, report, DrainPurpose.OPERATOR).previous == record.previous


def test_the_previous_revision_survives_the_databag_and_later_records():
    record = GateRecord(OLD, DB, GateStatus.DRAINING, HEAD, drain="1", previous=OLD)

    read = GateRecord.from_databag(record.to_databag())
    applied = read.after_command(DB, AT_HEAD, automatic=True, error=None)

    assert read.previous == OLD
    assert applied.status is GateStatus.APPLIED
    assert applied.previous == OLD


@pytest.mark.parametrize(("report", "status"), [(AT_HEAD, "applied"), (BEHIND, "held")])
def test_a_cancelled_drain_serves_at_head_and_holds_elsewhere(report, status):
    draining = GateRecord(
        OLD, DB, GateStatus.DRAINING, HEAD, drain="2", drain_for=DrainPurpose.UPGRADE
    )

    cancelled = draining.cancel_drain(report)

    assert cancelled.status == GateStatus(status)
    assert not cancelled.draining(DB)
    assert cancelled.drain_for is DrainPurpose.NONE
    assert not cancelled.wants_upgrade(DB, report)
