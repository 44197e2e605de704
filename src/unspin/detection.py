"""Document-level score: is this text spun?  A calibrated probability, its verdict, its evidence.

Two models read the features (`CHEAP_FEATURES`, `FULL_FEATURES`):
  * the *screening* model reads only cheap ones: scars, rare words that have a far more common
    inverse-synonym original, function-word oddities like "astatine" for "at" (one compiled
    pass over the text's bytes, `screen_kernels`, and per-word-type cached look-ups), and a
    look at context without a lattice: each suspect
    word against its two likeliest originals between its neighbours, under the 3-gram's
    bigrams (`WordSignals.screen`), no decoding;
  * the *full* model adds what the decoder found (evidence that the text is better explained as
    spun, the estimated swap rate, LM surprise) to the word-type features.
Both are logistic regressions trained on the dev split (scripts/train_detector.py), the full one
over all the features (the screening model's too) and every product of two of them
(`signal_terms` folds those back into the signals for the evidence), calibrated per length
bucket by isotonic regression, shipped in data/detector.json.

`detect(text)` screens first and decodes only texts the screening model cannot clear.
"""
from __future__ import annotations

import json
import math
import threading
from collections import Counter
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import regex

from unspin.report import Detection, Evidence

_SENTENCE_ENDS = (".", "!", "?")
_SCREEN_RE = regex.compile(r"[\p{L}]+(?:['\-][\p{L}]+)*|[.!?]")

# Words whose appearance as a *candidate original* of a rare spun word marks a WordNet-style
# function-word swap (at -> astatine, in -> indium, a -> ampere, be -> beryllium, he -> helium).
FUNCTION_WORDS = frozenset(
    "a an the at in on of to by as or and but if so no not be is are was were been am do does did "
    "he she it we they me him her us them i you my his its our their this that these those may "
    "must can will shall let up out off over for with from into onto upon about since until".split()
)

_WORD_FEATURES = ("log_words", "scars_per_100", "odd_per_100", "fw_odd_per_100", "rare_per_100",
                  "spin_llr_per_100")
# The screening model also reads the context look (WordSignals.screen); the full model, which
# has the decoder's own evidence, does not (with it: AUROC 0.969, TPR at 1% FPR 0.728 on the
# test split, against 0.972 / 0.775 without).
CHEAP_FEATURES = _WORD_FEATURES + ("context_llr_per_100", "context_pos_per_100", "context_hits_per_100",
                                   "context_llr_sqrt")
# (No swap count: reported swaps are themselves gated by this probability.  Sums over
# sqrt(words), a sequential test, were tried for the decoder's evidence and the context-free
# llr: better on the synthetic split, worse on the real spun article or on screening, so only
# the context look's is shipped: screening cleared 181 -> 192 of 209 clean long documents.)
FULL_FEATURES = _WORD_FEATURES + ("evidence_per_100", "rate", "surprise", "evidence_pos_per_100")
FEATURES = tuple(dict.fromkeys(CHEAP_FEATURES + FULL_FEATURES))


# The fewest words the detector reads its rates over: its shortest training texts (the dev split's
# flattened tables; 25-word prefixes; scripts/train_detector.py checks that none is shorter).
FEATURE_MIN_WORDS = 15


