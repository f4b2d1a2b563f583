"""Wire shapes of test plans."""

from pydantic import BaseModel, Field


class TestPlansResponse(BaseModel):
    __test__ = False

    test_plans: list[str]
    count: int = Field(description="Matching names in all, not only on this page.")
    limit: int
    offset: int
