"""Result types shared by every stage and interface (the CLI's JSON is `Report.to_dict()`)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Alternative:
    text: str
    probability: float

    def to_dict(self) -> dict:
        return {"text": self.text, "probability": self.probability}


@dataclass(frozen=True, slots=True)
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

    def to_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "spun": self.spun, "original": self.original,
                "probability": self.probability, "alternatives": [a.to_dict() for a in self.alternatives],
                "thesaurus": self.thesaurus}


@dataclass(frozen=True, slots=True)
class Scar:
    """A typographic trace left by a spinner, e.g. "U. S." or "that ’s"."""

    start: int
    end: int
    kind: str
    found: str
    repaired: str

    def to_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "kind": self.kind, "found": self.found,
                "repaired": self.repaired}


@dataclass
class Report:
    spun_probability: float
    verdict: str  # "spun" | "clean" | "undecided" | "too-short" | "not-english"
    swaps: list[Swap]
    scars: list[Scar]
    restored: str

    def to_dict(self) -> dict:
        # (written out: dataclasses.asdict deep-copies field by field, 0.4 ms for a 2 KB
        # article's report, a twentieth of checking it; tests/test_api.py holds the two equal)
        return {"spun_probability": self.spun_probability, "verdict": self.verdict,
                "swaps": [s.to_dict() for s in self.swaps], "scars": [s.to_dict() for s in self.scars],
                "restored": self.restored}


@dataclass(frozen=True, slots=True)
class Evidence:
    """One signal behind a document score, with its contribution (in log-odds)."""

    signal: str
    value: float
    contribution: float

    def to_dict(self) -> dict:
        return {"signal": self.signal, "value": self.value, "contribution": self.contribution}


@dataclass
class Detection:
    spun_probability: float
    verdict: str  # same vocabulary as Report.verdict
    evidence: list[Evidence]

    def to_dict(self) -> dict:
        return {"spun_probability": self.spun_probability, "verdict": self.verdict,
                "evidence": [e.to_dict() for e in self.evidence]}