@dataclass
class DocStats:
    """Counts gathered over a document; the detector's only input."""

    n_words: int = 0
    n_scars: int = 0
    n_odd: int = 0
    n_fw_odd: int = 0
    n_rare: int = 0
    spin_llr: float = 0.0  # Σ over words of WordSignals' context-free log-likelihood ratio
    # WordSignals.screen's look at context: the same ratio between each word's neighbours, summed;
    # its positive part; tokens past a hit
    context_llr: float = 0.0
    context_pos: float = 0.0
    n_context_hits: int = 0
    # filled by the decoder (full analysis only)
    decoded: bool = False
    evidence: float = 0.0
    n_spinnable: int = 0
    swap_mass: float = 0.0
    n_swaps: int = 0
    lm_logprob: float = 0.0  # ln P_lm of the text as it stands (scar-repaired)
    evidence_pos: float = 0.0  # Σ over sentences of max(0, evidence): the sentences that look spun

    def add(self, other: "DocStats") -> None:
        for k, v in vars(other).items():
            if k == "decoded":
                self.decoded = self.decoded or v
            else:
                setattr(self, k, getattr(self, k) + v)

    def features(self) -> dict[str, float]:
        # Counts are read as rates over at least FEATURE_MIN_WORDS words: a shorter text's counts
        # as those of a text of that length whose other words showed nothing.  The detector never
        # saw a shorter text, and one odd word in two is not a rate of 50 per 100 it could judge
        # ("The end." was 0.99 spun, "All rights reserved." 0.995; 3-word clean prefixes of test
        # texts scored higher than spun ones).
        n = max(FEATURE_MIN_WORDS, self.n_words)
        per100 = 100.0 / n
        f = {
            # capped near the longest documents of the split: beyond them the length says nothing more
            "log_words": math.log(min(n, 500)),
            "scars_per_100": min(5.0, self.n_scars * per100),
            "odd_per_100": self.n_odd * per100,
            "fw_odd_per_100": min(10.0, self.n_fw_odd * per100),
            "rare_per_100": self.n_rare * per100,
            "spin_llr_per_100": max(-20.0, min(300.0, self.spin_llr * per100)),
            "context_llr_per_100": max(-30.0, min(300.0, self.context_llr * per100)),
            "context_pos_per_100": min(300.0, self.context_pos * per100),
            "context_hits_per_100": self.n_context_hits * per100,
            # a sequential test's statistic: Σ llr / sqrt(words) grows with the length of a spun
            # text and falls with a clean one's, where the rates above stay put
            "context_llr_sqrt": max(-30.0, min(30.0, self.context_llr / math.sqrt(n))),
        }
        if self.decoded:
            f.update(
                evidence_per_100=max(-20.0, min(200.0, self.evidence * per100)),
                rate=self.swap_mass / self.n_spinnable if self.n_spinnable else 0.0,
                surprise=-self.lm_logprob / max(1, self.n_words),  # (per word read: not a count)
                evidence_pos_per_100=min(200.0, self.evidence_pos * per100),
            )
        return f


