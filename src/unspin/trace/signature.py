"""Signatures over what spinners leave alone.

A spinner swaps words for thesaurus terms, so word n-grams of a spun copy barely overlap those of
its source (a 30% swap rate leaves ~17% of word 5-grams).  What survives, measured on the dev
sets' gold swaps (`python bench/trace/survival.py`: worst simulator, rate 0.5, function words on):

* punctuation: 100% (spinners re-glue tokens but never change them);
* numbers and proper names (capitalised words that do not start a sentence);
* a handful of stop words: "the", "and", "his", "which", "their", "its", ... survive >= 95% and
  are rarely introduced by spun terms.  Most other function words do *not* survive: "of" 50%,
  "in" 45% ("inch", "indium"), "at" 38% ("astatine"), "to" 50%, "on" 35%, "a" 46% ("ampere").

The surviving tokens, in order, are shingled into 4-grams.  On the dev set the Jaccard similarity
of these shingle sets between a spun copy and its source is 0.83 on average (5th percentile 0.42
in the worst cell), against 0.01 for unrelated pairs.  Each document is cut into windows of 64
shingles with stride 32 (so partial copies and merges still find a window that overlaps), and
every window gets a MinHash signature (rensa's RMinHash) whose bands are the LSH keys.
"""
from __future__ import annotations

import numpy as np
import regex

# Tokens as in unspin.text (words keep inner apostrophes/hyphens), plus newlines (paragraph starts).
_FAST_RE = regex.compile(r"[\p{L}\p{M}\p{N}]+(?:['’\-][\p{L}\p{M}\p{N}]+)*|[^\s\p{L}\p{M}\p{N}]|\n")

# Measured (bench/trace/survival.py): worst-case survival >= 0.95, introduced <= 0.10 per occurrence.
STOP_WORDS = frozenset(
    "the and his which their we its these could where those whether whose mr mrs during your".split()
)
_SENTENCE_END = frozenset(".!?")
_DIGIT = regex.compile(r"\p{N}")
SHINGLE = 4  # tokens per shingle
BLOCK = 32  # shingles per block; a window is two consecutive blocks (width 64, stride 32)


def surviving_tokens(text: str) -> list[str]:
    """The tokens of `text` that spinners (almost) never change, lower-cased, in order."""
    out: list[str] = []
    append = out.append
    initial = True
    stop = STOP_WORDS
    ends = _SENTENCE_END
    has_digit = _DIGIT.search
    for t in _FAST_RE.findall(text):
        if t.islower():  # the common case: a lower-case word (no digits unless hyphenated)
            if t in stop:
                append(t)
            elif not t.isalpha() and has_digit(t):
                append(t)
            initial = False
            continue
        c = t[0]
        if c == "\n":
            initial = True
        elif not c.isalnum():
            append("'" if t == "’" else t)
            if t in ends:
                initial = True
        else:
            if c.isdigit() or (not t.isalpha() and has_digit(t)):
                append(t.lower())
            elif not initial:
                append(t.lower().replace("’", "'"))
            else:
                lo = t.lower()
                if lo in stop:
                    append(lo)
            initial = False
    return out


def shingles(tokens: list[str], k: int = SHINGLE) -> list[str]:
    if len(tokens) < k:
        return [" ".join(tokens)] if tokens else []
    return [" ".join(tokens[i:i + k]) for i in range(len(tokens) - k + 1)]


def windows(n: int, block: int = BLOCK, stride: int | None = None) -> list[tuple[int, int]]:
    """Windows [a, b) over n shingles: width 2*block, stride `stride` (default: block).

    A sequence of at most 2*block shingles is one window."""
    width = 2 * block
    if n <= width:
        return [(0, n)] if n else []
    stride = stride or block
    starts = list(range(0, n - width + 1, stride))
    if starts[-1] + width < n:
        starts.append(n - width)
    return [(a, a + width) for a in starts]


def minhash_matrix(shingle_sets: list[list[str]], num_perm: int, seed: int) -> np.ndarray:
    """(len(shingle_sets), num_perm) uint32 MinHash digests via rensa (Rust, batch)."""
    if not shingle_sets:
        return np.zeros((0, num_perm), dtype=np.uint32)
    from rensa import RMinHash

    m = RMinHash.digest_matrix_from_token_sets(shingle_sets, num_perm=num_perm, seed=seed)
    return np.asarray(m.to_rows(), dtype=np.uint32).reshape(len(shingle_sets), num_perm)


_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (vectorised, wrapping uint64 arithmetic)."""
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint64(30))
        x = x * _M1
        x = x ^ (x >> np.uint64(27))
        x = x * _M2
        x = x ^ (x >> np.uint64(31))
    return x


def band_keys(digests: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(n, bands) uint64 LSH keys: band b of a signature hashes its `rows` values with b."""
    n = digests.shape[0]
    d = digests[:, : bands * rows].astype(np.uint64).reshape(n, bands, rows)
    with np.errstate(over="ignore"):
        acc = np.broadcast_to(np.arange(bands, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15), (n, bands)).copy()
        for r in range(rows):
            acc = _mix(acc ^ d[:, :, r])
    return acc


def doc_windows(text: str, stride: int | None = None) -> tuple[list[list[str]], list[str]]:
    """(window shingle lists, all shingles) of a text."""
    sh = shingles(surviving_tokens(text))
    return [sh[a:b] for a, b in windows(len(sh), stride=stride)], sh
