"""The interactive documentation pages and the files they load, all served by the API itself
(the browser behaviour is in tests/contract/test_docs_browser.py)."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from test_observer.app import SECURITY_SCHEME_NAME, create_app
from test_observer.settings import Settings
from tests.backend.conftest import LOCAL_CLIENT


@pytest.mark.parametrize("page", ["/docs", "/redocs"])
def test_pages_load_nothing_from_other_hosts(client: TestClient, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "http:" not in response.text
    assert "https:" not in response.text
    for reference in re.findall(r'(?:src|href)="([^"]+)"', response.text):
        # Relative to the page, so that they hold under a proxy's path prefix too.
        assert reference.startswith("docs/assets/"), reference
        assert client.get(urljoin(f"http://testserver{page}", reference)).status_code == 200


@pytest.mark.parametrize("page", ["/docs", "/redocs"])
def test_pages_work_under_a_prefix_the_proxy_strips(
    engine: Engine, database_url: str, page: str
) -> None:
    """traefik serves the API at https://host/MODEL-APP and strips the prefix; the server
    runs with `serve --root-path /MODEL-APP`. The browser resolves every link against the
    public URL, then the proxy strips the prefix again before the API sees the request."""
    prefix = "/dev-test-observer-api"
    app = create_app(Settings(db_url=database_url), engine=engine)
    client = TestClient(app, client=LOCAL_CLIENT, root_path=prefix)

    response = client.get(page)
    assert response.status_code == 200
    public_page = f"https://observer.example.com{prefix}{page}"
    links = re.findall(r'(?:src|href)="([^"]+)"', response.text)
    links += re.findall(r'(?:url: |Redoc.init\()"([^"]+)"', response.text)
    assert any(link.endswith("openapi.json") for link in links)
    for link in links:
        public = urlsplit(urljoin(public_page, link)).path
        assert public.startswith(f"{prefix}/"), link
        stripped = public.removeprefix(prefix)
        assert client.get(stripped).status_code == 200, stripped
    # "Try it out" calls the API under the prefix as well.
    document = client.get("/openapi.json").json()
    assert document["servers"] == [{"url": prefix}]


def test_without_a_prefix_the_document_names_no_server(client: TestClient) -> None:
    assert "servers" not in client.get("/openapi.json").json()


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