class WordSignals:
    """Per-word-type cheap signals, cached: is the word rare while a candidate original that a
    spinner could have replaced by it is far more common (odd)?  Is one of those originals a
    function word (fw_odd)?  Is the word rare at all?"""

    ODD_RATIO = math.log(30.0)  # the candidate original must be this much more frequent
    RARE = math.log(3e-6)  # unigram probability below which a known word counts as rare
    FW_MIN_CHANNEL = -4.0  # ln P(spun | function word) above which a function-word swap is plausible

    def __init__(self, channel, lm):
        import numpy as np

        self.channel = channel
        self.lm = lm
        self._orig_ids = channel.original_ids(lm.vocab, lm.vocab_digest)
        self._fw_ids = np.zeros(lm.vocab_size, dtype=np.bool_)
        for w in FUNCTION_WORDS:
            if w in lm.vocab:
                self._fw_ids[lm.vocab[w]] = True
        self._bos, self._eos = lm.vocab["<s>"], lm.vocab["</s>"]
        # the per-type tables grow as texts bring new words: one thread at a time
        self._lock = threading.RLock()
        self._vocabulary_learnt = False  # (see learn_vocabulary)
        self._new_context_rows()

    # The context look (`screen`): each word type's CONTEXT_CANDIDATES likeliest originals by
    # channel + unigram, scored between the word's neighbours (lattice.screen_counts).
    CONTEXT_CANDIDATES = 2
    CONTEXT_HIT = math.log(3.0)  # a token whose context llr passes this counts as a hit
    # Word types whose context-free swap mass (Σ_o P(o) P(word | o) / P(word), see `many`) is
    # below this are not looked at in context (their llr counts as the context-free one): 56%
    # of the tokens are looked at instead of 83%, and the context llr's AUROC (clean against
    # 10%-spun dev documents) stays 0.914 / 0.997 (whole / long) against 0.915 / 0.997
    # (measured with a trigram look at 4 candidates, before the bigram one at 2).
    CONTEXT_MIN_MASS = 0.03
    CONTEXT_MAX_TYPES = 1_000_000  # word types, and their candidate rows, held before starting afresh
    CONTEXT_MAX_ROWS = 4_000_000

    def _new_context_rows(self) -> None:
        import numpy as np

        from unspin.decode import _CandidateStore

        # per word type (dict row): LM id, first candidate row, number of candidates, `many`'s
        # llr and flags (odd | fw_odd << 1 | rare << 2); sentence ends map to -1
        self._type_row: dict[str, int] = dict.fromkeys(_SENTENCE_ENDS, -1)
        self._type_word = np.zeros(1 << 12, np.int64)
        self._type_start = np.zeros(1 << 12, np.int64)
        self._type_count = np.zeros(1 << 12, np.int64)
        self._type_llr = np.zeros(1 << 12, np.float64)
        self._type_flags = np.zeros(1 << 12, np.int64)
        self._n_types = 0
        # each type's lower-case UTF-8 bytes (pool[start:start+len]) and a hash table of them,
        # for the compiled tokenizer (screen_kernels.text_rows); kept at most half full
        self._type_pool_start = np.zeros(1 << 12, np.int64)
        self._type_pool_len = np.zeros(1 << 12, np.int64)
        self._pool = np.zeros(1 << 16, np.uint8)
        self._pool_n = 0
        self._hash_keys = np.zeros(1 << 13, np.int64)
        self._hash_rows = np.zeros(1 << 13, np.int64)
        # the candidates' rows, laid out as the decoder's (its shortlist kernel writes them)
        self._cand = _CandidateStore(max_rows=self.CONTEXT_MAX_ROWS, max_words=self.channel.max_phrase_words)

    def _add_types(self, words: list[str]) -> None:
        """Rows for word types not seen yet: their LM id, `many`'s signals (computed here the
        same way, in arrays: about half the cost per new type) and context candidates."""
        import numpy as np

        from unspin.lattice import shortlist_many, word_signals_many
        from unspin.lexicon.channel import ABSENT, QUANT

        lm, channel = self.lm, self.channel
        n = len(words)
        wids = np.fromiter(map(lm.word_id, words), np.int64, n)
        keys = np.fromiter(map(channel.key_index, words), np.int64, n)
        oov = lm.oov_scores()  # (after the ids: unknown words grow it)
        vocab = lm.vocab_size
        # (the rows wanted, then float64: converting the whole vocabulary's first cost 55 us a call)
        uni = np.where(wids < vocab, np.asarray(lm.model.uni_prob[np.minimum(wids, vocab - 1)], np.float64),
                       oov[np.maximum(wids - vocab, 0)])
        rare = uni < self.RARE
        odd = np.zeros(n, np.bool_)
        fw = np.zeros(n, np.bool_)
        llr = np.full(n, math.log(1.0 - self.LLR_RATE))  # a word no spinner produces
        keyed = np.flatnonzero(keys >= 0)
        counts = np.zeros(n, np.int64)
        need_t = self._n_types + n
        if need_t > len(self._type_word):
            for name in ("_type_word", "_type_start", "_type_count", "_type_llr", "_type_flags",
                         "_type_pool_start", "_type_pool_len"):
                setattr(self, name, _grown(getattr(self, name), need_t))
        store = self._cand
        min_llr = math.log(1.0 - self.LLR_RATE + self.LLR_RATE * self.CONTEXT_MIN_MASS)
        if len(keyed):
            k_odd, k_fw, k_llr = np.zeros(len(keyed), np.bool_), np.zeros(len(keyed), np.bool_), np.zeros(len(keyed))
            offsets, cand_orig, cand_cost = channel.tables
            is_fw = np.fromiter((words[i] in FUNCTION_WORDS for i in keyed), np.bool_, len(keyed))
            word_signals_many(lm.tables, oov, keys[keyed], wids[keyed], is_fw, offsets, cand_orig, cand_cost,
                              channel.log_weights, QUANT, ABSENT, self._orig_ids, self._fw_ids, self.ODD_RATIO,
                              self.FW_MIN_CHANNEL, self.LLR_RATE, k_odd, k_fw, k_llr)
            odd[keyed], fw[keyed], llr[keyed] = k_odd, k_fw, np.minimum(self.LLR_MAX, k_llr)
            # context candidates only for the types the context look reads (a third fewer)
            looked = keyed[llr[keyed] >= min_llr]
            store.reserve(len(looked) * self.CONTEXT_CANDIDATES)
            k_counts = np.zeros(len(looked), np.int64)
            shortlist_many(lm.tables, oov, keys[looked], offsets, cand_orig, cand_cost, channel.log_weights, QUANT,
                           ABSENT, self._orig_ids, 1.0, 1.0, 0.0, self.CONTEXT_CANDIDATES, store.out, store.length,
                           store.static, store.orig, store.thes, store.cost, store.mix, store.n, k_counts)
            counts[looked] = k_counts
        t0, c0 = self._n_types, store.n
        ends = c0 + np.cumsum(counts)
        self._type_word[t0:t0 + n] = wids
        self._type_start[t0:t0 + n] = ends - counts
        self._type_count[t0:t0 + n] = counts  # (0 for a type whose swap mass is below CONTEXT_MIN_MASS)
        self._type_llr[t0:t0 + n] = llr
        self._type_flags[t0:t0 + n] = odd.astype(np.int64) | fw.astype(np.int64) << 1 | rare.astype(np.int64) << 2
        self._type_row.update(zip(words, range(t0, t0 + n)))
        self._n_types, store.n = t0 + n, int(ends[-1]) if n else c0
        self._hash_types(words, t0)

    def _hash_types(self, words: list[str], t0: int) -> None:
        """The bytes of word types t0.. (words) into the pool and the hash table."""
        import numpy as np

        from unspin.screen_kernels import insert_types

        encoded = [w.encode("utf-8", "surrogatepass") for w in words]
        n = len(encoded)
        lengths = np.fromiter(map(len, encoded), np.int64, n)
        need = self._pool_n + int(lengths.sum())
        if need > len(self._pool):
            self._pool = _grown(self._pool, need)
        self._pool[self._pool_n: need] = np.frombuffer(b"".join(encoded), np.uint8)
        self._type_pool_start[t0: t0 + n] = self._pool_n + np.cumsum(lengths) - lengths
        self._type_pool_len[t0: t0 + n] = lengths
        self._pool_n = need
        if 2 * self._n_types > len(self._hash_keys):  # rebuild, large enough to be half full at most
            cap = _capacity(len(self._hash_keys), 2 * self._n_types)
            self._hash_keys = np.zeros(cap, np.int64)
            self._hash_rows = np.zeros(cap, np.int64)
            new_rows = np.arange(self._n_types, dtype=np.int64)
        else:
            new_rows = np.arange(t0, t0 + n, dtype=np.int64)
        insert_types(self._hash_keys, self._hash_rows, self._type_pool_start, self._type_pool_len, self._pool,
                     new_rows)

    def screen(self, tokens: list[str]) -> tuple[int, int, int, int, float, float, float, int]:
        """The cheap counts of `screen_tokens` output in one compiled pass (lattice.screen_counts):
        (words, odd, fw_odd, rare, Σ llr, and the context look's Σ llr, Σ max(llr, 0), hits)."""
        with self._lock:
            return self._screen(tokens)

    def screen_text(self, text: str, ids_out: list | None = None) -> tuple[int, int, int, int, float, float, float, int]:
        """screen(screen_tokens(text)), tokenized by the compiled tokenizer
        (screen_kernels.text_rows) instead of the regex: the same tokens, in a quarter of the time.
        ids_out: a list to append the words' LM ids to (an int64 array, one per word, in order:
        lm.word_id of each token but the sentence ends, as the rows hold them)."""
        from unspin._jit import python_mode

        if python_mode():  # (byte by byte in plain Python would be far slower than the regex)
            with self._lock:
                return self._screen(screen_tokens(text), ids_out)
        import numpy as np

        from unspin.screen_kernels import text_rows

        encoded = text.lower().replace("’", "'").encode("utf-8", "surrogatepass")
        data = np.frombuffer(encoded, np.uint8)
        letters = _letter_table()
        with self._lock:
            learnt = False
            while True:
                rows, n, unknown, n_unknown, beyond = text_rows(
                    data, letters, self._hash_keys, self._hash_rows, self._type_pool_start, self._type_pool_len,
                    self._pool)
                if beyond and len(letters) <= 0x10000:
                    # a character past the BMP: read the text again, knowing all of Unicode's letters
                    letters = _letter_table(astral=True)
                    continue
                if not n_unknown:
                    break
                spans = unknown[:n_unknown].tolist()
                words = list(dict.fromkeys(encoded[a:b].decode("utf-8", "surrogatepass") for a, b in spans))
                if not learnt:
                    self._learn(words)  # (it may start afresh: the text's other words then come next)
                    learnt = True
                    continue
                # after a fresh start: the text's other words, without starting afresh again
                new = [w for w in words if w not in self._type_row]
                if not new:  # (never: held types are in the hash table)
                    return self._screen(screen_tokens(text), ids_out)
                self._add_types(new)
            return self._count(rows[:n], ids_out)

    def learn_vocabulary(self) -> None:
        """Rows for every word of the 3-gram's vocabulary now (0.6 s, 72,500 words, 45 MB), as
        a stream of documents would one by one: a word type met for the first time costs 13 us
        or so (distinct 2 KB spun pieces: 1.3 ms of a check's 9.9 on first sight).  For a
        process that checks or screens a lot (api.set_up_long_run); once."""
        with self._lock:
            if not self._vocabulary_learnt:
                self._vocabulary_learnt = True
                self._learn(self.lm.vocabulary())

    def _learn(self, words: list[str]) -> dict[str, int]:
        """Rows for the word types of `words` not held yet; the table of rows (it may have
        started afresh, bounded, before learning them)."""
        rows = self._type_row
        new = [w for w in dict.fromkeys(words) if w not in rows]
        if new and (self._n_types + len(new) > self.CONTEXT_MAX_TYPES
                    or self._cand.n + len(new) * self.CONTEXT_CANDIDATES > self.CONTEXT_MAX_ROWS):
            self._new_context_rows()
            rows = self._type_row
            new = [w for w in dict.fromkeys(words) if w not in rows]
        if new:
            self._add_types(new)
        return rows

    def _screen(self, tokens: list[str], ids_out: list | None = None) -> tuple[int, int, int, int, float, float, float, int]:
        import numpy as np

        rows = self._type_row
        try:  # (most texts bring no word type the caches do not hold already)
            tok_rows = np.fromiter(map(rows.__getitem__, tokens), np.int64, len(tokens))
        except KeyError:
            rows = self._learn(tokens)
            tok_rows = np.fromiter(map(rows.__getitem__, tokens), np.int64, len(tokens))
        return self._count(tok_rows, ids_out)

    def _count(self, tok_rows, ids_out: list | None = None) -> tuple[int, int, int, int, float, float, float, int]:
        from unspin.lattice import screen_counts

        if ids_out is not None:  # (now: the rows may start afresh with the next text)
            ids_out.append(self._type_word[tok_rows[tok_rows >= 0]])

        store = self._cand
        n, odd, fw, rare, llr, total, pos, hits = screen_counts(
            self.lm.tables, self.lm.oov_scores(), tok_rows, self._type_word, self._type_start, self._type_count,
            self._type_llr, self._type_flags, store.out, store.length, store.static, self._bos, self._eos,
            math.log(1.0 - self.LLR_RATE), math.log(self.LLR_RATE), self.CONTEXT_HIT, self.LLR_MAX)
        return int(n), int(odd), int(fw), int(rare), float(llr), float(total), float(pos), int(hits)

    def context(self, tokens: list[str]) -> tuple[float, float, int]:
        """The context look of `screen_tokens` output: (Σ llr, Σ max(llr, 0), hits)."""
        return self.screen(tokens)[5:]

    # Prior share of words a spinner swaps, for the context-free likelihood ratio, and the cap
    # on one word's ratio (an unknown word would otherwise dominate a document).
    LLR_RATE = 0.15
    LLR_MAX = 10.0

    def __call__(self, word: str) -> tuple[bool, bool, bool, float]:
        """(odd, fw_odd, rare, llr) of a lower-case word; see lattice.word_signals."""
        return self.many([word])[0]

    def many(self, words: list[str]) -> list[tuple[bool, bool, bool, float]]:
        """__call__ over many words (not sentence ends), the unknown ones learnt together."""
        with self._lock:
            rows = self._learn(words)
            flags, llr = self._type_flags, self._type_llr
            out = []
            for w in words:
                r = rows[w]
                if r < 0:  # a sentence end: no word (what an unknown, unspinnable word gets)
                    out.append((False, False, True, math.log(1.0 - self.LLR_RATE)))
                    continue
                f = int(flags[r])
                out.append((bool(f & 1), bool(f & 2), bool(f & 4), float(llr[r])))
            return out


