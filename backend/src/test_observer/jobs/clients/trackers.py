"""Issue trackers: GitHub (as a GitHub App), Jira (REST v3) and Launchpad (anonymous).

Each tracker answers `get_issue(project, key)` with the issue's title, status and sorted labels,
or raises `UnavailableError`. A tracker whose credentials are missing is not built at all.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import jwt

from test_observer.db.models import IssueSource, IssueStatus
from test_observer.errors import UnavailableError
from test_observer.settings import Settings

from .http import get, json_of, request, segment


@dataclass(frozen=True)
class RemoteIssue:
    title: str
    status: IssueStatus
    labels: list[str]


class Tracker(Protocol):
    def get_issue(self, project: str, key: str) -> RemoteIssue: ...


class GitHub:
    """Reads issues with an installation token of a GitHub App, renewed before it expires."""

    # GitHub App JWTs may live at most ten minutes.
    JWT_LIFETIME_S = 540

    def __init__(self, client: httpx.Client, base_url: str, app_id: str, private_key: str):
        self.client = client
        self.base_url = base_url
        self.app_id = app_id
        self.private_key = private_key
        self._token = ""
        self._token_expires = 0.0

    def _app_jwt(self) -> str:
        now = int(time.time())
        payload = {"iat": now - 60, "exp": now + self.JWT_LIFETIME_S, "iss": self.app_id}
        try:
            return jwt.encode(payload, self.private_key, algorithm="RS256")
        except (ValueError, TypeError, jwt.PyJWTError) as error:
            raise UnavailableError(f"the GitHub App private key is not usable: {error}") from None

    def _installation_token(self) -> str:
        if self._token and time.time() < self._token_expires - 60:
            return self._token
        headers = {
            "Authorization": f"Bearer {self._app_jwt()}",
            "Accept": "application/vnd.github+json",
        }
        installations = json_of(
            get(self.client, f"{self.base_url}/app/installations", headers=headers)
        )
        if not installations:
            raise UnavailableError("the GitHub App has no installation")
        answer = json_of(
            request(
                self.client,
                "POST",
                f"{self.base_url}/app/installations/{segment(installations[0]['id'])}/access_tokens",
                headers=headers,
            )
        )
        self._token = str(answer["token"])
        # Installation tokens last an hour; renew well before, whatever the answer says.
        self._token_expires = time.time() + 3000
        return self._token

    def get_issue(self, project: str, key: str) -> RemoteIssue:
        owner, slash, repository = project.partition("/")
        if not slash:
            raise UnavailableError(f"GitHub project {project!r} is not owner/repository")
        data = json_of(
            get(
                self.client,
                f"{self.base_url}/repos/{segment(owner)}/{segment(repository)}/issues/"
                f"{segment(key)}",
                headers={
                    "Authorization": f"Bearer {self._installation_token()}",
                    "Accept": "application/vnd.github+json",
                },
            )
        )
        state = data.get("state")
        return RemoteIssue(
            title=str(data.get("title", "")),
            status=IssueStatus.CLOSED if state == "closed" else IssueStatus.OPEN,
            labels=sorted(str(label.get("name", "")) for label in data.get("labels", [])),
        )


JIRA_CLOSED_NAMES = frozenset({"done", "closed", "resolved", "won't do", "rejected", "cancelled"})


class Jira:
    def __init__(self, client: httpx.Client, base_url: str, email: str, token: str):
        self.client = client
        self.base_url = base_url
        self.auth = (email, token)

    def get_issue(self, project: str, key: str) -> RemoteIssue:
        data = json_of(
            get(
                self.client,
                f"{self.base_url}/rest/api/3/issue/{segment(f'{project}-{key}')}",
                params={"fields": "summary,status,labels"},
                auth=self.auth,
                headers={"Accept": "application/json"},
            )
        )
        fields: dict[str, Any] = data.get("fields", {})
        status = fields.get("status") or {}
        # The status category is Jira's own notion of "finished"; names vary per workflow.
        category = (status.get("statusCategory") or {}).get("key")
        name = str(status.get("name", "")).lower()
        closed = category == "done" if category else name in JIRA_CLOSED_NAMES
        return RemoteIssue(
            title=str(fields.get("summary", "")),
            status=IssueStatus.CLOSED if closed else IssueStatus.OPEN,
            labels=sorted(str(label) for label in fields.get("labels", [])),
        )


LAUNCHPAD_CLOSED_STATUSES = frozenset({"Fix Released", "Invalid", "Won't Fix", "Expired"})


class Launchpad:
    def __init__(self, client: httpx.Client, base_url: str):
        self.client = client
        self.base_url = base_url

    def get_issue(self, project: str, key: str) -> RemoteIssue:
        bug_url = f"{self.base_url}/bugs/{segment(key)}"
        bug = json_of(get(self.client, bug_url))
        tasks = json_of(get(self.client, f"{bug_url}/bug_tasks")).get("entries", [])
        task = next((t for t in tasks if t.get("bug_target_name") == project), None)
        if task is None and tasks:
            task = tasks[0]
        closed = task is not None and (
            bool(task.get("is_complete")) or task.get("status") in LAUNCHPAD_CLOSED_STATUSES
        )
        return RemoteIssue(
            title=str(bug.get("title", "")),
            status=IssueStatus.CLOSED if closed else IssueStatus.OPEN,
            labels=sorted(str(tag) for tag in bug.get("tags", [])),
        )


def configured_trackers(
    client: httpx.Client, settings: Settings
) -> tuple[dict[IssueSource, Tracker], list[str]]:
    """The trackers that can be used, and one line per tracker skipped for lack of credentials."""
    trackers: dict[IssueSource, Tracker] = {
        IssueSource.LAUNCHPAD: Launchpad(client, settings.launchpad_api_url)
    }
    skipped = []
    if settings.git_app_id and settings.git_app_private_key:
        trackers[IssueSource.GITHUB] = GitHub(
            client, settings.github_api_url, settings.git_app_id, settings.git_app_private_key
        )
    else:
        skipped.append("github: GIT_APP_ID and GIT_APP_PRIVATE_KEY are not both set")
    if settings.jira_email and settings.jira_api_token:
        trackers[IssueSource.JIRA] = Jira(
            client, settings.jira_base_url, settings.jira_email, settings.jira_api_token
        )
    else:
        skipped.append("jira: JIRA_EMAIL and JIRA_API_TOKEN are not both set")
    return trackers, skipped
