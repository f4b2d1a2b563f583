"""An invalid `juju config` blocks the unit with a message naming the option, and a valid one
brings it back; the relation removed and added again recovers without a migration."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .model import (
    APP,
    DATABASE,
    db_status,
    deploy_with_database,
    served_version,
    wait_active,
    wait_blocked_with,
)

if TYPE_CHECKING:
    import jubilant

pytestmark = pytest.mark.integration
VERSION = "integration-config"


@pytest.mark.juju_setup
def test_deploy(juju: jubilant.Juju, charm_path: Path, api_image: str):
    deploy_with_database(juju, charm_path, api_image, config={"version": VERSION})
    wait_active(juju)


@pytest.mark.parametrize(
    ("option", "value"),
    [("port", 65535), ("log-level", "loud"), ("cors-origins", "not a url")],
)
def test_an_invalid_value_blocks_with_the_option_named_then_recovers(
    juju: jubilant.Juju, option: str, value: str | int
):
    juju.config(APP, {option: value})

    message = wait_blocked_with(juju, option, "juju config")
    assert option in message

    juju.config(APP, reset=option)
    wait_active(juju)
    assert served_version(juju, f"{APP}/0") == {"version": VERSION}


def test_the_database_relation_removed_blocks_and_added_again_serves(juju: jubilant.Juju):
    before = db_status(juju)

    juju.remove_relation(APP, DATABASE)
    wait_blocked_with(juju, "needs a database")

    juju.integrate(APP, DATABASE)
    wait_active(juju)
    after = db_status(juju)
    # The same database, already at the code's head: nothing to migrate.
    assert after["current"] == after["code-head"] == before["current"]
    assert served_version(juju, f"{APP}/0") == {"version": VERSION}
