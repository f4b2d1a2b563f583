"""Who is calling (principals) and what they may do (permissions)."""

from .access import authenticated, loopback_only, requires
from .principal import Principal

__all__ = ["Principal", "authenticated", "loopback_only", "requires"]
