"""Wire shapes of artefact matching rules, also embedded in teams."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from test_observer.db.models import FamilyName, Permission


def _empty_as_null(value: object) -> object:
    return None if value == "" else value


# In the database an empty string is a wildcard; clients see null.
Wildcard = Annotated[str | None, BeforeValidator(_empty_as_null)]


class ArtefactMatchingRuleBase(BaseModel):
    """The fields of a rule: every field but `family` defaults to '' (matches anything)."""

    name: str = Field("", max_length=200)
    family: FamilyName
    stage: str = Field("", max_length=100)
    track: str = Field("", max_length=200)
    branch: str = Field("", max_length=200)
    store: str = Field("", max_length=200)
    series: str = Field("", max_length=200)
    os: str = Field("", max_length=200)
    release: str = Field("", max_length=200)
    owner: str = Field("", max_length=200)
    grant_permissions: list[Permission] = []


class ArtefactMatchingRuleRequest(ArtefactMatchingRuleBase):
    team_ids: list[int]


class ArtefactMatchingRulePatch(BaseModel):
    name: str | None = Field(None, max_length=200)
    family: FamilyName | None = None
    stage: str | None = Field(None, max_length=100)
    track: str | None = Field(None, max_length=200)
    branch: str | None = Field(None, max_length=200)
    store: str | None = Field(None, max_length=200)
    series: str | None = Field(None, max_length=200)
    os: str | None = Field(None, max_length=200)
    release: str | None = Field(None, max_length=200)
    owner: str | None = Field(None, max_length=200)
    team_ids: list[int] | None = None
    grant_permissions: list[Permission] | None = None


class ArtefactMatchingRuleInResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: Wildcard
    family: FamilyName
    stage: Wildcard
    track: Wildcard
    branch: Wildcard
    store: Wildcard
    series: Wildcard
    os: Wildcard
    release: Wildcard
    owner: Wildcard
    grant_permissions: list[Permission]


class TeamMinimal(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str


class ArtefactMatchingRuleResponse(ArtefactMatchingRuleInResponse):
    teams: list[TeamMinimal]
