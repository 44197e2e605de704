"""Tokenising with character offsets, and sentence splitting.

Words keep internal apostrophes and hyphens ("don't", "well-known", "Japan's") because the
3-gram prior's vocabulary does too.  Everything else is punctuation or space.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Iterator, NamedTuple

import regex

# A word: letters/digits, optionally joined by one apostrophe or hyphen ("rock-'n'-roll" aside);
# any other character but a space is a punctuation token of its own.
WORD_PATTERN = r"[\p{L}\p{M}\p{N}]+(?:['’\-][\p{L}\p{M}\p{N}]+)*"
PUNCT_PATTERN = r"[^\s\p{L}\p{M}\p{N}]"
_SENTENCE_END = frozenset(".!?…")
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st vs etc inc ltd co corp gen gov sen rep rev lt col capt sgt "
    "jan feb mar apr jun jul aug sep sept oct nov dec no fig e.g i.e u.s a.m p.m".split()
)


class Token(NamedTuple):
    """A word or punctuation mark with its offsets.  (A named tuple: a document makes one per
    token, and a frozen dataclass costs three times as much to build.)"""

    text: str
    start: int
    end: int
    is_word: bool

    @property
    def norm(self) -> str:
        """Lower case with typographic apostrophes made plain: the key used by lexicon and LM."""
        return norm(self.text)


def norm(word: str) -> str:
    """Token.norm of a word's text."""
    return word.lower().replace("’", "'")


# Tokens and the gaps between them alternate in one split (2x faster than a match object per
# token).  Punctuation tokens are one character: a longer token is a word, and a one-character
# token is a word if it is a letter, mark or digit.
_SPLIT_RE = regex.compile(f"({WORD_PATTERN}|{PUNCT_PATTERN})")
_WORD_CHAR = regex.compile(r"[\p{L}\p{M}\p{N}]")


def tokenize(text: str) -> list[Token]:
    parts = _SPLIT_RE.split(text)
    out = []
    new = Token.__new__
    word_char = _WORD_CHAR.match
    pos = len(parts[0])
    for i in range(1, len(parts), 2):
        tok = parts[i]
        n = len(tok)
        out.append(new(Token, tok, pos, pos + n, n > 1 or word_char(tok) is not None))
        pos += n + len(parts[i + 1])
    return out


def sentences(tokens: list[Token]) -> Iterator[list[Token]]:
    """Split at . ! ? (not after a known abbreviation or a single capital letter).  Sentences are
    the decoder's unit (see word_sentences, which splits at line breaks too); the split needs to
    be good, not perfect."""
    current: list[Token] = []
    for i, tok in enumerate(tokens):
        current.append(tok)
        if not tok.is_word and tok.text in _SENTENCE_END:
            prev = tokens[i - 1] if i > 0 else None
            if tok.text == "." and prev is not None and prev.is_word and prev.end == tok.start:
                if _is_abbreviation(prev.text):
                    continue
            nxt = tokens[i + 1] if i + 1 < len(tokens) else None
            if nxt is not None and not nxt.is_word and nxt.text in _CLOSERS:
                continue  # the closing quote belongs to this sentence
            yield current
            current = []
        elif not tok.is_word and tok.text in _QUOTES and current[:-1] and current[-2].text in _SENTENCE_END:
            yield current
            current = []
    if current:
        yield current


