"""The prior P(original): one small interface, one implementation per model.

`LanguageModel.logprob(word, h1, h2)` is ln P(word | h2 h1) for lower-case words, with h1 the
previous word and h2 the one before ("<s>" at a sentence start, "</s>" as the word that ends one).
Phrases are scored word by word by the decoder.

The fast tier is the CMU Sphinx US-English 3-gram shipped inside the `pocketsphinx` wheel.
Words it does not know fall back to `wordfreq` unigram frequencies (minus a back-off penalty),
so a rare but real word is not scored as if it were noise.
"""
from __future__ import annotations

import math
import os
from functools import lru_cache
from typing import Protocol

_LN_BASE = math.log(1.0001)  # pocketsphinx log base
_OOV_RAW = -400_000_000  # pocketsphinx returns about -5e8 for an unknown word


class LanguageModel(Protocol):
    name: str

    def logprob(self, word: str, h1: str, h2: str) -> float: ...

    def unigram(self, word: str) -> float: ...


class NgramLM:
    """The pocketsphinx 3-gram with a wordfreq back-off for words it lacks."""

    name = "pocketsphinx-en-us-3gram"

    # ln P for a word neither model knows, and the penalty on wordfreq's estimate when the 3-gram
    # lacks a word (wordfreq's counts include web text the 3-gram never saw).
    UNKNOWN = -18.0
    BACKOFF_PENALTY = -1.0
    CACHE_SIZE = 2_000_000  # trigram scores kept (about 300 MB at most)

    def __init__(self, path: str | None = None):
        from pocketsphinx import Config, LogMath, NGramModel, get_model_path

        if path is None:
            path = os.path.join(get_model_path(), "en-us", "en-us.lm.bin")
        config = Config()
        config["logfn"] = os.devnull  # pocketsphinx logs every load at INFO level otherwise
        self._model = NGramModel(config, LogMath(), path)
        self._prob = self._model.prob
        self._oov_cache: dict[str, float] = {}
        self._cache: dict[tuple[str, str, str], float] = {}

    def in_vocab(self, word: str) -> bool:
        return self._prob([word]) > _OOV_RAW

    def _oov(self, word: str) -> float:
        got = self._oov_cache.get(word)
        if got is None:
            from wordfreq import word_frequency

            f = word_frequency(word, "en")
            got = self.UNKNOWN if f <= 0 else max(self.UNKNOWN, math.log(f) + self.BACKOFF_PENALTY)
            if len(self._oov_cache) < 500_000:
                self._oov_cache[word] = got
        return got

    def logprob(self, word: str, h1: str, h2: str) -> float:
        # The lattice asks for the same trigram many times (every predecessor with the same
        # history); a dict hit costs a fraction of a call into pocketsphinx.
        key = (word, h1, h2)
        got = self._cache.get(key)
        if got is None:
            raw = self._prob([word, h1, h2])
            got = self._oov(word) if raw <= _OOV_RAW else raw * _LN_BASE
            if len(self._cache) >= self.CACHE_SIZE:
                self._cache.clear()
            self._cache[key] = got
        return got

    def unigram(self, word: str) -> float:
        raw = self._prob([word])
        if raw <= _OOV_RAW:
            return self._oov(word)
        return raw * _LN_BASE


@lru_cache(maxsize=1)
def fast_lm() -> NgramLM:
    return NgramLM()
