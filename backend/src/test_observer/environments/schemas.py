"""Wire shapes of environments and their reported issues."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class EnvironmentResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    architecture: str


class EnvironmentsResponse(BaseModel):
    environments: list[str]
    count: int = Field(description="Matching names in all, not only on this page.")
    limit: int
    offset: int
