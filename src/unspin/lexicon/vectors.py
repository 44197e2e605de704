"""Word vectors for the swap model's topic features: does a candidate original fit what the
document is about better than the word the text has?

A spinner picks a thesaurus sense without reading the document, so the word it puts in often
belongs to another topic ("minute management standard" in an article about a White House
briefing), while a writer's own choice among near-synonyms ("big" or "large") fits either way.
The 3-gram sees two words on each side; these features see the whole document.  On dev (the swap
model's 75,618 candidates, 5-fold cross-fitted): locate F1 0.782 -> 0.790 and false swaps in
clean text 1.42 -> 1.34 per 1,000 words at the report threshold, restore 0.563 -> 0.565.

data/vectors/vectors.npy (scripts/build_vectors.py): GloVe's 100-dimensional vector of each word
of the 3-gram prior, as int8 rows indexed by its word ids (lm_vocab.sha256: the vocabulary's
digest, checked against the prior's at load).  A document's *topic* is the sum of its words'
unit vectors weighted by how rare each word is (the commonest words, ln P above -7.5 under the
3-gram's unigrams, not at all: they say nothing about a topic).
"""
from __future__ import annotations

from collections import Counter
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from unspin._jit import njit, python_mode

# Words at least this common (3-gram unigram ln P) carry no topic.
TOPIC_MAX_LOGPROB = -7.5
# A word's topic weight, ln(1 + rank / 1000) with its frequency rank estimated from its unigram
# ln P (Zipf: rank ~ e^(-lnP - 2.9) fits the 3-gram's words against GloVe's frequency ranks).
_RANK_OFFSET = 2.9

# A document's topic without the span shorter than this is none (the span's own words were all
# of it, up to rounding): its cosines are 0.
MIN_TOPIC_NORM = 1e-6

TOPIC_FEATURES = ("has_vectors", "topic_gain", "pair_similarity", "spun_topic", "original_topic")


