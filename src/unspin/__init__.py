"""unspin: find machine-spun text and turn it back into what was written.

Public surface:
    check(text, fast=False) -> Report     locate swaps, restore, score, scars
    restore(text) -> str                  the restored text only
"""
from unspin.report import Alternative, Report, Scar, Swap

__all__ = ["check", "restore", "Report", "Swap", "Alternative", "Scar", "__version__"]
__version__ = "0.1.0"


def check(text: str, fast: bool = False) -> Report:
    from unspin.api import check as _check

    return _check(text, fast=fast)


def restore(text: str) -> str:
    return check(text).restored
