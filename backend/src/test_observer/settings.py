"""Every setting of the API server, read from environment variables with their upstream names."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from test_observer.db.models.enums import Permission

LogLevel = Literal["critical", "error", "warning", "info", "debug"]


class SettingsError(Exception):
    """A setting has a value the server cannot start with. The message names the variable."""


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _origin(value: str) -> str:
    # Browsers send an Origin without a trailing slash; CORS compares origins exactly.
    origin = value.strip().rstrip("/")
    scheme, sep, rest = origin.partition("://")
    if scheme not in ("http", "https") or not sep or not rest or "/" in rest:
        raise ValueError(f"{value!r} is not an origin like https://host[:port]")
    return origin


def normalise_database_url(value: str) -> str:
    """Accept any PostgreSQL URL spelling and use the psycopg 3 driver for it."""
    try:
        url: URL = make_url(value)
    except ArgumentError as error:
        raise ValueError(f"not a database URL: {error}") from None
    if url.get_backend_name() not in ("postgresql", "postgres"):
        raise ValueError(f"only PostgreSQL is supported, got {url.get_backend_name()!r}")
    return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore")

    # None means "no database configured": the command line then starts an embedded one.
    db_url: str | None = None
    frontend_url: str = "http://localhost:30001"
    additional_cors_origins: Annotated[list[str], NoDecode] = []
    require_authentication: bool = False
    ignore_permissions: Annotated[frozenset[Permission], NoDecode] = frozenset()
    # Empty means "generate one at start-up" (see `effective_sessions_secret`).
    sessions_secret: str = ""
    sessions_https_only: bool = True
    # What GET /v1/version reports instead of the installed package's version.
    version_override: str = ""
    log_level: LogLevel = "info"
    # Per worker process: connections kept open, and extra ones opened under bursts. Every
    # unit opens at most workers x (DB_POOL_SIZE + DB_MAX_OVERFLOW) connections; see the
    # performance explanation for the sizing rule against PostgreSQL's max_connections.
    db_pool_size: Annotated[int, Field(ge=1, le=100)] = 5
    db_max_overflow: Annotated[int, Field(ge=0, le=100)] = 5

    @field_validator("db_url")
    @classmethod
    def _check_db_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return normalise_database_url(value.strip())

    @field_validator("frontend_url")
    @classmethod
    def _check_frontend_url(cls, value: str) -> str:
        return _origin(value)

    @field_validator("additional_cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        return _split_commas(value)

    @field_validator("additional_cors_origins")
    @classmethod
    def _check_origins(cls, value: list[str]) -> list[str]:
        return [_origin(item) for item in value]

    @field_validator("ignore_permissions", mode="before")
    @classmethod
    def _parse_permissions(cls, value: object) -> object:
        items = _split_commas(value)
        if isinstance(items, list):
            return frozenset(item.lower() for item in items)
        return items

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_log_level(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def cors_origins(self) -> list[str]:
        return list(dict.fromkeys([self.frontend_url, *self.additional_cors_origins]))


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning validation errors into one message naming the variables."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        problems = []
        for item in error.errors():
            variable = str(item["loc"][0]).upper() if item["loc"] else "settings"
            problems.append(f"{variable}: {item['msg']}")
        raise SettingsError("invalid configuration: " + "; ".join(problems)) from None
