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

Speed (index format 2): no Python work per token.  A batch of documents is encoded to UTF-8 and
tokenised with numpy over its bytes: words are runs of letters/digits (any non-ASCII byte counts
as a letter, except the Latin-1 and general punctuation blocks) joined by ' or -, every other
non-space character is a one-character token.  Case is ASCII case (a name is a word with an ASCII
capital).  Surviving tokens hash from their lower-cased bytes (read eight at a time through an
unaligned uint64 view); shingle hashes, windows and band keys are numpy over the whole batch;
MinHash is rensa's batch `digest_matrix_from_flat_token_hashes`.
"""
from __future__ import annotations

import numpy as np

# Measured (bench/trace/survival.py): worst-case survival >= 0.95, introduced <= 0.10 per occurrence.
STOP_WORDS = frozenset(
    "the and his which their we its these could where those whether whose mr mrs during your".split()
)
SHINGLE = 4  # tokens per shingle
BLOCK = 32  # shingles per block; a window is two consecutive blocks (width 64, stride 32)

_ONES = np.uint64(0x0101010101010101)
_HIGH = np.uint64(0x8080808080808080)
_MASKS = np.array([0] + [(1 << (8 * k)) - 1 for k in range(1, 9)], dtype=np.uint64)
_MAX_CHUNKS = 8  # a word hashes from at most its first 64 bytes (and its length)


def _in_range(x: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """0x80 in each byte of the packed uint64s `x` that lies in [lo, hi] (ASCII), else 0 (SWAR)."""
    x7 = x & ~_HIGH
    t1 = x7 + np.uint64(0x80 - lo) * _ONES
    t2 = x7 + np.uint64(0x80 - hi - 1) * _ONES
    return t1 & ~t2 & ~x & _HIGH


def _pack(word: str) -> int:
    b = word.encode()
    return int.from_bytes(b[:8].ljust(8, b"\0"), "little")


_STOP_PACKED = np.array(sorted(_pack(w) for w in STOP_WORDS if len(w) <= 8), dtype=np.uint64)


# byte classes (bits), applied with bytes.translate
_A, _U, _D, _P, _T, _J = 1, 2, 4, 8, 16, 32  # alnum, ASCII capital, digit, punctuation, terminator, joiner
_CLASS = bytearray(256)
for _b in range(256):
    _c = chr(_b)
    if _b >= 0x80 or _c.islower():
        _CLASS[_b] = _A
    elif _c.isupper():
        _CLASS[_b] = _A | _U
    elif _c.isdigit():
        _CLASS[_b] = _A | _D
    elif _c == "\n":
        _CLASS[_b] = _T
    elif _c in " \t\r\v\f\x1c\x1d\x1e\x1f":
        _CLASS[_b] = 0
    elif _c in ".!?":
        _CLASS[_b] = _P | _T
    elif _c in "'-":
        _CLASS[_b] = _P | _J
    else:
        _CLASS[_b] = _P
_CLASS = bytes(_CLASS)
# words that may be stop words: length 2-8 and an initial letter some stop word has
_STOP_FIRST = np.zeros(256, bool)
for _w in STOP_WORDS:
    _STOP_FIRST[ord(_w[0])] = _STOP_FIRST[ord(_w[0].upper())] = True
_STOP_MAXLEN = max(len(w) for w in STOP_WORDS)


def _tokenise(texts: list[str]):
    """Surviving tokens of a batch of texts.

    Returns (byte buffer, token starts, token lengths, token hashes, tokens per text)."""
    enc = [t.replace("\u2019", "'").encode("utf-8", "surrogatepass") for t in texts]
    ends = 1 + np.cumsum(np.fromiter(map(len, enc), dtype=np.int64, count=len(enc)) + 1)
    buf = b"\n" + b"\n".join(enc) + b"\n" + b"\0" * 8  # every text starts after a newline
    n = len(buf) - 8
    raw = np.frombuffer(buf, dtype=np.uint8)[:n]
    u64 = np.ndarray((n,), dtype="<u8", buffer=buf, strides=(1,))  # the 8 bytes from each offset
    cb = np.frombuffer(buf.translate(_CLASS), dtype=np.uint8)[:n].copy()
    # multi-byte punctuation: U+0080-U+00BF (C2 xx) and U+2000-U+203F (E2 80 xx); spaces among them
    hi = np.flatnonzero(raw >= 0xC2)
    if len(hi):
        lead2 = hi[raw[hi] == 0xC2]
        lead3 = hi[raw[hi] == 0xE2]
        lead3 = lead3[raw[lead3 + 1] == 0x80]  # never past the end: the buffer ends with "\n"
        sp2 = raw[lead2 + 1] == 0xA0
        t3 = raw[lead3 + 2]
        sp3 = (t3 <= 0x8B) | (t3 == 0xA8) | (t3 == 0xA9) | (t3 == 0xAF)
        for lead, sp, k in ((lead2, sp2, 2), (lead3, sp3, 3)):
            cb[lead] = np.where(sp, 0, _P)
            for j in range(1, k):
                cb[lead + j] = 0
    alnum = (cb & _A).view(bool)
    w = alnum.copy()
    jpos = np.flatnonzero((cb & _J) != 0)
    w[jpos[alnum[jpos - 1] & alnum[jpos + 1]]] = True  # don't, B-52 (jpos >= 1: byte 0 is "\n")
    edges = np.flatnonzero(w[1:] != w[:-1]) + 1
    wstart, wend = edges[0::2], edges[1::2]
    wlen = wend - wstart
    nw = len(wstart)
    # capitals, digits, sentence-initial words
    has_upper = np.zeros(nw, bool)
    has_upper[np.searchsorted(wstart, np.flatnonzero((cb & _U) != 0), "right") - 1] = True
    has_digit = np.zeros(nw, bool)
    has_digit[np.searchsorted(wstart, np.flatnonzero((cb & _D) != 0), "right") - 1] = True
    up = np.flatnonzero(has_upper)
    tpos = np.flatnonzero((cb & _T) != 0)
    last_t = tpos[np.searchsorted(tpos, wstart[up]) - 1]  # byte 0 is a terminator
    prev_w = np.where(up > 0, wstart[np.maximum(up - 1, 0)], -1)
    name = np.zeros(nw, bool)
    name[up[last_t < prev_w]] = True  # a capital not at the start of a sentence
    # stop words
    cand = np.flatnonzero((wlen <= _STOP_MAXLEN) & _STOP_FIRST[raw[wstart]])
    stop = np.zeros(nw, bool)
    with np.errstate(over="ignore"):
        x = u64[wstart[cand]] & _MASKS[wlen[cand]]
        x |= _in_range(x, 0x41, 0x5A) >> np.uint64(2)
        stop[cand[np.isin(x, _STOP_PACKED)]] = True
        kw = np.flatnonzero(has_digit | stop | name)
        kstart, klen_w = wstart[kw], wlen[kw]
        wh = _mix(klen_w.astype(np.uint64) * _GOLD)
        sel = np.arange(len(kw))
        for c in range(_MAX_CHUNKS):
            if c:
                sel = sel[klen_w[sel] > 8 * c]
                if not len(sel):
                    break
            x = u64[kstart[sel] + 8 * c] & _MASKS[np.minimum(klen_w[sel] - 8 * c, 8)]
            x |= _in_range(x, 0x41, 0x5A) >> np.uint64(2)  # lower-case (ASCII)
            wh[sel] = _mix((wh[sel] * _M1) ^ x)
        # punctuation tokens (not the joiners inside words)
        ppos = np.flatnonzero((cb & _P) != 0)
        ppos = ppos[~w[ppos]]
        lead = raw[ppos]
        plen = np.ones(len(ppos), np.int64)
        plen[lead == 0xC2] = 2
        plen[lead == 0xE2] = 3
        ph = _mix(_mix(plen.astype(np.uint64) * _GOLD) * _M1 ^ (u64[ppos] & _MASKS[plen]))
    # merge the two sorted streams
    m = len(kw) + len(ppos)
    rank_w = np.arange(len(kw)) + np.searchsorted(ppos, kstart)
    rank_p = np.arange(len(ppos)) + np.searchsorted(kstart, ppos)
    kpos = np.empty(m, np.int64)
    kpos[rank_w], kpos[rank_p] = kstart, ppos
    klen = np.empty(m, np.int64)
    klen[rank_w], klen[rank_p] = klen_w, plen
    h = np.empty(m, np.uint64)
    h[rank_w], h[rank_p] = wh, ph
    per_doc = np.bincount(np.searchsorted(ends, kpos, "right"), minlength=len(texts))[: len(texts)]
    return buf, kpos, klen, h | np.uint64(1), per_doc


def batch_token_hashes(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(flat uint64 hashes of the surviving tokens of every text, in order; tokens per text)."""
    if not texts:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    _, _, _, h, per_doc = _tokenise(texts)
    return h, per_doc


