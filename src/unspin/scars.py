"""Typographic scars of article spinners, and their repair.

Spinners tokenise the text, swap words, and glue the tokens back together with single spaces.
That leaves traces a human typist rarely makes:

    "U. S."          -> "U.S."          spaced-abbreviation   (also U. K., D. C., e. g., F. B. I. ...)
    "U. S. -Japan"   -> "U.S.-Japan"    detached-hyphen
    "that ’s"        -> "that’s"        split-contraction     (also "it ' s", "do n't")
    "long ”"         -> "long”"         space-before-closing-quote
    "“ I don’t"      -> "“I don’t"      space-after-opening-quote
    "U.S. , such"    -> "U.S., such"    space-before-punctuation
    "”word"          -> "” word"        missing-space-after-quote

`repair_scars(text)` returns the repaired text, the scars (offsets into the *input*), and a
character map `to_input` from repaired offsets back to input offsets.  Every repair only deletes
horizontal whitespace or inserts one space, so the map is monotone and cheap to build.

Negative cases matter as much as positive ones (see tests/cases/scars.json): personal initials
("George W. Bush", "J. R. R. Tolkien", "A. M. Turing"), ellipses (". . ."), decimals and times
("3 . 5", "10 : 30"), emoticons (" :)"), inch marks (5" pipe), German quotes („…“) and code-like
lines are left alone.  Everything is regex driven and linear in the input.
"""
from __future__ import annotations

import bisect
import re

import regex
from collections.abc import Sequence
from dataclasses import dataclass, field

from unspin.report import Scar

__all__ = ["Repaired", "OffsetMap", "repair_scars", "SCAR_KINDS"]

SCAR_KINDS = (
    "spaced-abbreviation",
    "detached-hyphen",
    "split-contraction",
    "space-before-closing-quote",
    "space-after-opening-quote",
    "space-before-punctuation",
    "missing-space-after-quote",
)


@dataclass
class Repaired:
    text: str
    scars: list[Scar] = field(default_factory=list)
    to_input: "OffsetMap" = None  # type: ignore[assignment]  # a Sequence[int]; see OffsetMap

    def input_span(self, start: int, end: int) -> tuple[int, int]:
        """Map a span [start, end) of the repaired text to the input text."""
        return self.to_input[start], self.to_input[end]


# Patterns come in two flavours: `h` = " " (fast: most patterns then start with a literal, which
# `re` scans for quickly) and `h` = "[ \t\u00a0]" for the rare text with tabs or no-break spaces.
# Context that would need a costly look-behind is checked in Python at the (rare) match sites.


class _Patterns:
    def __init__(self, h: str):
        # One space before a closing curly quote (” or ’ not followed by a letter: ’ + letter is
        # an apostrophe, as in "the ’90s" or "rock ’n’ roll"); earlier spaces are found in Python.
        self.space_close = re.compile(rf"{h}([”’])(?!\w)")
        # An opening curly quote and one space; further spaces are found in Python.
        self.space_open = [re.compile(rf"(“){h}"), re.compile(rf"(‘){h}")]
        # Detached punctuation.
        self.space_punct = re.compile(rf"{h}([,;:!?.])(?=[\s”’\"]|$)")
        # "it ’s", "it ' s", "that’ s"
        self.contraction = re.compile(rf"['’]({h}*)(?:s|t|re|ve|ll|d|m)(?![\w'’])", re.IGNORECASE)
        self.h = frozenset(" \t\u00a0") if len(h) > 1 else frozenset(" ")


_FAST = _Patterns(" ")
_FULL = _Patterns(r"[ \t\u00a0]")

# --- spaced-out dotted abbreviations (the `regex` module is ~10x faster than `re` here) -----
# Two or more single letters, each followed by a dot, separated by single spaces.
_ABBR_RE = regex.compile(r"(?<![\w.’'])((?:[A-Za-z]\.[ \t]){1,5}[A-Za-z]\.)")
# Abbreviations that are (almost) never a person's initials: joined whatever follows.
_ABBR_ALWAYS = frozenset(
    "US UK UN EU USA USSR UAE DC NYC NY SF EC NATO PRC ROK DPRK GOP"
    " am pm eg ie".split()
)
# ... except in these famous names ("U. S. Grant", "U. N. Owen").
_ABBR_NAME_EXCEPTIONS = {"US": {"Grant"}, "UN": {"Owen"}}
_AFTER_WORD_RE = re.compile(r"[ \t]*([\w’']+)")
_DETACHED_HYPHEN_RE = re.compile(r"([ \t]+)-(?=\w)")

