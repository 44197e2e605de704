"""wordfreq's English word frequencies (`wordfreq.word_frequency(word, "en")`) without importing
wordfreq, for the words the 3-gram lacks.

Importing wordfreq (it pulls in langcodes and ftfy) and building its frequency dict took about
0.65 s, paid by every `unspin check` of a text with one word the 3-gram lacks: most texts, as
names, numbers and hyphenated words are.  Its English list is read here straight from the data
file the wordfreq wheel ships (`large_en.msgpack.gz`, about 0.1 s), and words of lower-case
ASCII letters and digits, joined by hyphens or inner apostrophes, are scored as wordfreq scores
them: the hyphens split tokens, whose frequencies combine as 1/f = Σ 1/f_i; a run of two or
more digits is looked up as zeros and scaled by wordfreq's digit distribution (Benford's law,
with a curve for years), copied from `wordfreq.numbers` (MIT licence); the result is rounded to
three significant digits.  Words of other Latin letters ("café", "erdoğan's", "straße",
"über-cool") are read the same way once normalised as wordfreq normalises English (NFC, then
case-folded), and digits before an apostrophe ("1920's", "b-52's") end a token there, as
wordfreq's tokeniser has it.  Any other word (other scripts, marks left after folding, other
punctuation) goes to wordfreq itself.  tests/test_lm_tables.py compares the two on every such
word of the dev texts and on made-up edge cases.
"""
from __future__ import annotations

import importlib.util
import itertools
import math
import os
import unicodedata
import zlib
from bisect import bisect_left
from functools import lru_cache

import regex

# What this module scores itself: parts of [a-z0-9] joined by hyphens, or of letters joined by
# single apostrophes ("creston's", "can't", "o'hare", "she'arim").  Hyphens split tokens; an
# apostrophe joins the letters around it (Unicode's word breaks) except after one or two letters
# that start a token and before a vowel or "h" (wordfreq's elision rule, for French and Catalan:
# "l'arcade" -> "l", "arcade"; "o'hare", "ne'er", "me'a").  Digits and an apostrophe ("1920's"),
# and any other shape, go to wordfreq.
_PART = r"(?:[a-z0-9]+|[a-z]+(?:'[a-z]+)+)"
_SIMPLE = regex.compile(rf"{_PART}(?:-{_PART})*")
_ELISION = regex.compile(r"[a-z]{1,2}'(?=[aehiouy])")  # (wordfreq.tokens: INITIAL_VOWEL_EXPR, ASCII)
# The same beyond ASCII, for a word already NFC-normalised and case-folded: the lower-case
# letters of Latin-1 and Latin Extended-A and -B (each a word character that UAX #29 keeps
# within a word, as it does an apostrophe between two of them); and digits before an
# apostrophe, where a token ends (no rule of UAX #29 joins a digit to an apostrophe and a
# letter: wordfreq reads "1920's" as "1920", "s").  Meeting one of these words (names, loans,
# "1990's") used to import wordfreq: about 0.4 s, once a process.
_LETTERS = "a-z\u00df-\u00f6\u00f8-\u00ff\u0100-\u024f"
_LATIN_PART = rf"(?:[{_LETTERS}0-9]*[0-9]'[{_LETTERS}]+|[{_LETTERS}0-9]+|[{_LETTERS}]+(?:'[{_LETTERS}]+)+)"
_LATIN = regex.compile(rf"{_LATIN_PART}(?:-{_LATIN_PART})*")
# (wordfreq.tokens.INITIAL_VOWEL_EXPR, case-folded)
_LATIN_ELISION = regex.compile(rf"[{_LETTERS}]{{1,2}}'(?=[aehiouyáéíóúàèìòùâêîôûåïöœ])")
_DIGIT_APOSTROPHE = regex.compile(r"(?<=[0-9])'")


def _tokens(word: str, elision=_ELISION) -> list[str]:
    """wordfreq's English tokens of a _SIMPLE word (of a _LATIN one with elision=_LATIN_ELISION)."""
    out = []
    for part in word.split("-"):
        if "'" in part and _DIGIT_APOSTROPHE.search(part):  # ("1920's": "1920", "s")
            out.extend(part.split("'"))
            continue
        start = 0
        while (m := elision.match(part, start)) is not None:  # (a token starts: the rule applies)
            out.append(part[start:m.end() - 1])
            start = m.end()
        out.append(part[start:])
    return out

# wordfreq.numbers (wordfreq 3.1)
_DIGIT_FREQS = [0.009, 0.300, 0.175, 0.124, 0.096, 0.078, 0.066, 0.057, 0.050, 0.045]
_YEAR_LOG_PEAK = -1.9185
_NOT_YEAR_PROB = 0.1
_REFERENCE_YEAR = 2019
_PLATEAU_WIDTH = 20
_DIGIT_RE = regex.compile(r"\d")
_MULTI_DIGIT_RE = regex.compile(r"\d[\d.,]+")
_PURE_DIGIT_RE = regex.compile(r"\d+")


def _benford_freq(text: str) -> float:
    return _DIGIT_FREQS[int(text[0])] / 10 ** (len(text) - 1)


