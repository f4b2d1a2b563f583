"""Juju user secrets named by config options, and the sign-in and integration environment.

An operator stores a credential with `juju add-secret`, grants it to the application and sets
the secret's URI as the option's value. The charm reads the content with `refresh=True` on
every reconcile, so a `secret-changed` event (the operator updated the content) reaches the
workload's environment at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import ops

from .config import CharmConfig, InvalidConfigError

JIRA_KEYS = ("cloud-id", "email", "api-token")


def read_secret(model: ops.Model, option: str, uri: str, keys: Sequence[str]) -> dict[str, str]:
    """The named keys of the secret at `uri`; InvalidConfigError naming `option` otherwise."""
    try:
        content = model.get_secret(id=uri).get_content(refresh=True)
    except (ops.SecretNotFoundError, ops.ModelError):
        raise InvalidConfigError(
            option,
            f"secret not found or not granted: juju grant-secret <secret> {model.app.name}",
        ) from None
    missing = [key for key in keys if not content.get(key, "").strip()]
    if missing:
        raise InvalidConfigError(
            option, f"the secret lacks the key(s) {', '.join(repr(k) for k in missing)}"
        )
    return {key: content[key].strip() for key in keys}


@dataclass(frozen=True)
class Credentials:
    """What the options' secrets hold, once read."""

    saml_sp_key: str = ""
    jira: Mapping[str, str] | None = None


def read_credentials(model: ops.Model, config: CharmConfig) -> Credentials:
    saml_sp_key = ""
    if config.saml_sp_key:
        saml_sp_key = read_secret(model, "saml-sp-key", config.saml_sp_key, ["value"])["value"]
    jira = None
    if config.jira_credentials:
        jira = read_secret(model, "jira-credentials", config.jira_credentials, JIRA_KEYS)
    return Credentials(saml_sp_key=saml_sp_key, jira=jira)


def integration_environment(
    config: CharmConfig, credentials: Credentials, public_url: str
) -> dict[str, str]:
    """SAML, Jira and Sentry variables; none of them when the options are empty.

    USE_LOCAL_LOGIN is never set: development sign-in links must not exist in a deployment.
    """
    env: dict[str, str] = {}
    if config.saml_idp_metadata_url:
        env.update(
            {
                # The service provider's entity id and the base of its ACS and SLS URLs: the
                # address browsers reach the API at.
                "SAML_SP_BASE_URL": public_url,
                "SAML_IDP_METADATA_URL": config.saml_idp_metadata_url,
                "SAML_SP_X509_CERT": config.saml_sp_cert,
                "SAML_SP_KEY": credentials.saml_sp_key,
            }
        )
    if credentials.jira is not None:
        env.update(
            {
                "JIRA_CLOUD_ID": credentials.jira["cloud-id"],
                "JIRA_EMAIL": credentials.jira["email"],
                "JIRA_API_TOKEN": credentials.jira["api-token"],
            }
        )
    if config.sentry_dsn:
        env["SENTRY_DSN"] = config.sentry_dsn
    return env
