"""Compiled 3-gram look-ups over `NgramTables` arrays (numba, cached on disk after the first run).

`tables` below is the tuple `lookup_tables` returns:
    (uni_prob, uni_bo, tri_keys, tri_val, bi_keys, bi_val, max_lp)
Word ids below V index the model; an id >= V is a word the model lacks, scored by
`oov[id - V]` (the wordfreq back-off, computed in Python); a history id < 0 or >= V means
"no usable history" (pocketsphinx, too, drops an unknown history word).
"""
from __future__ import annotations

from unspin._jit import njit
import numpy as np


# The 3-gram's look-ups go through two open-addressing hash tables, built once from the trie's
# arrays (and cached on disk beside them): trigrams "h2 h1 w" -> ln P, bigrams "h1 w" -> (ln P,
# back-off).  A slot is 16 bytes, the key and its value in one cache line: the (up to) three
# probes of a look-up do not depend on each other, so their cache misses overlap, where the
# trie's binary searches made a chain of five to eight (214 -> 138 ns a look-up, measured on
# dev text with candidate words, in random order).
#   tri_keys[s] = (w << 34 | h1 << 17 | h2) + 1, tri_keys[s, 1] = ln P as float64 bits
#   bi_keys[s, 0] = (w << 17 | h1) + 1, bi_keys[s, 1] = (ln P, back-off) as two float32
# (0 = empty; ids are below 2**17).  tri_val / bi_val are float64 / float32 views of the same
# arrays: (n, 2) and (n, 4).
_HASH_MUL = np.int64(-7046029254386353131)
WORD_BITS = 17


@njit(cache=True, _nrt=False)
def _mix(key):
    x = key * _HASH_MUL
    return x ^ (x >> 29)


def _table_size(n: int) -> int:
    """Slots for n keys: a power of two, at most half full (linear probing stays short)."""
    size = 1
    while size < 2 * n:
        size *= 2
    return size


@njit(cache=True)
def _fill_tables(bi_start, bi_word, bi_prob, bi_bo, tri_start, tri_word, tri_prob, tri_keys, tri_val, bi_keys, bi_val):
    """Insert every bigram and trigram with its values (tri_val / bi_val: the float views of
    tri_keys / bi_keys, written through as the keys are)."""
    tmask = tri_keys.shape[0] - 1
    bmask = bi_keys.shape[0] - 1
    for w in range(bi_start.shape[0] - 1):
        for j in range(bi_start[w], bi_start[w + 1]):
            h1 = np.int64(bi_word[j])
            key = (np.int64(w) << WORD_BITS) | h1
            s = _mix(key) & bmask
            while bi_keys[s, 0] != 0:
                s = (s + 1) & bmask
            bi_keys[s, 0] = key + 1
            bi_val[s, 2] = bi_prob[j]
            bi_val[s, 3] = bi_bo[j]
            for k in range(tri_start[j], tri_start[j + 1]):
                key3 = (np.int64(w) << (2 * WORD_BITS)) | (h1 << WORD_BITS) | np.int64(tri_word[k])
                s = _mix(key3) & tmask
                while tri_keys[s, 0] != 0:
                    s = (s + 1) & tmask
                tri_keys[s, 0] = key3 + 1
                tri_val[s, 1] = np.float64(tri_prob[k])


def build_ngram_hashes(bi_start, bi_word, bi_prob, bi_bo, tri_start, tri_word, tri_prob) -> tuple[np.ndarray, np.ndarray]:
    """(trigram table, bigram table) as int64 (slots, 2) arrays, laid out as described above."""
    n3 = int(tri_start[-1]) if len(tri_start) else 0
    n2 = int(bi_start[-1]) if len(bi_start) else 0
    tri_keys = np.zeros((_table_size(n3), 2), np.int64)
    bi_keys = np.zeros((_table_size(n2), 2), np.int64)
    _fill_tables(np.asarray(bi_start), np.asarray(bi_word), np.asarray(bi_prob, np.float32), np.asarray(bi_bo, np.float32),
                 np.asarray(tri_start), np.asarray(tri_word), np.asarray(tri_prob), tri_keys, tri_keys.view(np.float64),
                 bi_keys, bi_keys.view(np.float32))
    return tri_keys, bi_keys


def lookup_tables(uni_prob, uni_bo, tri_keys, bi_keys, max_lp) -> tuple:
    """The `tables` tuple the kernels take: (uni_prob, uni_bo, tri_keys, tri_val, bi_keys, bi_val,
    max_lp)."""
    return (uni_prob, uni_bo, tri_keys, tri_keys.view(np.float64), bi_keys, bi_keys.view(np.float32), max_lp)