def _capacity(cap: int, need: int) -> int:
    """The first doubling of cap that holds `need` items."""
    while cap < need:
        cap *= 2
    return cap


def _grown(arr, need: int):
    """arr at the start of zeros of the first doubling of its length that holds `need` items."""
    import numpy as np

    out = np.zeros(_capacity(len(arr), need), arr.dtype)
    out[: len(arr)] = arr
    return out


@lru_cache(maxsize=2)
def _letter_table(astral: bool = False):
    """Which code points _SCREEN_RE's \\p{L} matches, for the compiled tokenizer: the Basic
    Multilingual Plane's (64 KB, 17 ms), or all of Unicode's (1.1 MB, 0.2 s: built only for a
    text beyond the BMP, which the tokenizer reports)."""
    import numpy as np

    end = 0x110000 if astral else 0x10000
    # (every code point but the surrogates, which a str may hold but regex never calls letters)
    points = np.concatenate([np.arange(0xD800), np.arange(0xE000, end)])
    chars = "".join(map(chr, points.tolist()))
    table = np.zeros(end, np.bool_)
    for m in regex.finditer(r"\p{L}+", chars):
        table[points[m.start():m.end()]] = True
    return table


def screen_tokens(text: str) -> list[str]:
    """The text's words, lower case, typographic apostrophes made plain, with its sentence ends
    (".", "!", "?") between them: what the screening stage reads."""
    return _SCREEN_RE.findall(text.lower().replace("’", "'"))


