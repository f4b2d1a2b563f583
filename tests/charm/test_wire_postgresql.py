"""`database` (postgresql_client v0) against the real data_interfaces library.

A minimal postgresql-k8s, built on the library's `DatabaseProvides`, reads the request our
charm writes and answers it the way postgresql-k8s does (credentials, endpoints, version, TLS);
our charm reads exactly that answer, secrets included. Both copies of the library run: the
newest published one and the one postgresql-k8s itself ships.
"""

from __future__ import annotations

import json

import ops
import pytest
from ops import testing

from . import interface_libs
from .states import (
    SERVICE,
    api_container,
    db_relation,
    db_secret,
    make_context,
    ready_state,
    sessions_secret,
)

COPIES = {
    "data-platform-libs": "charms.data_platform_libs.v0.data_interfaces",
    "postgresql-k8s": "charms.data_platform_libs.v0.data_interfaces_postgresql_k8s_operator",
}
USERNAME = "relation_7"
PASSWORD = "Zq8*w/y:@%"
PRIMARY = "postgresql-k8s-primary.dev.svc.cluster.local:5432"
REPLICAS = "postgresql-k8s-replicas.dev.svc.cluster.local:5432"
CA = "-----BEGIN CERTIFICATE-----\nMIIBwire\n-----END CERTIFICATE-----"
PROVIDER_META = {
    "name": "postgresql-k8s",
    "provides": {"database": {"interface": "postgresql_client"}},
}
REQUIRER_META = {
    "name": "some-client",
    "requires": {"database": {"interface": "postgresql_client"}},
}


def postgresql_charm(library: str, *, tls_ca: str | None) -> type[ops.CharmBase]:
    """postgresql-k8s's answer to a database request, through the library's provider."""
    lib = interface_libs.load(library)

    class PostgresqlCharm(ops.CharmBase):
        def __init__(self, framework: ops.Framework) -> None:
            super().__init__(framework)
            self.database = lib.DatabaseProvides(self, relation_name="database")
            framework.observe(self.database.on.database_requested, self._on_database_requested)

        def _on_database_requested(self, event: ops.RelationEvent) -> None:
            relation_id = event.relation.id
            self.database.set_database(relation_id, event.database)
            self.database.set_credentials(relation_id, USERNAME, PASSWORD)
            self.database.set_endpoints(relation_id, PRIMARY)
            self.database.set_read_only_endpoints(relation_id, REPLICAS)
            self.database.set_version(relation_id, "16.9")
            self.database.set_tls(relation_id, "True" if tls_ca else "False")
            if tls_ca:
                self.database.set_tls_ca(relation_id, tls_ca)

    return PostgresqlCharm


def client_charm(library: str) -> type[ops.CharmBase]:
    """Any client charm that uses the library's own requirer."""
    lib = interface_libs.load(library)

    class ClientCharm(ops.CharmBase):
        def __init__(self, framework: ops.Framework) -> None:
            super().__init__(framework)
            self.database = lib.DatabaseRequires(self, "database", "test_observer")

    return ClientCharm


def our_request() -> dict[str, str]:
    ctx = make_context()
    relation = testing.Relation("database", remote_app_name="postgresql-k8s")
    session = sessions_secret()
    state = testing.State(
        leader=True,
        containers={api_container()},
        relations={
            relation,
            testing.PeerRelation(
                "test-observer-peers", local_app_data={"sessions-secret-id": session.id}
            ),
        },
        secrets={session},
    )
    out = ctx.run(ctx.on.relation_created(relation), state)
    return dict(out.get_relation(relation.id).local_app_data)


def provider_run(
    library: str, request: dict[str, str], *, tls_ca: str | None = None
) -> tuple[testing.Context[ops.CharmBase], testing.State]:
    """The provider's state after it answered `request`."""
    ctx = testing.Context(postgresql_charm(library, tls_ca=tls_ca), meta=PROVIDER_META)
    relation = testing.Relation(
        "database",
        remote_app_name="test-observer-api",
        remote_app_data=request,
        remote_units_data={0: {}},
    )
    out = ctx.run(
        ctx.on.relation_changed(relation, remote_unit=0),
        testing.State(leader=True, relations={relation}),
    )
    return ctx, out


def answer(
    library: str, request: dict[str, str], *, tls_ca: str | None = None
) -> tuple[dict[str, str], list[testing.Secret]]:
    """What the provider writes for `request`, and the secrets it grants."""
    _, out = provider_run(library, request, tls_ca=tls_ca)
    granted = [interface_libs.remote_view(s) for s in out.secrets]
    (relation,) = out.relations
    return dict(relation.local_app_data), granted


def served_with(request: dict[str, str], provided: dict[str, str], granted: list[testing.Secret]):
    ctx = make_context()
    relation = testing.Relation(
        "database",
        remote_app_name="postgresql-k8s",
        local_app_data=request,
        remote_app_data=provided,
    )
    user = next((s for s in granted if "username" in s.tracked_content), None)
    others = [s for s in granted if s is not user]
    state = ready_state(relation=relation, secret=user, secrets=others)
    return ctx.run(ctx.on.relation_changed(relation), state)


