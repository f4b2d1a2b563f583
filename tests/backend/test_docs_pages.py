"""The interactive documentation pages and the files they load, all served by the API itself
(the browser behaviour is in tests/contract/test_docs_browser.py)."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from test_observer.app import SECURITY_SCHEME_NAME


@pytest.mark.parametrize("page", ["/docs", "/redocs"])
def test_pages_load_nothing_from_other_hosts(client: TestClient, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "http:" not in response.text
    assert "https:" not in response.text
    for reference in re.findall(r'(?:src|href)="([^"]+)"', response.text):
        assert reference.startswith("/docs/assets/"), reference
        assert client.get(reference).status_code == 200, reference


def test_swagger_ui_sends_the_csrf_header_and_no_validator(client: TestClient) -> None:
    page = client.get("/docs").text
    assert 'request.headers["X-CSRF-Token"] = "1"' in page
    assert "validatorUrl: null" in page


@pytest.mark.parametrize(
    ("name", "media_type", "marker"),
    [
        ("swagger-ui-bundle.js", "text/javascript", b"SwaggerUIBundle"),
        ("swagger-ui.css", "text/css", b".swagger-ui"),
        ("redoc.standalone.js", "text/javascript", b"Redoc"),
        ("favicon.png", "image/png", b"\x89PNG"),
    ],
)
def test_assets_are_served_from_the_package(
    client: TestClient, name: str, media_type: str, marker: bytes
) -> None:
    response = client.get(f"/docs/assets/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media_type)
    assert marker in response.content


@pytest.mark.parametrize("name", ["index.html", "..%2Fdocs_pages.py", "LICENSE", "README.md"])
def test_only_the_listed_assets_are_served(client: TestClient, name: str) -> None:
    response = client.get(f"/docs/assets/{name}")
    assert response.status_code == 404
    assert "detail" in response.json()


def test_the_document_declares_bearer_keys_and_keeps_anonymous_access(
    client: TestClient,
) -> None:
    document = client.get("/openapi.json").json()
    scheme = document["components"]["securitySchemes"][SECURITY_SCHEME_NAME]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert document["security"] == [{SECURITY_SCHEME_NAME: []}, {}]
    # The permission lists are still there next to it.
    assert document["paths"]["/v1/permissions"]["get"]["x-permissions"] == ["view_permission"]
