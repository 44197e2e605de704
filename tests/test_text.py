"""unspin.text: the tokenizer's offsets and word/punctuation split, and sentence splitting."""
from __future__ import annotations

import random

import pytest
import regex

from unspin.text import PUNCT_PATTERN, WORD_PATTERN, Token, norm, sentences, tokenize, word_sentences

# The definition tokenize() implements faster: one match per token.
_BY_MATCH = regex.compile(f"(?P<word>{WORD_PATTERN})|(?P<punct>{PUNCT_PATTERN})")


def by_match(text: str) -> list[Token]:
    return [Token(m.group(), m.start(), m.end(), m.lastgroup == "word") for m in _BY_MATCH.finditer(text)]


def word_sentences_by_definition(text: str) -> list:
    """What word_sentences() computes in one walk: sentences(tokenize(text)), their words, each
    sentence cut again at a line break unless the next line goes on in lower case."""
    out = []
    for sent in sentences(tokenize(text)):
        toks = [t for t in sent if t.is_word]
        if not toks:
            continue
        first, linked = 0, []
        for j in range(1, len(toks)):
            gap = text[toks[j - 1].end:toks[j].start]
            nl = gap.rfind("\n")
            if nl < 0:
                linked.append(gap.isspace())
                continue
            head = gap[nl + 1:].lstrip()[:1] or toks[j].text[:1]
            if head.islower():
                linked.append(gap.isspace())
            else:
                out.append((toks[first:j], [norm(t.text) for t in toks[first:j]], linked))
                first, linked = j, []
        out.append((toks[first:], [norm(t.text) for t in toks[first:]], linked))
    return out


AWKWARD = [
    "",
    "   \n\t ",
    "U. S. and Japan’s “very, very long standing” ties",
    "rock-'n'-roll, well-known -- don't - 'quoted' ’curly’",
    "e\u0301te\u0301 \u0301 a\u0308 x",  # combining marks, one standing alone
    "3.14 1,000 ½ Ⅻ ٣ 10-year-old",
    "東京は日本の首都です。Привет, мир! مرحبا",
    "emoji 😀 and ZWJ 👩‍🔬 symbols © ™ § ¶",
    "trailing punctuation!!!?",
    "a",
    "!",
]


@pytest.mark.parametrize("text", AWKWARD)
def test_tokenize_matches_its_definition(text):
    assert tokenize(text) == by_match(text)


def test_tokenize_matches_its_definition_on_random_text():
    rng = random.Random(7)
    alphabet = "ab Z9’'-.,\n\t\u0301é東😀½"
    for _ in range(500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
        assert tokenize(text) == by_match(text), repr(text)


SENTENCES = [
    "Mr. Smith met Dr. Jones in the U.S. on Friday. “It went well.” Then he left.",
    'He said "Stop." Then: \'no!\' (really?) [sic.] ok… "A." B',
    "Line one\nline two goes on\n\nNew Para. x. Y. ΣΑΣ ΟΔΟΣ. İstanbul’s I.B.M. e.g. it",
    "end.” ’ \" . . ..?! ” ok",
]


@pytest.mark.parametrize("text", AWKWARD + SENTENCES)
def test_word_sentences_match_their_definition(text):
    assert word_sentences(text) == word_sentences_by_definition(text)


def test_word_sentences_match_their_definition_on_random_text():
    rng = random.Random(11)
    alphabet = ["a", "B", "Mr", "U", "e.g", " ", "  ", "\n", "\n ", ".", "!", "?", "…", "\"", "'", "”", "’",
                ")", "]", ",", "Σ", "x’y", "9", "\x1c", "\u2009", "\t", "\u0301", "_", "-"]
    for _ in range(4000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 30)))
        assert word_sentences(text) == word_sentences_by_definition(text), repr(text)


def test_white_space_is_the_tokenizers():
    """word_sentences reads a gap's punctuation as what is not WHITE_SPACE: it must be exactly
    what the tokenizer's patterns take for space (regex's \\s, not str.isspace)."""
    from unspin.text import WHITE_SPACE

    space = regex.compile(r"\s")
    assert WHITE_SPACE == {c for c in map(chr, range(0x110000)) if space.match(c)}


def test_offsets_index_the_input():
    text = "He said: “It’s 10-year-old wine.”  Really?"
    for tok in tokenize(text):
        assert text[tok.start:tok.end] == tok.text
    assert [t.text for t in tokenize(text) if t.is_word] == ["He", "said", "It’s", "10-year-old", "wine", "Really"]
    assert tokenize(text)[4].norm == "it's"


def test_sentences_keep_abbreviations_and_closing_quotes():
    text = "Mr. Smith met Dr. Jones in the U.S. on Friday. “It went well.” Then he left."
    got = [" ".join(t.text for t in s if t.is_word) for s in sentences(tokenize(text))]
    assert got == ["Mr Smith met Dr Jones in the U S on Friday", "It went well", "Then he left"]


def test_word_sentences_link_words_apart_by_spaces_only():
    text = "In Accord  Circumstances, the U.S. team\nPress event’s end. Done"
    units = word_sentences(text)
    assert [norms for _t, norms, _l in units] == [
        ["in", "accord", "circumstances", "the", "u", "s", "team"], ["press", "event's", "end"], ["done"]]
    toks, _norms, linked = units[0]
    assert [t.text for t in toks][:3] == ["In", "Accord", "Circumstances"]
    # two spaces link; a comma or a full stop does not (and a line break ends the sentence)
    assert linked == [True, True, False, True, False, False]
    assert units[1][2] == [True, True] and units[2][2] == []
    assert word_sentences("") == [] and word_sentences(" , . ") == []


def test_word_sentences_end_at_line_breaks():
    """Headlines, list items and table rows rarely end in a full stop: each line is its own
    sentence, so the 3-gram never reads one line's last words as the next one's context."""
    from unspin.text import word_sentences

    text = "Markets rally as rates fall\n- eggs\n- milk, bread\nThe end.\r\nAnd more"
    assert [norms for _t, norms, _l in word_sentences(text)] == [
        ["markets", "rally", "as", "rates", "fall"], ["eggs"], ["milk", "bread"], ["the", "end"], ["and", "more"]]
    # prose wrapped at a fixed width goes on in lower case: one sentence, the break a space
    wrapped = "The average Democratic politician, especially in\nthe country districts, is hungry\n  for office."
    units = word_sentences(wrapped)
    assert len(units) == 1 and units[0][1][5:8] == ["in", "the", "country"]
    assert units[0][2][5:7] == [True, True] and units[0][2][-2:] == [True, True]