@pytest.fixture(params=list(COPIES.values()), ids=list(COPIES))
def library(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.mark.parametrize("tls_ca", [None, CA], ids=["plain", "tls"])
def test_the_provider_answers_our_request_and_we_serve_with_its_answer(library, tls_ca):
    request = our_request()

    provided, granted = answer(library, request, tls_ca=tls_ca)
    out = served_with(request, provided, granted)

    # We asked for the credentials and the TLS fields as Juju secrets, so they came as such.
    assert provided["secret-user"].startswith("secret:")
    assert provided["secret-tls"].startswith("secret:")
    assert not {"username", "password", "tls", "tls-ca"} & set(provided)
    assert out.unit_status == testing.ActiveStatus()
    env = out.get_container("api").plan.services[SERVICE].environment
    url = env["DB_URL"]
    assert url.startswith(f"postgresql://relation_7:Zq8%2Aw%2Fy%3A%40%25@{PRIMARY}/test_observer")
    assert ("sslmode=verify-full" in url) is (tls_ca is not None)


def test_a_request_without_requested_secrets_gets_plain_fields_and_we_read_them(library):
    # What the provider does for an older requirer: everything in the databag, no secret.
    request = {"database": our_request()["database"]}

    provided, granted = answer(library, request, tls_ca=CA)
    out = served_with(request, provided, granted)

    assert granted == []
    assert provided["username"] == USERNAME
    assert provided["tls-ca"] == CA
    assert out.unit_status == testing.ActiveStatus()
    env = out.get_container("api").plan.services[SERVICE].environment
    assert "sslmode=verify-full" in env["DB_URL"]


def test_the_provider_sees_the_database_we_ask_for(library):
    request = our_request()

    provided, _ = answer(library, request)

    assert provided["database"] == "test_observer"
    # The provider keeps a copy of the request it answered, to notice when it changes.
    assert json.loads(provided["data"]) == request


def test_our_request_gets_the_same_fields_as_the_librarys_own_requirer(library):
    """Against the library's requirer: what differs in the request changes nothing we read."""
    ctx = testing.Context(client_charm(library), meta=REQUIRER_META)
    relation = testing.Relation("database", remote_app_name="postgresql-k8s")
    out = ctx.run(
        ctx.on.relation_created(relation), testing.State(leader=True, relations={relation})
    )
    theirs = dict(out.get_relation(relation.id).local_app_data)
    ours = our_request()

    assert theirs["database"] == ours["database"]
    # The library also asks for the fields of roles and mTLS that a client of one database
    # with a password never uses.
    assert set(json.loads(ours["requested-secrets"])) <= set(
        json.loads(theirs["requested-secrets"])
    )
    answered_theirs, _ = answer(library, theirs, tls_ca=CA)
    answered_ours, _ = answer(library, ours, tls_ca=CA)
    assert set(answered_theirs) == set(answered_ours)


def test_the_database_the_other_charm_tests_relate_to_is_what_the_provider_writes(library):
    """states.db_relation stands in for postgresql-k8s elsewhere; it must be its shape."""
    provided, granted = answer(library, our_request())
    fixture = db_relation(db_secret())

    assert set(fixture.remote_app_data) <= set(provided)
    assert {k: provided[k] for k in ("endpoints", "database", "version")} == {
        k: fixture.remote_app_data[k] for k in ("endpoints", "database", "version")
    }
    (user,) = [s for s in granted if s.id == provided["secret-user"]]
    assert set(user.tracked_content) == set(db_secret().tracked_content)


def test_a_password_the_provider_rotates_reaches_the_api(library):
    """postgresql-k8s rotates a password by setting the credentials again: a new revision."""
    request = our_request()
    ctx, answered = provider_run(library, request)
    (relation,) = answered.relations
    with ctx(ctx.on.update_status(), answered) as manager:
        manager.charm.database.set_credentials(relation.id, USERNAME, "n3w-p@ss")
        rotated = manager.run()
    (user,) = [s for s in rotated.secrets if "username" in s.tracked_content]
    provided = dict(rotated.get_relation(relation.id).local_app_data)
    # We still track the first revision; the new one is the latest.
    assert user.tracked_content["password"] == PASSWORD
    assert (user.latest_content or {})["password"] == "n3w-p@ss"
    seen = testing.Secret(
        dict(user.tracked_content),
        latest_content=dict(user.latest_content or {}),
        id=user.id,
    )

    out = served_with(request, provided, [seen])

    assert provided["secret-user"] == user.id
    env = out.get_container("api").plan.services[SERVICE].environment
    assert env["DB_URL"].startswith("postgresql://relation_7:n3w-p%40ss@")
