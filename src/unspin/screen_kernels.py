"""The screening stage's tokenizer, compiled: a text's UTF-8 bytes -> each token's word-type row.

`detection.screen_tokens` (a regex) gives the words the screening stage reads, and a dict gives
each one's row in `WordSignals`' per-type tables.  Those two steps cost more than the screening
itself (on 2 MB of clean articles: 0.15 s for the regex and 0.035 s for the look-ups, against
0.12 s for `lattice.screen_counts`), so here they are one pass in numba over the bytes:

  * the same tokens as `detection._SCREEN_RE` (`\\p{L}+(?:['\\-]\\p{L}+)*|[.!?]`) of the same
    lower-cased text: UTF-8 decoded on the fly, letters by a table of the code points `regex`
    calls \\p{L} (`detection._letter_table`), so the compiled tokens are the regex's, byte for byte;
  * each word's row from an open-addressing hash table of the word types held (FNV-1a over the
    word's bytes, checked against the bytes themselves, so a hash collision cannot mix two
    words up); a sentence end is -1; a word not held yet is -2 and its byte span is returned
    so that Python can learn it.

`insert_types` puts new word types in the table.  The table's keys are hashes | 1 (0 marks an empty slot).
"""
from __future__ import annotations

import numpy as np

from unspin._jit import njit

FNV_OFFSET = np.uint64(0xCBF29CE484222325)
FNV_PRIME = np.uint64(0x100000001B3)


@njit(cache=True)
def _fnv_extend(h, data, a, b):
    """FNV-1a state h carried over the bytes data[a:b]."""
    for i in range(a, b):
        h = (h ^ np.uint64(data[i])) * FNV_PRIME
    return h


@njit(cache=True)
def _fnv(data, a, b):
    """The table key of the word data[a:b]: its FNV-1a hash | 1 (0 marks an empty slot)."""
    return np.int64(_fnv_extend(FNV_OFFSET, data, a, b) | np.uint64(1))


@njit(cache=True)
def _decode(data, i, n):
    """(code point, its length in bytes) of the UTF-8 sequence at data[i] (surrogatepass
    encoding: lone surrogates come through as code points too); a stray byte reads as U+FFFD,
    no letter."""
    c = np.int64(data[i])
    if c < 0x80:
        return c, 1
    if c >= 0xF0 and i + 3 < n:
        return ((c & 0x07) << 18) | ((np.int64(data[i + 1]) & 0x3F) << 12) | \
            ((np.int64(data[i + 2]) & 0x3F) << 6) | (np.int64(data[i + 3]) & 0x3F), 4
    if c >= 0xE0 and i + 2 < n:
        return ((c & 0x0F) << 12) | ((np.int64(data[i + 1]) & 0x3F) << 6) | (np.int64(data[i + 2]) & 0x3F), 3
    if c >= 0xC0 and i + 1 < n:
        return ((c & 0x1F) << 6) | (np.int64(data[i + 1]) & 0x3F), 2
    return 0xFFFD, 1


@njit(cache=True)
def _ascii_letter(c):
    return (0x61 <= c <= 0x7A) or (0x41 <= c <= 0x5A)


@njit(cache=True)
def _is_letter(letters, data, i, n):
    """(whether the character at data[i] is a letter, its length in bytes, whether its code
    point is past the letters table: the caller must read the text again with a larger one)."""
    c = data[i]
    if c < 0x80:
        return _ascii_letter(c), 1, False
    cp, k = _decode(data, i, n)
    if cp >= letters.shape[0]:
        return False, k, True
    return letters[cp], k, False


@njit(cache=True)
def _find(keys, vals, pool_start, pool_len, pool, data, a, b, h):
    """The row of the word data[a:b] (hash h), or -2."""
    mask = keys.shape[0] - 1
    s = h & mask
    length = b - a
    while True:
        k = keys[s]
        if k == 0:
            return -2
        if k == h:
            r = vals[s]
            if pool_len[r] == length:
                p = pool_start[r]
                same = True
                for j in range(length):
                    if pool[p + j] != data[a + j]:
                        same = False
                        break
                if same:
                    return r
        s = (s + 1) & mask


@njit(cache=True)
def _grown(rows, n):
    out = np.empty(2 * n + 16, np.int64)
    out[:n] = rows[:n]
    return out


@njit(cache=True)
def text_rows(data, letters, keys, vals, pool_start, pool_len, pool):
    """Each token of data (lower-cased UTF-8) as its word-type row: -1 a sentence end, -2 a word
    not held.  Returns (rows, n tokens, unknown spans [k, 2], n unknown, whether a code point
    was past the letters table).  (ASCII bytes are classed inline and each word hashed as it is
    read: 3x the speed of calling _is_letter for every byte and hashing each word again.)"""
    n = data.shape[0]
    # (a token per 4 bytes to start with, grown when full: a token per byte, "...", would
    # otherwise cost 8 bytes of rows for every byte of a huge text)
    rows = np.empty(n // 4 + 16, np.int64)
    unknown = np.empty((64, 2), np.int64)
    n_tok = 0
    n_unk = 0
    beyond = False
    i = 0
    while i < n:
        c = data[i]
        if c < 0x80:
            if not _ascii_letter(c):
                if c == 0x2E or c == 0x21 or c == 0x3F:  # . ! ?
                    if n_tok == rows.shape[0]:
                        rows = _grown(rows, n_tok)
                    rows[n_tok] = -1
                    n_tok += 1
                i += 1
                continue
            k = 1
        else:
            is_l, k, past = _is_letter(letters, data, i, n)
            beyond |= past
            if not is_l:
                i += k
                continue
        # a word from data[i]: letters, and ' or - between letters
        a = i
        h = _fnv_extend(FNV_OFFSET, data, i, i + k)
        i += k
        while i < n:
            c = data[i]
            if c < 0x80:
                if _ascii_letter(c):
                    h = (h ^ np.uint64(c)) * FNV_PRIME
                    i += 1
                    continue
                if (c == 0x27 or c == 0x2D) and i + 1 < n:
                    is_l, k, past = _is_letter(letters, data, i + 1, n)
                    beyond |= past
                    if is_l:
                        h = _fnv_extend(h, data, i, i + 1 + k)
                        i += 1 + k
                        continue
                break
            is_l, k, past = _is_letter(letters, data, i, n)
            beyond |= past
            if not is_l:
                break
            h = _fnv_extend(h, data, i, i + k)
            i += k
        r = _find(keys, vals, pool_start, pool_len, pool, data, a, i, np.int64(h | np.uint64(1)))
        if r == -2:
            if n_unk == unknown.shape[0]:
                grown = np.empty((2 * n_unk, 2), np.int64)
                grown[:n_unk] = unknown
                unknown = grown
            unknown[n_unk, 0] = a
            unknown[n_unk, 1] = i
            n_unk += 1
        if n_tok == rows.shape[0]:
            rows = _grown(rows, n_tok)
        rows[n_tok] = r
        n_tok += 1
    return rows, n_tok, unknown, n_unk, beyond


@njit(cache=True)
def insert_types(keys, vals, pool_start, pool_len, pool, rows):
    """Put the word types `rows` (their bytes already at pool[pool_start[r]:+pool_len[r]]) in
    the table; it must have room (the caller keeps it at most half full)."""
    mask = keys.shape[0] - 1
    for r in rows:
        p = pool_start[r]
        h = _fnv(pool, p, p + pool_len[r])
        s = h & mask
        while keys[s] != 0:
            s = (s + 1) & mask
        keys[s] = h
        vals[s] = r
