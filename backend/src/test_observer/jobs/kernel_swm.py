"""kernel-swm: due dates and bug links of kernel artefacts from the SRU workflow manager.

For every open tracker that names an artefact of ours, the artefact gets the tracker's due date
(kept when the tracker has none) and a link to the tracker's bug.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any
from urllib.parse import quote

from sqlalchemy import Date, Integer, String, column, func, select, update, values

from test_observer.audit.service import SYSTEM, Change, record_audit_events
from test_observer.db.models import Artefact

from .clients import swm
from .environment import JobEnvironment

logger = logging.getLogger(__name__)

STAGE_ORDER = ("proposed", "updates", "edge", "beta", "candidate", "stable", "pending", "current")
FINISHED = frozenset({"Fix Committed", "Fix Released"})
BUG_LINK = "https://bugs.launchpad.net/kernel-sru-workflow/+bug/{bug}"


def tracker_links(document: dict[str, Any]) -> list[tuple[int, date | None, str]]:
    """(artefact id, due date, bug link) for each open tracker that names an artefact."""
    links = []
    for bug, tracker in document.get("trackers", {}).items():
        if not isinstance(tracker, dict):
            continue
        status = ((tracker.get("task") or {}).get("kernel-sru-workflow") or {}).get("status")
        if status is None or status in FINISHED:
            continue
        ours = tracker.get("test-observer") or {}
        artefact_id = next((ours[stage] for stage in STAGE_ORDER if stage in ours), None)
        try:
            artefact = int(artefact_id)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        due_date = None
        if ours.get("due-date"):
            try:
                due_date = date.fromisoformat(str(ours["due-date"]))
            except ValueError:
                logger.warning(
                    "kernel-swm: tracker %s has a bad due date %r", bug, ours["due-date"]
                )
        # The key comes from another service: one path segment of the link, whatever it holds.
        links.append((artefact, due_date, BUG_LINK.format(bug=quote(str(bug), safe=""))))
    return links


def run(env: JobEnvironment) -> dict[str, Any]:
    with env.http() as client:
        document = swm.status(client, env.settings.kernel_swm_status_url)
    links = tracker_links(document)
    updated = 0
    if links:
        rows = values(
            column("id", Integer), column("due_date", Date), column("bug_link", String), name="swm"
        ).data(links)
        with env.sessions.begin() as session:
            previous: dict[int, date | None] = {}
            for artefact_id, due_date in session.execute(
                select(Artefact.id, Artefact.due_date)
                .where(Artefact.id.in_([artefact for artefact, _, _ in links]))
                .with_for_update()
            ):
                previous[artefact_id] = due_date
            result = session.execute(
                update(Artefact)
                .where(Artefact.id == rows.c.id)
                .values(
                    due_date=func.coalesce(rows.c.due_date, Artefact.due_date),
                    bug_link=rows.c.bug_link,
                )
                .returning(Artefact.id, Artefact.due_date)
            ).all()
            updated = len(result)
            record_audit_events(
                session,
                SYSTEM,
                [
                    Change(
                        "artefact.due_date_changed",
                        "artefact",
                        artefact_id,
                        before={"due_date": previous.get(artefact_id)},
                        after={"due_date": due_date},
                        artefact_id=artefact_id,
                    )
                    for artefact_id, due_date in result
                    if previous.get(artefact_id) != due_date
                ],
            )
    return {
        "trackers": len(document.get("trackers", {})),
        "open_trackers_with_artefact": len(links),
        "artefacts_updated": updated,
    }
