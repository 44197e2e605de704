"""argparse types shared by the sub-commands: a value parsed, then checked, each failure one
clear line (argparse adds the option's name): "--port: 99999: a port is 0 to 65535"."""
from __future__ import annotations

import argparse
from typing import Callable, TypeVar

T = TypeVar("T")


def checked(parse: Callable[[str], T], ok: Callable[[T], bool], what: str, rule: str) -> Callable[[str], T]:
    """An argparse type: parse(s) (a ValueError: "not <what>") that must satisfy ok (else `rule`)."""
    def check(s: str) -> T:
        try:
            v = parse(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {what}: {s!r}") from None
        if not ok(v):
            raise argparse.ArgumentTypeError(f"{s}: {rule}")
        return v
    return check


def at_least(least: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least `least`."""
    return checked(int, lambda v: v >= least, "a whole number", f"must be at least {least}")
