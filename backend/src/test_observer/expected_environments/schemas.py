"""Wire shapes of declared expected environments and of an artefact's missing environments."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from test_observer.db.models import FamilyName
from test_observer.db.text_limits import NAME_LENGTH
from test_observer.expectations.missing import ExpectedFrom

Name = Annotated[str, Field(min_length=1, max_length=NAME_LENGTH)]


class ExpectedEnvironmentsRequest(BaseModel):
    """The environments every version of an artefact must be tested on; replaces any earlier
    declaration for the same family, artefact name and test plan."""

    family: FamilyName
    artefact_name: Name
    test_plan: Name | None = Field(
        default=None,
        description="Only executions of this test plan count; omitted or null: any plan.",
    )
    environments: list[Name] = Field(min_length=1, description="Environment names.")


class ExpectedEnvironmentsResponse(BaseModel):
    family: FamilyName
    artefact_name: str
    test_plan: str | None
    environments: list[str]
    created_at: datetime
    updated_at: datetime


class ExpectedEnvironmentsListResponse(BaseModel):
    expected_environments: list[ExpectedEnvironmentsResponse]


class MissingEnvironmentsResponse(BaseModel):
    missing_environments: list[str] = Field(
        description="Expected environment names this artefact has no execution on, sorted."
    )
    previous_artefact_link: str | None = Field(
        description="The previous version's page in the frontend, with one `Environment` "
        "parameter per missing environment; null for the first version of a line."
    )
    expected_from: ExpectedFrom = Field(
        description="Where the expected environments came from: declarations for the "
        "artefact, the environments that ran its previous version, or nothing (a first "
        "version without declarations)."
    )
