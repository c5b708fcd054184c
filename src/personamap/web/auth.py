"""API keys: stored as SHA-256 hashes in the configuration, presented as a header by clients.

A client sends its key as ``X-API-Key: KEY`` or ``Authorization: Bearer KEY``. Only hashes are
configured (``sha256:<hex>``), so the configuration never holds a usable key; ``personamap
api-key`` makes a new key and prints its hash.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable

from fastapi.security import APIKeyHeader, HTTPBearer

from personamap.config import Settings
from personamap.errors import AuthenticationError, ConfigError

PREFIX = "sha256:"
HEADER = "X-API-Key"

api_key_header = APIKeyHeader(
    name=HEADER, scheme_name="ApiKey", auto_error=False, description="An API key."
)
bearer = HTTPBearer(
    scheme_name="Bearer", auto_error=False, description="An API key as a bearer token."
)


def require_keys_in_production(settings: Settings) -> None:
    """Refuse to serve production without API keys.

    Raises:
        ConfigError: ``PERSONAMAP_ENV=production`` and no keys configured.
    """
    if settings.env == "production" and not settings.api_keys:
        raise ConfigError(
            "PERSONAMAP_ENV=production: the web service does not start without API keys; "
            "make one with `personamap api-key` and set PERSONAMAP_API_KEYS='[\"sha256:...\"]'"
        )


def hash_api_key(key: str) -> str:
    """The configuration form of ``key``: ``sha256:<hex digest>``."""
    return PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_api_key() -> str:
    """A new random key (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


class ApiKeys:
    """The accepted keys, as digests.

    Args:
        hashes: Hashes of the form ``sha256:<64 hex digits>`` (the settings validate them).
    """

    def __init__(self, hashes: Iterable[str]) -> None:
        self._digests = tuple(bytes.fromhex(h.removeprefix(PREFIX)) for h in hashes)
        # Keys seen to match, so a client's every request does not hash its key again. At most
        # one per configured hash (two keys cannot share a SHA-256), so this cannot grow.
        self._accepted: set[str] = set()

    @property
    def enabled(self) -> bool:
        """Whether requests must present a key."""
        return bool(self._digests)

    def accepts(self, key: str | None) -> bool:
        """Whether ``key`` is one of the configured keys (hashes compared in constant time)."""
        if not key:
            return False
        if key in self._accepted:
            return True
        digest = hashlib.sha256(key.encode("utf-8")).digest()
        found = False
        for accepted in self._digests:
            found |= hmac.compare_digest(digest, accepted)
        if found:
            self._accepted.add(key)
        return found

    def require(self, key: str | None) -> None:
        """Raise unless keys are off or ``key`` is accepted.

        Raises:
            AuthenticationError: no key, or an unknown one.
        """
        if self.enabled and not self.accepts(key):
            given = "an unknown API key" if key else "no API key"
            raise AuthenticationError(
                f"this endpoint needs an API key: the request has {given}; send it as "
                f"'{HEADER}: KEY' or 'Authorization: Bearer KEY'"
            )
