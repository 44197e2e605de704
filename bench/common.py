"""Helpers shared by the bench scripts: paths, dev-set loading, word tokens for scoring."""
from __future__ import annotations

import gzip
import json
import os
import platform
import re
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
CACHE = BENCH / ".cache"
DEVSETS = BENCH / "devsets"


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo), for the machine line every benchmark prints."""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine() -> str:
    """One line: cores, CPU, Python, load average now (benchmarks print it beside their figures)."""
    return (f"{os.cpu_count()} cores, {cpu_model()}, Python {platform.python_version()}, "
            f"load {os.getloadavg()[0]:.1f}")


def shared_dir() -> Path:
    env = os.environ.get("UNSPIN_SHARED")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared"


def parsed_settings(pairs: list[str], like=None) -> dict[str, float | int]:
    """["NAME=VALUE", ...] (a --set option's values) as {NAME: float(VALUE)}; with `like` (a
    dataclass of those fields), a field that holds an int there gets int(VALUE) instead (the
    compiled lattice takes shortlist, max_candidates as ints)."""
    out = {}
    for k, v in (kv.split("=", 1) for kv in pairs):
        out[k] = int(v) if like is not None and type(getattr(like, k, None)) is int else float(v)
    return out


def load_records(split: str) -> list[dict]:
    with gzip.open(DEVSETS / f"{split}.jsonl.gz", "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


# Word tokens on the spun text (with offsets), used for locate P/R/F1.
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")


def word_spans(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in _WORD.finditer(text)]


# Scar-insensitive word tokens, used for WER and phrase comparison:
# "that ’s" == "that's", "U. S." == "U.S.", "reporters ’" == "reporters'".
_CONTRACTION = re.compile(r"\s*['’]\s*(?=(?:s|re|ll|ve|d|t|m)\b)")


def norm_words(text: str) -> list[str]:
    t = _CONTRACTION.sub("", text.lower())
    t = t.replace("'", "").replace("’", "")
    return re.findall(r"[^\W_]+", t)


def words_in_gold(spans: list[tuple[int, int]], gold: list[dict], start: int, end: int) -> tuple[int, int]:
    """(word tokens of [start, end) inside a gold swap span, word tokens of [start, end)), with
    `spans` the text's word_spans: a predicted swap is real when the two are equal and not 0."""
    words = [(a, b) for a, b in spans if a < end and start < b]
    return sum(any(g["start"] <= a and b <= g["end"] for g in gold) for a, b in words), len(words)


def save_reliability_plot(points: list[tuple[float, float]], label: str, path: str | Path, xlabel: str,
                          ylabel: str, title: str) -> bool:
    """A reliability plot (predicted against observed, one point per bin, and the diagonal)
    saved as a PNG; False (and a note) where matplotlib is not installed (the bench extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("reliability plot skipped: matplotlib not installed (pip install -e '.[bench]')")
        return False
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    ax.plot([x for x, _y in points], [y for _x, y in points], "o-", label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print("reliability plot:", path)
    return True
