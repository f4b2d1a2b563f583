"""Wire shapes of quarantines."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, Field, field_validator

from test_observer.db.text_limits import TEST_CASE_LENGTH
from test_observer.environments.schemas import EnvironmentResponse


class QuarantineRequest(BaseModel):
    """Quarantine one test case on the listed environments, or on every environment."""

    test_case: Annotated[str, Field(min_length=1, max_length=TEST_CASE_LENGTH)] = Field(
        description="The test case's name; it must have been reported at least once."
    )
    environment_ids: Annotated[list[int], Field(max_length=1000)] = Field(
        default_factory=list,
        description="Environments to quarantine it on; empty: every environment, one entry.",
    )
    reason: Annotated[str, Field(min_length=1, max_length=2000)]
    issue_id: int | None = Field(default=None, description="An issue tracking the failure.")
    expires_at: datetime | None = Field(
        default=None, description="When the quarantine stops applying; none: until lifted."
    )

    @field_validator("expires_at")
    @classmethod
    def _naive_utc(cls, value: datetime | None) -> datetime | None:
        # Stored without a zone, in UTC like every other timestamp.
        if value is not None and value.tzinfo is not None:
            return value.astimezone(UTC).replace(tzinfo=None)
        return value


class QuarantineResponse(BaseModel):
    id: int
    test_case_id: int
    test_case: str
    environment: EnvironmentResponse | None = Field(description="None: every environment.")
    reason: str
    issue_id: int | None
    issue_url: str | None
    expires_at: datetime | None
    active: bool = Field(description="False once `expires_at` has passed.")
    created_at: datetime
    updated_at: datetime


class QuarantinesResponse(BaseModel):
    count: int = Field(description="Matching entries in all, not only on this page.")
    limit: int
    offset: int
    quarantines: list[QuarantineResponse]


class QuarantinesLifted(BaseModel):
    lifted: int = Field(description="How many entries were removed.")
