"""Artefacts: dashboards, search, history, the artefact page and sign-off."""

from typing import Annotated

from fastapi import APIRouter, Query

from test_observer.auth import AppSettings, requires, requires_for_artefacts
from test_observer.auth.principal import Principal
from test_observer.db.engine import DbSession
from test_observer.db.models import FamilyName, Permission
from test_observer.input_safety import EdgeRoute
from test_observer.pagination import Page, paged

from . import comparison, listing, patching, readiness, reviews, service
from .comparison import parse_classes
from .schemas import (
    COMPARISON_CLASSES,
    ArtefactHistoryResponse,
    ArtefactPatch,
    ArtefactResponse,
    ArtefactSearchResponse,
    ArtefactVersionResponse,
    ArtefactWithReadinessResponse,
    ComparisonResponse,
    EnvironmentReviewPatch,
    EnvironmentReviewResponse,
    ReadinessResponse,
    StageName,
)

router = APIRouter(prefix="/v1/artefacts", tags=["artefacts"], route_class=EdgeRoute)


@router.get("", dependencies=[requires(Permission.view_artefact)])
def get_artefacts(
    session: DbSession,
    family: FamilyName | None = None,
    readiness: Annotated[
        bool, Query(description="Add each artefact's readiness verdict and counts")
    ] = False,
) -> list[ArtefactWithReadinessResponse]:
    """The current (newest, non-archived) artefact of each group, per family."""
    return listing.list_current_artefacts(session, family, with_readiness=readiness)


@router.get("/search", dependencies=[requires(Permission.view_artefact)])
def search_artefacts(
    session: DbSession,
    q: Annotated[str | None, Query(description="Case-insensitive part of the name")] = None,
    families: Annotated[list[FamilyName] | None, Query()] = None,
    page: Page = paged(default=50, maximum=1000),
) -> ArtefactSearchResponse:
    """Distinct names of non-archived artefacts, sorted."""
    return listing.search_artefact_names(session, q, families or [], page.limit, page.offset)


@router.get("/history", dependencies=[requires(Permission.view_artefact)])
def get_artefact_history(
    session: DbSession,
    name: str,
    family: FamilyName,
    track: Annotated[
        str | None,
        Query(description='Defaults to "latest" for snaps and charms; any track otherwise.'),
    ] = None,
    stage: StageName | None = None,
    page: Page = paged(default=10, maximum=500),
) -> ArtefactHistoryResponse:
    """Artefacts of one name, archived ones included, newest first; `count` is the total."""
    return listing.artefact_history(
        session,
        name=name,
        family=family,
        track=track,
        stage=stage,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/{artefact_id:int}", dependencies=[requires(Permission.view_artefact)])
def get_artefact(session: DbSession, artefact_id: int) -> ArtefactResponse:
    return service.artefact_response(session, artefact_id)


@router.get("/{artefact_id:int}/comparison", dependencies=[requires(Permission.view_artefact)])
def get_comparison(
    session: DbSession,
    artefact_id: int,
    base: Annotated[
        str,
        Query(description='"previous" (the previous version of its line) or an artefact id'),
    ] = "previous",
    classes: Annotated[
        str | None,
        Query(
            description="Comma-separated classes to list results of "
            f"({', '.join(COMPARISON_CLASSES)}); default: all"
        ),
    ] = None,
    page: Page = paged(default=50, maximum=1000, minimum=0, description="Results per class"),
) -> ComparisonResponse:
    """The artefact's results against a base's, per (environment, test plan) and in all.

    Each side's latest execution of each cell, latest builds only; results matched by test
    case and classified as regression, fixed, still failing, new, gone, flaky and slower
    (see "How readiness is decided" in the docs).
    """
    return comparison.compare_artefacts(
        session, artefact_id, base, parse_classes(classes), page.limit, page.offset
    )


@router.get("/{artefact_id:int}/readiness", dependencies=[requires(Permission.view_artefact)])
def get_readiness(session: DbSession, artefact_id: int) -> ReadinessResponse:
    """Whether the artefact is ready for release, with every reason it is not.

    Ready when every environment review is decided and none rejected, no failure is
    untriaged, nothing regressed since the previous version and no expected environment is
    missing (declared expectations, else the previous version's environments: the
    missing-environments endpoint's rule); quarantined failures are counted apart and never a
    reason.
    """
    return readiness.artefact_readiness(session, artefact_id)


@router.patch("/{artefact_id:int}")
def patch_artefact(
    session: DbSession,
    settings: AppSettings,
    artefact_id: int,
    request: ArtefactPatch,
    principal: Principal = requires_for_artefacts(Permission.change_artefact),
) -> ArtefactResponse:
    """Change status, stage, comment, reviewers, bundled builds or archived state."""
    return patching.patch_artefact(session, principal, settings, artefact_id, request)


@router.get("/{artefact_id}/versions", dependencies=[requires(Permission.view_artefact)])
def get_artefact_versions(
    session: DbSession,
    artefact_id: int,
    page: Page = paged(default=1000, maximum=5000),
) -> list[ArtefactVersionResponse]:
    """Versions of the same line (family, name, store, track, branch, ...), newest first."""
    return listing.artefact_versions(session, artefact_id, page.limit, page.offset)


@router.get(
    "/{artefact_id}/environment-reviews",
    dependencies=[requires(Permission.view_environment_review)],
    tags=["environment-reviews"],
)
def get_environment_reviews(
    session: DbSession, artefact_id: int
) -> list[EnvironmentReviewResponse]:
    """Reviews of the latest builds' (build, environment) pairs."""
    return reviews.environment_reviews(session, artefact_id)


ChangeEnvironmentReview = Annotated[Principal, requires(Permission.change_environment_review)]


@router.patch("/{artefact_id}/environment-reviews", tags=["environment-reviews"])
def bulk_update_environment_reviews(
    session: DbSession,
    artefact_id: int,
    requests: list[EnvironmentReviewPatch],
    principal: ChangeEnvironmentReview,
) -> list[EnvironmentReviewResponse]:
    """Update several reviews; items naming no review of this artefact are skipped."""
    return reviews.update_environment_reviews(session, principal, artefact_id, requests)


@router.patch("/{artefact_id}/environment-reviews/{review_id}", tags=["environment-reviews"])
def update_environment_review(
    session: DbSession,
    artefact_id: int,
    review_id: int,
    request: EnvironmentReviewPatch,
    principal: ChangeEnvironmentReview,
) -> EnvironmentReviewResponse:
    return reviews.update_environment_review(session, principal, artefact_id, review_id, request)
