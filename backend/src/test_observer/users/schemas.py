"""Wire shapes of the users endpoints."""

from pydantic import BaseModel, ConfigDict

from test_observer.db.models import Permission


class TeamMinimalResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    permissions: list[Permission]


class UserResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    name: str
    launchpad_handle: str | None
    teams: list[TeamMinimalResponse]
    is_admin: bool


class UsersResponse(BaseModel):
    users: list[UserResponse]
    count: int
    limit: int
    offset: int


class UserPatch(BaseModel):
    is_admin: bool | None = None
