"""The interactive API documentation pages, built on the Swagger UI and ReDoc files shipped in
`static/`, so that they work where the browser reaches no host but this server."""

from __future__ import annotations

import json
from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
ASSETS_PATH = "/docs/assets"
# What the pages link to: relative to the page (/docs, /redocs), so the links still work when
# a proxy serves the API under a path prefix it strips (traefik's ingress does).
ASSETS_HREF = ASSETS_PATH.lstrip("/")

# Name in the URL -> (file under STATIC_DIR, media type). Only these files are served.
ASSETS: dict[str, tuple[str, str]] = {
    "swagger-ui-bundle.js": ("swagger-ui/swagger-ui-bundle.js", "text/javascript"),
    "swagger-ui.css": ("swagger-ui/swagger-ui.css", "text/css"),
    "favicon.png": ("swagger-ui/favicon-32x32.png", "image/png"),
    "redoc.standalone.js": ("redoc/redoc.standalone.js", "text/javascript"),
}


def asset_file(name: str) -> tuple[Path, str] | None:
    entry = ASSETS.get(name)
    if entry is None:
        return None
    relative, media_type = entry
    return STATIC_DIR / relative, media_type


def _script_literal(value: str) -> str:
    # JSON is valid JavaScript; escaping "<" keeps a value from closing the <script> element.
    return json.dumps(value).replace("<", "\\u003c")


def swagger_ui_page(*, openapi_url: str, title: str) -> str:
    # The frontend's CSRF defence honours a session cookie only with an X-CSRF-Token header:
    # adding it to every request lets a signed-in user try operations from this page.
    # validatorUrl: null stops Swagger UI from sending the document to a public validator.
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{title}</title>
<link rel="stylesheet" href="{ASSETS_HREF}/swagger-ui.css">
<link rel="icon" type="image/png" href="{ASSETS_HREF}/favicon.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{ASSETS_HREF}/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({{
  url: {_script_literal(openapi_url)},
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  requestInterceptor: (request) => {{
    request.headers["X-CSRF-Token"] = "1";
    return request;
  }},
}});
</script>
</body>
</html>
"""


def redoc_page(*, openapi_url: str, title: str) -> str:
    # Without a font URL ReDoc uses the browser's fonts instead of fetching web fonts.
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{title}</title>
<link rel="icon" type="image/png" href="{ASSETS_HREF}/favicon.png">
<style>body {{ margin: 0; padding: 0; }}</style>
</head>
<body>
<div id="redoc"></div>
<script src="{ASSETS_HREF}/redoc.standalone.js"></script>
<script>
Redoc.init({_script_literal(openapi_url)}, {{}}, document.getElementById("redoc"));
</script>
</body>
</html>
"""
