"""Result types shared by every stage and interface (the CLI's JSON is `Report.to_dict()`)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Alternative:
    text: str
    probability: float


@dataclass(frozen=True)
class Swap:
    """One word or phrase the decoder believes a spinner substituted.

    `start`/`end` are Python str offsets into the text given to `check`.
    """

    start: int
    end: int
    spun: str
    original: str
    probability: float
    alternatives: list[Alternative] = field(default_factory=list)
    thesaurus: str = ""


@dataclass(frozen=True)
class Scar:
    """A typographic trace left by a spinner, e.g. "U. S." or "that ’s"."""

    start: int
    end: int
    kind: str
    found: str
    repaired: str


@dataclass
class Report:
    spun_probability: float
    verdict: str  # "spun" | "clean" | "undecided" | "too-short" | "not-english"
    swaps: list[Swap]
    scars: list[Scar]
    restored: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Evidence:
    """One signal behind a document score, with its contribution (in log-odds)."""

    signal: str
    value: float
    contribution: float


@dataclass
class Detection:
    spun_probability: float
    verdict: str  # same vocabulary as Report.verdict
    evidence: list[Evidence]

    def to_dict(self) -> dict:
        return asdict(self)
