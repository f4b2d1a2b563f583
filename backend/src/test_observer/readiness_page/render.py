"""Rendering the readiness page from its template: HTML escaped by default, no scripts."""

from __future__ import annotations

from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from .service import ReadinessPage


@cache
def _templates() -> Environment:
    return Environment(
        loader=PackageLoader("test_observer.readiness_page", "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_readiness_page(page: ReadinessPage) -> str:
    return _templates().get_template("readiness.html").render(page=page)