def word_counts(text: str) -> Counter:
    """Counts of the text's words, lower case, typographic apostrophes made plain."""
    counts = Counter(screen_tokens(text))
    for end in _SENTENCE_ENDS:
        counts.pop(end, None)
    return counts


def cheap_stats(text: str, n_scars: int, signals: WordSignals, ids_out: list | None = None) -> DocStats:
    """The screening counts of a text (WordSignals.screen_text; ids_out: see there)."""
    n, odd, fw, rare, llr, c_llr, c_pos, c_hits = signals.screen_text(text, ids_out)
    return DocStats(n_words=n, n_scars=n_scars, n_odd=odd, n_fw_odd=fw, n_rare=rare, spin_llr=llr,
                    context_llr=c_llr, context_pos=c_pos, n_context_hits=c_hits)


# --------------------------------------------------------------------------- models
@dataclass(frozen=True)
class LogisticModel:
    names: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float

    def __post_init__(self):
        object.__setattr__(self, "_parts", tuple(input_parts(n) for n in self.names))  # (parsed once)

    def logit_terms(self, f: dict[str, float]) -> list[tuple[str, float, float]]:
        """(name, value, contribution in log-odds) per input (see `input_parts`)."""
        values = [f[a] if b is None else f[a] * f[b] for a, b in self._parts]
        return [(name, v, w * (v - m) / s)
                for name, v, m, s, w in zip(self.names, values, self.mean, self.scale, self.weights)]

    def logit(self, f: dict[str, float]) -> float:
        """bias + Σ logit_terms' contributions, the same sum, without the terms' list."""
        return self.bias + sum(w * ((f[a] if b is None else f[a] * f[b]) - m) / s
                               for (a, b), m, s, w in zip(self._parts, self.mean, self.scale, self.weights))


