"""Settings come from upstream-named environment variables; bad values name the variable."""

from __future__ import annotations

import pytest

from test_observer.db.models import Permission
from test_observer.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "DB_URL",
        "FRONTEND_URL",
        "ADDITIONAL_CORS_ORIGINS",
        "REQUIRE_AUTHENTICATION",
        "IGNORE_PERMISSIONS",
        "SESSIONS_SECRET",
        "SESSIONS_HTTPS_ONLY",
        "VERSION_OVERRIDE",
        "LOG_LEVEL",
        "SAML_SP_BASE_URL",
        "SAML_IDP_METADATA_URL",
        "SAML_SP_X509_CERT",
        "SAML_SP_KEY",
        "USE_LOCAL_LOGIN",
        "JIRA_CLOUD_ID",
        "JIRA_EMAIL",
        "JIRA_API_TOKEN",
        "JIRA_API_URL",
        "SENTRY_DSN",
    ):
        monkeypatch.delenv(name, raising=False)


def test_defaults() -> None:
    settings = load_settings()
    assert settings.db_url is None
    assert settings.frontend_url == "http://localhost:30001"
    assert settings.cors_origins == ["http://localhost:30001"]
    assert settings.require_authentication is False
    assert settings.ignore_permissions == frozenset()
    assert settings.sessions_https_only is True
    assert settings.version_override == ""
    assert (settings.db_pool_size, settings.db_max_overflow) == (5, 5)


def test_values_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_URL", "postgresql+pg8000://user:p%40ss@db.example:5433/observer")
    monkeypatch.setenv("FRONTEND_URL", "https://observer.example/")
    monkeypatch.setenv("ADDITIONAL_CORS_ORIGINS", " https://a.example , ,http://b.example:8080")
    monkeypatch.setenv("REQUIRE_AUTHENTICATION", "TRUE")
    monkeypatch.setenv("IGNORE_PERMISSIONS", "View_Test, change_test")
    monkeypatch.setenv("SESSIONS_HTTPS_ONLY", "false")
    monkeypatch.setenv("VERSION_OVERRIDE", "3.1.4")
    settings = load_settings()
    # Any PostgreSQL driver spelling is served by psycopg 3; credentials stay intact.
    assert settings.db_url == "postgresql+psycopg://user:p%40ss@db.example:5433/observer"
    assert settings.cors_origins == [
        "https://observer.example",
        "https://a.example",
        "http://b.example:8080",
    ]
    assert settings.require_authentication is True
    assert settings.ignore_permissions == {Permission.view_test, Permission.change_test}
    assert settings.sessions_https_only is False
    assert settings.version_override == "3.1.4"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DB_URL", "mysql://root@localhost/db"),
        ("DB_URL", "not a url"),
        ("FRONTEND_URL", "localhost:30001"),
        ("ADDITIONAL_CORS_ORIGINS", "https://ok.example,ftp://files.example"),
        ("ADDITIONAL_CORS_ORIGINS", "https://host.example/with/path"),
        ("REQUIRE_AUTHENTICATION", "maybe"),
        ("IGNORE_PERMISSIONS", "view_test,fly_to_the_moon"),
        ("SESSIONS_HTTPS_ONLY", "sometimes"),
        ("LOG_LEVEL", "loud"),
        ("DB_POOL_SIZE", "0"),
        ("DB_MAX_OVERFLOW", "-1"),
    ],
)
def test_a_bad_value_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert variable in str(error.value)


def test_sign_in_and_integration_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert settings.saml_sp_base_url == "http://localhost:30000"
    assert not settings.saml_configured
    assert settings.use_local_login is False
    assert not settings.jira_configured
    assert settings.sentry_dsn == ""

    monkeypatch.setenv("SAML_SP_BASE_URL", "https://api.example/")
    monkeypatch.setenv("SAML_IDP_METADATA_URL", "https://idp.example/metadata")
    monkeypatch.setenv("JIRA_CLOUD_ID", "c1")
    monkeypatch.setenv("JIRA_EMAIL", "bot@example.com")
    monkeypatch.setenv("JIRA_API_TOKEN", "t")
    settings = load_settings()
    assert settings.saml_sp_base_url == "https://api.example"
    assert settings.saml_configured
    assert settings.jira_configured
    assert settings.jira_base_url == "https://api.atlassian.com/ex/jira/c1"
    monkeypatch.setenv("JIRA_API_URL", "https://jira.staging.example/")
    assert load_settings().jira_base_url == "https://jira.staging.example"


def test_saml_certificate_needs_its_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAML_SP_X509_CERT", "-----BEGIN CERTIFICATE-----")
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert "SAML_SP_X509_CERT and SAML_SP_KEY must be set together" in str(error.value)


def test_saml_key_pair_must_match(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.backend.identity_provider import key_and_certificate

    key, certificate = key_and_certificate("sp")
    other_key, _ = key_and_certificate("other")
    monkeypatch.setenv("SAML_SP_X509_CERT", certificate)
    monkeypatch.setenv("SAML_SP_KEY", key)
    assert load_settings().saml_sp_key == key

    monkeypatch.setenv("SAML_SP_KEY", other_key)
    with pytest.raises(SettingsError, match="not the certificate of SAML_SP_KEY"):
        load_settings()
    monkeypatch.setenv("SAML_SP_KEY", "garbage")
    with pytest.raises(SettingsError, match="not an unencrypted PEM private key"):
        load_settings()


def test_the_pool_settings_size_each_workers_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    from test_observer.app import create_app

    monkeypatch.setenv("DB_URL", "postgresql://user@db.example/observer")
    monkeypatch.setenv("DB_POOL_SIZE", "3")
    monkeypatch.setenv("DB_MAX_OVERFLOW", "2")
    app = create_app(load_settings())
    pool = app.state.engine.pool
    assert (pool.size(), pool._max_overflow) == (3, 2)
