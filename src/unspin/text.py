"""Tokenising with character offsets, and sentence splitting.

Words keep internal apostrophes and hyphens ("don't", "well-known", "Japan's") because the
3-gram prior's vocabulary does too.  Everything else is punctuation or space.
"""
from __future__ import annotations

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
                low = prev.norm
                if low in _ABBREVIATIONS or (len(low) == 1 and prev.text.isupper()):
                    continue
            nxt = tokens[i + 1] if i + 1 < len(tokens) else None
            if nxt is not None and not nxt.is_word and nxt.text in "\"'”’)]":
                continue  # the closing quote belongs to this sentence
            yield current
            current = []
        elif not tok.is_word and tok.text in "\"'”’" and current[:-1] and current[-2].text in _SENTENCE_END:
            yield current
            current = []
    if current:
        yield current


_CLOSERS = frozenset("\"'”’)]")  # punctuation that closes a sentence after its full stop
_QUOTES = frozenset("\"'”’")


def word_sentences(text: str) -> list[tuple[list[Token], list[str], list[bool]]]:
    """The decoder's units: for each sentence of `text` with words in it (a line break ends one
    too, unless the next line starts in lower case), its word tokens, their norms, and
    linked[i]: words i and i+1 are apart by spaces only (no punctuation; a line break only where
    a wrapped line goes on), so that a spun phrase may span them.

    The sentences are those of `sentences(tokenize(text))`, found in one walk over the
    tokenizer's split without a Token for each punctuation mark (tests/test_text.py keeps that
    composition as the definition): half the cost, and every document pays it."""
    parts = _SPLIT_RE.split(text)
    n_parts = len(parts)
    out: list[tuple[list[Token], list[str], list[bool]]] = []
    new = Token.__new__
    word_char = _WORD_CHAR.match
    ends, closers, quotes, abbreviations = _SENTENCE_END, _CLOSERS, _QUOTES, _ABBREVIATIONS
    words: list[Token] = []  # the current sentence's words
    last = ""  # the current sentence's last token ("": none yet)
    prev_word = ""  # the token before this one, if a word ("" if punctuation or none)
    pos = len(parts[0])
    for i in range(1, n_parts, 2):
        tok = parts[i]
        n = len(tok)
        if n > 1 or word_char(tok) is not None:
            words.append(new(Token, tok, pos, pos + n, True))
            last = prev_word = tok
            pos += n + len(parts[i + 1])
            continue
        split = False
        if tok in ends:
            split = True
            if tok == "." and prev_word and parts[i - 1] == "":
                low = norm(prev_word)
                if low in abbreviations or (len(low) == 1 and prev_word.isupper()):
                    split = False
            if split and i + 2 < n_parts and parts[i + 2] in closers:
                split = False  # the closing quote belongs to this sentence
        elif tok in quotes and last and last in ends:
            split = True
        last = tok
        prev_word = ""
        pos += n + len(parts[i + 1])
        if split:
            if words:
                _split_lines(text, words, out)
                words = []
            last = ""
    if words:
        _split_lines(text, words, out)
    return out


def _split_lines(text: str, toks: list[Token], out: list) -> None:
    """Append a sentence's units to `out`: a line break ends a sentence too, unless the next
    line goes on in lower case (prose wrapped at a fixed width).  List items, headlines and
    table rows rarely end in a full stop, and the 3-gram should not read one line's end as the
    next one's context."""
    first = 0
    linked = []
    for j in range(1, len(toks)):
        gap = text[toks[j - 1].end:toks[j].start]
        if gap == " ":
            linked.append(True)
            continue
        nl = gap.rfind("\n")
        if nl < 0:
            linked.append(gap.isspace())
            continue
        head = gap[nl + 1:].lstrip()[:1] or toks[j].text[:1]  # the next line's first character
        if head.islower():
            linked.append(gap.isspace())  # a wrapped line: the break is one more space
        else:
            out.append(_unit(toks[first:j], linked))
            first, linked = j, []
    out.append(_unit(toks[first:], linked))


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
