"""The JSON header that rides in a payload's safetensors metadata.

It identifies what the tensors are (which federation, round and site, encoded how) and carries
the SHA-256 of the tensor bytes so a payload altered in transit or storage is refused before
any of its numbers are used.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import numpy as np

from smartfed.wire.errors import WireError

SCHEMA_VERSION = 1
COMPRESSIONS = ("none", "fp16", "int8", "topk")
KINDS = ("update", "model")

# The metadata key under which the header is stored; safetensors metadata is str -> str.
METADATA_KEY = "smartfed"


@dataclass(frozen=True)
class UpdateHeader:
    """Who sent a payload and how it is encoded.

    ``site`` is the sending site for an update and ``"aggregator"`` for a global model;
    ``round`` is the round the update was trained in, or the round a model was written after.
    """

    kind: str
    federation: str
    round: int
    site: str
    schema_version: int
    sha256: str
    compression: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> UpdateHeader:
        try:
            fields = json.loads(text)
        except json.JSONDecodeError as error:
            raise WireError(
                f"payload header is not valid JSON ({error}); the sender must use smartfed.wire"
            ) from None
        if not isinstance(fields, dict):
            raise WireError(
                f"payload header is a JSON {type(fields).__name__}; it must be an object"
            )
        expected = set(cls.__dataclass_fields__)
        if set(fields) != expected:
            raise WireError(
                f"payload header has fields {sorted(fields)}; schema version {SCHEMA_VERSION} "
                f"needs exactly {sorted(expected)}"
            )
        header = cls(**fields)
        header.validate()
        return header

    def validate(self) -> None:
        """Refuse a header whose fields have the wrong type or an unknown value."""
        for name in ("kind", "federation", "site", "sha256", "compression"):
            if not isinstance(getattr(self, name), str):
                raise WireError(
                    f"header field {name!r} is {getattr(self, name)!r}; it must be a string"
                )
        for name in ("round", "schema_version"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise WireError(f"header field {name!r} is {value!r}; it must be an integer >= 0")
        if self.schema_version != SCHEMA_VERSION:
            raise WireError(
                f"payload has schema version {self.schema_version}; this build reads version "
                f"{SCHEMA_VERSION}; upgrade the older side so both speak the same version"
            )
        if self.kind not in KINDS:
            raise WireError(f"header kind {self.kind!r} is unknown; expected one of {list(KINDS)}")
        if self.compression not in COMPRESSIONS:
            raise WireError(
                f"header compression {self.compression!r} is unknown; expected one of "
                f"{list(COMPRESSIONS)}"
            )
        if not self.federation or not self.site:
            raise WireError("header fields 'federation' and 'site' must not be empty")


def tensor_digest(tensors: dict[str, np.ndarray]) -> str:
    """SHA-256 over every stored tensor in name order: name, dtype, shape, then the raw bytes.

    Name, dtype and shape are hashed as well as the bytes so that two payloads with the same
    bytes laid out differently never share a digest.
    """
    digest = hashlib.sha256()
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name])
        digest.update(json.dumps([name, array.dtype.str, list(array.shape)]).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()
