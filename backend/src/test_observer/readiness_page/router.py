"""The readiness page: HTML for people, at a stable address to link from a card or a chat."""

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from test_observer.auth import requires_for_page
from test_observer.db.engine import DbSession
from test_observer.db.models import Permission
from test_observer.input_safety import EdgeRoute

from .render import render_readiness_page
from .service import readiness_page

router = APIRouter(tags=["pages"], route_class=EdgeRoute)

# Everything the page needs is inline: nothing is fetched from anywhere, and no script runs.
POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"


@router.get(
    "/artefacts/{artefact_id:int}/readiness",
    include_in_schema=False,
    response_class=HTMLResponse,
    dependencies=[requires_for_page(Permission.view_artefact)],
)
def get_readiness_page(session: DbSession, artefact_id: int) -> HTMLResponse:
    """The artefact's readiness on one printable page (needs view_artefact, cookie or key)."""
    html = render_readiness_page(readiness_page(session, artefact_id))
    return HTMLResponse(html, headers={"Content-Security-Policy": POLICY})
