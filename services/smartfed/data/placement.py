"""Where injected episodes go: how many, how long, and at which rows of which segment.

Faults and attacks are spread over the whole series (each segment is cut into as many equal
slots as it carries episodes, one episode per slot), so the validation and test rows at the
end of a series get their share, and no two episodes overlap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Slot:
    kind: str
    segment: int
    start: int
    stop: int


def place_episodes(
    rng: np.random.Generator,
    length_rows: Mapping[str, tuple[int, int]],
    segment_rows: Sequence[int],
    rate: float,
) -> list[Slot]:
    """Episodes covering about ``rate`` of all rows, kinds taken in turn from a shuffled order.

    ``length_rows`` maps each kind to its (shortest, longest) length in rows. Taking kinds in
    turn rather than at random is what makes every kind appear even at small sites; capping a
    length at a quarter of the budget keeps a small site from spending it all on one drift.
    """
    rows = np.asarray(segment_rows, dtype=float)
    budget = rate * rows.sum()
    kinds = [str(k) for k in rng.permutation(sorted(length_rows))]

    planned: list[tuple[str, int, int]] = []
    total = 0
    while total < budget:
        kind = kinds[len(planned) % len(kinds)]
        shortest, longest = length_rows[kind]
        length = min(int(rng.integers(shortest, longest + 1)), max(shortest, int(budget / 4)))
        segment = int(rng.choice(len(rows), p=rows / rows.sum()))
        planned.append((kind, segment, length))
        total += length

    slots: list[Slot] = []
    for segment in range(len(rows)):
        mine = [(kind, length) for kind, seg, length in planned if seg == segment]
        if not mine:
            continue
        slot_rows = int(rows[segment]) // len(mine)
        if slot_rows < 2:
            mine = mine[: int(rows[segment]) // 2]
            slot_rows = 2
        for i, (kind, length) in enumerate(mine):
            length = max(1, min(length, slot_rows - 1))
            start = i * slot_rows + int(rng.integers(0, slot_rows - length + 1))
            slots.append(Slot(kind, segment, start, start + length))
    return slots
