"""/v1/auth: signing in through the identity provider (SAML) or a development sign-in link,
and signing out."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import JSONResponse, RedirectResponse

from test_observer.auth.access import AppSettings, DbSession, sign_in
from test_observer.auth.principal import CSRF_HEADER
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


@router.post(
    "/saml/logout",
    dependencies=[sign_in()],
    responses={403: {"description": "The X-CSRF-Token header is missing"}},
)
def saml_logout_post(
    request: Request, session: DbSession, settings: AppSettings, return_to: ReturnTo = None
) -> dict[str, str]:
    """End the session (the signed session cookie names it). Needs the `X-CSRF-Token` header,
    so that no other site can sign a user out. `redirect_to` is where the browser goes next:
    the identity provider's single logout, or `return_to`."""
    if CSRF_HEADER not in request.headers:
        raise ForbiddenError("Signing out needs the X-CSRF-Token header")
    return {
        "message": "Signed out",
        "redirect_to": _sign_out(request, session, settings, return_to),
    }


@router.get("/saml/logout", dependencies=[sign_in()])
def saml_logout(
    request: Request, session: DbSession, settings: AppSettings, return_to: ReturnTo = None
) -> Any:
    """With the `X-CSRF-Token` header: end the session, then the identity provider's. Without
    it (a link or a navigation, which any site can start) nothing ends: back to `return_to`
    or the frontend. Sign out with the POST."""
    if CSRF_HEADER not in request.headers:
        target = service.safe_return_url(settings, return_to) or settings.frontend_url
        return RedirectResponse(target, status_code=307)
    return RedirectResponse(_sign_out(request, session, settings, return_to), status_code=307)


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
