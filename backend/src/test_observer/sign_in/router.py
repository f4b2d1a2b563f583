"""/v1/auth: signing in through the identity provider (SAML) or a development sign-in link,
and signing out."""

from __future__ import annotations

import html
import secrets
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from test_observer.auth.access import AppSettings, sign_in
from test_observer.auth.principal import CSRF_HEADER
from test_observer.db.engine import DbSession
from test_observer.errors import BadRequestError, ForbiddenError
from test_observer.input_safety import EdgeRoute

from . import service

router = APIRouter(prefix="/v1/auth", tags=["authentication"], route_class=EdgeRoute)

ReturnTo = Annotated[str | None, Query()]


async def _form(request: Request) -> dict[str, str]:
    """The url-encoded form the IdP's page posts (first value of each field)."""
    if request.method != "POST":
        return {}
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("application/x-www-form-urlencoded"):
        raise BadRequestError("Expected an application/x-www-form-urlencoded form")
    try:
        fields = parse_qs((await request.body()).decode(), keep_blank_values=True)
    except UnicodeDecodeError as error:
        raise BadRequestError("The form is not valid UTF-8") from error
    return {name: values[0] for name, values in fields.items()}


Form = Annotated[dict[str, str], Depends(_form)]


async def _optional_form(request: Request) -> dict[str, str]:
    """The posted form, if the body is one (the sign-out page's); else nothing."""
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return await _form(request)
    return {}


OptionalForm = Annotated[dict[str, str], Depends(_optional_form)]


def _signed_in(request: Request, session_id: int, return_to: str | None, settings: Any) -> Any:
    request.session.clear()
    request.session["id"] = session_id
    target = service.safe_return_url(settings, return_to)
    if target is not None:
        return RedirectResponse(target, status_code=status.HTTP_302_FOUND)
    if return_to:
        # Never a redirect to another host: back to the frontend instead.
        return RedirectResponse(settings.frontend_url, status_code=status.HTTP_302_FOUND)
    return JSONResponse({"message": "Authentication successful"})


@router.get("/saml/login", dependencies=[sign_in()])
def saml_login(session: DbSession, settings: AppSettings, return_to: ReturnTo = None) -> Any:
    """Send the browser to the identity provider; it comes back to `return_to` (a frontend
    URL) once signed in. Only a response to this request (for 30 minutes) signs in."""
    return RedirectResponse(service.login_redirect(session, settings, return_to), status_code=307)


@router.post("/saml/acs", dependencies=[sign_in()])
def saml_login_callback(
    request: Request, session: DbSession, settings: AppSettings, form: Form
) -> Any:
    """Where the identity provider posts its signed response: opens a 14-day session."""
    session_id = service.sign_in_with_saml(session, settings, form.get("SAMLResponse"))
    return _signed_in(request, session_id, form.get("RelayState"), settings)


def _sign_out(request: Request, session: DbSession, settings: Any, return_to: str | None) -> str:
    email = service.sign_out(session, request.session.get("id"))
    request.session.clear()
    return service.logout_redirect(settings, email, return_to)


# The session cookie carries a token the sign-out page repeats in its form: another site can
# neither read the page nor the cookie, so it cannot post the form for the user.
LOGOUT_TOKEN = "logout_token"


def _form_token_matches(request: Request, form: dict[str, str]) -> bool:
    expected = request.session.get(LOGOUT_TOKEN)
    presented = form.get("token", "")
    return isinstance(expected, str) and secrets.compare_digest(expected, presented)


@router.post(
    "/saml/logout",
    dependencies=[sign_in()],
    responses={
        303: {"description": "Signed out from the sign-out page's form"},
        403: {"description": "Neither the X-CSRF-Token header nor the page's token"},
    },
)
def saml_logout_post(
    request: Request,
    session: DbSession,
    settings: AppSettings,
    form: OptionalForm,
    return_to: ReturnTo = None,
) -> Any:
    """End the session (the signed session cookie names it). Needs the `X-CSRF-Token` header
    (then `redirect_to` says where the browser goes next: the identity provider's single logout,
    or `return_to`), or the token of the sign-out page's form (then a redirect there), so that
    no other site can sign a user out."""
    if CSRF_HEADER in request.headers:
        target = _sign_out(request, session, settings, return_to)
        return {"message": "Signed out", "redirect_to": target}
    if _form_token_matches(request, form):
        target = _sign_out(request, session, settings, return_to)
        return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)
    raise ForbiddenError("Signing out needs the X-CSRF-Token header")


