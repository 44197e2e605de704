"""numba's `njit`, or the plain Python function when compiling would cost more than it saves.

Importing numba and loading the cached machine code of unspin's kernels takes about a second,
once per process.  A one-shot `unspin check` of a paragraph decodes a few dozen words, which the
same kernels run as plain Python (they only use numpy) in a fraction of that.  `prefer_python()`
(called by the CLI before the engine is imported, for short single inputs) makes every kernel
defined afterwards plain Python; so does UNSPIN_JIT=0.  Results are the same either way: the
kernels' integer hashing wraps around in both (numpy int64), and the tests run both modes.
"""
from __future__ import annotations

import os
import warnings

_python = os.environ.get("UNSPIN_JIT", "1") == "0"
_used = False  # a kernel has been defined: the mode is fixed for this process


def prefer_python() -> bool:
    """Use plain Python kernels in this process if no kernel is defined yet; True if they are."""
    global _python
    if not _used:
        _python = True
    return _python


def python_mode() -> bool:
    return _python


def njit(*args, **kwargs):
    """numba.njit(...) in JIT mode; in Python mode a no-op decorator."""
    global _used
    _used = True
    if _python:
        # int64 hashing overflows on purpose (as it wraps silently in compiled code)
        warnings.filterwarnings("ignore", "overflow encountered", RuntimeWarning, r"unspin\.")
        if args and callable(args[0]):
            return args[0]
        return lambda f: f
    import numba

    return numba.njit(*args, **kwargs)
