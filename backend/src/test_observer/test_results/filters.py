"""Search filters over test results and their executions, as SQL conditions.

Each filter becomes one condition (mostly EXISTS sub-queries on indexed keys), so a search is
one SELECT for the page and one for the count whatever the filters.
"""

from __future__ import annotations

import base64
import binascii
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from fastapi.exceptions import RequestValidationError
from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.orm import aliased

from test_observer.db.models import (
    Artefact,
    Environment,
    FamilyName,
    IssueTestResultAttachment,
    TestCase,
    TestExecution,
    TestExecutionMetadata,
    TestExecutionRerunRequest,
    TestExecutionStatus,
    TestResult,
    TestResultStatus,
    artefact_reviewers_association,
    test_execution_metadata_association_table,
)

ANY = "any"
NONE = "none"

# A filter over ids that also accepts the keywords "any" and "none".
IdFilter = list[int] | Literal["any", "none"] | None


class MetadataFilterError(ValueError):
    pass


def invalid_query(name: str, message: str, value: object) -> RequestValidationError:
    """A 422 in FastAPI's validation shape, for checks the type annotations cannot express."""
    return RequestValidationError(
        [{"type": "value_error", "loc": ("query", name), "msg": message, "input": value}]
    )


def parse_id_filter(name: str, values: list[str] | None) -> IdFilter:
    """`[1, 2]`, "any" or "none" from repeated query values; mixing keywords and ids is 422."""
    if not values:
        return None
    keywords = {value for value in values if value in (ANY, NONE)}
    if keywords:
        if len(values) != 1:
            raise invalid_query(
                name,
                "Cannot combine reserved values 'any'/'none' with specific filter values.",
                values,
            )
        return "any" if ANY in keywords else "none"
    try:
        return [int(value) for value in values]
    except ValueError:
        raise invalid_query(
            name, "Input should be a list of integers, 'any' or 'none'", values
        ) from None


def _decode(part: str, item: str) -> str:
    try:
        return base64.b64decode(part, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise MetadataFilterError(
            f"Invalid base64 encoding in execution metadata: '{item}'."
        ) from None


def parse_execution_metadata(items: list[str] | None) -> dict[str, list[str]]:
    """`base64(category):base64(value)` items grouped by category."""
    grouped: dict[str, list[str]] = defaultdict(list)
    for item in items or []:
        if ":" not in item:
            raise invalid_query(
                "execution_metadata",
                f"Invalid execution metadata format: '{item}'. "
                "Expected base64 encoded 'category:value'.",
                item,
            )
        encoded_category, _, encoded_value = item.partition(":")
        try:
            category = _decode(encoded_category, item)
            value = _decode(encoded_value, item)
        except MetadataFilterError as error:
            raise invalid_query("execution_metadata", str(error), item) from None
        if not category or not value:
            raise invalid_query(
                "execution_metadata",
                f"Invalid execution metadata: '{item}'. Both category and value must be non-empty.",
                item,
            )
        grouped[category].append(value)
    return dict(grouped)


@dataclass
class ExecutionFilters:
    """Filters on an execution, its build's artefact and its environment."""

    families: list[FamilyName] = field(default_factory=list)
    artefacts: list[str] = field(default_factory=list)
    artefact_versions: list[str] = field(default_factory=list)
    artefact_stages: list[str] = field(default_factory=list)
    artefact_tracks: list[str] = field(default_factory=list)
    artefact_is_archived: bool | None = None
    environments: list[str] = field(default_factory=list)
    execution_metadata: dict[str, list[str]] = field(default_factory=dict)
    test_execution_statuses: list[TestExecutionStatus] = field(default_factory=list)
    reviewer_ids: IdFilter = None
    rerun_is_requested: bool | None = None
    execution_is_latest: bool | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        """Conditions over TestExecution, Artefact and Environment joined by the caller."""
        found: list[ColumnElement[bool]] = []
        if self.families:
            found.append(Artefact.family.in_(self.families))
        if self.artefacts:
            found.append(Artefact.name.in_(self.artefacts))
        if self.artefact_versions:
            found.append(Artefact.version.in_(self.artefact_versions))
        if self.artefact_stages:
            found.append(Artefact.stage.in_(self.artefact_stages))
        if self.artefact_tracks:
            found.append(Artefact.track.in_(self.artefact_tracks))
        if self.artefact_is_archived is not None:
            found.append(Artefact.archived.is_(self.artefact_is_archived))
        if self.environments:
            found.append(Environment.name.in_(self.environments))
        if self.test_execution_statuses:
            found.append(TestExecution.status.in_(self.test_execution_statuses))
        association = test_execution_metadata_association_table
        for category, values in self.execution_metadata.items():
            found.append(
                exists()
                .where(
                    association.c.test_execution_id == TestExecution.id,
                    TestExecutionMetadata.id == association.c.test_execution_metadata_id,
                    TestExecutionMetadata.category == category,
                    TestExecutionMetadata.value.in_(values),
                )
                .correlate(TestExecution)
            )
        if self.reviewer_ids is not None:
            reviewers = artefact_reviewers_association
            has_reviewer = exists().where(reviewers.c.artefact_id == Artefact.id)
            if self.reviewer_ids == NONE:
                found.append(~has_reviewer)
            elif self.reviewer_ids == ANY:
                found.append(has_reviewer)
            else:
                found.append(has_reviewer.where(reviewers.c.user_id.in_(self.reviewer_ids)))
        if self.rerun_is_requested is not None:
            requested = exists().where(
                TestExecutionRerunRequest.test_plan_id == TestExecution.test_plan_id,
                TestExecutionRerunRequest.artefact_build_id == TestExecution.artefact_build_id,
                TestExecutionRerunRequest.environment_id == TestExecution.environment_id,
            )
            found.append(requested if self.rerun_is_requested else ~requested)
        if self.execution_is_latest is not None:
            newer_execution = aliased(TestExecution)
            superseded = exists(
                select(newer_execution.id).where(
                    newer_execution.test_plan_id == TestExecution.test_plan_id,
                    newer_execution.artefact_build_id == TestExecution.artefact_build_id,
                    newer_execution.environment_id == TestExecution.environment_id,
                    newer_execution.id > TestExecution.id,
                )
            )
            found.append(~superseded if self.execution_is_latest else superseded)
        return found


@dataclass
class ResultFilters(ExecutionFilters):
    """Execution filters plus filters on the result itself and its test case."""

    test_cases: list[str] = field(default_factory=list)
    template_ids: list[str] = field(default_factory=list)
    issues: IdFilter = None
    test_result_statuses: list[TestResultStatus] = field(default_factory=list)
    from_date: datetime | None = None
    until_date: datetime | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        """Conditions over TestResult and TestCase too, joined by the caller."""
        found = super().conditions()
        if self.test_cases:
            found.append(TestCase.name.in_(self.test_cases))
        if self.template_ids:
            found.append(TestCase.template_id.in_(self.template_ids))
        if self.test_result_statuses:
            found.append(TestResult.status.in_(self.test_result_statuses))
        if self.from_date is not None:
            found.append(TestResult.created_at >= self.from_date)
        if self.until_date is not None:
            found.append(TestResult.created_at <= self.until_date)
        if self.issues is not None:
            attached = exists().where(IssueTestResultAttachment.test_result_id == TestResult.id)
            if self.issues == NONE:
                found.append(~attached)
            elif self.issues == ANY:
                found.append(attached)
            else:
                found.append(attached.where(IssueTestResultAttachment.issue_id.in_(self.issues)))
        return found
