"""`test_observer_test_executions`: executions per artefact version, build revision,
environment and status, which the charm compatibility matrix and the deep dive chart."""

from __future__ import annotations

from collections.abc import Callable

from test_observer.observability.series import TEST_EXECUTIONS
from tests.backend.executions.conftest import charm, snap, start
from tests.backend.observability.conftest import Unit

# The label set itself is pinned in test_metrics.py with the other series'.
LABELS = set(TEST_EXECUTIONS.labels)


def test_executions_are_counted_per_revision_and_environment(
    make_unit: Callable[..., Unit],
) -> None:
    unit = make_unit()
    start(unit.client, snap())
    start(unit.client, snap(test_plan="iot-full"))
    start(unit.client, snap(environment="rpi5"))
    # The same revision built for another architecture adds to the same row.
    start(unit.client, snap(arch="amd64", environment="rpi5"))
    start(unit.client, snap(revision=1801, version="20240602"))

    samples = unit.scrape()["test_observer_test_executions"]

    assert all(labels.keys() == LABELS for labels, _ in samples)
    assert {
        (labels["family"], labels["artefact_name"], labels["artefact_stage"], labels["track"])
        for labels, _ in samples
    } == {("snap", "core22", "beta", "22")}
    (status,) = {labels["status"] for labels, _ in samples}
    assert status in ("NOT_STARTED", "IN_PROGRESS")
    counted = {
        (labels["artefact_version"], labels["revision"], labels["environment_name"]): value
        for labels, value in samples
    }
    assert counted == {
        ("20240601", "1800", "rpi4b"): 2,
        ("20240601", "1800", "rpi5"): 2,
        ("20240602", "1801", "rpi4b"): 1,
    }


def test_a_charm_revision_is_its_own_row(make_unit: Callable[..., Unit]) -> None:
    unit = make_unit()
    start(unit.client, charm())
    start(unit.client, charm(revision=301))

    rows = {
        labels["revision"]: (labels["family"], value)
        for labels, value in unit.scrape()["test_observer_test_executions"]
    }

    assert rows == {"300": ("charm", 1), "301": ("charm", 1)}