def input_parts(name: str) -> tuple[str, str | None]:
    """A model input's features: "a" is feature a, "a*b" the product of features a and b."""
    a, _, b = name.partition("*")
    return a, b or None


def input_value(f: dict[str, float], name: str) -> float:
    a, b = input_parts(name)
    return f[a] if b is None else f[a] * f[b]


def signal_terms(terms: list[tuple[str, float, float]], f: dict[str, float],
                 parts: tuple[tuple[str, str | None], ...] | None = None) -> list[tuple[str, float, float]]:
    """logit_terms per signal: a product term's contribution shared equally by its two
    features (all of it to one feature squared), so that the evidence names the signals the
    text was judged on and still sums to the logit less the bias.  parts: the terms' names
    parsed (input_parts), where the caller holds them."""
    total: dict[str, float] = {}
    for (name, _v, c), (a, b) in zip(terms, parts or map(input_parts, (t[0] for t in terms))):
        if b is None:
            total[a] = total.get(a, 0.0) + c
        else:
            total[a] = total.get(a, 0.0) + c / 2
            total[b] = total.get(b, 0.0) + c / 2
    return [(name, f[name], c) for name, c in total.items()]


def length_bucket(edges: tuple[int, ...], n_words: int, n_buckets: int) -> int:
    """Bucket b holds texts of n_words < edges[b]; the last of n_buckets takes the rest."""
    return min(bisect_right(edges, n_words), n_buckets - 1)


