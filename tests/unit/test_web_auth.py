"""API keys: only hashes are configured; a key is accepted when it hashes to one of them."""

from __future__ import annotations

import pytest

from personamap.errors import AuthenticationError
from personamap.web.auth import ApiKeys, hash_api_key, new_api_key

pytestmark = pytest.mark.unit


def test_configured_keys_are_accepted_every_time_and_others_never() -> None:
    first, second, stranger = new_api_key(), new_api_key(), new_api_key()
    keys = ApiKeys([hash_api_key(first), hash_api_key(second)])
    assert keys.enabled
    for _ in range(3):  # a repeated key is remembered, not accepted differently
        assert keys.accepts(first)
        assert keys.accepts(second)
        assert not keys.accepts(stranger)
        assert not keys.accepts(first[:-1])
        assert not keys.accepts(hash_api_key(first))  # the hash itself is not a key
    assert not keys.accepts("")
    assert not keys.accepts(None)
    with pytest.raises(AuthenticationError, match="unknown API key"):
        keys.require(stranger)
    with pytest.raises(AuthenticationError, match="no API key"):
        keys.require(None)
    keys.require(first)


def test_without_configured_keys_everything_is_open() -> None:
    keys = ApiKeys([])
    assert not keys.enabled
    keys.require(None)
    assert not keys.accepts("anything")
