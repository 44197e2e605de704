"""unspin: find machine-spun text and turn it back into what was written.

Public surface:
    check(text, fast=False, budget=None) -> Report
                                          locate swaps, restore, score, scars (budget: seconds
                                          the neural tier may spend on the text; None: no limit)
    restore(text) -> str                  the restored text only
    detect(text) -> Detection             document score only (screening)
    set_up_long_run(fast=True)            before checking or screening many texts in a loop
"""
from unspin.report import Alternative, Detection, Evidence, Report, Scar, Swap
from unspin.trace import Index  # trace: find the source of a spun copy in an archive

__all__ = ["check", "restore", "detect", "set_up_long_run", "Report", "Swap", "Alternative", "Scar", "Detection",
           "Evidence", "Index", "__version__"]
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


def set_up_long_run(fast: bool = True) -> None:
    """For a program about to check or screen many texts (a loop over a crawl or a dataset):
    set the tier up at once as the server's and `unspin scan`'s workers do at their start, the
    3-gram's tables on huge pages and the candidates of its whole vocabulary learnt, rather than
    word by word over the first thousands of texts; about 2 s and 250 MB of memory once, the
    same results (see unspin.api.set_up_long_run).  The process's garbage collector is left as
    it is.  fast=False: the neural tier's decoder instead (its n-gram part, and its model's
    first passes made)."""
    from unspin.api import set_up_long_run as _set_up_long_run

    _set_up_long_run(fast, collector=False)
