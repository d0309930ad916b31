"""Values of the id rule that stores produce: prefix matches and their merge."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass


COUNT_CAP = 10_000  # matches counted at most, to say "and N more"


Note = Callable[[str], None]


@dataclass(slots=True)
class IdMatches:
    """Session ids that start with a prefix: the smallest few, and how many there are."""

    ids: list[str] = field(default_factory=list)  # sorted, at most the limit asked for
    total: int = 0  # every match (a lower bound when ``capped``)
    capped: bool = False


def merge(found: Sequence[IdMatches], limit: int) -> IdMatches:
    """Matches of several disjoint prefixes as one (the spellings of one typed id)."""
    ids = sorted({sid for one in found for sid in one.ids})[:limit]
    return IdMatches(
        ids=ids,
        total=sum(one.total for one in found),
        capped=any(one.capped for one in found),
    )
