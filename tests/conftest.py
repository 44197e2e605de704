import io
import sys
from pathlib import Path

import pytest

from unspin.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = Path("/work/shared/examples/washington-examiner-spun.txt")


@pytest.fixture
def run_cli(monkeypatch, capsys):
    """Run `unspin ARGS` in-process; returns (exit code, stdout, stderr)."""

    def run(args, stdin: bytes = b""):
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"))
        rc = main(list(args))
        out, err = capsys.readouterr()
        return rc, out, err

    return run


@pytest.fixture(scope="session")
def spun_text() -> str:
    """A spun article: the shared in-the-wild example when present, else a synthetic one."""
    if EXAMPLE.exists():
        return EXAMPLE.read_text("utf-8")
    return (ROOT / "tests" / "cases" / "spun-sample.txt").read_text("utf-8")
