"""The one error the wire format raises, so callers can refuse a payload in one ``except``."""

from __future__ import annotations


class WireError(ValueError):
    """A payload cannot be encoded or was refused on decode; the message names the rule broken."""
