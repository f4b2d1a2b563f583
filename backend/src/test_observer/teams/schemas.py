"""Wire shapes of the teams endpoints."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from test_observer.db.models import Permission
from test_observer.db.text_limits import PRINCIPAL_NAME_LENGTH
from test_observer.matching_rules.schemas import (
    ArtefactMatchingRuleBase,
    ArtefactMatchingRuleInResponse,
)


class UserMinimalResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    launchpad_handle: str | None
    email: str
    name: str
    is_admin: bool


LaunchpadTeamName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=PRINCIPAL_NAME_LENGTH),
]
LAUNCHPAD_TEAM_DESCRIPTION = (
    "The Launchpad team whose members this team follows at each sign-in (added and removed); "
    "null: members are managed through the API only. Only administrators may set it."
)


class TeamCreate(BaseModel):
    name: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=PRINCIPAL_NAME_LENGTH),
    ]
    permissions: list[Permission] = []
    artefact_matching_rules: list[ArtefactMatchingRuleBase] = []
    launchpad_team: LaunchpadTeamName | None = Field(None, description=LAUNCHPAD_TEAM_DESCRIPTION)


class TeamPatch(BaseModel):
    permissions: list[Permission] | None = None
    artefact_matching_rules: list[ArtefactMatchingRuleBase] | None = None
    launchpad_team: LaunchpadTeamName | None = Field(
        None, description=LAUNCHPAD_TEAM_DESCRIPTION + " Send null to unlink."
    )


class TeamResponse(BaseModel):
    id: int
    name: str
    permissions: list[Permission]
    launchpad_team: str | None = Field(description=LAUNCHPAD_TEAM_DESCRIPTION)
    members: list[UserMinimalResponse]
    artefact_matching_rules: list[ArtefactMatchingRuleInResponse]
