"""The one exception every data source raises for input it cannot use."""

from __future__ import annotations


class DataError(ValueError):
    """A data source was asked for something it cannot deliver, or a file is malformed.

    The message names the bad value (and for files the path and line), the rule it broke and
    what to do about it, so the CLI can print it as it is.
    """
