"""Jira review cards: one Jira task per newly assigned reviewer, under the artefact's Jira issue.

Cards are created after the transaction that assigned the reviewers commits (a rolled-back
assignment creates none) and outside the request, on a small pool of worker threads, so that
Jira's latency or outages never slow down or fail an API request. Every failure is logged.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from test_observer.db.models import Artefact, User
from test_observer.settings import Settings

from .links import artefact_url

logger = logging.getLogger(__name__)

TIMEOUT_S = 10.0
_PENDING_KEY = "review_cards"

_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="review-cards")
_futures: set[Future[None]] = set()
_futures_lock = threading.Lock()


@dataclass(frozen=True)
class ReviewCard:
    jira_issue: str
    artefact_name: str
    artefact_version: str
    artefact_url: str
    reviewer_name: str
    reviewer_handle: str | None

    @property
    def project(self) -> str:
        return self.jira_issue.split("-", 1)[0]

    @property
    def summary(self) -> str:
        return f"Review {self.artefact_name} version {self.artefact_version} - {self.reviewer_name}"


def create_after_commit(
    session: Session, settings: Settings, artefact_id: int, user_ids: Collection[int]
) -> None:
    """Queue a card per reviewer, sent once `session` commits; nothing without Jira credentials."""
    if not settings.jira_configured:
        logger.info("Jira credentials are not set: no review cards for artefact %s", artefact_id)
        return

    artefact = session.execute(
        select(Artefact.name, Artefact.version, Artefact.family, Artefact.jira_issue).where(
            Artefact.id == artefact_id
        )
    ).one()
    if not artefact.jira_issue:
        return
    url = artefact_url(settings.frontend_url, artefact.family.value, artefact_id)
    cards = [
        ReviewCard(
            jira_issue=artefact.jira_issue,
            artefact_name=artefact.name,
            artefact_version=artefact.version,
            artefact_url=url,
            reviewer_name=name,
            reviewer_handle=handle,
        )
        for name, handle in session.execute(
            select(User.name, User.launchpad_handle).where(User.id.in_(user_ids)).order_by(User.id)
        )
    ]
    if not event.contains(session, "after_commit", _send_pending):
        event.listen(session, "after_commit", _send_pending)
        event.listen(session, "after_rollback", _drop_pending)
    pending: list[tuple[Settings, ReviewCard]] = session.info.setdefault(_PENDING_KEY, [])
    pending.extend((settings, card) for card in cards)


def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING_KEY, None)


def _send_pending(session: Session) -> None:
    pending: list[tuple[Settings, ReviewCard]] = session.info.pop(_PENDING_KEY, [])
    for settings, card in pending:
        future = _executor.submit(create_card, settings, card)
        with _futures_lock:
            _futures.add(future)
        future.add_done_callback(_forget)


def _forget(future: Future[None]) -> None:
    with _futures_lock:
        _futures.discard(future)


def wait_for_cards(timeout: float = 30.0) -> None:
    """Block until every queued card has been attempted (tests and shutdown)."""
    with _futures_lock:
        running = list(_futures)
    wait(running, timeout=timeout)


def _description(card: ReviewCard) -> dict[str, object]:
    # Jira's REST API v3 takes rich text as an Atlassian Document.
    return {
        "type": "doc",
        "version": 1,
        "content": [
            {
                "type": "paragraph",
                "content": [
                    {
                        "type": "text",
                        "text": f"Please review {card.artefact_name} {card.artefact_version}: ",
                    },
                    {
                        "type": "text",
                        "text": card.artefact_url,
                        "marks": [{"type": "link", "attrs": {"href": card.artefact_url}}],
                    },
                ],
            }
        ],
    }


def create_card(settings: Settings, card: ReviewCard) -> None:
    """Create one card; log and return on any failure."""
    if not card.reviewer_handle:
        logger.warning("no review card for %s: no Launchpad handle", card.reviewer_name)
        return
    # Imported here: it costs every process that starts the app a tenth of a second.
    import httpx

    try:
        with httpx.Client(
            base_url=settings.jira_base_url,
            auth=(settings.jira_email, settings.jira_api_token),
            timeout=TIMEOUT_S,
        ) as client:
            found = client.get("/rest/api/3/user/search", params={"query": card.reviewer_handle})
            found.raise_for_status()
            accounts = found.json()
            if not accounts:
                logger.warning(
                    "no review card for %s: no Jira account matches %r",
                    card.reviewer_name,
                    card.reviewer_handle,
                )
                return
            fields = {
                "project": {"key": card.project},
                "parent": {"key": card.jira_issue},
                "issuetype": {"name": "Task"},
                "assignee": {"accountId": accounts[0]["accountId"]},
                "summary": card.summary,
                "description": _description(card),
            }
            created = client.post("/rest/api/3/issue", json={"fields": fields})
            created.raise_for_status()
            logger.info("review card %s created", created.json().get("key"))
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as error:
        logger.warning("review card for %s not created: %s", card.reviewer_name, error)
    except Exception:
        # A worker thread has nobody to report to but the log.
        logger.exception("review card for %s not created", card.reviewer_name)
