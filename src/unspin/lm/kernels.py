"""Compiled 3-gram look-ups over `NgramTables` arrays (numba, cached on disk after the first run).

`tables` below is the tuple `NgramTables.arrays()` returns plus `build_bigram_hash`'s table:
    (uni_prob, uni_bo, bi_start, bi_word, bi_prob, bi_bo, tri_start, tri_word, tri_prob, bi_hash)
Word ids below V index the model; an id >= V is a word the model lacks, scored by
`oov[id - V]` (the wordfreq back-off, computed in Python); a history id < 0 or >= V means
"no usable history" (pocketsphinx, too, drops an unknown history word).
"""
from __future__ import annotations

from unspin._jit import njit
import numpy as np


@njit(cache=True, _nrt=False)
def find(arr, lo, hi, key):
    """Index of key in the sorted slice arr[lo:hi], or -1."""
    while lo < hi:
        mid = (lo + hi) >> 1
        v = arr[mid]
        if v < key:
            lo = mid + 1
        elif v > key:
            hi = mid
        else:
            return mid
    return -1


# Bigram "h1 w" -> its row, by open addressing: one or two cache misses where a binary search
# over w's bigrams (thousands for a common word) costs a dozen.  Entry: key (w << 17 | h1,
# 34 bits) << 22 | row + 1; 0 is empty.
_HASH_MUL = np.int64(-7046029254386353131)


@njit(cache=True, _nrt=False)
def _hash_slot(key, mask):
    x = key * _HASH_MUL
    return (x ^ (x >> 29)) & mask


@njit(cache=True, _nrt=False)
def bigram_index(bi_hash, w, h1):
    key = (np.int64(w) << 17) | np.int64(h1)
    mask = bi_hash.shape[0] - 1
    slot = _hash_slot(key, mask)
    while True:
        e = bi_hash[slot]
        if e == 0:
            return -1
        if (e >> 22) == key:
            return (e & 0x3FFFFF) - 1
        slot = (slot + 1) & mask


@njit(cache=True)
def build_bigram_hash(bi_start, bi_word):
    n = bi_word.shape[0]
    size = 1
    while size < 2 * n:
        size *= 2
    table = np.zeros(size, np.int64)
    mask = size - 1
    for w in range(bi_start.shape[0] - 1):
        for j in range(bi_start[w], bi_start[w + 1]):
            key = (np.int64(w) << 17) | np.int64(bi_word[j])
            slot = _hash_slot(key, mask)
            while table[slot] != 0:
                slot = (slot + 1) & mask
            table[slot] = (key << 22) | np.int64(j + 1)
    return table


@njit(cache=True, _nrt=False)
def logprob(tables, oov, w, h1, h2):
    """ln P(w | h2 h1) with Katz back-off, exactly as pocketsphinx's trie scores it."""
    uni_prob, uni_bo, bi_start, bi_word, bi_prob, bi_bo, tri_start, tri_word, tri_prob, bi_hash = tables
    vocab = uni_prob.shape[0]
    if w >= vocab:
        return oov[w - vocab]
    if w < 0:
        return -18.0
    if h1 < 0 or h1 >= vocab:
        return np.float64(uni_prob[w])
    j = bigram_index(bi_hash, w, h1)
    h2_known = 0 <= h2 < vocab
    if j >= 0 and h2_known:
        k = find(tri_word, tri_start[j], tri_start[j + 1], h2)
        if k >= 0:
            return np.float64(tri_prob[k])
    # backed off: the context "h2 h1"'s back-off weight, if that bigram exists
    bo2 = 0.0
    if h2_known:
        j2 = bigram_index(bi_hash, h1, h2)
        if j2 >= 0:
            bo2 = np.float64(bi_bo[j2])
    if j >= 0:
        return np.float64(bi_prob[j]) + bo2
    return np.float64(uni_prob[w]) + np.float64(uni_bo[h1]) + bo2


@njit(cache=True, _nrt=False)
def unigram(tables, oov, w):
    vocab = tables[0].shape[0]
    if w >= vocab:
        return oov[w - vocab]
    if w < 0:
        return -18.0
    return np.float64(tables[0][w])


@njit(cache=True)
def unpack_fields(mem, n, total_bits, offset_bits, width, out):
    """out[i] = the `width`-bit little-endian field at bit i*total_bits + offset_bits of mem
    (pocketsphinx's bitarr_read_int25; fields are at most 25 bits)."""
    mask = (1 << width) - 1
    for i in range(n):
        bit = i * total_bits + offset_bits
        b = bit >> 3
        v = (np.int64(mem[b]) | (np.int64(mem[b + 1]) << 8) | (np.int64(mem[b + 2]) << 16)
             | (np.int64(mem[b + 3]) << 24))
        out[i] = (v >> (bit & 7)) & mask


CACHE_BITS = 21  # ids below 2**21 (the vocabulary plus the unknown-word ids) pack into one key
MEMO_SLOTS = 1 << 18  # 4 MB: small enough to stay in the CPU's cache, which is the point


def new_memo() -> np.ndarray:
    """An empty memo for logprob_cached: slot i holds its key at 2i and the score in units of
    1e-9 nats at 2i+1 (one cache line per probe)."""
    memo = np.zeros(2 * MEMO_SLOTS, dtype=np.int64)
    memo[0::2] = -1
    return memo


@njit(cache=True, _nrt=False)
def memo_key(w, h1, h2):
    return (np.int64(w) << 42) | (np.int64(h1) << 21) | np.int64(h2)


@njit(cache=True, _nrt=False)
def memo_slot(memo, key):
    """The memo index of a key's slot (its score is at the index after)."""
    x = key ^ (key >> 31)
    x = x * np.int64(-4658895280553007687)
    return 2 * ((x ^ (x >> 29)) & ((memo.shape[0] >> 1) - 1))


@njit(cache=True, _nrt=False)
def logprob_cached(tables, oov, memo, w, h1, h2):
    """logprob through a direct-mapped memo (the lattice asks for the same trigram from every
    predecessor with the same history, and again in the second decoding pass).  Ids must be
    >= 0 and < 2**21."""
    key = memo_key(w, h1, h2)
    slot = memo_slot(memo, key)
    if memo[slot] == key:
        return memo[slot + 1] * 1e-9
    v = logprob(tables, oov, w, h1, h2)
    memo[slot] = key
    memo[slot + 1] = np.int64(np.round(v * 1e9))  # (fixed point: exact to 1e-9 nats)
    return memo[slot + 1] * 1e-9
