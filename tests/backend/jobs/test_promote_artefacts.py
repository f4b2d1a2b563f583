"""promote-artefacts against a fake Snap Store and a fake archive serving gzipped indexes."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from test_observer.db.models import Artefact, FamilyName
from test_observer.jobs import promote_artefacts
from test_observer.jobs.environment import JobEnvironment
from tests.backend.command_line import run_command
from tests.backend.factories import make_artefact, make_build
from tests.backend.jobs.conftest import NOWHERE
from tests.backend.jobs.fake_http import FakeService


def release(risk: str, version: str, arch: str = "amd64", track: str = "22") -> dict[str, object]:
    return {
        "channel": {"architecture": arch, "name": f"{track}/{risk}", "risk": risk, "track": track},
        "version": version,
        "revision": 1,
    }


def snap(session: Session, name: str, **fields: object) -> Artefact:
    artefact = make_artefact(session, name=name, **fields)
    make_build(session, artefact, architecture="amd64")
    return artefact


def state(session: Session, artefact_id: int) -> tuple[str, bool]:
    session.expire_all()
    artefact = session.get_one(Artefact, artefact_id)
    return artefact.stage, artefact.archived


def test_jobs_run_promotes_archives_and_leaves_alone(
    db_session: Session, fake: FakeService, database_url: str
) -> None:
    moving = snap(db_session, "core22", version="1", stage="beta")
    gone = snap(db_session, "docker", version="2", stage="beta")
    failing = snap(db_session, "bluez", version="3", stage="beta")
    db_session.commit()
    fake.on("/v2/snaps/info/core22", (200, {"channel-map": [release("candidate", "1")]}))
    fake.on("/v2/snaps/info/docker", (200, {"channel-map": [release("candidate", "9")]}))
    fake.on("/v2/snaps/info/bluez", (500, {"error": "boom"}))

    result = run_command(
        "jobs",
        "run",
        "promote-artefacts",
        env={
            "DB_URL": database_url,
            "SNAPCRAFT_API_URL": fake.url,
            "UBUNTU_ARCHIVE_URL": NOWHERE,
            "UBUNTU_PORTS_URL": NOWHERE,
        },
    )

    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary == {"checked": 2, "promoted": 1, "archived": 1, "unchanged": 0, "failed": 1}
    assert state(db_session, moving.id) == ("candidate", False)
    assert state(db_session, gone.id) == ("beta", True)
    assert state(db_session, failing.id) == ("beta", False)
    # One structured line per run, with its outcome and duration.
    line = next(line for line in result.stderr.splitlines() if '"job": "promote-artefacts"' in line)
    logged = json.loads(line[line.index("{") :])
    assert logged["outcome"] == "succeeded"
    assert logged["duration_s"] >= 0


def test_snap_takes_the_highest_matching_risk_and_sends_store_headers(
    db_session: Session, fake: FakeService, make_env: Callable[..., JobEnvironment]
) -> None:
    artefact = snap(db_session, "core22", version="1", stage="edge", store="acme")
    db_session.commit()
    fake.on(
        "/v2/snaps/info/core22",
        (
            200,
            {
                "channel-map": [
                    release("beta", "1"),
                    release("candidate", "1"),
                    release("stable", "1", arch="arm64"),  # not an architecture of ours
                    release("stable", "1", track="24"),  # another track
                    release("stable", "0"),  # another version
                ]
            },
        ),
    )

    summary = promote_artefacts.run(make_env(snapcraft_api_url=fake.url))

    assert summary["promoted"] == 1
    assert state(db_session, artefact.id) == ("candidate", False)
    headers = fake.requests[0].headers
    assert headers["Snap-Device-Series"] == "16"
    assert headers["Snap-Device-Store"] == "acme"


def test_store_404_or_timeout_leaves_the_snap_and_others_go_on(
    db_session: Session, fake: FakeService, make_env: Callable[..., JobEnvironment]
) -> None:
    unknown = snap(db_session, "unknown", stage="beta")
    slow = snap(db_session, "slow", stage="beta")
    fine = snap(db_session, "fine", version="5", stage="beta")
    db_session.commit()
    fake.on("/v2/snaps/info/slow", (200, {"channel-map": []}))
    fake.delays["/v2/snaps/info/slow"] = 2
    fake.on("/v2/snaps/info/fine", (200, {"channel-map": [release("stable", "5")]}))

    summary = promote_artefacts.run(make_env(snapcraft_api_url=fake.url, http_timeout_s=0.5))

    assert summary["failed"] == 2
    assert state(db_session, unknown.id) == ("beta", False)
    assert state(db_session, slow.id) == ("beta", False)
    assert state(db_session, fine.id) == ("stable", False)


def test_only_the_newest_artefact_of_a_group_is_checked(
    db_session: Session, fake: FakeService, make_env: Callable[..., JobEnvironment], engine: Engine
) -> None:
    old = snap(db_session, "core22", version="1", stage="beta")
    db_session.commit()
    with engine.begin() as connection:  # make the first one clearly older
        connection.execute(
            text("UPDATE artefact SET created_at = created_at - interval '1 day' WHERE id = :id"),
            {"id": old.id},
        )
    new = snap(db_session, "core22", version="2", stage="beta")
    db_session.commit()
    fake.on("/v2/snaps/info/core22", (200, {"channel-map": [release("candidate", "2")]}))

    promote_artefacts.run(make_env(snapcraft_api_url=fake.url))

    assert state(db_session, old.id) == ("beta", False)
    assert state(db_session, new.id) == ("candidate", False)


def test_a_change_made_while_the_store_answers_is_not_overwritten(
    db_session: Session, fake: FakeService, make_env: Callable[..., JobEnvironment], engine: Engine
) -> None:
    artefact = snap(db_session, "core22", version="1", stage="beta")
    db_session.commit()

    def reviewer_moves_it_meanwhile(_: object) -> tuple[int, object]:
        with engine.begin() as connection:
            connection.execute(
                text("UPDATE artefact SET stage = 'stable' WHERE id = :id"), {"id": artefact.id}
            )
        return 200, {"channel-map": []}

    fake.on("/v2/snaps/info/core22", reviewer_moves_it_meanwhile)

    summary = promote_artefacts.run(make_env(snapcraft_api_url=fake.url))

    assert summary["archived"] == 0
    assert state(db_session, artefact.id) == ("stable", False)


def packages_gz(*packages: tuple[str, str]) -> bytes:
    stanzas = [
        f"Package: {name}\nArchitecture: amd64\nVersion: {version}\nDescription: x\n"
        for name, version in packages
    ]
    return gzip.compress("\n".join(stanzas).encode())


def deb(
    session: Session, name: str, version: str, arch: str = "amd64", **fields: object
) -> Artefact:
    values: dict[str, object] = {
        "family": FamilyName.deb,
        "stage": "proposed",
        "series": "noble",
        "repo": "main",
        "track": "",
        "store": "",
    }
    values.update(fields)
    artefact = make_artefact(session, name=name, version=version, **values)
    make_build(session, artefact, architecture=arch, revision=None)
    return artefact


def test_debs_follow_the_archive_pockets(
    db_session: Session, fake: FakeService, make_env: Callable[..., JobEnvironment]
) -> None:
    updated = deb(db_session, "linux-raspi", "6.8.0-1")
    superseded = deb(db_session, "g++-14", "14.1")
    unknown = deb(db_session, "not-in-archive", "1.0")
    dotted = deb(db_session, "python3_12", "3.12.3")
    ppa = deb(db_session, "from-ppa", "1.0", stage="", source="ppa/test")
    ported = deb(db_session, "linux-raspi", "6.8.0-2", arch="arm64", repo="universe")
    db_session.commit()
    base = "/dists/noble-{pocket}/{repo}/binary-{arch}/Packages.gz"
    fake.on(
        base.format(pocket="proposed", repo="main", arch="amd64"),
        (
            200,
            packages_gz(("linux-raspi", "6.8.0-1"), ("g++-14", "14.2"), ("python3.12", "3.12.3")),
        ),
    )
    fake.on(
        base.format(pocket="updates", repo="main", arch="amd64"),
        (200, packages_gz(("linux-raspi", "6.8.0-1"), ("g++-14", "14.0"))),
    )
    fake.on(
        "/ports" + base.format(pocket="proposed", repo="universe", arch="arm64"),
        (200, packages_gz(("linux-raspi", "6.8.0-2"))),
    )
    # updates/universe/arm64 does not exist: a 404 lists nothing.

    summary = promote_artefacts.run(
        make_env(ubuntu_archive_url=fake.url, ubuntu_ports_url=fake.url + "/ports")
    )

    assert state(db_session, updated.id) == ("updates", False)
    assert state(db_session, superseded.id) == ("proposed", True)
    assert state(db_session, unknown.id) == ("proposed", False)
    assert state(db_session, dotted.id) == ("proposed", False)  # found in proposed already
    assert state(db_session, ppa.id) == ("", False)
    assert state(db_session, ported.id) == ("proposed", False)
    assert summary == {"checked": 5, "promoted": 1, "archived": 1, "unchanged": 3, "failed": 0}
    # Each index is downloaded once per run, however many artefacts need it.
    assert len(fake.paths()) == len(set(fake.paths())) == 4
    # Architectures other than amd64 and i386 are on the ports mirror.
    assert "/ports/dists/noble-updates/universe/binary-arm64/Packages.gz" in fake.paths()


def test_a_failing_index_leaves_its_debs_alone(
    db_session: Session, fake: FakeService, make_env: Callable[..., JobEnvironment]
) -> None:
    artefact = deb(db_session, "linux-raspi", "6.8.0-1")
    db_session.commit()
    fake.on(
        "/dists/noble-proposed/main/binary-amd64/Packages.gz",
        (200, packages_gz(("linux-raspi", "0"))),
    )
    fake.on("/dists/noble-updates/main/binary-amd64/Packages.gz", (503, b"busy"))

    summary = promote_artefacts.run(make_env(ubuntu_archive_url=fake.url))

    assert summary["failed"] == 1
    assert state(db_session, artefact.id) == ("proposed", False)


def test_nothing_to_promote_makes_no_request(
    db_session: Session, make_env: Callable[..., JobEnvironment]
) -> None:
    archived = snap(db_session, "core22", archived=True)
    db_session.commit()

    assert promote_artefacts.run(make_env())["checked"] == 0
    assert db_session.scalar(select(Artefact.archived).where(Artefact.id == archived.id))
