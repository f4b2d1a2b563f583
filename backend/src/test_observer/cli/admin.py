"""`test-observer admin`: manage users and API clients."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from .database import transaction
from .output import fail, note

if TYPE_CHECKING:
    from test_observer.settings import Settings

app = typer.Typer(help="Manage users and API clients.", no_args_is_help=True)


@app.command("create-application")
def admin_create_application(
    name: Annotated[str, typer.Argument(help="Unique name of the application (e.g. the CI).")],
    permission: Annotated[
        list[str] | None,
        typer.Option("--permission", "-p", help="A permission to grant; repeat for more."),
    ] = None,
    all_permissions: Annotated[
        bool, typer.Option("--all-permissions", help="Grant every permission.")
    ] = False,
) -> None:
    """Create an API client and print its new key (shown only this once) on stdout."""
    from test_observer.applications import service
    from test_observer.db.models import Permission
    from test_observer.permissions.service import parse_permissions
    from test_observer.settings import load_settings

    if bool(permission) == all_permissions:
        fail("Give either --permission (one or more times) or --all-permissions")
    try:
        permissions = list(Permission) if all_permissions else parse_permissions(permission or [])
    except ValueError as error:
        fail(str(error))
    with transaction() as session:
        # No principal: the operator at the command line, recorded as the system.
        created = service.create_application(
            session, None, load_settings(), name.strip(), permissions
        )
    note(
        f"Created application {created.name!r} (id {created.id}) with "
        f"{len(created.permissions)} permission(s). Store the key now: it cannot be shown again."
    )
    typer.echo(created.api_key)


@app.command("add-user")
def admin_add_user(
    email: Annotated[str, typer.Argument(help="Email address (the identity used at login).")],
    name: Annotated[
        str | None, typer.Option(help="Display name (default: the part before @).")
    ] = None,
    launchpad: Annotated[
        bool,
        typer.Option(
            "--launchpad",
            help="Take the handle and display name from the Launchpad account with this email "
            "(LAUNCHPAD_API_URL); an email Launchpad does not know is refused.",
        ),
    ] = False,
) -> None:
    """Create a user unless one with this email exists."""
    from test_observer.sign_in.launchpad import Launchpad
    from test_observer.sign_in.launchpad_users import add_launchpad_user
    from test_observer.users import service

    if launchpad and name is not None:
        fail("--name and --launchpad exclude each other: Launchpad gives the name")
    with transaction() as session:
        if launchpad:
            note(f"Looking {email.strip()} up on Launchpad")
            lookup = Launchpad(_settings().launchpad_api_url)
            user, created = add_launchpad_user(session, lookup, email)
        else:
            user, created = service.add_user(session, email, name)
    created_line = f"Created user {user.email} (id {user.id})"
    note(created_line if created else service.already_exists(user.email))


@app.command("change-assignee")
def admin_change_assignee(
    artefact_id: Annotated[int, typer.Argument(metavar="ARTEFACT_ID", help="Id of the artefact.")],
    reviewers: Annotated[
        list[str], typer.Argument(metavar="REVIEWER...", help="User ids, or users' emails.")
    ],
) -> None:
    """Make these users the artefact's reviewers, in this order, replacing the current ones."""
    from test_observer.artefacts import patching

    with transaction() as session:
        artefact = patching.replace_reviewers(session, _settings(), artefact_id, reviewers)
    listed = ", ".join(f"{r.email} (id {r.id})" for r in artefact.reviewers)
    note(f"Artefact {artefact.name} {artefact.version} (id {artefact.id}) is reviewed by {listed}")


def _settings() -> Settings:
    from test_observer.settings import SettingsError, load_settings

    try:
        return load_settings()
    except SettingsError as error:
        fail(str(error))


@app.command("promote-user-to-admin")
def admin_promote_user(
    email: Annotated[str, typer.Argument(help="Email address of an existing user.")],
) -> None:
    """Give a user administrator rights (they pass every permission check)."""
    from test_observer.users import service

    with transaction() as session:
        user = service.promote_to_admin(session, email)
    note(f"User {user.email} (id {user.id}) is an administrator")


@app.command("login-url")
def admin_login_url(
    email: Annotated[str, typer.Argument(help="Who signs in (created if new).")],
    name: Annotated[
        str | None, typer.Option(help="Display name of a new user (default: the part before @).")
    ] = None,
) -> None:
    """Print a one-time sign-in link (valid 15 minutes) for a development deployment.

    Only with USE_LOCAL_LOGIN=true and no SAML_IDP_METADATA_URL; the server must run with the
    same settings. The link points at SAML_SP_BASE_URL (the API's own URL).
    """
    from test_observer.sign_in import service

    settings = _settings()
    if not service.local_sign_in_enabled(settings):
        fail("sign-in links need USE_LOCAL_LOGIN=true and no SAML_IDP_METADATA_URL")
    with transaction() as session:
        link = service.create_sign_in_link(session, settings, email.strip(), name)
    note(f"Sign-in link for {email.strip()}, valid once within 15 minutes:")
    typer.echo(link)


@app.command("clean-sessions")
def admin_clean_sessions() -> None:
    """Delete expired browser sessions (safe to run at any time, e.g. from a timer)."""
    from test_observer.users import service

    with transaction() as session:
        deleted = service.clean_expired_sessions(session)
    note(f"Deleted {deleted} expired sessions")


@app.command("delete-artefact")
def admin_delete_artefact(
    artefact_id: Annotated[int, typer.Argument(metavar="ID", help="Id of the artefact.")],
) -> None:
    """Delete an artefact with its builds, test executions, results and reviews.

    Environments, test cases, test plans and execution metadata values stay: other artefacts
    may use them.
    """
    from test_observer.artefacts import service

    with transaction() as session:
        artefact = service.delete_artefact(session, artefact_id)
    note(
        f"Deleted {artefact.family.value} artefact {artefact.name} {artefact.version} "
        f"(id {artefact_id})"
    )