@dataclass(frozen=True)
class Calibration:
    """Isotonic map from the model's raw probability to a calibrated one, per length bucket."""

    length_edges: tuple[int, ...]  # bucket b holds n_words < length_edges[b]
    xs: tuple[tuple[float, ...], ...]
    ys: tuple[tuple[float, ...], ...]

    def __call__(self, p: float, n_words: int) -> float:
        b = length_bucket(self.length_edges, n_words, len(self.xs))
        xs, ys = self.xs[b], self.ys[b]
        if not xs:
            return p
        i = bisect_right(xs, p)
        if i == 0:
            y = ys[0]
        elif i >= len(xs):
            y = ys[-1]
        else:
            x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
            y = y0 + (y1 - y0) * (p - x0) / (x1 - x0) if x1 > x0 else y1
        # An isotonic block of dev texts that were all spun (or all clean) says 1 (or 0); the
        # dev set is finite, so never claim certainty.
        return min(0.999, max(0.001, y))


@dataclass(frozen=True)
class DetectorModel:
    cheap: LogisticModel
    full: LogisticModel
    calibration: Calibration
    min_words: int  # below this, verdict "too-short"
    spun_threshold: float  # calibrated probability at or above which the verdict is "spun"
    clean_threshold: float  # at or below which it is "clean"
    # cheap-model probability under which screening stops (clean), per length bucket (bucket
    # b holds n_words < screen_length_edges[b]): the longer the text, the surer its cheap
    # counts, the more screening may clear
    screen_clear_below: tuple[float, ...]
    screen_length_edges: tuple[int, ...] = ()

    def score(self, stats: DocStats) -> tuple[float, list[Evidence]]:
        """The probability (`probability`) and the evidence behind it, strongest first."""
        if stats.n_words == 0 and stats.n_scars == 0:
            return 0.0, []  # ("...!!!": nothing to judge; the models' bias alone would say 0.73)
        f = stats.features()
        model = self.full if stats.decoded else self.cheap
        terms = model.logit_terms(f)
        z = model.bias + sum(c for _n, _v, c in terms)
        terms = signal_terms(terms, f, model._parts)
        terms.sort(key=lambda t: -abs(t[2]))
        evidence = [Evidence(n, round(v, 4), round(c, 4)) for n, v, c in terms]
        return self._calibrated(z, stats), evidence

    def probability(self, stats: DocStats) -> float:
        """score's probability alone (screening asks it of every text, check of every text it
        decodes: the evidence is made only where it is reported)."""
        if stats.n_words == 0 and stats.n_scars == 0:
            return 0.0
        return self._calibrated((self.full if stats.decoded else self.cheap).logit(stats.features()), stats)

    def _calibrated(self, z: float, stats: DocStats) -> float:
        raw = 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))
        p = self.calibration(raw, stats.n_words) if stats.decoded else raw
        return min(1.0, max(0.0, p))

    def screen_clears(self, p_cheap: float, n_words: int) -> bool:
        """Whether screening answers "clean" for a text of n_words with cheap probability p_cheap."""
        b = length_bucket(self.screen_length_edges, n_words, len(self.screen_clear_below))
        return p_cheap < self.screen_clear_below[b]

    def verdict(self, p: float, n_words: int) -> str:
        if n_words < self.min_words:
            return "too-short"
        if p >= self.spun_threshold:
            return "spun"
        if p <= self.clean_threshold:
            return "clean"
        return "undecided"


