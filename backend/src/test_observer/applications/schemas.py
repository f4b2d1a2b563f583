"""Wire shapes of the applications endpoints."""

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from test_observer.db.models import Permission
from test_observer.db.text_limits import PRINCIPAL_NAME_LENGTH

ApplicationName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=PRINCIPAL_NAME_LENGTH)
]


class ApplicationPost(BaseModel):
    name: ApplicationName
    permissions: list[Permission]


class ApplicationPatch(BaseModel):
    permissions: list[Permission] | None = None


class ApplicationResponse(BaseModel):
    id: int
    name: str
    permissions: list[Permission]
    api_key: str = Field(
        description=(
            "The key in clear in the responses of create and rotate only; "
            "elsewhere a masked form showing its first characters."
        )
    )