@njit(cache=True)
def max_logprobs(uni_prob, uni_bo, bi_start, bi_word, bi_prob, bi_bo, tri_start, tri_prob):
    """Per word w, an upper bound on logprob(w, h1, h2) over every history (plus 1e-6 for
    rounding): the best of its trigrams, of its bigrams with the best back-off weight their
    history word can bring ("h2 h1"'s, or none), and of its unigram with the best back-off a
    history can bring.  The decoder skips the look-ups of a candidate that could not pass its
    pruning floor even at these scores."""
    n = uni_prob.shape[0]
    # the largest back-off weight of a context "h2 h1" ending in h1 (0: no such bigram, or h2
    # unknown, where none is added)
    best_bo2 = np.zeros(n)
    for h1 in range(n):
        for j in range(bi_start[h1], bi_start[h1 + 1]):
            v = np.float64(bi_bo[j])
            if v > best_bo2[h1]:
                best_bo2[h1] = v
    any_history = -np.inf
    for h1 in range(n):
        v = np.float64(uni_bo[h1]) + best_bo2[h1]
        if v > any_history:
            any_history = v
    out = np.empty(n)
    for w in range(n):
        u = np.float64(uni_prob[w])
        m = max(u, u + any_history)  # (an unknown history: the unigram alone)
        for j in range(bi_start[w], bi_start[w + 1]):
            v = np.float64(bi_prob[j]) + best_bo2[bi_word[j]]
            if v > m:
                m = v
            for k in range(tri_start[j], tri_start[j + 1]):
                t = np.float64(tri_prob[k])
                if t > m:
                    m = t
        out[w] = m + 1e-6
    return out


@njit(cache=True, _nrt=False)
def max_logprob(tables, oov, w):
    """An upper bound on logprob(tables, oov, w, h1, h2) over every h1, h2 (see max_logprobs)."""
    vocab = tables[0].shape[0]
    if w >= vocab:
        return oov[w - vocab] + 1e-6
    if w < 0:
        return -18.0 + 1e-6
    return tables[6][w]


@njit(cache=True, _nrt=False)
def _probe(keys, slot, stored, mask):
    """The slot holding `stored` (a key + 1) from its home slot on, or -1 (linear probing)."""
    while True:
        e = keys[slot, 0]
        if e == stored:
            return slot
        if e == 0:
            return -1
        slot = (slot + 1) & mask


@njit(cache=True, _nrt=False)
def _pair_key(a, b):
    """The hash key of "b a" (a bigram "h1 w" as (w, h1); a trigram as (its bigram key, h2))."""
    return (np.int64(a) << WORD_BITS) | np.int64(b)


@njit(cache=True, _nrt=False)
def logprob(tables, oov, w, h1, h2):
    """ln P(w | h2 h1) with Katz back-off, exactly as pocketsphinx's trie scores it."""
    uni_prob, uni_bo, tri_keys, tri_val, bi_keys, bi_val, _max_lp = tables
    vocab = uni_prob.shape[0]
    if w >= vocab:
        return oov[w - vocab]
    if w < 0:
        return -18.0
    if h1 < 0 or h1 >= vocab:
        return np.float64(uni_prob[w])
    bmask = bi_keys.shape[0] - 1
    key2 = _pair_key(w, h1)
    s2 = _mix(key2) & bmask
    bo2 = 0.0
    if 0 <= h2 < vocab:
        # the trigram, and the back-off weight of the context "h2 h1" should it be missing:
        # both slots are computed first, so that their loads can be in flight together
        tmask = tri_keys.shape[0] - 1
        key3 = _pair_key(key2, h2)
        s3 = _mix(key3) & tmask
        keyb = _pair_key(h1, h2)
        sb = _mix(keyb) & bmask
        s3 = _probe(tri_keys, s3, key3 + 1, tmask)
        if s3 >= 0:
            return tri_val[s3, 1]
        sb = _probe(bi_keys, sb, keyb + 1, bmask)
        if sb >= 0:
            bo2 = np.float64(bi_val[sb, 3])
    s2 = _probe(bi_keys, s2, key2 + 1, bmask)
    if s2 >= 0:
        return np.float64(bi_val[s2, 2]) + bo2
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
def touch_bigram(tables, w, h1):
    """Read the home slot of logprob(w, h1, ...)'s bigram probe (see touch)."""
    bi_keys = tables[4]
    vocab = tables[0].shape[0]
    if w < 0 or w >= vocab or h1 < 0 or h1 >= vocab:
        return np.int64(0)
    return bi_keys[_mix(_pair_key(w, h1)) & (bi_keys.shape[0] - 1), 0]


@njit(cache=True, _nrt=False)
def touch(tables, oov, memo, w, h1, h2):
    """Read the memory logprob_cached(w, h1, h2) is about to: the memo slot and, where the memo
    does not hold the score, the home slots of logprob's hash probes.  A caller touches the
    look-ups it will make before making them, so that their cache misses (a probe of the
    3-gram's tables is a read from main memory) are in flight together instead of one after
    another.  Returns what it read (for the caller to keep, or the compiler drops the reads)."""
    key = memo_key(w, h1, h2)
    slot = memo_slot(memo, key)
    got = memo[slot]
    if got == key:
        return got
    got += touch_bigram(tables, w, h1)
    vocab = tables[0].shape[0]
    if 0 <= h2 < vocab and 0 <= w < vocab and 0 <= h1 < vocab:
        tri_keys, bi_keys = tables[2], tables[4]
        got += tri_keys[_mix(_pair_key(_pair_key(w, h1), h2)) & (tri_keys.shape[0] - 1), 0]
        got += bi_keys[_mix(_pair_key(h1, h2)) & (bi_keys.shape[0] - 1), 0]
    return got


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