@router.get(
    "/saml/logout",
    dependencies=[sign_in()],
    response_class=HTMLResponse,
    responses={
        200: {"description": "Without the X-CSRF-Token header: a page asking to confirm"},
        307: {"description": "With the X-CSRF-Token header: signed out, on to the provider"},
    },
)
def saml_logout(
    request: Request, session: DbSession, settings: AppSettings, return_to: ReturnTo = None
) -> Any:
    """With the `X-CSRF-Token` header: end the session, then the identity provider's. Without
    it (a link or a navigation, which any site can start) nothing ends yet: a page asks to
    confirm, and its button posts the form that signs out."""
    if CSRF_HEADER in request.headers:
        return RedirectResponse(_sign_out(request, session, settings, return_to), status_code=307)
    token = secrets.token_urlsafe(32)
    request.session[LOGOUT_TOKEN] = token
    action = "/v1/auth/saml/logout"
    safe = service.safe_return_url(settings, return_to)
    if safe is not None:
        action += "?" + urlencode({"return_to": safe})
    page = SIGN_OUT_PAGE.format(action=html.escape(action), token=html.escape(token))
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})


SIGN_OUT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign out of Test Observer</title></head>
<body><form method="post" action="{action}">
<input type="hidden" name="token" value="{token}">
<p>Sign out of Test Observer?</p><button type="submit">Sign out</button>
</form></body></html>
"""


def _saml_logout_callback(request: Request, settings: AppSettings, form: dict[str, str]) -> Any:
    if request.method == "POST":
        message, relay_state = form.get("SAMLResponse"), form.get("RelayState")
        service.check_logout_response(settings, message, deflated=False, signed_query=None)
    else:
        query = request.query_params
        message, relay_state = query.get("SAMLResponse"), query.get("RelayState")
        signed_query = None
        if "Signature" in query:
            # The signature covers the raw query parameters in this order (SAML bindings 3.4.4.1).
            raw = dict(part.split("=", 1) for part in request.url.query.split("&") if "=" in part)
            names = ["SAMLResponse", "RelayState", "SigAlg"]
            signed_part = "&".join(f"{name}={raw[name]}" for name in names if name in raw)
            signed_query = (signed_part, query.get("SigAlg", ""), query["Signature"])
        service.check_logout_response(settings, message, deflated=True, signed_query=signed_query)
    target = service.safe_return_url(settings, relay_state)
    if target is None:
        return None
    return RedirectResponse(target, status_code=status.HTTP_302_FOUND)


@router.get("/saml/sls", dependencies=[sign_in()])
@router.post("/saml/sls", dependencies=[sign_in()])
def saml_logout_callback(request: Request, settings: AppSettings, form: Form) -> Any:
    """The identity provider's answer to a logout (HTTP-Redirect or HTTP-POST binding)."""
    return _saml_logout_callback(request, settings, form)


@router.get(
    "/local/login",
    dependencies=[sign_in()],
    responses={
        302: {"description": "Signed in; back to `return_to` or the frontend"},
        403: {"description": "The link is invalid, expired or already used"},
        404: {"description": "Local sign-in is disabled"},
    },
)
def local_login(
    request: Request,
    session: DbSession,
    settings: AppSettings,
    token: Annotated[str, Query(description="From `test-observer admin login-url`")],
    return_to: ReturnTo = None,
) -> Any:
    """Development deployments only (USE_LOCAL_LOGIN=true, no identity provider): sign in
    with a one-time link."""
    session_id = service.sign_in_with_link(session, settings, token)
    return _signed_in(request, session_id, return_to or settings.frontend_url, settings)
