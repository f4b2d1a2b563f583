"""API keys: generated from a CSPRNG, stored only as digests."""

import hashlib
import secrets

KEY_PREFIX = "to_"
# Enough of the key to tell keys apart in listings, far too little to guess the rest.
VISIBLE_CHARACTERS = 7


def generate_api_key() -> str:
    # 32 random bytes encode to 43 url-safe characters.
    return KEY_PREFIX + secrets.token_urlsafe(32)


def digest_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def visible_prefix(key: str) -> str:
    return key[:VISIBLE_CHARACTERS]


def masked(prefix: str) -> str:
    """How a stored key is shown after creation: its first characters only."""
    return prefix + "…"
