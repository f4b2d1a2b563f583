"""A migration the database refuses: the action fails with the database's error, the leader is
Blocked, rollback returns to where the upgrade started, and migrate succeeds once the cause is
gone.

The refusal is planted with the charm's own database credentials: a trigger on Alembic's
version table that fails every change of version, so it fails whichever migration comes next.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .model import APP, db_status, deploy_with_database, execute, wait_active, wait_blocked_with

if TYPE_CHECKING:
    import jubilant

pytestmark = pytest.mark.integration
REFUSAL = "refused by the integration test"
PLANT = [
    "CREATE FUNCTION refuse_migration() RETURNS trigger LANGUAGE plpgsql AS "
    f"$$BEGIN RAISE EXCEPTION '{REFUSAL}'; END$$",
    "CREATE TRIGGER refuse_migration BEFORE INSERT OR UPDATE ON alembic_version "
    "FOR EACH ROW EXECUTE FUNCTION refuse_migration()",
]
REMOVE = [
    "DROP TRIGGER refuse_migration ON alembic_version",
    "DROP FUNCTION refuse_migration()",
]


@pytest.mark.juju_setup
def test_deploy_then_step_back_one_revision(juju: jubilant.Juju, charm_path: Path, api_image: str):
    deploy_with_database(juju, charm_path, api_image)
    wait_active(juju)

    task = juju.run(f"{APP}/leader", "rollback", {"revision": "-1"})

    assert task.success
    wait_blocked_with(juju, "schema held at")


def test_a_refused_migration_fails_with_the_databases_error_and_blocks(juju: jubilant.Juju):
    import jubilant

    held = db_status(juju)
    execute(juju, PLANT)

    with pytest.raises(jubilant.TaskError) as failed:
        juju.run(f"{APP}/leader", "migrate")

    assert REFUSAL in (failed.value.task.message or "")
    wait_blocked_with(juju, "schema held at", "run the migrate action")
    status = db_status(juju)
    assert REFUSAL in status["gate-error"]
    # The refused migration left the database where it was, and the record says so.
    assert status["current"] == held["current"]
    assert status["gate-previous"] == held["current"]


def test_rollback_after_the_failure_keeps_the_schema_it_was_at(juju: jubilant.Juju):
    before = db_status(juju)

    task = juju.run(f"{APP}/leader", "rollback")

    assert task.success
    assert task.results["revision"] == before["current"]
    wait_blocked_with(juju, "schema held at")


def test_migrate_succeeds_once_the_cause_is_gone(juju: jubilant.Juju):
    execute(juju, REMOVE)

    task = juju.run(f"{APP}/leader", "migrate")

    assert task.success
    wait_active(juju)
    status = db_status(juju)
    assert status["current"] == status["code-head"]
