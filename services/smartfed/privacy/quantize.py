"""Fixed-point encoding of clipped float updates into integers modulo 2^32, for masking.

Masks cancel only in exact arithmetic, so secure aggregation sums integers, not floats. Each
value is clipped to ``[-clip_range, clip_range]`` and mapped to a signed integer in
``[-levels, levels]`` with ``levels = floor((2^31 - 1) / max_summands)``; the integer is kept
in two's complement as a uint32, so numpy's wrapping uint32 addition *is* addition mod 2^32.
A sum of up to ``max_summands`` such integers lies in ``[-(2^31 - 1), 2^31 - 1]``: it never
wraps, and reading the summed uint32 vector as int32 gives the exact integer sum.

k = 32 is chosen because uint32 arithmetic wraps natively in numpy and keeps a masked update
the size of a float32 one. With 100 sites and a clip range of 8 a step is 8 / 21_474_836, about
4e-7 per value, so the sum's quantization error is at most ``max_summands * step / 2``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MODULUS_BITS = 32
SIGNED_MAX = 2 ** (MODULUS_BITS - 1) - 1


@dataclass(frozen=True)
class Quantizer:
    """Maps clipped floats to integers mod 2^32 so that ``max_summands`` of them sum exactly."""

    clip_range: float
    max_summands: int

    def __post_init__(self) -> None:
        if not self.clip_range > 0:
            raise ValueError(f"clip range is {self.clip_range}; it must be > 0, e.g. 8.0")
        if not 1 <= self.max_summands <= SIGNED_MAX:
            raise ValueError(
                f"max_summands is {self.max_summands}; it must be between 1 and {SIGNED_MAX}"
            )

    @property
    def levels(self) -> int:
        return SIGNED_MAX // self.max_summands

    @property
    def step(self) -> float:
        """The float value of one integer unit: the resolution of a single update."""
        return self.clip_range / self.levels

    def quantize(self, values: np.ndarray) -> np.ndarray:
        clipped = np.clip(values.astype(np.float64), -self.clip_range, self.clip_range)
        signed = np.rint(clipped / self.step).astype(np.int64)
        return signed.astype(np.uint32)

    def dequantize_sum(self, total: np.ndarray) -> np.ndarray:
        """The float sum of the quantized updates whose mod-2^32 sum is ``total`` (uint32)."""
        return (total.view(np.int32).astype(np.float64) * self.step).astype(np.float32)