# "do n't" (Penn Treebank tokenisation glued back with spaces)
_NT_RE = re.compile(r"n['’]t\b")
_NT_HOSTS = frozenset(
    "do does did is are was were has have had ca wo could would should must need might ai sha dare".split()
)

# A closing curly double quote glued to the next word ("”CLICK"); not inch marks (12”x10”).
_GLUED_CLOSE_RE = re.compile(r"”(?=[^\W\d_])")

# --- lines where none of this applies -----------------------------------------------------
_CODE_RE = regex.compile(
    r"==|!=|=>|->|:=|\+=|&&|\|\||\w\(|\(\)|[{};]\s*$|^\s*(?://|#)|\bdef |#include|</?[A-Za-z][^>]*>"
    r"|`| = |^\s*[$>] ",
    regex.MULTILINE,
)
_CODE_CHARS = tuple("=&|({};#<>`$") + ("->", "def ")
# A line that starts with a label of at most three words (after an optional bullet or indent)
# and then " :": the field lists of technical text ("* total  : int or float, optional",
# "    n : int", "Release Notes : https://..."), whose spacing is the style and not a spinner's
# (package READMEs and docstrings read as spun on their scars alone before).
_FIELD_LABEL_RE = re.compile(r"([ \t]*(?:[*+•\-][ \t]+)?)([\w.\-/]+(?:[ \t][\w.\-/]+){0,2})")


def _field_label(text: str, line_start: int, label_end: int, colon: int) -> bool:
    """text[line_start:label_end] is a field label before the " :" at `colon`: a bulleted or
    indented label, a one-word one, one set off by two spaces, or a Title Case one ("Release
    Notes"); not the start of a sentence ("He said : no." keeps its scar)."""
    m = _FIELD_LABEL_RE.fullmatch(text, line_start, label_end)
    if m is None:
        return False
    words = m.group(2).split()
    return bool(m.group(1)) or len(words) == 1 or colon - label_end >= 2 or all(w[:1].isupper() for w in words)


_LINE_RE = re.compile(r"[^\n]+")


