"""What a delivery sends: the body in the webhook's format, and the headers that sign it.

The signature is HMAC-SHA256, keyed with the webhook's secret, over the timestamp, a full stop
and the body exactly as sent: `sha256=<hex>` in `X-TestObserver-Signature`. Receivers check it
as the how-to "Receive webhooks" shows.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

from test_observer.notifications.links import artefact_url

SIGNATURE_HEADER = "X-TestObserver-Signature"
TIMESTAMP_HEADER = "X-TestObserver-Timestamp"
EVENT_ID_HEADER = "X-TestObserver-Event-Id"
EVENT_TYPE_HEADER = "X-TestObserver-Event-Type"
DELIVERY_ID_HEADER = "X-TestObserver-Delivery-Id"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def headers(
    secret: str, timestamp: int, body: bytes, event_id: str, event_type: str, delivery_id: int
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "test-observer-webhooks",
        EVENT_ID_HEADER: event_id,
        EVENT_TYPE_HEADER: event_type,
        DELIVERY_ID_HEADER: str(delivery_id),
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }


def _with_links(data: dict[str, Any], frontend_url: str) -> dict[str, Any]:
    artefact = data.get("artefact")
    if not isinstance(artefact, dict):
        return data
    url = artefact_url(frontend_url, str(artefact["family"]), int(artefact["id"]))
    return {**data, "artefact": {**artefact, "url": url}}


def event_document(
    event_id: str, event_type: str, occurred_at: datetime, data: dict[str, Any], frontend_url: str
) -> dict[str, Any]:
    """The `json` format: the event as it is stored, with links to the frontend."""
    return {
        "id": event_id,
        "type": event_type,
        "occurred_at": occurred_at.isoformat(timespec="seconds") + "Z",
        "data": _with_links(data, frontend_url),
    }


def _counts(results: dict[str, Any]) -> str:
    return ", ".join(f"{results.get(key, 0)} {key}" for key in ("passed", "failed", "skipped"))


def summary(document: dict[str, Any], link: Any) -> str:
    """One line about the event; `link(label, url)` writes a link in the chat's markup."""
    data = document["data"]
    artefact = data.get("artefact")
    subject = ""
    if isinstance(artefact, dict):
        label = f"{artefact['name']} {artefact['version']}"
        subject = link(label, artefact["url"]) + f" ({artefact['family']}, {artefact['stage']})"
    kind = document["type"]
    if kind == "artefact.status_changed":
        return f"{subject}: status {data['previous_status']} \N{RIGHTWARDS ARROW} {data['status']}"
    if kind == "artefact.reviewers_changed":
        names = ", ".join(reviewer["name"] for reviewer in data["reviewers"]) or "nobody"
        return f"{subject}: reviewers are now {names}"
    if kind == "environment_review.decided":
        review = data["review"]
        decision = ", ".join(review["decision"]) or "undecided"
        return f"{subject}: {review['environment']} ({review['architecture']}) reviewed: {decision}"
    if kind == "test_execution.ended":
        execution = data["test_execution"]
        text = (
            f"{subject}: {execution['test_plan']} on {execution['environment']} "
            f"({execution['architecture']}) ended {execution['status']}: "
            f"{_counts(data['results'])}"
        )
        if "regressions" in data:
            count = data["regressions"]
            text += f", {count} regression{'' if count == 1 else 's'}"
        return text
    if kind == "artefact.readiness_changed":
        change = f"{data['previous_verdict']} \N{RIGHTWARDS ARROW} {data['verdict']}"
        text = f"{subject}: readiness {change}"
        if data["reasons"]:
            text += f" ({', '.join(data['reasons'])})"
        return text
    if kind == "issue.attached":
        issue = data["issue"]
        label = f"{issue['project']}#{issue['key']}"
        title = f" {issue['title']}" if issue.get("title") else ""
        return (
            f"{link(label, issue['url'])}{title}: attached to "
            f"{data['test_results_attached']} test results"
        )
    return f"{kind}: {subject}".rstrip(": ")


def _slack_link(label: str, url: str) -> str:
    # Slack's mrkdwn escapes only these three characters.
    escaped = label.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f"<{url}|{escaped}>"


def _markdown_link(label: str, url: str) -> str:
    escaped = label.replace("[", "\\[").replace("]", "\\]")
    return f"[{escaped}]({url})"


def body(
    payload_format: str,
    event_id: str,
    event_type: str,
    occurred_at: datetime,
    data: dict[str, Any],
    frontend_url: str,
) -> bytes:
    """The bytes sent, in the webhook's format."""
    document = event_document(event_id, event_type, occurred_at, data, frontend_url)
    if payload_format == "slack":
        rendered: dict[str, Any] = {"text": summary(document, _slack_link)}
    elif payload_format == "mattermost":
        rendered = {"text": summary(document, _markdown_link)}
    else:
        rendered = document
    return json.dumps(rendered, separators=(",", ":"), sort_keys=True).encode()
