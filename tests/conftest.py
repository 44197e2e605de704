import io
import os
import sys
from pathlib import Path

import pytest

from unspin.cli import main

ROOT = Path(__file__).resolve().parents[1]
# shared/ sits beside the repository (CI clones elsewhere and copies it beside the clone).
SHARED = Path(os.environ.get("UNSPIN_SHARED") or (ROOT.parent / "shared"))
EXAMPLE = SHARED / "examples" / "washington-examiner-spun.txt"

# The general suite tests the fast tier; tests/test_neural.py covers the neural tier and its
# "unavailable" message, which would otherwise be printed to stderr by every default check().
os.environ.setdefault("UNSPIN_NO_NEURAL", "1")
# The decoded 3-gram (unspin.lm.trie.load_trie) and the neural tier's graphs are cached for the
# user; the suite keeps a cache of its own instead, shared by the CLI subprocesses it starts, and
# removes it when it ends (it holds up to 1 GB: left behind, every run filled /tmp a little more).
if "UNSPIN_CACHE_DIR" not in os.environ:
    import atexit
    import shutil
    import tempfile

    os.environ["UNSPIN_CACHE_DIR"] = _SUITE_CACHE = tempfile.mkdtemp(prefix="unspin-test-cache-")
    atexit.register(shutil.rmtree, _SUITE_CACHE, ignore_errors=True)


@pytest.fixture
def run_cli(monkeypatch, capsys):
    """Run `unspin ARGS` in-process; returns (exit code, stdout, stderr)."""

    def run(args, stdin: bytes = b""):
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"))
        rc = main(list(args))
        out, err = capsys.readouterr()
        return rc, out, err

    return run


@pytest.fixture
def check_tiers(monkeypatch):
    """The `fast` argument of every unspin.check call from here on (the check runs as asked;
    the `budget` arguments go to check_tiers.budgets)."""
    import unspin

    class Seen(list):
        budgets: list

    seen = Seen()
    seen.budgets = []
    real = unspin.check

    def spy(text, fast=False, budget=None):
        seen.append(fast)
        seen.budgets.append(budget)
        return real(text, fast=fast, budget=budget)

    monkeypatch.setattr(unspin, "check", spy)
    return seen


@pytest.fixture(scope="session")
def spun_text() -> str:
    """A spun article: the shared in-the-wild example when present, else a synthetic one."""
    if EXAMPLE.exists():
        return EXAMPLE.read_text("utf-8")
    return (ROOT / "tests" / "cases" / "spun-sample.txt").read_text("utf-8")
