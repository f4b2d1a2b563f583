"""Rules shared by the free-text issues reported against environments and test cases."""

from pydantic import HttpUrl

# Reported issues must point at a tracker the team uses.
ALLOWED_ISSUE_HOSTS = frozenset({"github.com", "warthogs.atlassian.net", "bugs.launchpad.net"})


def check_issue_url(url: HttpUrl | None) -> HttpUrl | None:
    if url is not None and url.host not in ALLOWED_ISSUE_HOSTS:
        allowed = ", ".join(sorted(ALLOWED_ISSUE_HOSTS))
        raise ValueError(f"The url must point to one of {allowed}")
    return url
