"""Sphinx configuration for the Test Observer documentation."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "Test Observer"
author = "Test Observer contributors"
copyright = "Test Observer contributors"

extensions = [
    "myst_parser",
    "openapi_reference",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "README*.md"]

myst_enable_extensions = ["colon_fence", "deflist"]
# Headings get anchors so pages can link to a section with [text](page.md#section).
myst_heading_anchors = 3

# Rendered from the API description the backend commits (see docs/_ext/openapi_reference.py).
openapi_reference_path = "../backend/schemata/openapi.json"

html_theme = "furo"
html_title = "Test Observer"
html_static_path: list[str] = []

# Broken internal links and references fail the build (it runs with -W -n).
nitpicky = True
