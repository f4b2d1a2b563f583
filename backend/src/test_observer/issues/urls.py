"""Which issue a URL names: (source, project, key) from a GitHub, Jira or Launchpad page URL.

Hosts must match exactly and the whole path must have the expected shape, so that the stored
triple always rebuilds the URL the issue is known by. The scheme and query string do not
matter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import HttpUrl

from test_observer.db.models import IssueSource
from test_observer.errors import UnprocessableError

# Column widths of issue.project and issue.key.
FIELD_LENGTH = 200

ACCEPTED_FORMATS = (
    "Unsupported issue URL. Accepted formats: "
    "https://github.com/<owner>/<repo>/issues/<number>, "
    "https://warthogs.atlassian.net/browse/<PROJECT>-<number> and "
    "https://bugs.launchpad.net/<project>/+bug/<number> "
    "(or .../<project>/+source/<package>/+bug/<number>)"
)

_GITHUB = re.compile(r"/(?P<owner>[^/]+)/(?P<repo>[^/]+)/issues/(?P<key>[0-9]+)")
_JIRA = re.compile(r"/browse/(?P<project>[A-Za-z]+)-(?P<key>[0-9]+)")
_LAUNCHPAD = re.compile(r"/(?P<project>[^/+][^/]*)(?:/\+source/[^/]+)?/\+bug/(?P<key>[0-9]+)")


@dataclass(frozen=True)
class IssueReference:
    source: IssueSource
    project: str
    key: str


def parse_issue_url(url: HttpUrl) -> IssueReference:
    """The issue `url` names; 422 listing the accepted formats when it names none."""
    reference = _reference(url.host or "", url.path or "")
    if reference is None:
        raise UnprocessableError(ACCEPTED_FORMATS)
    if len(reference.project) > FIELD_LENGTH or len(reference.key) > FIELD_LENGTH:
        raise UnprocessableError(
            f"The issue's project and number must have at most {FIELD_LENGTH} characters each"
        )
    return reference


def _reference(host: str, path: str) -> IssueReference | None:
    if host == "github.com" and (match := _GITHUB.fullmatch(path)):
        project = f"{match['owner']}/{match['repo']}".lower()
        return IssueReference(IssueSource.GITHUB, project, match["key"])
    if host == "warthogs.atlassian.net" and (match := _JIRA.fullmatch(path)):
        return IssueReference(IssueSource.JIRA, match["project"].upper(), match["key"])
    if host == "bugs.launchpad.net" and (match := _LAUNCHPAD.fullmatch(path)):
        return IssueReference(IssueSource.LAUNCHPAD, match["project"].lower(), match["key"])
    return None
