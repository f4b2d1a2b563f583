"""The version this server reports."""

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "test-observer"
UNKNOWN_VERSION = "0.0.0"


def installed_version() -> str:
    """The installed package's version (set from git tags at build time), else 0.0.0."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return UNKNOWN_VERSION
