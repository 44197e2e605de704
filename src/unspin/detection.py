"""Document-level score: is this text spun?

For now the score comes from the decoder's swap density and the scars (see api._spun_probability);
the calibrated detector with a screening path replaces it (its own issue) behind this same function.
"""
from __future__ import annotations

from unspin.report import Detection, Evidence


def detect(text: str) -> Detection:
    from unspin.api import check

    report = check(text, fast=True)
    n = max(1, len(text.split()))
    evidence = [
        Evidence("swaps_per_100_words", round(100 * len(report.swaps) / n, 3), 0.0),
        Evidence("scars", float(len(report.scars)), 0.0),
    ]
    return Detection(report.spun_probability, report.verdict, evidence)