def _logistic(d: dict) -> LogisticModel:
    return LogisticModel(tuple(d["names"]), tuple(d["mean"]), tuple(d["scale"]), tuple(d["weights"]), d["bias"])


def load_model(raw: dict) -> DetectorModel:
    cal = raw["calibration"]
    return DetectorModel(
        cheap=_logistic(raw["cheap"]),
        full=_logistic(raw["full"]),
        calibration=Calibration(tuple(cal["length_edges"]), tuple(tuple(x) for x in cal["xs"]),
                                tuple(tuple(y) for y in cal["ys"])),
        min_words=raw["min_words"],
        spun_threshold=raw["spun_threshold"],
        clean_threshold=raw["clean_threshold"],
        # (one number: the same for every length, as models before per-bucket screening had)
        screen_clear_below=tuple(raw["screen_clear_below"]) if isinstance(raw["screen_clear_below"], list)
        else (raw["screen_clear_below"],),
        screen_length_edges=tuple(raw.get("screen_length_edges", ())),
    )


@lru_cache(maxsize=1)
def default_model() -> DetectorModel | None:
    path = resources.files("unspin") / "data" / "detector.json"
    try:
        return load_model(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None


# --------------------------------------------------------------------------- public
def detect(text: str, screen: bool = True) -> Detection:
    """Calibrated P(spun).  With screen=True (default), texts the cheap model clears are
    answered without decoding; the rest get the full analysis, so detect(text) and
    check(text).spun_probability agree whenever the full analysis ran."""
    from unspin import api

    return api.detect(text, screen=screen)
