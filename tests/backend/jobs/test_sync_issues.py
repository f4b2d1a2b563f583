"""sync-issues and sync-issue against fake GitHub, Jira and Launchpad APIs (rules J1-J4)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy.orm import Session

from test_observer.db.models import Issue, IssueSource, IssueStatus
from test_observer.errors import NotFoundError, UnavailableError
from test_observer.jobs import sync_issues
from test_observer.jobs.environment import JobEnvironment
from test_observer.jobs.sync_issues import Priority
from tests.backend.jobs.fake_http import FakeService, Request


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def issue(session: Session, key: str, **fields: object) -> Issue:
    values: dict[str, object] = {
        "source": IssueSource.LAUNCHPAD,
        "project": "snapd",
        "key": key,
        "title": "old title",
        "status": IssueStatus.OPEN,
    }
    values.update(fields)
    row = Issue(**values)
    session.add(row)
    session.flush()
    return row


def reload(session: Session, issue_id: int) -> Issue:
    session.expire_all()
    return session.get_one(Issue, issue_id)


def launchpad_bug(
    fake: FakeService, key: str, title: str, tags: list[str], tasks: list[dict[str, object]]
) -> None:
    fake.on(f"/bugs/{key}", (200, {"id": int(key), "title": title, "tags": tags}))
    fake.on(f"/bugs/{key}/bug_tasks", (200, {"entries": tasks}))


def test_high_priority_selects_open_and_unknown_due_issues_oldest_first(
    db_session: Session, make_env: Callable[..., JobEnvironment]
) -> None:
    settings = make_env(sync_batch_size=2).settings
    fresh = issue(db_session, "1", last_synced_at=now())
    stale = issue(db_session, "2", last_synced_at=now() - timedelta(hours=2))
    never = issue(db_session, "3", status=IssueStatus.UNKNOWN)
    issue(db_session, "4", status=IssueStatus.CLOSED)
    older = issue(db_session, "5", last_synced_at=now() - timedelta(hours=3))
    db_session.commit()

    batch = sync_issues.select_due(
        db_session, Priority.HIGH, settings, list(IssueSource), set(), now()
    )
    assert [row.id for row in batch] == [never.id, older.id]
    rest = sync_issues.select_due(
        db_session, Priority.HIGH, settings, list(IssueSource), {never.id, older.id}, now()
    )
    assert [row.id for row in rest] == [stale.id]
    assert fresh.id not in {row.id for row in batch + rest}


def test_closed_issues_age_by_closing_time_not_last_update(
    db_session: Session, make_env: Callable[..., JobEnvironment]
) -> None:
    settings = make_env().settings
    long_ago = now() - timedelta(days=90)
    recent = issue(db_session, "1", status=IssueStatus.CLOSED, closed_at=now() - timedelta(days=2))
    old = issue(db_session, "2", status=IssueStatus.CLOSED, closed_at=long_ago)
    db_session.commit()

    def due(priority: Priority) -> list[int]:
        found = sync_issues.select_due(
            db_session, priority, settings, list(IssueSource), set(), now()
        )
        return [row.id for row in found]

    assert due(Priority.MEDIUM) == [recent.id]
    assert due(Priority.LOW) == [old.id]


def test_launchpad_sync_writes_changes_sorted_labels_and_closing_time(
    db_session: Session, fake: FakeService, make_env: Callable[..., JobEnvironment]
) -> None:
    changed = issue(db_session, "100", labels=["b", "a"])
    same = issue(db_session, "200", title="same", labels=["x", "y"])
    db_session.commit()
    launchpad_bug(
        fake,
        "100",
        "new title",
        ["z", "a"],
        [
            {"bug_target_name": "ubuntu", "status": "New", "is_complete": False},
            {"bug_target_name": "snapd", "status": "Fix Released", "is_complete": True},
        ],
    )
    launchpad_bug(
        fake, "200", "same", ["y", "x"], [{"bug_target_name": "other", "status": "Confirmed"}]
    )

    summary = sync_issues.run(make_env(launchpad_api_url=fake.url), "high")

    assert summary["total_synced"] == 2
    assert summary["total_updated"] == 1
    assert summary["total_failed"] == 0
    row = reload(db_session, changed.id)
    assert (row.title, row.status, row.labels) == ("new title", IssueStatus.CLOSED, ["a", "z"])
    assert row.closed_at is not None
    assert row.last_synced_at is not None
    untouched = reload(db_session, same.id)
    assert untouched.status == IssueStatus.OPEN
    assert untouched.labels == ["x", "y"]  # same labels in another order: no change
    assert untouched.last_synced_at is not None


def test_a_failed_sync_writes_nothing_and_the_loop_ends(
    db_session: Session, fake: FakeService, make_env: Callable[..., JobEnvironment]
) -> None:
    ids = [issue(db_session, str(n)).id for n in range(1, 6)]
    db_session.commit()
    fake.on("/bugs/1", (500, {"error": "down"}))  # the others answer 404

    summary = sync_issues.run(make_env(launchpad_api_url=fake.url, sync_batch_size=2), "high")

    assert summary["total_failed"] == 5
    assert summary["batches_processed"] == 3
    for issue_id in ids:
        row = reload(db_session, issue_id)
        assert (row.title, row.last_synced_at) == ("old title", None)
    assert len(fake.requests) == 5  # each issue asked once in the run


def test_trackers_without_credentials_are_skipped(
    db_session: Session, fake: FakeService, make_env: Callable[..., JobEnvironment]
) -> None:
    github = issue(db_session, "7", source=IssueSource.GITHUB, project="canonical/snapd")
    db_session.commit()

    summary = sync_issues.run(make_env(launchpad_api_url=fake.url), "high")

    assert summary["skipped_trackers"] == ["github", "jira"]
    assert summary["total_synced"] == summary["total_failed"] == 0
    assert reload(db_session, github.id).last_synced_at is None
    assert fake.requests == []


@pytest.mark.parametrize(
    ("status", "category", "expected"),
    [
        ("In Progress", "indeterminate", IssueStatus.OPEN),
        ("Done", "done", IssueStatus.CLOSED),
        ("Won't Do", "done", IssueStatus.CLOSED),
        ("Resolved", None, IssueStatus.CLOSED),
        ("To Do", None, IssueStatus.OPEN),
    ],
)
def test_jira_status_mapping_and_basic_auth(
    db_session: Session,
    fake: FakeService,
    make_env: Callable[..., JobEnvironment],
    status: str,
    category: str | None,
    expected: IssueStatus,
) -> None:
    row = issue(db_session, "142", source=IssueSource.JIRA, project="TO")
    db_session.commit()
    status_field: dict[str, object] = {"name": status}
    if category:
        status_field["statusCategory"] = {"key": category}
    fake.on(
        "/rest/api/3/issue/TO-142",
        (200, {"fields": {"summary": "Jira title", "status": status_field, "labels": ["q", "p"]}}),
    )
    env = make_env(jira_api_url=fake.url, jira_email="bot@example.com", jira_api_token="t0ken")

    summary = sync_issues.run_one(env, str(row.id))

    assert summary["status"] == expected.value
    synced = reload(db_session, row.id)
    assert (synced.title, synced.status, synced.labels) == ("Jira title", expected, ["p", "q"])
    credentials = base64.b64encode(b"bot@example.com:t0ken").decode()
    assert fake.requests[0].headers["Authorization"] == f"Basic {credentials}"


def private_key_pem() -> tuple[str, object]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return pem, key.public_key()


def test_github_uses_an_app_installation_token(
    db_session: Session, fake: FakeService, make_env: Callable[..., JobEnvironment]
) -> None:
    pem, public_key = private_key_pem()
    first = issue(db_session, "71", source=IssueSource.GITHUB, project="canonical/test_observer")
    second = issue(db_session, "72", source=IssueSource.GITHUB, project="canonical/test_observer")
    db_session.commit()

    def installations(request: Request) -> tuple[int, object]:
        token = request.headers["Authorization"].removeprefix("Bearer ")
        claims = jwt.decode(token, public_key, algorithms=["RS256"])  # type: ignore[arg-type]
        assert claims["iss"] == "1234"
        return 200, [{"id": 99}]

    fake.on("/app/installations", installations)
    fake.on("/app/installations/99/access_tokens", (201, {"token": "ghs_x"}), method="POST")

    def github_issue(number: str, state: str) -> Callable[[Request], tuple[int, object]]:
        def answer(request: Request) -> tuple[int, object]:
            if request.headers.get("Authorization") != "Bearer ghs_x":
                return 401, {"message": "Bad credentials"}
            labels = [{"name": "bug"}, {"name": "area/api"}]
            return 200, {"title": f"issue {number}", "state": state, "labels": labels}

        return answer

    fake.on("/repos/canonical/test_observer/issues/71", github_issue("71", "closed"))
    fake.on("/repos/canonical/test_observer/issues/72", github_issue("72", "open"))
    env = make_env(github_api_url=fake.url, git_app_id="1234", git_app_private_key=pem)

    summary = sync_issues.run(env, "high")

    assert summary["total_synced"] == 2
    assert reload(db_session, first.id).status == IssueStatus.CLOSED
    assert reload(db_session, second.id).labels == ["area/api", "bug"]
    # One token for the run, not one per issue.
    assert fake.paths().count("/app/installations/99/access_tokens") == 1


def test_sync_issue_errors(
    db_session: Session, fake: FakeService, make_env: Callable[..., JobEnvironment]
) -> None:
    github = issue(db_session, "1", source=IssueSource.GITHUB, project="canonical/snapd")
    slow = issue(db_session, "2")
    db_session.commit()
    fake.on("/bugs/2", (200, {"title": "t", "tags": []}))
    fake.delays["/bugs/2"] = 2
    env = make_env(launchpad_api_url=fake.url, http_timeout_s=0.5)

    with pytest.raises(NotFoundError):
        sync_issues.run_one(env, "999999")
    with pytest.raises(UnavailableError, match="no credentials for github"):
        sync_issues.run_one(env, str(github.id))
    with pytest.raises(UnavailableError, match="timed out"):
        sync_issues.run_one(env, str(slow.id))
    assert reload(db_session, slow.id).last_synced_at is None


def test_summary_is_json(make_env: Callable[..., JobEnvironment]) -> None:
    summary = sync_issues.run(make_env(), "all")
    assert [run["priority"] for run in summary["runs"]] == ["high", "medium", "low"]
    json.dumps(summary)
