"""The readiness page: what it shows, that it escapes what reporters send, and who may see it."""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from test_observer.db.models import Permission
from tests.backend.factories import make_result
from tests.backend.planted import F, plant
from tests.backend.principals import (
    SESSIONS_SECRET,
    application_headers,
    login,
    make_user,
    session_headers,
    user_headers,
)


def strict(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(require_authentication=True, sessions_secret=SESSIONS_SECRET)


def cells(html: str) -> dict[str, int]:
    states: dict[str, int] = {}
    for state in re.findall(r'data-state="(\w+)"', html):
        states[state] = states.get(state, 0) + 1
    return states


def test_the_page_shows_verdict_matrix_regressions_and_missing(
    make_client: Callable[..., TestClient], db_session: Session
) -> None:
    planted = plant(db_session)
    # A regression whose log and name a browser must not take for markup.
    execution = planted.executions["current"][("e2", "smoke")]
    make_result(
        db_session,
        execution,
        "<script>alert(1)</script>",
        F,
        io_log="\n".join(f"line {n}" for n in range(1, 21)),
    )
    base = planted.executions["base"][("e2", "smoke")]
    make_result(db_session, base, "<script>alert(1)</script>")
    db_session.commit()
    headers = user_headers(db_session, permissions=[Permission.view_artefact])
    response = strict(make_client).get(
        f"/artefacts/{planted.current.id}/readiness", headers=headers
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    html = response.text
    assert "core24 2" in html
    assert 'class="verdict not_ready"' in html
    assert 'data-code="regressions"' in html
    # e1..e4 by smoke and extra; e3/extra ran only now, e4/extra only before.
    assert cells(html) == {"regressed": 3, "failed": 1, "missing": 1, "not_run": 2, "passed": 1}
    assert "Regressions (5)" in html
    # The last eight lines of the log, not the first ones.
    assert "line 13\nline 14" in html
    assert "line 20" in html
    assert "line 12\n" not in html
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html


def test_a_cookie_alone_or_a_key_opens_it(
    make_client: Callable[..., TestClient], db_session: Session
) -> None:
    planted = plant(db_session)
    url = f"/artefacts/{planted.current.id}/readiness"
    client = strict(make_client)
    # A link followed in a browser sends the cookie and no CSRF header.
    user = make_user(db_session, "reviewer@example.com", permissions=[Permission.view_artefact])
    cookie_only = session_headers(login(db_session, user), csrf=False)  # type: ignore[arg-type]
    assert client.get(url, headers=cookie_only).status_code == 200
    key = application_headers(db_session, Permission.view_artefact)
    assert client.get(url, headers=key).status_code == 200
    assert client.get(url).status_code == 401
    nobody = application_headers(db_session, Permission.view_test, name="other")
    assert client.get(url, headers=nobody).status_code == 403
    assert client.get("/artefacts/999999/readiness", headers=key).status_code == 404


def test_an_artefact_with_nothing_tested(
    make_client: Callable[..., TestClient], db_session: Session
) -> None:
    planted = plant(db_session)
    older_than_all = planted.base.id - 1
    response = strict(make_client).get(
        f"/artefacts/{older_than_all}/readiness",
        headers=application_headers(db_session, Permission.view_artefact),
    )
    assert response.status_code == 200
    assert "compared with nothing (first version)" in response.text
