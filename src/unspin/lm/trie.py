"""The pocketsphinx 3-gram as flat numpy arrays, read straight from its binary trie file.

pocketsphinx answers one query per Python call (about 1 µs with the call overhead), which made
the decoder's ~65 look-ups per word its whole cost.  The same model read into arrays can be
queried from compiled code (`unspin.lm.kernels`, through hash tables built from these arrays)
at a few tens of nanoseconds a look-up where the memory is cached, about 140 where it is not,
and in bulk.  Scores are identical to pocketsphinx's own (`tests/test_lm_tables.py` checks it).

File layout (pocketsphinx 5 `ngram_model_trie.c` / `lm_trie.c`, a KenLM-style reverse trie):

    "Trie Language Model" · uint8 order · uint32 counts[order]
    int32 dummy · float32 quant[(2 + 2 + ... ) * 65536]   bins: per middle order (prob, backoff),
                                                           then the longest order's prob
    unigrams[counts[0] + 1] of {float32 prob, float32 backoff, uint32 next}
    bit-packed middle arrays (one per order 2..n-1), then the longest order's array
    int32 nbytes · NUL-terminated words in id order

A unigram w's `next` range lists the bigrams "h1 w" (keyed by h1, sorted); each bigram entry
(word bits | backoff 16 | prob 16 | next) points at its trigrams "h2 h1 w" (keyed by h2).
All values are in pocketsphinx's log base 1.0001; we convert to natural logs.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Callable

import numpy as np

from unspin.lm import diskcache

HEADER = b"Trie Language Model"
LN_BASE = math.log(1.0001)
QUANT_BITS = 16


@dataclass(frozen=True)
class NgramTables:
    """A 3-gram model as arrays (natural-log scores).

    uni_prob[w], uni_bo[w]            w < V
    bi_start[w] .. bi_start[w+1]      bigrams "h1 w": bi_word (h1, sorted), bi_prob, bi_bo,
    tri_start[j] .. tri_start[j+1]    trigrams "h2 h1 w" under bigram j: tri_word (h2, sorted), tri_prob
    """

    words: list[str]
    uni_prob: np.ndarray
    uni_bo: np.ndarray
    bi_start: np.ndarray
    bi_word: np.ndarray
    bi_prob: np.ndarray
    bi_bo: np.ndarray
    tri_start: np.ndarray
    tri_word: np.ndarray
    tri_prob: np.ndarray

    @property
    def vocab_size(self) -> int:
        return len(self.words)


def _required_bits(max_value: int) -> int:
    return 0 if max_value == 0 else int(max_value).bit_length()


def _read_fields(mem: np.ndarray, n: int, total_bits: int, offset_bits: int, width: int) -> np.ndarray:
    """Entry i's `width`-bit field at bit i*total_bits + offset_bits, little-endian (as
    bitarr_read_int25 reads them: a 32-bit load at the byte, shifted by the bit offset)."""
    from unspin.lm.kernels import unpack_fields

    out = np.empty(n, dtype=np.int64)
    unpack_fields(mem, n, total_bits, offset_bits, width, out)
    return out


def _base_size(entries: int, max_vocab: int, remaining_bits: int) -> int:
    total_bits = _required_bits(max_vocab) + remaining_bits
    return ((1 + entries) * total_bits + 7) // 8 + 8


def read_trie(path: str) -> NgramTables:
    """Read a pocketsphinx trie LM of order 3 (the only order the decoder uses)."""
    data = np.fromfile(path, dtype=np.uint8)
    raw = bytes(data[:64])
    if not raw.startswith(HEADER):
        raise ValueError(f"{path}: not a pocketsphinx trie language model")
    pos = len(HEADER)
    order = raw[pos]
    pos += 1
    if order != 3:
        raise ValueError(f"{path}: order {order}; only 3-gram models are supported")
    counts = np.frombuffer(data[pos:pos + 4 * order].tobytes(), dtype="<u4").astype(np.int64)
    pos += 4 * order
    pos += 4  # dummy int
    n_quant = (2 * (order - 2) + 1) << QUANT_BITS
    quant = np.frombuffer(data[pos:pos + 4 * n_quant].tobytes(), dtype="<f4")
    pos += 4 * n_quant
    # lm_trie_quant_create: tables[0][0] (prob) first, then tables[0][1] (bo), then the longest
    middle_prob_bins, middle_bo_bins = quant[: 1 << QUANT_BITS], quant[1 << QUANT_BITS: 2 << QUANT_BITS]
    longest_prob_bins = quant[2 << QUANT_BITS: 3 << QUANT_BITS]
    n1, n2, n3 = (int(c) for c in counts)
    uni = np.frombuffer(data[pos:pos + 12 * (n1 + 1)].tobytes(),
                        dtype=np.dtype([("prob", "<f4"), ("bo", "<f4"), ("next", "<u4")]))
    pos += 12 * (n1 + 1)
    # middle (bigrams): word | bo | prob | next
    word_bits = _required_bits(n1)
    next_bits = _required_bits(n3)
    mid_total = word_bits + 2 * QUANT_BITS + next_bits
    mid_size = _base_size(n2, n1, 2 * QUANT_BITS + next_bits)
    mid = data[pos:pos + mid_size]
    pos += mid_size
    longest_total = word_bits + QUANT_BITS
    long_size = _base_size(n3, n1, QUANT_BITS)
    longest = data[pos:pos + long_size]
    pos += long_size
    nbytes = int(np.frombuffer(data[pos:pos + 4].tobytes(), dtype="<i4")[0])
    pos += 4
    words = data[pos:pos + nbytes].tobytes().split(b"\0")[:n1]
    if len(words) != n1:
        raise ValueError(f"{path}: truncated vocabulary")

    bi_word = _read_fields(mid, n2, mid_total, 0, word_bits)
    bi_bo_q = _read_fields(mid, n2, mid_total, word_bits, QUANT_BITS)
    bi_prob_q = _read_fields(mid, n2, mid_total, word_bits + QUANT_BITS, QUANT_BITS)
    # n2 + 1 entries: the one past the end holds the final `next` (middle_finish_loading)
    bi_next = _read_fields(mid, n2 + 1, mid_total, word_bits + 2 * QUANT_BITS, next_bits)
    tri_word = _read_fields(longest, n3, longest_total, 0, word_bits)
    tri_prob_q = _read_fields(longest, n3, longest_total, word_bits, QUANT_BITS)

    n2_used = int(uni["next"][n1])  # the file's count includes padding past the last bigram
    n3_used = int(bi_next[n2_used])
    bi_word, bi_bo_q, bi_prob_q = bi_word[:n2_used], bi_bo_q[:n2_used], bi_prob_q[:n2_used]
    bi_next = bi_next[:n2_used + 1]
    tri_word, tri_prob_q = tri_word[:n3_used], tri_prob_q[:n3_used]

    def ln(values) -> np.ndarray:
        return (np.asarray(values, dtype=np.float64) * LN_BASE).astype(np.float32)

    return NgramTables(
        words=[w.decode("utf-8", "replace") for w in words],
        uni_prob=ln(uni["prob"][:n1]),
        uni_bo=ln(uni["bo"][:n1]),
        bi_start=uni["next"].astype(np.int32),
        bi_word=bi_word.astype(np.int32),
        bi_prob=ln(middle_prob_bins[bi_prob_q]),
        bi_bo=ln(middle_bo_bins[bi_bo_q]),
        tri_start=bi_next.astype(np.int32),
        tri_word=tri_word.astype(np.int32),
        tri_prob=ln(longest_prob_bins[tri_prob_q]),
    )


_FIELDS = ("uni_prob", "uni_bo", "bi_start", "bi_word", "bi_prob", "bi_bo", "tri_start", "tri_word", "tri_prob")
CACHE_FORMAT = "v2"  # v2: the look-up tables of unspin.lm.kernels (hashes, max_lp) beside the arrays


def is_cached(path: str) -> bool:
    """Whether load_trie(path) will map decoded arrays rather than decode the trie."""
    return diskcache.is_cached(path, CACHE_FORMAT)


def load_trie(path: str, extra_names: tuple[str, ...] = (),
              extra: Callable[[NgramTables], dict[str, np.ndarray]] | None = None) -> tuple[NgramTables, dict]:
    """read_trie through the on-disk cache of decoded arrays (`unspin.lm.diskcache`: a warm
    start maps them in milliseconds instead of decoding 27 MB of bit-packed trie).  `extra` is a
    function of the tables returning the arrays `extra_names` (e.g. hash tables), cached beside
    them; returns the tables and those arrays."""
    names = [*_FIELDS, *extra_names, "words.txt"]

    def build():
        tables = read_trie(path)
        out = {name: getattr(tables, name) for name in _FIELDS}
        if extra_names:
            more = extra(tables)
            out.update((name, more[name]) for name in extra_names)
        out["words.txt"] = "\n".join(tables.words)
        return out

    got = diskcache.cached(path, CACHE_FORMAT, names, build)
    tables = NgramTables(got["words.txt"].split("\n"), *(got[f] for f in _FIELDS))
    built = {name: got[name] for name in extra_names}
    # read-only either way, so that the compiled kernels see one array type (and one signature)
    for arr in (*(getattr(tables, f) for f in _FIELDS), *built.values()):
        arr.flags.writeable = False
    return tables, built


def default_path() -> str:
    from pocketsphinx import get_model_path

    return os.path.join(get_model_path(), "en-us", "en-us.lm.bin")