_CLOSERS = frozenset("\"'”’)]")  # punctuation that closes a sentence after its full stop
_QUOTES = frozenset("\"'”’")
# What the tokenizer's \s is (Unicode White_Space; str.isspace also takes \x1c-\x1f): a gap's
# other characters are its punctuation tokens.  (tests/test_text.py checks it against regex.)
WHITE_SPACE = frozenset("\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
                        "\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
_WORD_SPLIT_RE = regex.compile(f"({WORD_PATTERN})")
_SPLITTING = frozenset(_SENTENCE_END | _QUOTES)


def word_sentences(text: str) -> list[tuple[list[Token], list[str], list[bool]]]:
    """The decoder's units: for each sentence of `text` with words in it (a line break ends one
    too, unless the next line starts in lower case), its word tokens, their norms, and
    linked[i]: words i and i+1 are apart by spaces only (no punctuation; a line break only where
    a wrapped line goes on), so that a spun phrase may span them.

    The sentences are those of `sentences(tokenize(text))` (tests/test_text.py keeps that
    composition as the definition), found from the words alone: a sentence ends inside the gap
    between two words, so one split at words gives every gap, and only a gap with a sentence end
    or a quote in it needs the token rules (`_gap_ends_sentence`).  A Token is made for words
    only: a third of the cost, and every document pays it."""
    parts = _WORD_SPLIT_RE.split(text)  # gap, word, gap, ..., word, gap
    last = len(parts) - 2  # index of the last word
    out: list[tuple[list[Token], list[str], list[bool]]] = []
    new = Token.__new__
    toks: list[Token] = []
    linked: list[bool] = []
    pos = len(parts[0])
    for i in range(1, last + 1, 2):
        word = parts[i]
        end = pos + len(word)
        toks.append(new(Token, word, pos, end, True))
        gap = parts[i + 1]
        pos = end + len(gap)
        if i == last:
            break
        if gap == " ":
            linked.append(True)
            continue
        if _gap_ends_sentence(gap, gap[0] == "." and _is_abbreviation(word)):
            out.append(_unit(toks, linked))
            toks, linked = [], []
            continue
        # A line break ends a sentence too, unless the next line goes on in lower case (prose
        # wrapped at a fixed width): list items, headlines and table rows rarely end in a full
        # stop, and the 3-gram should not read one line's end as the next one's context.
        nl = gap.rfind("\n")
        if nl < 0:
            linked.append(gap.isspace())
            continue
        head = gap[nl + 1:].lstrip()[:1] or parts[i + 2][:1]  # the next line's first character
        if head.islower():
            linked.append(gap.isspace())  # a wrapped line: the break is one more space
        else:
            out.append(_unit(toks, linked))
            toks, linked = [], []
    if toks:
        out.append(_unit(toks, linked))
    return out


def _is_abbreviation(word: str) -> bool:
    """A word whose full stop does not end a sentence ("Mr.", "U.S." read as "U", "S")."""
    low = norm(word)
    return low in _ABBREVIATIONS or (len(low) == 1 and word.isupper())


@lru_cache(maxsize=8192)
def _gap_ends_sentence(gap: str, after_abbreviation: bool) -> bool:
    """Whether `sentences` ends a sentence inside this gap between two words: its punctuation
    tokens walked as `sentences` walks them, the word before (an abbreviation, if its full stop
    opens the gap: after_abbreviation) and the word after (never a closer) as context."""
    if _SPLITTING.isdisjoint(gap):
        return False
    marks = [(k, c) for k, c in enumerate(gap) if c not in WHITE_SPACE]
    last_is_end = False  # the token before this one ends a sentence (the word before does not)
    for j, (k, c) in enumerate(marks):
        if c in _SENTENCE_END:
            if not (c == "." and k == 0 and after_abbreviation):
                if j + 1 == len(marks) or marks[j + 1][1] not in _CLOSERS:
                    return True
        elif c in _QUOTES and last_is_end:
            return True
        last_is_end = c in _SENTENCE_END
    return False


def _unit(toks: list[Token], linked: list[bool]) -> tuple[list[Token], list[str], list[bool]]:
    # (words hold no space, so one lower() over the joined sentence gives every word's norm)
    return toks, norm(" ".join([t.text for t in toks])).split(" "), linked


def split_paragraphs(text: str, max_chars: int = 20_000) -> Iterator[tuple[int, str]]:
    """Yield (offset, chunk) at blank lines (or newlines, for very long blocks) so that a huge
    document is processed in bounded memory.  Chunks never cut a line in two unless one line
    alone exceeds max_chars, in which case it is cut at whitespace."""
    pos = 0
    n = len(text)
    while pos < n:
        end = min(n, pos + max_chars)
        if end < n:
            cut = text.rfind("\n\n", pos, end)
            if cut <= pos:
                cut = text.rfind("\n", pos, end)
            if cut <= pos:
                cut = text.rfind(" ", pos, end)
            if cut > pos:
                end = cut + 1
        yield pos, text[pos:end]
        pos = end


# Words left in lower case inside a capitalised name ("United States of America").
_NAME_LOWER = frozenset("a an and at by for in of on or the to de la von van".split())


def match_case(spun: str, original: str, initial: bool = False) -> str:
    """The original (the channel stores it in lower case) in the spun words' case.  Spun words
    that are all capitalised, several of them or one not at a sentence's start, stand for a
    name or title: every word of the original is capitalised then ("In Accord Circumstances"
    -> "United States", "Khrushchev" -> "Nikita Khrushchev"); initial: the span starts its
    sentence, where a capital says nothing more than that."""
    if len(spun) > 1 and spun.isupper():
        return original.upper()
    if not spun[:1].isupper():
        return original
    words = spun.split()
    if (len(words) > 1 or not initial) and all(w[:1].isupper() for w in words):
        return " ".join(w if j and w in _NAME_LOWER else w[:1].upper() + w[1:]
                        for j, w in enumerate(original.split(" ")))
    return original[:1].upper() + original[1:]


class Surface(NamedTuple):
    """A sentence's words as they stand in its text, for a reader of text rather than of
    words (the neural tier): gaps[i] is the text between word i and the word before it
    (gaps[0]: what opens the sentence before its first word, an opening quote say, blanks
    stripped), words[i] the word's own text, and tail what closes the sentence after its last
    word (the characters up to the next blank: ".", ".”").  Sentence after sentence, a blank
    goes between one's tail and the next one's gaps[0]."""

    gaps: list[str]
    words: list[str]
    tail: str

    def span(self, a: int, b: int) -> str:
        """Words [a, b) as they stand, with the gaps between them (not the one before a)."""
        return self.words[a] + "".join(self.gaps[j] + self.words[j] for j in range(a + 1, b))


def surfaces(text: str, units: list[tuple[list[Token], list[str], list[bool]]]) -> list[Surface]:
    """A Surface per unit of word_sentences(text)."""
    out = []
    start = 0  # where the next sentence's text begins
    for k, (toks, _words, _linked) in enumerate(units):
        gaps, words = [], []
        prev_end = None
        for t in toks:
            gaps.append(text[start:t.start].lstrip() if prev_end is None else text[prev_end:t.start])
            words.append(t.text)
            prev_end = t.end
        if prev_end is None:
            out.append(Surface([], [], ""))
            continue
        nxt = len(text)
        for later in units[k + 1:]:
            if later[0]:
                nxt = later[0][0].start
                break
        rest = text[prev_end:nxt]
        tail = rest.split(None, 1)[0] if rest and not rest[0].isspace() else ""
        out.append(Surface(gaps, words, tail))
        start = prev_end + len(tail)
    return out


def text_pieces(sentences: list[Surface]) -> list[str]:
    """Sentences as one run of pieces (each word with the gap before it), a blank between one
    sentence's tail and the next."""
    out: list[str] = []
    for sf in sentences:
        if not sf.words:
            continue
        lead = " " if out else ""
        out.extend((lead if j == 0 else "") + g + w for j, (g, w) in enumerate(zip(sf.gaps, sf.words)))
        out[-1] += sf.tail
    return out
