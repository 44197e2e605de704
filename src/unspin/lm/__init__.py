"""The prior P(original): one small interface, one implementation per model.

`LanguageModel.logprob(word, h1, h2)` is ln P(word | h2 h1) for lower-case words, with h1 the
previous word and h2 the one before ("<s>" at a sentence start, "</s>" as the word that ends one).
Phrases are scored word by word by the decoder.

The fast tier is the CMU Sphinx US-English 3-gram shipped inside the `pocketsphinx` wheel.
Words it does not know fall back to `wordfreq` unigram frequencies (minus a back-off penalty),
so a rare but real word is not scored as if it were noise.
"""
from __future__ import annotations

import hashlib
import math
from functools import cached_property, lru_cache
from typing import Protocol

import numpy as np



class LanguageModel(Protocol):
    name: str

    def logprob(self, word: str, h1: str, h2: str) -> float: ...

    def unigram(self, word: str) -> float: ...


class NgramLM:
    """The pocketsphinx 3-gram (read into arrays, `unspin.lm.trie`) with a wordfreq back-off for
    words it lacks.  Python callers use `logprob`/`unigram`; the decoder passes `tables` and
    `oov_scores()` to the compiled kernels (`unspin.lm.kernels`) with ids from `word_id`."""

    name = "pocketsphinx-en-us-3gram"

    # ln P for a word neither model knows, and the penalty on wordfreq's estimate when the 3-gram
    # lacks a word (wordfreq's counts include web text the 3-gram never saw).
    UNKNOWN = -18.0
    BACKOFF_PENALTY = -1.0
    # Distinct unknown words given their own id; later ones share the id of a word neither
    # model knows (a process would have to see a million distinct rare words first).
    MAX_OOV = 1_000_000  # (ids stay below 2**21: kernels.CACHE_BITS)
    MAX_UNKNOWN = 200_000

    def __init__(self, path: str | None = None):
        from unspin.lm.kernels import WORD_BITS, build_ngram_hashes, lookup_tables, max_logprobs, new_memo
        from unspin.lm.trie import default_path, load_trie

        def hashes(tables):
            if tables.vocab_size >= 1 << WORD_BITS:
                raise ValueError(f"3-gram too large for the packed look-up tables ({WORD_BITS}-bit word ids)")
            tri, bi = build_ngram_hashes(tables.bi_start, tables.bi_word, tables.bi_prob, tables.bi_bo,
                                         tables.tri_start, tables.tri_word, tables.tri_prob)
            top = max_logprobs(tables.uni_prob, tables.uni_bo, tables.bi_start, tables.bi_word, tables.bi_prob,
                               tables.bi_bo, tables.tri_start, tables.tri_prob)
            return {"tri_keys": tri, "bi_keys": bi, "max_lp": top}

        self.model, extra = load_trie(path or default_path(), ("tri_keys", "bi_keys", "max_lp"), hashes)
        self.tables = lookup_tables(self.model.uni_prob, self.model.uni_bo, extra["tri_keys"], extra["bi_keys"],
                                    extra["max_lp"])
        self._pinned = False
        self.vocab: dict[str, int] = {w: i for i, w in enumerate(self.model.words)}
        self.vocab_size = len(self.model.words)
        self.vocab_digest = hashlib.sha256("\n".join(self.model.words).encode("utf-8")).hexdigest()
        self._oov_ids: dict[str, int] = {}
        self._oov = np.full(1024, self.UNKNOWN, dtype=np.float64)
        self._oov_n = 1  # slot 0: a word neither model knows
        self._unknown: set[str] = set()  # words found to be in slot 0 (bounded: MAX_UNKNOWN)
        self._cache: dict[tuple[str, str, str], float] = {}
        self.memo = new_memo()  # for the compiled look-ups (kernels.logprob_cached)

    def pin_tables(self) -> None:
        """Copy the 3-gram's two hash tables (134 MB) from their memory map into memory on 2 MB
        pages (`huge_page_copy`): the decoding kernel's look-ups on a document's first sight
        2.95 -> 2.51 ms a test text, a check 5% faster, at the cost of the copy (0.36 s here)
        and of 134 MB private to the process (the memory map's pages are shared).  Done by
        processes that decode a lot (the server's and scan's workers at start, any other once
        it has decoded decode.PIN_AFTER_WORDS words), not by a one-shot check of a short text;
        once (where less than PIN_MIN_AVAILABLE bytes are free, never).  The same scores."""
        if self._pinned:
            return
        from unspin.lm.kernels import lookup_tables

        self._pinned = True
        if _available_memory() < PIN_MIN_AVAILABLE:  # (a small machine keeps the shared map)
            return
        uni_prob, uni_bo, tri_keys, _tri_val, bi_keys, _bi_val, max_lp = self.tables
        # The copies read-only, as the memory map's arrays are: the same array types, so the
        # kernels compiled for the map serve them too.  Writable, they were another signature,
        # compiled on a process's first pin (20 s of CPU on a fresh install: `unspin serve`'s
        # and scan's workers each paid it at their first start) and loaded from numba's cache
        # by every later one (0.1 s).
        tri, bi = huge_page_copy(tri_keys), huge_page_copy(bi_keys)
        tri.flags.writeable = bi.flags.writeable = False
        # (one assignment: a kernel running meanwhile keeps the tuple it was given)
        self.tables = lookup_tables(uni_prob, uni_bo, tri, bi, max_lp)
        # and the memo of their scores (4 MB, read at random too: the test texts 8.60 -> 8.38 ms
        # each on top of the tables, four interleaved runs; a look-up under way in another
        # thread may write the old one, which is only a cache)
        self.memo = huge_page_copy(self.memo)

    def in_vocab(self, word: str) -> bool:
        return word in self.vocab

    def vocabulary(self) -> list[str]:
        """The model's words, commonest first (tables filled in this order keep the common
        words' rows together, as a stream of text would), without the markers <s> and </s>."""
        uni = self._unigrams
        return sorted((w for w in self.vocab if w not in ("<s>", "</s>")), key=lambda w: -uni[self.vocab[w]])

    def word_id(self, word: str) -> int:
        """The model's id of a word; an unknown word gets an id >= vocab_size whose score is
        its wordfreq back-off (see `oov_scores`)."""
        got = self.vocab.get(word)
        if got is not None:
            return got
        got = self._oov_ids.get(word)
        if got is None:
            if word in self._unknown:
                return self.vocab_size
            score = self._wordfreq(word)
            if score <= self.UNKNOWN or self._oov_n >= self.MAX_OOV:
                # (remembered: a name or a typo recurs, and wordfreq's look-up costs about 10 us)
                if len(self._unknown) >= self.MAX_UNKNOWN:
                    self._unknown.clear()
                self._unknown.add(word)
                return self.vocab_size  # slot 0
            if self._oov_n >= len(self._oov):
                grown = np.full(2 * len(self._oov), self.UNKNOWN, dtype=np.float64)
                grown[: len(self._oov)] = self._oov
                self._oov = grown
            self._oov[self._oov_n] = score
            got = self._oov_ids[word] = self.vocab_size + self._oov_n
            self._oov_n += 1
        return got

    def oov_scores(self) -> np.ndarray:
        """ln P of the unknown words by id - vocab_size (grows; take it after the ids)."""
        return self._oov

    def _wordfreq(self, word: str) -> float:
        f = _wordfreq_en(word)
        return self.UNKNOWN if f <= 0 else max(self.UNKNOWN, math.log(f) + self.BACKOFF_PENALTY)

    def logprob(self, word: str, h1: str, h2: str) -> float:
        key = (word, h1, h2)
        got = self._cache.get(key)
        if got is None:
            from unspin.lm.kernels import logprob

            w, a, b = self.word_id(word), self.vocab.get(h1, -1), self.vocab.get(h2, -1)
            got = float(logprob(self.tables, self._oov, w, a, b))
            if len(self._cache) >= 1_000_000:
                self._cache.clear()
            self._cache[key] = got
        return got

    def unigram(self, word: str) -> float:
        i = self.vocab.get(word)
        if i is not None:
            return self._unigrams[i]
        return float(self._oov[self.word_id(word) - self.vocab_size])

    @cached_property
    def _unigrams(self) -> list[float]:
        """uni_prob as Python floats (the same values): indexing a list is several times faster
        than a numpy array's scalar, and the swap model reads a hundred and more a document."""
        return self.model.uni_prob.tolist()


