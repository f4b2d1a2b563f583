"""/v1/issues: issues in GitHub, Jira or Launchpad, their attachments to test results, and the
rules that attach them automatically."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from test_observer.auth import AppSettings, Principal, require_permissions, requires
from test_observer.db.engine import DbSession
from test_observer.db.models import FamilyName, IssueSource, IssueStatus, Permission
from test_observer.input_safety import EdgeRoute

from . import attachments, rules, service
from .schemas import (
    AttachmentRulePatchRequest,
    AttachmentRuleRequest,
    IssueAttachmentRequest,
    IssueFields,
    IssuePatchRequest,
    IssuePutRequest,
    IssueResponse,
    IssuesGetResponse,
    MinimalAttachmentRule,
)
from .urls import parse_issue_url

router = APIRouter(prefix="/v1/issues", tags=["issues"], route_class=EdgeRoute)

ISSUE_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    status.HTTP_404_NOT_FOUND: {"description": "The issue does not exist"}
}
RULE_ERRORS: dict[int | str, dict[str, Any]] = {
    status.HTTP_400_BAD_REQUEST: {"description": "The rule belongs to another issue"},
}


@router.get("", dependencies=[requires(Permission.view_issue)])
def get_issues(
    session: DbSession,
    source: Annotated[
        IssueSource | None,
        Query(description="Filter by issue source (e.g., github, jira, launchpad)"),
    ] = None,
    project: Annotated[str | None, Query(description="Filter by project name")] = None,
    status: Annotated[
        list[IssueStatus] | None,
        Query(description="Filter by issue status. Accepts multiple values"),
    ] = None,
    families: Annotated[
        list[FamilyName] | None,
        Query(description="Filter by artefact family (e.g., snap, deb, charm, image)"),
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=1000, description="Maximum number of results to return (default: 50)")
    ] = 50,
    offset: Annotated[
        int, Query(ge=0, description="Number of results to skip for pagination (default: 0)")
    ] = 0,
    q: Annotated[
        str | None,
        Query(description="Search term for issue source, project, keys, title, and status"),
    ] = None,
) -> IssuesGetResponse:
    """Issues ordered by source, project and key. Every word of `q` must appear in one of
    the issue's id, source, project, key, title, status or URL."""
    return service.search_issues(
        session,
        source=source,
        project=project,
        statuses=status,
        families=families,
        q=q,
        limit=limit,
        offset=offset,
    )


def _require_auto_rerun(principal: Principal, settings: AppSettings, *fields: IssueFields) -> None:
    """Turning automatic reruns on or off needs its own permission, whatever the method."""
    if any(field.auto_rerun_enabled is not None for field in fields):
        require_permissions(principal, settings, Permission.change_auto_rerun)


@router.put("")
def create_or_update_issue(
    request: IssuePutRequest,
    session: DbSession,
    settings: AppSettings,
    principal: Principal = requires(Permission.change_issue),
) -> IssueResponse:
    """Create the issue a URL names, or update it: only the given fields change."""
    reference = parse_issue_url(request.url)
    _require_auto_rerun(principal, settings, request)
    return service.put_issue(session, reference, request)


@router.get(
    "/{issue_id}", dependencies=[requires(Permission.view_issue)], responses=ISSUE_NOT_FOUND
)
def get_issue(issue_id: int, session: DbSession) -> IssueResponse:
    return service.get_issue(session, issue_id)


@router.patch("/{issue_id}", responses=ISSUE_NOT_FOUND)
def patch_issue(
    issue_id: int,
    request: IssuePatchRequest,
    session: DbSession,
    settings: AppSettings,
    principal: Principal = requires(Permission.change_issue),
    title: Annotated[str | None, Query(description="Deprecated: send it in the body")] = None,
    status: Annotated[
        IssueStatus | None, Query(description="Deprecated: send it in the body")
    ] = None,
    auto_rerun_enabled: Annotated[
        bool | None, Query(description="Deprecated: send it in the body")
    ] = None,
) -> IssueResponse:
    """Change the given fields. Values in the query string apply where the body has none."""
    query = IssueFields(title=title, status=status, auto_rerun_enabled=auto_rerun_enabled)
    fields = IssueFields(
        **{
            name: getattr(request, name) if getattr(request, name) is not None else value
            for name, value in query
        }
    )
    _require_auto_rerun(principal, settings, fields)
    return service.patch_issue(session, issue_id, fields)


ATTACH_RESPONSES: dict[int | str, dict[str, Any]] = {
    status.HTTP_400_BAD_REQUEST: {"description": "The attachment rule belongs to another issue"},
    status.HTTP_404_NOT_FOUND: {"description": "The issue, rule or a test result does not exist"},
}


def _authorise_attachment(
    principal: Principal, settings: AppSettings, request: IssueAttachmentRequest
) -> None:
    if attachments.is_bulk(request):
        require_permissions(principal, settings, Permission.change_issue_attachment_bulk)


@router.post("/{issue_id}/attach", responses=ATTACH_RESPONSES)
def add_issue_attachments(
    issue_id: int,
    request: IssueAttachmentRequest,
    session: DbSession,
    settings: AppSettings,
    principal: Principal = requires(Permission.change_issue_attachment),
) -> IssueResponse:
    """Attach the issue to the given results and to every result the filters match. Several
    results, filters or a rule also need `change_issue_attachment_bulk`."""
    _authorise_attachment(principal, settings, request)
    return attachments.attach(session, issue_id, request)


@router.post("/{issue_id}/detach", responses=ATTACH_RESPONSES)
def remove_issue_attachments(
    issue_id: int,
    request: IssueAttachmentRequest,
    session: DbSession,
    settings: AppSettings,
    principal: Principal = requires(Permission.change_issue_attachment),
) -> IssueResponse:
    """Detach the issue from the given results and from every result the filters match."""
    _authorise_attachment(principal, settings, request)
    return attachments.detach(session, issue_id, request)


ChangeAttachmentRule = Annotated[Principal, requires(Permission.change_attachment_rule)]


@router.post("/{issue_id}/attachment-rules", responses=ISSUE_NOT_FOUND)
def post_attachment_rule(
    issue_id: int,
    request: AttachmentRuleRequest,
    session: DbSession,
    principal: ChangeAttachmentRule,
) -> MinimalAttachmentRule:
    """A rule attaching the issue to results stored from now on that meet every criterion."""
    return rules.create_rule(session, principal, issue_id, request)


@router.patch(
    "/{issue_id}/attachment-rules/{attachment_rule_id}",
    responses={
        **RULE_ERRORS,
        status.HTTP_404_NOT_FOUND: {"description": "The rule does not exist"},
    },
)
def patch_attachment_rule(
    issue_id: int,
    attachment_rule_id: int,
    request: AttachmentRulePatchRequest,
    session: DbSession,
    principal: ChangeAttachmentRule,
) -> MinimalAttachmentRule:
    return rules.patch_rule(session, principal, issue_id, attachment_rule_id, request)


@router.delete(
    "/{issue_id}/attachment-rules/{attachment_rule_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=RULE_ERRORS,
)
def delete_attachment_rule(
    issue_id: int, attachment_rule_id: int, session: DbSession, principal: ChangeAttachmentRule
) -> Response:
    rules.delete_rule(session, principal, issue_id, attachment_rule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
