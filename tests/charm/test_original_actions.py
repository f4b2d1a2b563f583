"""The original charm's `add-user` and `change-assignee` actions: what they run, and how a
failure reaches the operator."""

from __future__ import annotations

import pytest
from ops import testing

from .states import HEAD, OLD, api_container, cli, exec_commands
from .test_actions import _last_exec, _state


class TestAddUser:
    def test_runs_add_user_from_launchpad_and_returns_its_outcome(self, ctx):
        said = "Looking ada@example.com up on Launchpad\nCreated user ada@example.com (id 7)\n"
        container = api_container(execs=[cli("admin", "add-user", stderr=said)], running=True)

        ctx.run(
            ctx.on.action("add-user", params={"launchpad-email": " ada@example.com "}),
            _state(leader=False, container=container),
        )

        run = _last_exec(ctx)
        assert list(run.command) == [
            "test-observer", "admin", "add-user", "--launchpad", "--", "ada@example.com",
        ]  # fmt: skip
        assert run.environment["DB_URL"].startswith("postgresql://")
        assert ctx.action_results == {"result": "Created user ada@example.com (id 7)"}

    def test_an_existing_user_is_reported(self, ctx):
        said = "User with email ada@example.com already exists. Skipping creation.\n"
        container = api_container(execs=[cli("admin", "add-user", stderr=said)], running=True)

        ctx.run(
            ctx.on.action("add-user", params={"launchpad-email": "ada@example.com"}),
            _state(container=container),
        )

        assert ctx.action_results == {"result": said.strip()}

    def test_an_email_unknown_to_launchpad_fails_the_action(self, ctx):
        container = api_container(
            execs=[
                cli(
                    "admin",
                    "add-user",
                    rc=1,
                    stderr="Looking eve@example.com up on Launchpad\n"
                    "Error: Email not registered in launchpad\n",
                )
            ],
            running=True,
        )

        with pytest.raises(testing.ActionFailed) as failure:
            ctx.run(
                ctx.on.action("add-user", params={"launchpad-email": "eve@example.com"}),
                _state(container=container),
            )

        assert failure.value.message == "add-user failed: Email not registered in launchpad"


class TestChangeAssignee:
    def test_the_originals_user_id_makes_one_reviewer(self, ctx):
        said = "Artefact core 1 (id 42) is reviewed by ada@example.com (id 3)\n"
        container = api_container(
            execs=[cli("admin", "change-assignee", stderr=said)], running=True
        )

        ctx.run(
            ctx.on.action("change-assignee", params={"artefact-id": 42, "user-id": 3}),
            _state(container=container),
        )

        assert list(_last_exec(ctx).command)[1:] == ["admin", "change-assignee", "--", "42", "3"]
        assert ctx.action_results == {"result": said.strip()}

    def test_several_reviewers_by_email_keep_their_order(self, ctx):
        container = api_container(execs=[cli("admin", "change-assignee")], running=True)

        ctx.run(
            ctx.on.action(
                "change-assignee",
                params={"artefact-id": 42, "reviewers": "bob@example.com, ada@example.com"},
            ),
            _state(container=container),
        )

        assert list(_last_exec(ctx).command)[1:] == [
            "admin", "change-assignee", "--", "42", "bob@example.com", "ada@example.com",
        ]  # fmt: skip

    def test_an_unknown_artefact_fails_the_action(self, ctx):
        container = api_container(
            execs=[
                cli("admin", "change-assignee", rc=1, stderr="Error: Artefact with id 9 not found")
            ],
            running=True,
        )

        with pytest.raises(testing.ActionFailed) as failure:
            ctx.run(
                ctx.on.action("change-assignee", params={"artefact-id": 9, "user-id": 3}),
                _state(container=container),
            )

        assert failure.value.message == "change-assignee failed: Artefact with id 9 not found"


@pytest.mark.parametrize(
    ("action", "params", "message"),
    [
        ("add-user", {"launchpad-email": "nobody"}, "'nobody' is not an email address"),
        ("add-user", {"launchpad-email": "a b@example.com"}, "is not an email address"),
        ("change-assignee", {"artefact-id": 0, "user-id": 1}, "artefact-id must be a positive"),
        ("change-assignee", {"artefact-id": 1, "user-id": -1}, "user-id must be a positive"),
        ("change-assignee", {"artefact-id": 1}, "give either user-id=ID or reviewers="),
        (
            "change-assignee",
            {"artefact-id": 1, "user-id": 2, "reviewers": "3"},
            "give either user-id=ID or reviewers=",
        ),
        ("change-assignee", {"artefact-id": 1, "reviewers": " , "}, "give either user-id"),
    ],
)
def test_parameters_are_checked_before_any_command_runs(ctx, action, params, message):
    with pytest.raises(testing.ActionFailed) as failure:
        ctx.run(ctx.on.action(action, params=params), _state())

    assert message in failure.value.message
    assert not any("admin" in c for c in exec_commands(ctx))


def test_refused_while_the_schema_does_not_match_the_code(ctx):
    container = api_container(db_revision=OLD, running=True)
    state = _state(container=container, gate_revision=OLD, status="held", target=HEAD)

    with pytest.raises(testing.ActionFailed) as failure:
        ctx.run(ctx.on.action("add-user", params={"launchpad-email": "ada@example.com"}), state)

    assert "does not match" in failure.value.message
    assert not any("admin" in c for c in exec_commands(ctx))