PIN_MIN_AVAILABLE = 2 << 30  # bytes of available memory pin_tables asks for before copying


def _available_memory() -> int:
    """MemAvailable of /proc/meminfo, in bytes (where it cannot be read: plenty)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 1 << 62


def huge_page_copy(a: np.ndarray) -> np.ndarray:
    """`a` copied into memory the kernel may back with 2 MB pages (madvise MADV_HUGEPAGE; where
    it cannot, a plain copy).  The 3-gram's hash tables are read at random, a probe per look-up:
    memory-mapped from the user cache they sit on 4 KB pages, 16,000 a table, and nearly every
    probe missed the TLB too; on 2 MB pages the two tables need 68 entries."""
    import mmap

    huge = 2 << 20
    nbytes = a.nbytes
    if nbytes < huge or not hasattr(mmap, "MADV_HUGEPAGE"):
        return np.array(a)
    # (anonymous and private: shared anonymous memory is shmem, whose huge pages are off by
    # default; a 2 MB boundary lies within the first 2 MB)
    buf = mmap.mmap(-1, nbytes + huge, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    start = -np.frombuffer(buf, np.uint8, 1).ctypes.data % huge
    try:
        buf.madvise(mmap.MADV_HUGEPAGE, start, nbytes - nbytes % huge)
    except (OSError, ValueError):  # (a kernel without transparent huge pages: plain pages)
        pass
    out = np.frombuffer(buf, np.uint8, nbytes, start).view(a.dtype).reshape(a.shape)
    out[...] = a
    return out


def _wordfreq_en(word: str) -> float:
    """wordfreq.word_frequency(word, "en"), mostly without importing wordfreq (see wordfreq_en)."""
    from unspin.lm.wordfreq_en import frequency

    return frequency(word)


@lru_cache(maxsize=1)
def fast_lm() -> NgramLM:
    return NgramLM()