class WordVectors:
    """Read-only view of data/vectors/: word vectors by 3-gram word id."""

    def __init__(self, lm, path=None):
        folder = Path(path) if path is not None else Path(str(resources.files("unspin") / "data" / "vectors"))
        digest = (folder / "lm_vocab.sha256").read_text(encoding="utf-8").strip()
        if digest != lm.vocab_digest:
            raise ValueError(f"{folder}: word vectors built for another 3-gram vocabulary (rebuild: "
                             "python scripts/build_vectors.py)")
        # (memory-mapped int8, never converted whole: the rows a document needs are made unit
        # vectors as they are read, `unit_rows`; 7 MB shared instead of 29 MB per process)
        rows = np.load(folder / "vectors.npy", mmap_mode="r")
        if rows.shape[0] != lm.vocab_size:
            raise ValueError(f"{folder}: {rows.shape[0]} rows for a vocabulary of {lm.vocab_size}")
        self.rows = np.asarray(rows)  # (a plain array over the map, as the compiled kernel takes)
        self.has = rows.any(axis=1)
        lp = np.asarray(lm.model.uni_prob, dtype=np.float64)
        weight = np.log1p(np.exp(np.minimum(-lp - _RANK_OFFSET, 50.0)) / 1000.0)
        self.weight = np.where((lp > TOPIC_MAX_LOGPROB) | ~self.has, 0.0, weight).astype(np.float32)
        self.lm = lm

    def document_topic(self, counts: Counter) -> np.ndarray:
        """The weighted sum of the document's word vectors (float64 [dim]); counts: its
        lower-case words."""
        vocab = self.lm.vocab
        found = [(i, c) for i, c in zip(map(vocab.get, counts), counts.values()) if i is not None]
        ids = np.fromiter((i for i, _c in found), np.int64, len(found))
        return self.topic_of(ids, np.fromiter((c for _i, c in found), np.float64, len(found)))

    def topic_of(self, ids: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """document_topic from the document's 3-gram word ids and their counts (decode.DocContext's;
        ids beyond the vocabulary, words it lacks, count for nothing)."""
        keep = ids < len(self.has)
        keep[keep] = self.has[ids[keep]]
        ids = ids[keep]
        return (counts[keep] * self.weight[ids]) @ self.unit_rows(ids)

    def unit_rows(self, ids: np.ndarray) -> np.ndarray:
        """The unit vectors of these words (float64 [len(ids), dim]; each must have one: `has`)."""
        return _unit(self.rows, ids)

    def topic_columns(self, spun, original, topic: np.ndarray) -> np.ndarray:
        """TOPIC_FEATURES of each span (its words, its original's words; lists of lower-case
        words) against the document's topic without the span's own words, float64 [spans, 5]:
        whether both have vectors, the original's cosine to that topic minus the spun words',
        the cosine between the two, and each one's cosine to the topic (0 where either has no
        vector)."""
        vocab, has = self.lm.vocab, self.has
        # each side's word ids with a vector, flat, with each span's start (and the end)
        flat: list[list[int]] = [[], []]
        starts: list[list[int]] = [[], []]
        for side, spans in enumerate((spun, original)):
            ids, at = flat[side], starts[side]
            for words in spans:
                at.append(len(ids))
                for w in words:
                    i = vocab.get(w)
                    if i is not None and has[i]:
                        ids.append(i)
            at.append(len(ids))
        out = np.zeros((len(spun), len(TOPIC_FEATURES)))
        kernel = _topic_numpy if python_mode() else _topic_kernel
        kernel(np.asarray(flat[0], np.int64), np.asarray(starts[0], np.int64), np.asarray(flat[1], np.int64),
               np.asarray(starts[1], np.int64), self.rows, self.weight, np.asarray(topic, np.float64), out)
        return out


@njit(cache=True)
def _inverse_norm(rows, i):
    """1 / the length of int8 row i (the row has a vector)."""
    sq = 0.0
    for d in range(rows.shape[1]):
        sq += np.float64(rows[i, d]) * np.float64(rows[i, d])
    return 1.0 / np.sqrt(sq)


@njit(cache=True)
def _topic_kernel(s_ids, s_start, o_ids, o_start, rows, weight, topic, out):
    """WordVectors.topic_columns' figures, a span at a time (rows: the int8 vectors, each made a
    unit vector as it is read; out: zeros [spans, 5])."""
    dim = rows.shape[1]
    vs = np.empty(dim)
    vo = np.empty(dim)
    rest = np.empty(dim)
    for k in range(len(s_start) - 1):
        a0, a1, b0, b1 = s_start[k], s_start[k + 1], o_start[k], o_start[k + 1]
        if a1 == a0 or b1 == b0:
            continue
        for d in range(dim):
            vs[d] = 0.0
            vo[d] = 0.0
            rest[d] = topic[d]
        for j in range(a0, a1):
            i = s_ids[j]
            inv = _inverse_norm(rows, i)
            w = weight[i]
            for d in range(dim):
                u = np.float64(rows[i, d]) * inv
                vs[d] += u
                rest[d] -= w * u
        for j in range(b0, b1):
            i = o_ids[j]
            inv = _inverse_norm(rows, i)
            for d in range(dim):
                vo[d] += np.float64(rows[i, d]) * inv
        ns = no = nr = sr = orr = so = 0.0
        for d in range(dim):
            ns += vs[d] * vs[d]
            no += vo[d] * vo[d]
            nr += rest[d] * rest[d]
            sr += vs[d] * rest[d]
            orr += vo[d] * rest[d]
            so += vs[d] * vo[d]
        ns, no, nr = np.sqrt(ns), np.sqrt(no), np.sqrt(nr)
        out[k, 0] = 1.0
        out[k, 2] = so / (ns * no)
        if nr > MIN_TOPIC_NORM:
            out[k, 3] = sr / (ns * nr)
            out[k, 4] = orr / (no * nr)
            out[k, 1] = out[k, 4] - out[k, 3]


def _unit(rows, ids):
    u = rows[ids].astype(np.float64)
    if len(u):
        u /= np.sqrt(np.einsum("ij,ij->i", u, u))[:, None]
    return u


def _topic_numpy(s_ids, s_start, o_ids, o_start, rows, weight, topic, out):
    """_topic_kernel with numpy, all spans at once (plain-Python mode, where its loops would run
    in the interpreter)."""
    n = len(s_start) - 1
    s_len, o_len = np.diff(s_start), np.diff(o_start)
    ok = (s_len > 0) & (o_len > 0)
    if not ok.any():
        return
    s_span = np.repeat(np.arange(n), s_len)
    o_span = np.repeat(np.arange(n), o_len)
    us, uo = _unit(rows, s_ids), _unit(rows, o_ids)
    vs = np.zeros((n, rows.shape[1]))
    vo = np.zeros((n, rows.shape[1]))
    own = np.zeros((n, rows.shape[1]))
    np.add.at(vs, s_span, us)
    np.add.at(vo, o_span, uo)
    np.add.at(own, s_span, us * weight[s_ids, None])
    rest = topic[None, :] - own
    ns, no, nr = (np.sqrt(np.einsum("ij,ij->i", v, v)) for v in (vs, vo, rest))
    safe = lambda v: np.where(ok & (v > 0), v, np.inf)  # noqa: E731
    out[:, 0] = ok
    out[:, 2] = np.where(ok, np.einsum("ij,ij->i", vs, vo) / (safe(ns) * safe(no)), 0.0)
    has_topic = ok & (nr > MIN_TOPIC_NORM)
    out[:, 3] = np.where(has_topic, np.einsum("ij,ij->i", vs, rest) / (safe(ns) * safe(nr)), 0.0)
    out[:, 4] = np.where(has_topic, np.einsum("ij,ij->i", vo, rest) / (safe(no) * safe(nr)), 0.0)
    out[:, 1] = np.where(has_topic, out[:, 4] - out[:, 3], 0.0)


@lru_cache(maxsize=1)
def default_vectors() -> WordVectors:
    from unspin.lm import fast_lm

    return WordVectors(fast_lm())
