"""With TLS on in postgresql-k8s (self-signed-certificates), the API connects over verified TLS."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .model import (
    APP,
    DATABASE,
    database_as_the_charm,
    db_status,
    deploy_with_database,
    served_version,
    wait_active,
)

if TYPE_CHECKING:
    import jubilant

pytestmark = pytest.mark.integration
CERTIFICATES = "self-signed-certificates"
# postgresql-k8s 14 takes its server certificate on `certificates`.
CHANNEL = "14/stable"
CA_PATH = "/etc/test-observer/database-ca.pem"


@pytest.mark.juju_setup
def test_deploy_with_tls_on(juju: jubilant.Juju, charm_path: Path, api_image: str):
    juju.deploy(CERTIFICATES, channel="1/stable")
    deploy_with_database(juju, charm_path, api_image, channel=CHANNEL)
    juju.integrate(f"{DATABASE}:certificates", CERTIFICATES)

    wait_active(juju, CERTIFICATES)


def test_the_charm_verifies_the_server_with_the_providers_ca(juju: jubilant.Juju):
    ca = juju.ssh(f"{APP}/0", "cat", CA_PATH, container="api")

    assert "BEGIN CERTIFICATE" in ca
    assert served_version(juju, f"{APP}/0")
    assert db_status(juju)["current"] == db_status(juju)["code-head"]


def test_every_connection_of_the_api_is_encrypted(juju: jubilant.Juju):
    with database_as_the_charm(juju) as connection:
        row = connection.execute(
            "SELECT count(*), bool_and(s.ssl) FROM pg_stat_activity a "
            "JOIN pg_stat_ssl s USING (pid) "
            "WHERE a.usename = current_user AND a.pid <> pg_backend_pid()"
        ).fetchone()

    assert row is not None
    count, all_encrypted = row
    assert count > 0
    assert all_encrypted is True
