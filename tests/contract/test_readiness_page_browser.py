"""The readiness page in a real browser with no network: it loads, its matrix has the right
cells, it asks nothing from anywhere but the server, and it prints on A4.

The data is reported through the API of a server run by the real command: two versions of a
snap, the second regressing in one environment and missing another. With
UPDATE_DOCS_SCREENSHOT=1 the test also refreshes the screenshot the docs show.
"""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.contract.browser import headless_browser
from tests.contract.rock_tooling import private_tmp
from tests.contract.served import require_browser, served_with_key

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "images" / "readiness-page.png"
PERMISSIONS = ("change_test", "view_artefact", "view_environment_review",
               "change_environment_review", "change_quarantine", "view_test")  # fmt: skip
# A4 in inches, as the browser's print settings take it.
A4 = (8.27, 11.69)


@pytest.fixture
def browser() -> str:
    return require_browser()


@pytest.fixture
def server(database_server: str) -> Iterator[tuple[str, str]]:
    """(base URL, API key) of a migrated server run by the real command."""
    with served_with_key(
        database_server,
        "readiness",
        application="release-ci",
        env={"REQUIRE_AUTHENTICATION": "true", "METRICS_PORT": "0"},
        permissions=PERMISSIONS,
        # One worker: a busy machine can delay a second one past uvicorn's health ping.
        serve_options=("--workers", "1"),
        # Generous: the machine may be busy with other work.
        ready_within=180,
    ) as served:
        yield served


def _report(
    api: httpx.Client, version: str, environment: str, plan: str, results: dict[str, str]
) -> int:
    started = api.put(
        "/v1/test-executions/start-test",
        json={
            "family": "snap",
            "name": "core24",
            "version": version,
            "revision": int(version.replace(".", "")),
            "track": "24",
            "store": "ubuntu",
            "arch": "amd64",
            "execution_stage": "beta",
            "environment": environment,
            "test_plan": plan,
        },
    )
    assert started.status_code == 200, started.text
    execution_id: int = started.json()["id"]
    posted = api.post(
        f"/v1/test-executions/{execution_id}/test-results",
        json=[
            {
                "name": name,
                "status": status,
                "io_log": f"running {name}\n"
                + ("assertion failed: got 3, want 2\n" if status == "FAILED" else "ok\n"),
                "duration": 1.5,
            }
            for name, status in results.items()
        ],
    )
    assert posted.status_code == 200, posted.text
    return execution_id


def _seed(api: httpx.Client) -> int:
    tests = {f"suite/test_{n:02d}": "PASSED" for n in range(12)}
    for env in ("rpi4", "nuc11", "xps13"):
        for plan in ("smoke", "full"):
            _report(api, "1.0", env, plan, tests)
    regressed = {**tests, "suite/test_03": "FAILED", "suite/test_07": "FAILED"}
    _report(api, "2.0", "rpi4", "smoke", regressed)
    _report(api, "2.0", "rpi4", "full", {**tests, "suite/test_11": "FAILED"})
    _report(api, "2.0", "nuc11", "smoke", tests)
    _report(api, "2.0", "nuc11", "full", tests)
    # xps13 ran version 1.0 only.
    artefact_id = next(a["id"] for a in api.get("/v1/artefacts").json() if a["version"] == "2.0")
    quarantined = api.put(
        "/v1/quarantines",
        json={
            "test_case": "suite/test_11",
            "reason": "Known firmware timeout on the lab's Pi",
            "expires_at": (datetime.now(UTC) + timedelta(days=14)).isoformat(),
        },
    )
    assert quarantined.status_code == 200, quarantined.text
    reviews = api.get(f"/v1/artefacts/{artefact_id}/environment-reviews").json()
    nuc = next(r for r in reviews if r["environment"]["name"] == "nuc11")
    decided = api.patch(
        f"/v1/artefacts/{artefact_id}/environment-reviews/{nuc['id']}",
        json={"review_decision": ["APPROVED_ALL_TESTS_PASS"], "review_comment": "clean run"},
    )
    assert decided.status_code == 200, decided.text
    return artefact_id


def _states(page: Any) -> dict[str, dict[str, str]]:
    rows = page.evaluate(
        "(() => { const plans = [...document.querySelectorAll('#matrix tr:first-child th')]"
        ".slice(1).map(th => th.innerText);"
        " return [...document.querySelectorAll('#matrix tr')].slice(1).map(tr => ["
        "tr.querySelector('th').innerText,"
        " [...tr.querySelectorAll('td')].map((td, i) => [plans[i], td.dataset.state])]); })()"
    )
    return {env: dict(cells) for env, cells in rows}


def test_the_readiness_page_offline(browser: str, server: tuple[str, str]) -> None:
    base, key = server
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as api:
        artefact_id = _seed(api)
    with private_tmp("chromium") as profile, headless_browser(browser, profile) as open_page:
        page = open_page()
        page.send("Network.enable")
        page.send("Page.enable")
        # A link followed with the API key, as a CI bot's browser would carry it.
        page.send("Network.setExtraHTTPHeaders", headers={"Authorization": f"Bearer {key}"})
        page.send(
            "Emulation.setDeviceMetricsOverride",
            width=1100,
            height=1300,
            deviceScaleFactor=1,
            mobile=False,
        )
        page.send("Page.navigate", url=f"{base}/artefacts/{artefact_id}/readiness")
        verdict = page.wait_for("document.querySelector('#verdict')?.innerText", what="the verdict")
        assert verdict == "Not ready"
        assert _states(page) == {
            "nuc11 (amd64)": {"full": "passed", "smoke": "passed"},
            # The quarantined regression in full is still a regression in the matrix.
            "rpi4 (amd64)": {"full": "regressed", "smoke": "regressed"},
            "xps13 (amd64)": {"full": "missing", "smoke": "missing"},
        }
        reasons = page.evaluate(
            "[...document.querySelectorAll('#reasons li')].map(li => li.dataset.code)"
        )
        assert reasons == [
            "undecided_reviews",
            "untriaged_failures",
            "regressions",
            "missing_environments",
        ]
        regressions = page.evaluate("document.querySelector('#regressions').innerText")
        assert "suite/test_03" in regressions
        assert "assertion failed: got 3, want 2" in regressions
        # Failed where it passed before too, but quarantined: listed, marked as such.
        assert "suite/test_11 (quarantined)" in regressions
        assert page.evaluate("document.querySelectorAll('script').length") == 0

        requested = page.requested_urls()
        assert requested == [f"{base}/artefacts/{artefact_id}/readiness"]

        pdf = base64.b64decode(
            page.send(
                "Page.printToPDF",
                paperWidth=A4[0],
                paperHeight=A4[1],
                preferCSSPageSize=True,
                printBackground=True,
            )["data"]
        )
        assert pdf.startswith(b"%PDF")
        # One A4 page for a release like this one, whose page fits a screen.
        assert pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page>") + pdf.count(
            b"/Type /Page/"
        ) in (1, 2)

        shot = profile / "readiness-page.png"
        page.screenshot(shot)
        assert shot.read_bytes().startswith(b"\x89PNG")
        if os.environ.get("UPDATE_DOCS_SCREENSHOT") == "1":
            SCREENSHOT.parent.mkdir(exist_ok=True)
            shutil.copyfile(shot, SCREENSHOT)