def repair_scars(text: str) -> Repaired:
    """Repair spinner scars in `text`; see the module docstring."""
    # Each edit: (start, end, kind, deletions [(a, b)], insertion positions [p]).
    edits: list[tuple[int, int, str, list[tuple[int, int]], list[int]]] = []
    add = edits.append

    # Only scan for what can be there: these tests are far cheaper than the regexes.
    has_dot_space = ". " in text or ".\t" in text

    if has_dot_space:
        for m in _ABBR_RE.finditer(text):
            s, e = m.span(1)
            letters = "".join(ch for ch in m.group(1) if ch.isalpha())
            if not (letters.isupper() or letters.islower()):
                continue
            nxt = _AFTER_WORD_RE.match(text, e)
            next_word = nxt.group(1) if nxt else ""
            if letters in _ABBR_ALWAYS:
                if next_word in _ABBR_NAME_EXCEPTIONS.get(letters, ()):
                    continue
            elif len(letters) >= 3 and letters.isupper():
                # "F. B. I. agents" yes, "J. R. R. Tolkien" / "W. E. B. Du Bois" no.
                if next_word[:1].isupper():
                    continue
            else:
                continue
            dels = [(i, i + 1) for i in range(s, e) if text[i] in " \t"]
            add((s, e, "spaced-abbreviation", dels, []))
            h = _DETACHED_HYPHEN_RE.match(text, e)
            if h:
                add((h.start(1), h.end(), "detached-hyphen", [h.span(1)], []))

    P = _FULL if ("\t" in text or "\u00a0" in text) else _FAST
    hs = P.h

    if "'" in text or "’" in text:
        for m in P.contraction.finditer(text):
            q = m.start()
            b = q
            while b > 0 and text[b - 1] in hs:
                b -= 1
            if b == q and m.start(1) == m.end(1):
                continue  # already joined: "it’s"
            if b == 0 or not ("a" <= text[b - 1].lower() <= "z"):
                continue  # must follow a word: not "the ’s’ key", not "= 's"
            dels = [sp for sp in ((b, q), m.span(1)) if sp[0] != sp[1]]
            add((_word_start(text, b), m.end(), "split-contraction", dels, []))
        for m in _NT_RE.finditer(text):
            q = m.start()
            b = q
            while b > 0 and text[b - 1] in hs:
                b -= 1
            if b == q:
                continue
            w0 = _word_start(text, b)
            if text[w0:b].lower() in _NT_HOSTS:
                add((w0, m.end(), "split-contraction", [(b, q)], []))

    if "”" in text or "’" in text:
        for m in P.space_close.finditer(text):
            q = m.start(1)
            a = q - 1
            while a > 0 and text[a - 1] in hs:
                a -= 1
            if a == 0 or text[a - 1].isspace():
                continue
            add((a, q + 1, "space-before-closing-quote", [(a, q)], []))
    if "”" in text:
        for m in _GLUED_CLOSE_RE.finditer(text):
            a = m.start()
            if a == 0 or text[a - 1].isspace() or text[a - 1].isdigit():
                continue
            add((a, m.end() + 1, "missing-space-after-quote", [], [m.end()]))
    n = len(text)
    german = "„" in text  # in „…“ the “ closes
    for pat, ch in zip(P.space_open, "“‘"):
        if ch not in text or (german and ch == "“"):
            continue
        for m in pat.finditer(text):
            a = m.start()
            j = a + 1
            while j < n and text[j] in hs:
                j += 1
            if j == n or text[j].isspace() or text[j] in "”’“‘":
                continue
            if a > 0 and text[a - 1] not in _OPEN_OK and text[a - 1] not in "\n\r“‘":
                continue
            add((a, j, "space-after-opening-quote", [(a + 1, j)], []))

    for m in P.space_punct.finditer(text):
        q = m.start(1)
        a = q - 1
        while a > 0 and text[a - 1] in hs:
            a -= 1
        if a == 0:
            continue
        before = text[a - 1]
        p = m.group(1)
        if not (before.isalnum() or before in _PUNCT_AFTER or before == "_"):
            continue
        after_i = m.end()
        if p == "." and (before == "." or _next_nonspace(text, after_i) == "."):
            continue  # ". . ." ellipsis
        if p in ":;" and text.startswith((")", "(", "-", "D", "P"), after_i):
            continue  # emoticons
        if before.isdigit() and _next_nonspace(text, after_i).isdigit():
            continue  # "3 . 5", "10 : 30", "1 , 000"
        if p in ",;" and _NUMBER_END_RE.search(text, max(0, a - 40), a) and \
                _next_nonspace(text, after_i) in _NUMBER_NEXT:
            continue  # a printed array: "[ 0.99,  1.        , -0.76]" (numbers, not words, spaced)
        if p == ":" and _field_label(text, text.rfind("\n", 0, a) + 1, a, q):
            continue  # a field list's "name : type" (numpydoc, reStructuredText, "Notes : ...")
        add((a, after_i, "space-before-punctuation", [(a, q)], []))

    if '"' in text:
        _straight_quotes(text, add)

    if not edits:
        return Repaired(text, [], OffsetMap.identity(len(text)))

    # Drop edits on code-like lines (only lines that have an edit are examined; one pass).
    edits.sort(key=lambda ed: ed[0])
    kept = []
    n = len(text)
    ls, le, is_code = 0, -1, False
    for ed in edits:
        pos = ed[0]
        if pos > le:
            nl = text.rfind("\n", max(le, 0), pos)
            ls = nl + 1 if nl >= 0 else (ls if le < 0 else le + 1)
            le = text.find("\n", pos)
            le = n if le < 0 else le
            line = text[ls:le]
            is_code = any(c in line for c in _CODE_CHARS) and bool(_CODE_RE.search(line))
        if not is_code:
            kept.append(ed)
    edits = kept
    if not edits:
        return Repaired(text, [], OffsetMap.identity(len(text)))

    return _apply(text, edits)


def _word_start(text: str, i: int) -> int:
    j = i
    while j > 0 and (text[j - 1].isalnum() or text[j - 1] in "-"):
        j -= 1
        if i - j > 64:
            break
    return j


def _next_nonspace(text: str, i: int) -> str:
    n = len(text)
    while i < n and text[i] in " \t\u00a0":
        i += 1
    return text[i] if i < n else ""


_PUNCT_AFTER = frozenset(".”’\")]")
# a number that ends just before the spaces, and what may follow a printed array's separator
_NUMBER_END_RE = re.compile(r"(?<![\w.])[-+]?\d+\.?\d*(?:[eE][-+]?\d+)?$")
_NUMBER_NEXT = frozenset("-+[]()\n\r0123456789") | {""}
_OPEN_OK = frozenset(" \t\u00a0([{—–-")
_CLOSE_OK = frozenset(" \t\u00a0\r,.;:!?)]}—–-")


_STRAIGHT_QUOTE_RE = re.compile('"')


