"""The gate's decisions as a table: when the leader migrates and when a unit may serve."""

from __future__ import annotations

import pytest
from test_observer_charm.database import DatabaseInfo
from test_observer_charm.migrations import GateRecord, GateStatus

DB = "test_observer@relation-3"
OTHER_DB = "test_observer@relation-9"
HEAD = "b2"
OLD = "a1"


@pytest.mark.parametrize(
    ("record", "retry", "migrate"),
    [
        (GateRecord(), False, True),
        (GateRecord(HEAD, DB, GateStatus.APPLIED, HEAD), False, False),
        (GateRecord(HEAD, OTHER_DB, GateStatus.APPLIED, HEAD), False, True),
        (GateRecord(OLD, DB, GateStatus.APPLIED, OLD), False, True),
        (GateRecord(OLD, DB, GateStatus.FAILED, HEAD), False, False),
        (GateRecord(OLD, DB, GateStatus.FAILED, HEAD), True, True),
        (GateRecord(OLD, DB, GateStatus.FAILED, "c3"), False, True),
        (GateRecord(OLD, DB, GateStatus.HELD, HEAD), True, False),
        (GateRecord(OLD, DB, GateStatus.HELD, "c3"), False, True),
        (GateRecord("f9", DB, GateStatus.SCHEMA_NEWER, HEAD), True, False),
        (GateRecord("f9", DB, GateStatus.SCHEMA_NEWER, OLD), False, True),
    ],
)
def test_needs_migration(record, retry, migrate):
    assert record.needs_migration(DB, HEAD, retry=retry) is migrate


@pytest.mark.parametrize(
    ("record", "serve"),
    [
        (GateRecord(), False),
        (GateRecord(HEAD, DB, GateStatus.APPLIED, HEAD), True),
        (GateRecord(HEAD, OTHER_DB, GateStatus.APPLIED, HEAD), False),
        (GateRecord(OLD, DB, GateStatus.APPLIED, OLD), False),
        # Whatever the status, only the revision decides: a held schema that matches serves.
        (GateRecord(HEAD, DB, GateStatus.HELD, "c3"), True),
    ],
)
def test_allows_serving(record, serve):
    assert record.allows_serving(DB, HEAD) is serve


def test_record_round_trips_through_the_databag():
    record = GateRecord(OLD, DB, GateStatus.FAILED, HEAD, "disk full")

    assert GateRecord.from_databag(record.to_databag()) == record


def test_an_unknown_status_in_the_databag_is_ignored():
    assert GateRecord.from_databag({"migration-status": "exploded"}).status is GateStatus.NONE


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
    assert DatabaseInfo(3, "test_observer", endpoints, "u:x", "p@ss").url == url
