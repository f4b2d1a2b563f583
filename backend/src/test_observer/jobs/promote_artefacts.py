"""promote-artefacts: follow snaps through the Snap Store's channels and debs through the
archive's pockets; archive artefacts that left them.

Reads the current (newest non-archived per dashboard group) snaps and debs in one short
transaction, asks the store and the archive with no transaction open, then writes each artefact
in its own transaction, and only if nobody changed its stage or archived flag meanwhile.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from test_observer.artefacts.listing import current_artefact_ids
from test_observer.db.models import Artefact, ArtefactBuild, FamilyName
from test_observer.errors import UnavailableError

from .clients import archive, snap_store
from .environment import JobEnvironment

logger = logging.getLogger(__name__)

SNAP_RISKS = ("edge", "beta", "candidate", "stable")
DEB_POCKETS = ("proposed", "updates")


@dataclass(frozen=True)
class Current:
    id: int
    name: str
    version: str
    stage: str
    store: str
    track: str
    series: str
    repo: str
    architectures: frozenset[str]


@dataclass(frozen=True)
class Change:
    """A new stage, or `archive`."""

    stage: str | None = None
    archive: bool = False


def load_current(session: Session, family: FamilyName) -> list[Current]:
    ids = current_artefact_ids(session, family)
    if not ids:
        return []
    rows = session.execute(
        select(
            Artefact.id,
            Artefact.name,
            Artefact.version,
            Artefact.stage,
            Artefact.store,
            Artefact.track,
            Artefact.series,
            Artefact.repo,
            func.array_remove(func.array_agg(ArtefactBuild.architecture.distinct()), None),
        )
        .outerjoin(ArtefactBuild, ArtefactBuild.artefact_id == Artefact.id)
        .where(Artefact.id.in_(ids))
        .group_by(Artefact.id)
        .order_by(Artefact.id)
    )
    return [
        Current(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], frozenset(row[8]))
        for row in rows
    ]


def snap_change(artefact: Current, releases: Iterable[snap_store.Release]) -> Change | None:
    risks = {
        release.risk
        for release in releases
        if release.track == artefact.track
        and release.architecture in artefact.architectures
        and release.version == artefact.version
        and release.risk in SNAP_RISKS
    }
    if not risks:
        return Change(archive=True)
    highest = max(risks, key=SNAP_RISKS.index)
    return None if highest == artefact.stage else Change(stage=highest)


def deb_names(name: str) -> set[str]:
    """Package names an artefact name stands for: '_' in an artefact name may be '.'."""
    return {name, name.replace("_", ".")}


IndexKey = tuple[str, str, str, str]  # series, pocket, repo, architecture


def deb_change(artefact: Current, indexes: dict[IndexKey, dict[str, set[str]]]) -> Change | None:
    names = deb_names(artefact.name)
    seen = False
    pockets = set()
    for pocket in DEB_POCKETS:
        for arch in artefact.architectures:
            packages = indexes[(artefact.series, pocket, artefact.repo, arch)]
            for name in names & packages.keys():
                seen = True
                if artefact.version in packages[name]:
                    pockets.add(pocket)
    if pockets:
        highest = max(pockets, key=DEB_POCKETS.index)
        return None if highest == artefact.stage else Change(stage=highest)
    return Change(archive=True) if seen else None


def apply(env: JobEnvironment, artefact: Current, change: Change) -> bool:
    """Write one change in its own transaction; False when the artefact changed meanwhile."""
    values: dict[str, Any] = {"archived": True} if change.archive else {"stage": change.stage}
    with env.sessions.begin() as session:
        written = session.execute(
            update(Artefact)
            .where(
                Artefact.id == artefact.id,
                Artefact.stage == artefact.stage,
                Artefact.archived.is_(False),
            )
            .values(**values)
            .returning(Artefact.id)
        ).first()
    return written is not None


def run(env: JobEnvironment) -> dict[str, Any]:
    with env.sessions() as session:
        snaps = load_current(session, FamilyName.snap)
        # PPA debs (stage "") are in no pocket of the archive.
        debs = [deb for deb in load_current(session, FamilyName.deb) if deb.stage]
    counts = {"checked": 0, "promoted": 0, "archived": 0, "unchanged": 0, "failed": 0}
    decisions: list[tuple[Current, Change | None]] = []
    with env.http() as client:
        for snap in snaps:
            try:
                releases = snap_store.channel_map(
                    client, env.settings.snapcraft_api_url, snap.name, snap.store
                )
            except UnavailableError as error:
                logger.warning(
                    "promote-artefacts: snap %s (id %s) left alone: %s", snap.name, snap.id, error
                )
                counts["failed"] += 1
                continue
            decisions.append((snap, snap_change(snap, releases)))
        indexes, unavailable = _fetch_indexes(client, env, debs)
    for deb in debs:
        keys = {(deb.series, p, deb.repo, a) for p in DEB_POCKETS for a in deb.architectures}
        if keys & unavailable:
            logger.warning(
                "promote-artefacts: deb %s (id %s) left alone: index unavailable", deb.name, deb.id
            )
            counts["failed"] += 1
            continue
        decisions.append((deb, deb_change(deb, indexes)))
    for artefact, change in decisions:
        counts["checked"] += 1
        if change is None:
            counts["unchanged"] += 1
            continue
        try:
            written = apply(env, artefact, change)
        except Exception:
            logger.exception("promote-artefacts: writing artefact %s failed", artefact.id)
            counts["failed"] += 1
            continue
        if not written:
            counts["unchanged"] += 1
        elif change.archive:
            counts["archived"] += 1
        else:
            counts["promoted"] += 1
    return counts


def _fetch_indexes(
    client: httpx.Client, env: JobEnvironment, debs: list[Current]
) -> tuple[dict[IndexKey, dict[str, set[str]]], set[IndexKey]]:
    """Each needed index once per run, keeping only the package names the artefacts need."""
    wanted: dict[IndexKey, set[str]] = {}
    for deb in debs:
        for pocket in DEB_POCKETS:
            for arch in deb.architectures:
                wanted.setdefault((deb.series, pocket, deb.repo, arch), set()).update(
                    deb_names(deb.name)
                )
    indexes: dict[IndexKey, dict[str, set[str]]] = {}
    unavailable: set[IndexKey] = set()
    settings = env.settings
    for key, names in wanted.items():
        try:
            url = archive.index_url(settings.ubuntu_archive_url, settings.ubuntu_ports_url, *key)
            indexes[key] = archive.package_versions(client, url, frozenset(names))
        except archive.IndexAbsentError:
            indexes[key] = {}
        except UnavailableError as error:
            logger.warning("promote-artefacts: %s", error)
            unavailable.add(key)
    return indexes, unavailable