def token_hashes(text: str) -> np.ndarray:
    """uint64 hashes of the surviving tokens of `text`, in order."""
    return batch_token_hashes([text])[0]


def surviving_tokens(text: str) -> list[str]:
    """The tokens of `text` that spinners (almost) never change, lower-cased (ASCII), in order."""
    buf, kpos, klen, _, _ = _tokenise([text])
    return [buf[p:p + k].lower().decode("utf-8", "replace") for p, k in zip(kpos.tolist(), klen.tolist())]


_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)
_PAD = np.uint64(0x5A5A5A5A5A5A5A5B)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (vectorised, wrapping uint64 arithmetic)."""
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint64(30))
        x = x * _M1
        x = x ^ (x >> np.uint64(27))
        x = x * _M2
        x = x ^ (x >> np.uint64(31))
    return x


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of arange(s, s + n) for each (s, n), vectorised."""
    lengths = lengths.astype(np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    ends = np.cumsum(lengths)
    base = np.repeat(starts.astype(np.int64) - (ends - lengths), lengths)
    return base + np.arange(total, dtype=np.int64)


def shingle_hashes(flat: np.ndarray, counts: np.ndarray, k: int = SHINGLE) -> tuple[np.ndarray, np.ndarray]:
    """(flat uint64 shingle hashes, per-document offsets (len n+1)) from flat token hashes and
    the token count of each document.

    A shingle hashes k consecutive surviving tokens; a document with fewer than k tokens (but at
    least one) has one shingle, its tokens padded."""
    counts = np.asarray(counts, dtype=np.int64)
    short = (counts > 0) & (counts < k)
    if short.any():
        ends = np.cumsum(counts)[short]
        flat = np.insert(flat, np.repeat(ends, k - counts[short]), _PAD)
        counts = np.where(short, k, counts)
    nsh = np.where(counts >= k, counts - (k - 1), 0)
    offsets = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(nsh, out=offsets[1:])
    if offsets[-1] == 0:
        return np.zeros(0, np.uint64), offsets
    n = len(flat) - (k - 1)
    with np.errstate(over="ignore"):
        acc = _mix(flat[:n] ^ _GOLD)
        for r in range(1, k):
            acc = _mix((acc * _M1) ^ flat[r:r + n])
    starts = np.cumsum(counts) - counts
    return acc[_ranges(starts, nsh)], offsets


def window_layout(counts: np.ndarray, block: int = BLOCK, stride: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Windows over documents of `counts` shingles: (document, start, length) arrays.

    Width 2*block, stride `stride` (default block); a document of at most 2*block shingles is one
    window, and the last window ends at the last shingle."""
    width = 2 * block
    stride = stride or block
    counts = np.asarray(counts, dtype=np.int64)
    over = np.maximum(counts - width, 0)
    full = over // stride + 1
    nwin = np.where(counts == 0, 0, full + ((over % stride) != 0))
    doc = np.repeat(np.arange(len(counts)), nwin)
    first = np.cumsum(nwin) - nwin
    k = np.arange(len(doc)) - first[doc]  # window number within its document
    start = np.minimum(k * stride, over[doc])
    length = np.minimum(counts[doc], width)
    return doc, start, length


def windows(n: int, block: int = BLOCK, stride: int | None = None) -> list[tuple[int, int]]:
    """Windows [a, b) over n shingles (see window_layout)."""
    _, s, ln = window_layout(np.array([n]), block, stride)
    return [(int(a), int(a + b)) for a, b in zip(s, ln)]


def window_digests(sh: np.ndarray, offsets: np.ndarray, num_perm: int, seed: int,
                   block: int = BLOCK, stride: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """((n_windows, num_perm) uint32 MinHash digests via rensa, document of each window)."""
    doc, start, length = window_layout(np.diff(offsets), block, stride)
    if not len(doc):
        return np.zeros((0, num_perm), np.uint32), doc
    flat = sh[_ranges(offsets[:-1][doc] + start, length)]
    row_off = np.zeros(len(doc) + 1, np.uint64)
    np.cumsum(length, out=row_off[1:])
    from rensa import RMinHash

    m = RMinHash.digest_matrix_from_flat_token_hashes(flat, row_off, num_perm, seed)
    return np.asarray(m.to_rows(), dtype=np.uint32).reshape(len(doc), num_perm), doc


def band_keys(digests: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(n, bands) uint64 LSH keys: band b of a signature hashes its `rows` values with b."""
    n = digests.shape[0]
    d = digests[:, : bands * rows].astype(np.uint64).reshape(n, bands, rows)
    with np.errstate(over="ignore"):
        acc = np.broadcast_to(np.arange(bands, dtype=np.uint64) * _GOLD, (n, bands)).copy()
        for r in range(rows):
            acc = _mix(acc ^ d[:, :, r])
    return acc
