"""Typed parameters of the charm's actions.

Juju checks each parameter's JSON type against charmcraft.yaml; these classes check the rest
(empty names, a revision with spaces, a negative id) so that every handler works with values
it can trust. `event.load_params(Cls, errors="fail")` fails the action with the ValueError's
message, before any command runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_REVISION = re.compile(r"^(head|base|[+-]?\d+|[0-9A-Za-z_]+([+-]\d+)?)$")


def _revision(value: str, what: str) -> str:
    value = value.strip()
    if not _REVISION.match(value):
        raise ValueError(f"{what} must be a revision id, 'head', 'base' or a step like -1")
    return value


@dataclass(frozen=True)
class MigrateParams:
    revision: str = "head"

    def __post_init__(self) -> None:
        object.__setattr__(self, "revision", _revision(self.revision, "revision"))


# The rollback target that stands for "where the last upgrade started".
PREVIOUS = "previous"


@dataclass(frozen=True)
class RollbackParams:
    revision: str = PREVIOUS
    confirm: bool = False

    def __post_init__(self) -> None:
        if self.revision.strip() != PREVIOUS:
            object.__setattr__(self, "revision", _revision(self.revision, "revision"))
        else:
            object.__setattr__(self, "revision", PREVIOUS)
        if self.revision == "head":
            raise ValueError(
                "rollback goes backwards: give 'previous', a revision id, 'base' or a step"
            )
        self.check_confirmed(self.revision)

    def check_confirmed(self, target: str) -> None:
        """Going to base drops every table: only with confirm=true."""
        if target == "base" and not self.confirm:
            raise ValueError(
                "rolling back to base deletes every table and all the data: run it again "
                "with confirm=true if that is what you want"
            )


@dataclass(frozen=True)
class CreateApplicationParams:
    name: str
    permissions: str = ""
    all_permissions: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", self.name.strip())
        if not self.name:
            raise ValueError("name must not be empty")
        if self.all_permissions == bool(self.permission_list):
            raise ValueError("give either permissions=P1,P2 or all-permissions=true")

    @property
    def permission_list(self) -> list[str]:
        return [p.strip() for p in self.permissions.split(",") if p.strip()]


@dataclass(frozen=True)
class PromoteUserParams:
    email: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "email", self.email.strip())
        if "@" not in self.email:
            raise ValueError(f"'{self.email}' is not an email address")


@dataclass(frozen=True)
class DeleteArtefactParams:
    artefact_id: int

    def __post_init__(self) -> None:
        if isinstance(self.artefact_id, bool) or self.artefact_id < 1:
            raise ValueError("artefact-id must be a positive integer")


@dataclass(frozen=True)
class RunJobParams:
    name: str
    # Space-separated, as an operator types them (e.g. "high" for sync-issues).
    args: str = ""


@dataclass(frozen=True)
class AddUserParams:
    launchpad_email: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "launchpad_email", self.launchpad_email.strip())
        local, _, domain = self.launchpad_email.partition("@")
        if not local or not domain or any(c.isspace() for c in self.launchpad_email):
            raise ValueError(f"'{self.launchpad_email}' is not an email address")


@dataclass(frozen=True)
class ChangeAssigneeParams:
    """The original's `user-id` (one reviewer), or `reviewers`: user ids or emails, in order."""

    artefact_id: int
    user_id: int | None = None
    reviewers: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.artefact_id, bool) or self.artefact_id < 1:
            raise ValueError("artefact-id must be a positive integer")
        if self.user_id is not None and (isinstance(self.user_id, bool) or self.user_id < 1):
            raise ValueError("user-id must be a positive integer")
        listed = [r for r in self.reviewers.split(",") if r.strip()]
        if (self.user_id is None) == (not listed):
            raise ValueError("give either user-id=ID or reviewers=ID-OR-EMAIL,...")

    @property
    def reviewer_list(self) -> list[str]:
        if self.user_id is not None:
            return [str(self.user_id)]
        return [r.strip() for r in self.reviewers.split(",") if r.strip()]
