"""The interactive API documentation in a real browser with no network: `/docs` renders the
operations, accepts an API key through "Authorize" and executes a call from the page.

The browser resolves no host name but 127.0.0.1, and every request it makes is recorded: a page
that needs a CDN fails here. With UPDATE_DOCS_SCREENSHOT=1 the test also refreshes the
screenshot the README shows.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.contract.browser import headless_browser
from tests.contract.rock_tooling import private_tmp
from tests.contract.served import require_browser, served_with_key

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "images" / "api-docs.png"
VERSION_OPERATION = "#operations-system-get_version_v1_version_get"


@pytest.fixture
def browser() -> str:
    return require_browser()


@pytest.fixture
def server(database_server: str) -> Iterator[tuple[str, str]]:
    """(base URL, API key) of a migrated server run by the real command."""
    with served_with_key(
        database_server,
        "browser",
        application="browser-ci",
        env={"VERSION_OVERRIDE": "1.0.0-offline-check"},
        permissions=("view_test",),
        ready_within=60,
    ) as served:
        yield served


def test_docs_work_offline_authorise_and_execute_a_call(
    browser: str, server: tuple[str, str]
) -> None:
    base, key = server
    with private_tmp("chromium") as profile, headless_browser(browser, profile) as open_page:
        page = open_page()
        page.send("Network.enable")
        page.send("Page.enable")
        # Tall enough for the screenshot to show the executed call's response.
        page.send(
            "Emulation.setDeviceMetricsOverride",
            width=1280,
            height=1280,
            deviceScaleFactor=1,
            mobile=False,
        )
        page.send("Page.navigate", url=f"{base}/docs")

        operations = page.wait_for(
            "document.querySelectorAll('.opblock').length", what="the operation list"
        )
        assert operations > 20
        assert page.evaluate(f"!!document.querySelector('{VERSION_OPERATION}')")

        # "Authorize" exists because the document declares the bearer scheme.
        page.click(".auth-wrapper .authorize")
        page.wait_for("!!document.querySelector('.modal-ux input')", what="the key dialog")
        page.type_into(".modal-ux input", key)
        page.click(".modal-ux .auth-btn-wrapper button.authorize")
        page.wait_for(
            "document.querySelector('.modal-ux .auth-container h6')?.innerText === 'Authorized'",
            what="the key to be accepted",
        )
        page.click(".modal-ux .btn-done")

        page.click(f"{VERSION_OPERATION} .opblock-summary-control")
        page.wait_for(
            f"!!document.querySelector('{VERSION_OPERATION} .try-out__btn')", what="Try it out"
        )
        page.click(f"{VERSION_OPERATION} .try-out__btn")
        page.wait_for(f"!!document.querySelector('{VERSION_OPERATION} .execute')", what="Execute")
        page.click(f"{VERSION_OPERATION} .execute")

        status = page.wait_for(
            f"document.querySelector('{VERSION_OPERATION} .live-responses-table "
            "tbody .response-col_status')?.innerText.trim()",
            what="the response of GET /v1/version",
        )
        body = page.evaluate(
            f"document.querySelector('{VERSION_OPERATION} .live-responses-table "
            "tbody .response-col_description').innerText"
        )
        curl = page.evaluate(f"document.querySelector('{VERSION_OPERATION} .curl').innerText")
        assert status == "200"
        assert "1.0.0-offline-check" in body
        # The key went with the call, and the CSRF header the page adds to every request.
        assert f"Authorization: Bearer {key}" in curl
        assert "X-CSRF-Token: 1" in curl

        requested = page.requested_urls()
        assert f"{base}/v1/version" in requested
        assert f"{base}/docs/assets/swagger-ui-bundle.js" in requested
        elsewhere = [u for u in requested if not u.startswith((f"{base}/", "data:"))]
        assert elsewhere == []

        page.evaluate("window.scrollTo(0, 0)")
        shot = profile / "api-docs.png"
        page.screenshot(shot)
        assert shot.read_bytes().startswith(b"\x89PNG")
        if os.environ.get("UPDATE_DOCS_SCREENSHOT") == "1":
            SCREENSHOT.parent.mkdir(exist_ok=True)
            shutil.copyfile(shot, SCREENSHOT)


def test_redoc_renders_offline(browser: str, server: tuple[str, str]) -> None:
    base, _ = server
    with private_tmp("chromium") as profile, headless_browser(browser, profile) as open_page:
        page = open_page()
        page.send("Network.enable")
        page.send("Page.navigate", url=f"{base}/redocs")
        title = page.wait_for(
            "document.querySelector('.api-info h1')?.innerText", what="ReDoc's rendering"
        )
        assert title.startswith("Test Observer")
        assert page.evaluate("document.body.innerText.includes('Get Version')")
        page.wait_for(
            "document.querySelector('img[alt=\"redocly logo\"]') === null",
            what="the vendor logo to be dropped",
        )
        elsewhere = [
            u for u in page.requested_urls() if not u.startswith((f"{base}/", "data:", "blob:"))
        ]
        assert elsewhere == []
        # The vendor's logo is refused by the page's policy, not merely unreachable.
        assert page.refused_urls() == ["https://cdn.redoc.ly/redoc/logo-mini.svg"]
