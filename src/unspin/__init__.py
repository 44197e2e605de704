"""unspin: find machine-spun text and turn it back into what was written.

Public surface:
    check(text, fast=False, budget=None) -> Report
                                          locate swaps, restore, score, scars (budget: seconds
                                          the neural tier may spend on the text; None: no limit)
    restore(text) -> str                  the restored text only
    detect(text) -> Detection             document score only (screening)
"""
from unspin.report import Alternative, Detection, Evidence, Report, Scar, Swap
from unspin.trace import Index  # trace: find the source of a spun copy in an archive

__all__ = ["check", "restore", "detect", "Report", "Swap", "Alternative", "Scar", "Detection", "Evidence", "Index",
           "__version__"]
__version__ = "0.1.0"

# The neural tier's time for one text where unspin runs text after text for a caller who gave no
# budget (`unspin check`, `unspin scan --task check`; check() itself has no limit unless given
# one): a news article is rescored all through well within it (4,500 words: about 40 s on one
# core; the real example 3.5 s), while a huge text, hours of rescoring, comes back at about the
# n-gram tier's pace with its most doubtful swaps rescored (see unspin.neural.RescoringDecoder.budgeted).
DEFAULT_BUDGET = 60.0


def check(text: str, fast: bool = False, budget: float | None = None, on_swaps=None) -> Report:
    """on_swaps(spun_probability, verdict, swaps): for a huge text, every swap handed out in
    order as soon as it is judged, and none listed in the report (see unspin.api.check)."""
    from unspin.api import check as _check

    return _check(text, fast=fast, budget=budget, on_swaps=on_swaps)


def restore(text: str) -> str:
    return check(text).restored


def detect(text: str) -> Detection:
    from unspin.detection import detect as _detect

    return _detect(text)
