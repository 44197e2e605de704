"""How many CPUs this process may use: the default number of worker processes (`unspin serve`,
`unspin scan`) and of the neural tier's passes at once.  os.cpu_count() counts the machine's
CPUs, which a container's CPU set or `taskset` may not give this process: a worker per CPU
counted that way would share the few usable ones."""
from __future__ import annotations

import os


def usable_cores() -> int:
    """The CPUs this process may run on (at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # (not on Linux)
        return max(1, os.cpu_count() or 1)
