"""Safe encoding of updates and global models: safetensors, a JSON header, optional compression."""

from smartfed.wire.codec import decode_model, decode_update, encode_model, encode_update, spec_of
from smartfed.wire.compression import ErrorFeedback
from smartfed.wire.errors import WireError
from smartfed.wire.header import COMPRESSIONS, SCHEMA_VERSION, UpdateHeader

__all__ = [
    "COMPRESSIONS",
    "SCHEMA_VERSION",
    "ErrorFeedback",
    "UpdateHeader",
    "WireError",
    "decode_model",
    "decode_update",
    "encode_model",
    "encode_update",
    "spec_of",
]