def _straight_quotes(text: str, add) -> None:
    """Pair straight double quotes line by line; repair spaces inside well-formed pairs only."""
    for lm in _LINE_RE.finditer(text):
        line = lm.group()
        if '"' not in line:
            continue
        base = lm.start()
        qs = [m.start() for m in _STRAIGHT_QUOTE_RE.finditer(line)]  # (a scan in C: lines run long)
        if len(qs) % 2:
            continue
        ok = True
        for k in range(0, len(qs), 2):
            o, c = qs[k], qs[k + 1]
            if (o > 0 and line[o - 1] not in _OPEN_OK) or (c + 1 < len(line) and line[c + 1] not in _CLOSE_OK):
                ok = False
                break
            if not line[o + 1:c].strip():
                ok = False  # `" "` is a string of spaces, not a scar
                break
        if not ok:
            continue
        for k in range(0, len(qs), 2):
            o, c = qs[k], qs[k + 1]
            j = o + 1
            while j < c and line[j] in " \t":
                j += 1
            if j > o + 1:
                add((base + o, base + j, "space-after-opening-quote", [(base + o + 1, base + j)], []))
            j = c
            while j > o and line[j - 1] in " \t":
                j -= 1
            if j < c:
                add((base + j, base + c + 1, "space-before-closing-quote", [(base + j, base + c)], []))


class OffsetMap(Sequence):
    """`to_input` as a compact, read-only sequence: item i is the input offset of repaired
    character i, and item len(repaired) is len(input).  Stored as runs, so building it costs
    O(number of repairs), not O(length of text); `list(m)` gives a plain list."""

    __slots__ = ("_out", "_in", "_n")

    def __init__(self, out_starts: list[int], in_starts: list[int], n: int):
        self._out = out_starts
        self._in = in_starts
        self._n = n  # len(repaired) + 1

    @classmethod
    def identity(cls, length: int) -> "OffsetMap":
        return cls([0], [0], length + 1)

    def __len__(self) -> int:
        return self._n

    def shift(self) -> int | None:
        """d where every item i is i + d (no repair moved anything), else None."""
        return self._in[0] - self._out[0] if len(self._out) == 1 else None

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._n))]
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError(i)
        if len(self._out) == 1:  # (no repair moved anything: most chunks)
            return self._in[0] + (i - self._out[0])
        k = bisect.bisect_right(self._out, i) - 1
        return self._in[k] + (i - self._out[k])

    def __eq__(self, other):
        return list(self) == list(other)

    def __repr__(self) -> str:
        return f"OffsetMap(len={self._n}, runs={len(self._out)})"


def _apply(text: str, edits) -> Repaired:
    events: dict[int, int] = {}  # position -> end of deletion (exclusive) or -1 for "insert space"
    dels: list[tuple[int, int]] = []
    ins: set[int] = set()
    for _s, _e, _k, ds, ps in edits:
        dels.extend(ds)
        ins.update(ps)
    # merge deletions into disjoint ranges
    dels.sort()
    merged: list[list[int]] = []
    for a, b in dels:
        if merged and a <= merged[-1][1]:
            if b > merged[-1][1]:
                merged[-1][1] = b
        else:
            merged.append([a, b])
    for a, b in merged:
        events[a] = b
    for p in ins:
        events.setdefault(p, p)  # an insertion at p; a deletion starting at p keeps its end
    out: list[str] = []
    out_starts: list[int] = []
    in_starts: list[int] = []
    olen = 0
    pos = 0
    for p in sorted(events):
        if p < pos:
            continue
        if p > pos:
            out.append(text[pos:p])
            out_starts.append(olen)
            in_starts.append(pos)
            olen += p - pos
            pos = p
        if p in ins:
            out.append(" ")
            out_starts.append(olen)
            in_starts.append(p)
            olen += 1
        end = events[p]
        if end > p:
            pos = end
    out.append(text[pos:])
    out_starts.append(olen)
    in_starts.append(pos)
    repaired = "".join(out)
    to_input = OffsetMap(out_starts, in_starts, len(repaired) + 1)

    scars = []
    seen = set()
    for s, e, kind, ds, ps in sorted(edits, key=lambda x: (x[0], x[1])):
        if (s, e, kind) in seen:
            continue
        seen.add((s, e, kind))
        marks = sorted([(a, b, "") for a, b in ds] + [(p, p, " ") for p in ps])
        rep = []
        pos = s
        for a, b, ins_text in marks:
            rep.append(text[pos:a])
            rep.append(ins_text)
            pos = max(pos, b)
        rep.append(text[pos:e])
        scars.append(Scar(s, e, kind, text[s:e], "".join(rep)))
    return Repaired(repaired, scars, to_input)