def _year_freq(text: str) -> float:
    year = int(text)
    if year <= _REFERENCE_YEAR:
        year_log_freq = _YEAR_LOG_PEAK - 0.0083 * (_REFERENCE_YEAR - year)
    elif _REFERENCE_YEAR < year <= _REFERENCE_YEAR + _PLATEAU_WIDTH:
        year_log_freq = _YEAR_LOG_PEAK
    else:
        year_log_freq = _YEAR_LOG_PEAK - 0.2 * (year - (_REFERENCE_YEAR + _PLATEAU_WIDTH))
    return 10.0**year_log_freq + _NOT_YEAR_PROB * _benford_freq(text)


def _digit_freq(text: str) -> float:
    freq = 1.0
    for match in _MULTI_DIGIT_RE.findall(text):
        for submatch in _PURE_DIGIT_RE.findall(match):
            freq *= _year_freq(submatch) if len(submatch) == 4 else _benford_freq(submatch)
    return freq


def _smash_numbers(text: str) -> str:
    return _MULTI_DIGIT_RE.sub(lambda m: _DIGIT_RE.sub("0", m.group(0)), text)


def _data_path() -> str | None:
    spec = importlib.util.find_spec("wordfreq")
    for loc in (spec.submodule_search_locations or []) if spec is not None else []:
        path = os.path.join(loc, "data", "large_en.msgpack.gz")
        if os.path.exists(path):
            return path
    return None


def _read_buckets(path: str) -> dict[str, int] | None:
    """word -> its centibel bucket in wordfreq's English list ("best" is "large" for English),
    the last bucket winning as in wordfreq.get_frequency_dict (None: a format not known here)."""
    import msgpack

    with open(path, "rb") as fh:  # (zlib in one call: gzip's reader took 0.24 s, this 0.03)
        data = msgpack.unpackb(zlib.decompress(fh.read(), 31), raw=False)
    if not (isinstance(data[0], dict) and data[0].get("format") == "cB" and data[0].get("version") == 1):
        return None
    words: list[str] = []
    indices: list[int] = []
    for index, bucket in enumerate(data[1:]):
        words.extend(bucket)
        indices.extend(itertools.repeat(index, len(bucket)))
    return dict(zip(words, indices))  # (a word listed twice: the later bucket, as in wordfreq)


class _Buckets:
    """The list as sorted words and their buckets, kept in the user cache (unspin.lm.diskcache)
    beside the 3-gram's arrays: a start reads them in about 20 ms, where decoding the list and
    building its dict of 321,000 words took 0.2 s (the first run builds them once)."""

    def __init__(self, words: list[str], buckets):
        self.words = words
        self.buckets = buckets

    def get(self, word: str) -> int | None:
        i = bisect_left(self.words, word)
        return int(self.buckets[i]) if i < len(self.words) and self.words[i] == word else None


@lru_cache(maxsize=1)
def _buckets() -> _Buckets | None:
    """None if wordfreq's file is not where its wheel puts it, or in a format not known here
    (wordfreq itself then scores every word)."""
    path = _data_path()
    if path is None:
        return None
    import numpy as np

    from unspin.lm import diskcache

    def build():
        table = _read_buckets(path)
        if table is None:
            return {"words.txt": "", "bucket": np.zeros(0, np.uint16)}
        words = sorted(table)
        return {"words.txt": "\n".join(words), "bucket": np.fromiter(map(table.__getitem__, words), np.uint16,
                                                                       len(words))}

    got = diskcache.cached(path, CACHE_FORMAT, ["words.txt", "bucket"], build)
    if not got["words.txt"]:
        return None
    return _Buckets(got["words.txt"].split("\n"), got["bucket"])


CACHE_FORMAT = "wordfreq1"


def _rounded(freq: float) -> float:
    return round(freq, math.floor(-math.log(freq, 10)) + 3) if freq > 0 else 0.0


def frequency(word: str) -> float:
    """wordfreq.word_frequency(word, "en") (the same float)."""
    given, elision = word, _ELISION
    if not _SIMPLE.fullmatch(word):
        # (wordfreq's normalisation for English; an ASCII word is its own, bar upper case)
        folded = unicodedata.normalize("NFC", word).casefold()
        if _SIMPLE.fullmatch(folded):
            word = folded
        elif _LATIN.fullmatch(folded):
            word, elision = folded, _LATIN_ELISION
        else:
            word = ""
    buckets = _buckets() if word else None
    if buckets is None:
        import wordfreq

        return wordfreq.word_frequency(given, "en")
    if word.isalpha():  # (one token, no digits: the frequency as it is, as unspin always read it)
        index = buckets.get(word)
        return _rounded(10 ** (-index / 100)) if index is not None else 0.0
    one_over = 0.0
    for token in _tokens(word, elision):
        smashed = _smash_numbers(token)
        index = buckets.get(smashed)
        if index is None:
            return 0.0
        freq = 10 ** (-index / 100)
        if smashed != token:
            freq *= _digit_freq(token)
        one_over += 1.0 / freq
    return _rounded(1.0 / one_over)
