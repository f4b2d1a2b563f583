"""The filter object: which executions, and which of their results, to act on or list."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from test_observer.db.models import FamilyName, TestExecutionStatus, TestResultStatus

MetadataText = Annotated[str, StringConstraints(min_length=1, max_length=200)]

AnyOrNone = Literal["any", "none"]
IdsFilter = list[int] | AnyOrNone


class TestExecutionRerunFilters(BaseModel):
    """Which executions to act on; a missing or empty field does not filter."""

    __test__ = False

    families: list[FamilyName] | None = None
    artefacts: list[str] | None = None
    artefact_versions: list[str] | None = None
    artefact_stages: list[str] | None = None
    artefact_tracks: list[str] | None = None
    artefact_is_archived: bool | None = None
    environments: list[str] | None = None
    test_plans: list[str] | None = None
    test_execution_statuses: list[TestExecutionStatus] | None = None
    execution_metadata: dict[MetadataText, list[MetadataText]] | None = None
    reviewer_ids: IdsFilter | None = None
    assignee_ids: IdsFilter | None = Field(
        default=None,
        description="Deprecated alias of reviewer_ids, used only when reviewer_ids is absent.",
    )
    rerun_is_requested: bool | None = None
    execution_is_latest: bool | None = None
    from_date: datetime | None = Field(
        default=None,
        description="Inclusive lower bound on the execution's last update (on the result's "
        "creation in result filters).",
    )
    until_date: datetime | None = Field(
        default=None,
        description="Inclusive upper bound on the execution's last update (on the result's "
        "creation in result filters).",
    )

    def has_filters(self) -> bool:
        return any(value not in (None, [], {}) for name, value in self if name not in NOT_FILTERS)


class TestResultSearchFilters(TestExecutionRerunFilters):
    """Results to act on (their executions, for reruns). Dates bound the result's creation."""

    __test__ = False

    test_cases: list[str] | None = None
    template_ids: list[str] | None = None
    issues: IdsFilter | None = None
    test_result_statuses: list[TestResultStatus] | None = None
    failure_signatures: IdsFilter | None = Field(
        default=None,
        description="Ids of failure signatures, or 'any' (signed failures) or 'none' (unsigned).",
    )
    offset: int | None = Field(
        default=None,
        description="Pagination of the results search; ignored when selecting executions to rerun.",
    )
    limit: int | None = Field(
        default=None,
        description="Pagination of the results search; ignored when selecting executions to rerun.",
    )

    def has_filters(self) -> bool:
        # Dates and pagination only narrow a selection, and the deprecated alias does not count
        # either: none of them makes an empty filter object safe for a bulk action.
        return any(
            value not in (None, [], {})
            for name, value in self
            if name not in NOT_FILTERS | RESULT_NOT_FILTERS
        )


NOT_FILTERS = frozenset({"offset", "limit"})
RESULT_NOT_FILTERS = frozenset({"from_date", "until_date", "assignee_ids"})
