"""Refresh from the previous revision with a real migration, on postgresql-k8s 16/edge."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .refresh_scenario import (
    deploy_previous_then_refresh,
    rollback_then_migrate,
    serves_through_traefik,
)

if TYPE_CHECKING:
    import jubilant

pytestmark = pytest.mark.integration
CHANNEL = "16/edge"


@pytest.mark.juju_setup
def test_refresh_from_the_previous_revision_migrates(
    juju: jubilant.Juju, charm_path: Path, api_image: str
):
    deploy_previous_then_refresh(juju, charm_path, api_image, CHANNEL)


def test_serves_through_traefik(juju: jubilant.Juju):
    serves_through_traefik(juju)


def test_rollback_drains_both_units_then_migrate_brings_them_back(juju: jubilant.Juju):
    rollback_then_migrate(juju)
