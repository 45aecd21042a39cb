"""Record signatures: an HMAC-SHA256 of a record's value bytes in its `wf-signature` header.

With a signing key configured (`WORKFLOWS_SIGNING_KEY`), every record the engine produces
carries the header, the dispatcher and the workers refuse step commands without a valid one,
and the orchestrator refuses step results without one: a plain producer on the topics can no
longer complete a step it did not run. The signed bytes are the record's value exactly as
sent (no re-encoding: every runtime signs what it produces), and the header's value is
`v1=` followed by the lower-case hex digest. Several keys may verify at once (rotation:
sign with the new key, keep the old one in `WORKFLOWS_SIGNING_KEYS_PREVIOUS` until every
producer has moved). docs/worker-protocol.md shows it in every runtime.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence

__all__ = ["SIGNATURE_HEADER", "Signer", "header_value", "sign"]

SIGNATURE_HEADER = "wf-signature"
_VERSION = b"v1="


def sign(key: bytes, value: bytes) -> bytes:
    """The `wf-signature` header value of a record whose value is `value`."""
    return _VERSION + hmac.new(key, value, hashlib.sha256).hexdigest().encode()


def header_value(headers: Iterable[tuple[str, bytes | None]] | None) -> bytes | None:
    """The `wf-signature` header of a consumed record, or None."""
    for name, value in headers or ():
        if name == SIGNATURE_HEADER:
            return value
    return None


class Signer:
    """Signs with the first key, verifies with any: empty keys mean signing is off."""

    def __init__(self, keys: Sequence[str]) -> None:
        self._keys = [k.encode() for k in keys if k]

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def headers(self, value: bytes) -> list[tuple[str, bytes]] | None:
        """The headers to send `value` with (None when signing is off)."""
        if not self._keys:
            return None
        return [(SIGNATURE_HEADER, sign(self._keys[0], value))]

    def problem(
        self, value: bytes, headers: Iterable[tuple[str, bytes | None]] | None
    ) -> str | None:
        """Why a record is not validly signed, or None when it is (or signing is off)."""
        if not self._keys:
            return None
        given = header_value(headers)
        if given is None:
            return f"the record has no {SIGNATURE_HEADER} header and signing is on"
        if any(hmac.compare_digest(given, sign(key, value)) for key in self._keys):
            return None
        return f"the record's {SIGNATURE_HEADER} does not match its value under any signing key"
