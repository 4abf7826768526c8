"""What sites and the aggregator send each other during secure aggregation.

Only public keys, ciphertexts, masked vectors and (after the upload) the shares a site agrees
to reveal ever reach the aggregator. The messages travel as JSON bytes (keys and ciphertexts
base64-encoded) so that nothing a site sends is ever unpickled.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

SELF_SEED = "self_seed"
MASK_SEED = "mask_seed"


class SecureAggregationError(RuntimeError):
    """A secure aggregation round cannot go on; the message says which rule failed and why."""


@dataclass(frozen=True)
class KeyAdvert:
    """A site's two X25519 public keys: one to encrypt shares, one to agree pairwise masks."""

    site: str
    cipher_public: bytes
    mask_public: bytes


@dataclass(frozen=True)
class EncryptedShare:
    """Shares of ``sender``'s secrets for ``receiver``, sealed with a key only those two hold."""

    sender: str
    receiver: str
    ciphertext: bytes


@dataclass(frozen=True)
class RevealedShare:
    """One share of ``owner``'s self seed (owner uploaded) or mask seed (owner dropped before)."""

    holder: str
    owner: str
    kind: str
    index: int
    share: bytes


_TYPES = {"KeyAdvert": KeyAdvert, "EncryptedShare": EncryptedShare, "RevealedShare": RevealedShare}
_BYTES_FIELDS = {"cipher_public", "mask_public", "ciphertext", "share"}


def to_bytes(messages: list[KeyAdvert | EncryptedShare | RevealedShare]) -> bytes:
    rows = []
    for message in messages:
        row: dict[str, object] = {"type": type(message).__name__}
        for name in message.__dataclass_fields__:
            value = getattr(message, name)
            row[name] = base64.b64encode(value).decode() if name in _BYTES_FIELDS else value
        rows.append(row)
    return json.dumps(rows, separators=(",", ":")).encode()


def from_bytes(data: bytes) -> list[KeyAdvert | EncryptedShare | RevealedShare]:
    """Messages from JSON bytes, refusing anything that is not exactly one of the three types."""
    try:
        rows = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SecureAggregationError(f"secure aggregation message is not JSON: {error}") from None
    if not isinstance(rows, list):
        raise SecureAggregationError("secure aggregation messages must be a JSON list")
    messages = []
    for row in rows:
        kind = _TYPES.get(row.get("type")) if isinstance(row, dict) else None
        if kind is None or set(row) != set(kind.__dataclass_fields__) | {"type"}:
            raise SecureAggregationError(f"malformed secure aggregation message: {str(row)[:200]}")
        fields = {}
        for name in kind.__dataclass_fields__:
            value = row[name]
            expected = str if name in _BYTES_FIELDS or name != "index" else int
            if not isinstance(value, expected) or isinstance(value, bool):
                raise SecureAggregationError(
                    f"secure aggregation message field {name!r} has a bad value {value!r}"
                )
            try:
                fields[name] = (
                    base64.b64decode(value, validate=True) if name in _BYTES_FIELDS else value
                )
            except binascii.Error:
                raise SecureAggregationError(
                    f"secure aggregation message field {name!r} is not base64"
                ) from None
        messages.append(kind(**fields))
    return messages
