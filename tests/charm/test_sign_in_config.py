"""Single sign-on, Jira and Sentry options: partial SAML configuration blocks naming what is
missing; secrets named by options reach the workload and follow secret-changed."""

from __future__ import annotations

import pytest
from ops import testing

from .states import HEAD, SERVICE, api_container, db_relation, db_secret, gate, ready_state

CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
KEY = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"
METADATA = "https://login.example.com/saml/metadata"


def _environment(out: testing.State) -> dict[str, str]:
    return dict(out.get_container("api").plan.services[SERVICE].environment)


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        ({"saml-idp-metadata-url": METADATA}, "saml-sp-cert, saml-sp-key"),
        ({"saml-sp-cert": CERT}, "saml-idp-metadata-url, saml-sp-key"),
        ({"saml-idp-metadata-url": METADATA, "saml-sp-cert": CERT}, "saml-sp-key"),
    ],
)
def test_partial_saml_configuration_blocks_and_writes_no_layer(ctx, given, missing):
    secret = db_secret()
    relation = db_relation(secret)
    state = ready_state(
        config=given,
        relation=relation,
        secret=secret,
        container=api_container(running=True),
        gate_data=gate(HEAD, relation),
    )

    out = ctx.run(ctx.on.config_changed(), state)

    assert isinstance(out.unit_status, testing.BlockedStatus)
    assert "SAML config incomplete" in out.unit_status.message
    assert f"missing {missing}" in out.unit_status.message
    # The running plan is the rock's: nothing of the partial configuration was written.
    env = _environment(out)
    assert not any(name.startswith("SAML_") for name in env)


def test_complete_saml_configuration_reaches_the_workload(ctx):
    key = testing.Secret({"value": KEY})
    config = {"saml-idp-metadata-url": METADATA, "saml-sp-cert": CERT, "saml-sp-key": key.id}

    out = ctx.run(ctx.on.config_changed(), ready_state(config=config, secrets=[key]))

    env = _environment(out)
    assert env["SAML_IDP_METADATA_URL"] == METADATA
    assert env["SAML_SP_X509_CERT"] == CERT.strip()
    assert env["SAML_SP_KEY"] == KEY.strip()
    assert env["SAML_SP_BASE_URL"].startswith("http://test-observer-api.")
    assert "USE_LOCAL_LOGIN" not in env
    assert out.unit_status == testing.ActiveStatus()


def test_saml_key_secret_must_be_granted(ctx):
    never_granted = testing.Secret({"value": KEY})
    config = {
        "saml-idp-metadata-url": METADATA,
        "saml-sp-cert": CERT,
        "saml-sp-key": never_granted.id,
    }

    out = ctx.run(ctx.on.config_changed(), ready_state(config=config))

    assert isinstance(out.unit_status, testing.BlockedStatus)
    assert "'saml-sp-key'" in out.unit_status.message
    assert "grant-secret" in out.unit_status.message


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("saml-idp-metadata-url", "login.example.com/metadata"),
        ("saml-sp-cert", "not a certificate"),
        ("sentry-dsn", "nonsense"),
    ],
)
def test_malformed_values_block_naming_the_option(ctx, option, value):
    key = testing.Secret({"value": KEY})
    config = {"saml-idp-metadata-url": METADATA, "saml-sp-cert": CERT, "saml-sp-key": key.id}
    config[option] = value

    out = ctx.run(ctx.on.config_changed(), ready_state(config=config, secrets=[key]))

    assert isinstance(out.unit_status, testing.BlockedStatus)
    assert f"'{option}'" in out.unit_status.message


class TestJiraCredentials:
    CONTENT = {"cloud-id": "c-1", "email": "bot@example.com", "api-token": "t-1"}

    def test_credentials_reach_the_workload(self, ctx):
        secret = testing.Secret(dict(self.CONTENT))
        state = ready_state(config={"jira-credentials": secret.id}, secrets=[secret])

        env = _environment(ctx.run(ctx.on.config_changed(), state))

        assert (env["JIRA_CLOUD_ID"], env["JIRA_EMAIL"], env["JIRA_API_TOKEN"]) == (
            "c-1",
            "bot@example.com",
            "t-1",
        )

    def test_secret_changed_rereads_them(self, ctx):
        secret = testing.Secret(
            dict(self.CONTENT), latest_content={**self.CONTENT, "api-token": "t-2"}
        )
        state = ready_state(config={"jira-credentials": secret.id}, secrets=[secret])

        env = _environment(ctx.run(ctx.on.secret_changed(secret), state))

        assert env["JIRA_API_TOKEN"] == "t-2"

    def test_missing_keys_block_naming_them(self, ctx):
        secret = testing.Secret({"cloud-id": "c-1"})
        state = ready_state(config={"jira-credentials": secret.id}, secrets=[secret])

        out = ctx.run(ctx.on.config_changed(), state)

        assert isinstance(out.unit_status, testing.BlockedStatus)
        assert "'jira-credentials'" in out.unit_status.message
        assert "'email', 'api-token'" in out.unit_status.message

    def test_ungranted_secret_blocks(self, ctx):
        never_granted = testing.Secret(dict(self.CONTENT))
        state = ready_state(config={"jira-credentials": never_granted.id})

        out = ctx.run(ctx.on.config_changed(), state)

        assert isinstance(out.unit_status, testing.BlockedStatus)
        assert "grant-secret" in out.unit_status.message


def test_no_sign_in_or_integration_variables_by_default(ctx):
    env = _environment(ctx.run(ctx.on.config_changed(), ready_state()))

    for name in env:
        assert not name.startswith(("SAML_", "JIRA_", "SENTRY_")), name
    assert "USE_LOCAL_LOGIN" not in env


def test_sentry_dsn_reaches_the_workload(ctx):
    dsn = "https://public@sentry.example.com/3"
    env = _environment(ctx.run(ctx.on.config_changed(), ready_state(config={"sentry-dsn": dsn})))
    assert env["SENTRY_DSN"] == dsn
