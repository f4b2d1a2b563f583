"""What the scenario modules share: deploying next to postgresql-k8s, waiting, and reading the
database as the charm does."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterable
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
# The one unit make_leader can choose (see there).
FIRST_UNIT = f"{APP}/0"


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


def make_leader(juju: jubilant.Juju, unit: str) -> None:
    """Make `unit` the leader, then bring the application back to as many units as it had.

    Juju has no command that hands leadership to a unit: it moves only when the leader goes
    away, and then to whichever remaining unit claims it first. On Kubernetes `juju remove-unit`
    takes a count, not a name, and the StatefulSet removes the highest ordinals first. So the
    one unit that can be chosen deterministically is the first: scaling to one unit removes
    every other one, the current leader among them, the survivor takes the leadership, and the
    units added back (same names, same ordinals) join as non-leaders while it lives.

    Cost: nothing when `unit` already leads. Otherwise every other unit is torn down (its stop
    and remove hooks run), the old leader's lease is released or lapses, and each one is started
    again from a new pod: minutes. The caller waits for the application to be Active again.
    """
    import jubilant

    if unit != FIRST_UNIT:
        raise ValueError(
            f"only {FIRST_UNIT} can be made the leader: Kubernetes removes the highest "
            "ordinals first, so no other unit can be the last one left"
        )
    units = juju.status().apps[APP].units
    if unit not in units:
        raise ValueError(f"{unit} is not a unit of {APP}: {sorted(units)}")
    if units[unit].leader:
        return
    others = len(units) - 1

    def leads_among(count: int) -> Callable[[jubilant.Status], bool]:
        def ready(status: jubilant.Status) -> bool:
            now = status.apps[APP].units
            return len(now) == count and unit in now and now[unit].leader

        return ready

    if others:
        juju.remove_unit(APP, num_units=others)
    juju.wait(leads_among(1), error=lambda status: jubilant.any_error(status, APP), timeout=TIMEOUT)
    if others:
        juju.add_unit(APP, num_units=others)
        juju.wait(leads_among(len(units)), timeout=TIMEOUT)


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
