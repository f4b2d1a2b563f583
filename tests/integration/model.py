"""What the scenario modules share: deploying next to postgresql-k8s, waiting, and reading the
database as the charm does."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

    import jubilant
    import psycopg

APP = "test-observer-api"
DATABASE = "postgresql-k8s"
DATABASE_CHANNEL = "16/edge"
TIMEOUT = 30 * 60


def deploy_with_database(
    juju: jubilant.Juju,
    charm_path: Path,
    api_image: str,
    *,
    channel: str = DATABASE_CHANNEL,
    config: dict[str, Any] | None = None,
) -> None:
    juju.deploy(DATABASE, channel=channel, trust=True)
    juju.deploy(charm_path, APP, resources={"api-image": api_image}, config=config or {})
    juju.integrate(APP, DATABASE)


def wait_active(juju: jubilant.Juju, *apps: str) -> None:
    import jubilant

    names = (APP, DATABASE, *apps)
    juju.wait(
        lambda status: jubilant.all_active(status, *names),
        error=lambda status: jubilant.any_error(status, *names),
        timeout=TIMEOUT,
    )


def wait_blocked_with(juju: jubilant.Juju, *words: str) -> str:
    """Wait until the leader is Blocked with a message holding every word; the message."""
    status = juju.wait(
        lambda status: any(
            unit.leader
            and unit.workload_status.current == "blocked"
            and all(word in unit.workload_status.message for word in words)
            for unit in status.apps[APP].units.values()
        ),
        timeout=TIMEOUT,
    )
    return next(u for u in status.apps[APP].units.values() if u.leader).workload_status.message


def leader(juju: jubilant.Juju) -> str:
    return next(name for name, unit in juju.status().apps[APP].units.items() if unit.leader)


def served_version(juju: jubilant.Juju, unit: str) -> Any:
    address = juju.status().apps[APP].units[unit].address
    with urllib.request.urlopen(f"http://{address}:30000/v1/version", timeout=10) as response:
        return json.load(response)


def db_status(juju: jubilant.Juju) -> dict[str, Any]:
    return dict(juju.run(f"{APP}/leader", "db-status").results)


def _database_credentials(juju: jubilant.Juju) -> tuple[str, str, str]:
    """The user, password and database postgresql-k8s granted the charm, as Juju holds them."""
    shown = json.loads(juju.cli("show-unit", f"{APP}/0", "--format=json"))
    relation = next(r for r in shown[f"{APP}/0"]["relation-info"] if r["endpoint"] == "database")
    provided = relation["application-data"]
    secret = juju.show_secret(provided["secret-user"], reveal=True)
    content = secret.content
    return content["username"], content["password"], provided["database"]


@contextmanager
def database_as_the_charm(juju: jubilant.Juju) -> Iterator[psycopg.Connection[Any]]:
    """A connection to the primary with the charm's own credentials (single-unit database)."""
    import psycopg

    user, password, name = _database_credentials(juju)
    host = juju.status().apps[DATABASE].units[f"{DATABASE}/0"].address
    with psycopg.connect(
        host=host, user=user, password=password, dbname=name, autocommit=True
    ) as connection:
        yield connection


def execute(juju: jubilant.Juju, statements: Iterable[str]) -> None:
    with database_as_the_charm(juju) as connection:
        for statement in statements:
            connection.execute(statement)
