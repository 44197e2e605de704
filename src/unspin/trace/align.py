"""Verification: align a (possibly spun) query to a candidate source, word by word.

Each query paragraph is aligned on its own (so reordered paragraphs align), with difflib's
SequenceMatcher over normalised words.  Between two matching blocks lies a gap: query words the
spinner may have written, source words it may have replaced.  A small dynamic programme splits the
gap into pairs of 1-4 words; a pair is a *known* swap when the core channel explains it (the
source phrase is among `default_channel().candidates(spun phrase)`), otherwise an unexplained
substitution.

Identical words count only inside *anchored* blocks (three words or more, or next to an explained
swap), so the scattered "the"/"of" matches two unrelated texts always share do not.  The score is
the share of query words that are anchored-identical or explained; coverage is the share of source
words they cover.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from difflib import SequenceMatcher

from unspin.text import Token, tokenize

MAX_GAP = 12  # longest gap (words, either side) the DP tries to explain
MAX_UNIT = 4  # longest spun term / original phrase the channel holds
MIN_ANCHOR = 3  # a block of identical words this long anchors itself


@dataclass(frozen=True, slots=True)
class AlignedSwap:
    q_start: int  # query word index range [q_start, q_end)
    q_end: int
    s_start: int  # source word index range
    s_end: int
    known: bool


@dataclass
class Alignment:
    score: float
    coverage: float
    matched_query_words: int
    swaps: list[AlignedSwap]
    paragraph_covered: list[int] = field(default_factory=list)  # aligned query words per paragraph


class _Explainer:
    def __init__(self):
        from unspin.lexicon.channel import default_channel

        self.channel = default_channel()
        self.cache: dict[str, frozenset[str]] = {}

    def originals(self, spun: str) -> frozenset[str]:
        """The originals the channel holds for `spun` (the same set as the `original`s of
        `channel.candidates(spun)`, read straight from the table when its layout is known)."""
        got = self.cache.get(spun)
        if got is None:
            ch = self.channel
            k = ch._index(spun) if hasattr(ch, "_index") else (0 if spun in ch else -1)
            if k < 0:
                got = frozenset()
            elif all(hasattr(ch, a) for a in ("_offsets", "_cand_orig", "_originals")):
                a, b = int(ch._offsets[k]), int(ch._offsets[k + 1])
                names = ch._originals
                got = frozenset(names[o] for o in ch._cand_orig[a:b].tolist())
            else:
                got = frozenset(c.original for c in ch.candidates(spun))
            if len(self.cache) < 200_000:
                self.cache[spun] = got
        return got

    def explains(self, spun: list[str], orig: list[str]) -> bool:
        return " ".join(orig) in self.originals(" ".join(spun))


_EXPLAINER: _Explainer | None = None


def explainer() -> _Explainer:
    global _EXPLAINER
    if _EXPLAINER is None:
        _EXPLAINER = _Explainer()
    return _EXPLAINER


def _norm(w: str) -> str:
    return w.lower().replace("’", "'")


def words(tokens: list[Token]) -> list[Token]:
    return [t for t in tokens if t.is_word]


def explain_gap(q: list[str], s: list[str], ex: _Explainer) -> list[tuple[int, int, int, int, bool]]:
    """Split a gap into pieces (qa, qb, sa, sb, known) maximising explained query words.

    Unexplained pieces are 1:1, 1:0 or 0:1 steps, merged afterwards into runs."""
    m, n = len(q), len(s)
    if m == 0 or n == 0:
        return [(0, m, 0, n, False)] if (m or n) else []
    if m > MAX_GAP or n > MAX_GAP:
        return [(0, m, 0, n, False)]
    # the known pairs (query phrase at i of a words, source phrase at j of b words), found once:
    # the originals of each query phrase against the set of the gap's source phrases
    src = {}
    for j in range(n):
        for b in range(1, min(MAX_UNIT, n - j) + 1):
            src.setdefault(" ".join(s[j:j + b]), []).append((j, b))
    known: dict[tuple[int, int], list[tuple[int, int]]] = {}
    originals = ex.originals
    for i in range(m):
        for a in range(1, min(MAX_UNIT, m - i) + 1):
            origs = originals(" ".join(q[i:i + a]))
            if not origs:
                continue
            hit = origs & src.keys() if len(origs) > len(src) else [o for o in origs if o in src]
            for o in hit:
                for j, b in src[o]:
                    known.setdefault((i, j), []).append((a, b))
    if not known:
        return [(0, m, 0, n, False)]
    NEG = -1
    best = [[NEG] * (n + 1) for _ in range(m + 1)]
    back: list[list[tuple[int, int, bool] | None]] = [[None] * (n + 1) for _ in range(m + 1)]
    best[0][0] = 0
    for i in range(m + 1):
        for j in range(n + 1):
            cur = best[i][j]
            if cur < 0:
                continue
            for a, b in known.get((i, j), ()):
                v = cur + a
                if v > best[i + a][j + b]:
                    best[i + a][j + b] = v
                    back[i + a][j + b] = (a, b, True)
            for a, b in ((1, 1), (1, 0), (0, 1)):
                if i + a <= m and j + b <= n and cur > best[i + a][j + b]:
                    best[i + a][j + b] = cur
                    back[i + a][j + b] = (a, b, False)
    pieces = []
    i, j = m, n
    while i or j:
        a, b, kn = back[i][j]  # type: ignore[misc]
        pieces.append((i - a, i, j - b, j, kn))
        i, j = i - a, j - b
    pieces.reverse()
    merged: list[tuple[int, int, int, int, bool]] = []
    for p in pieces:
        if merged and not p[4] and not merged[-1][4]:
            qa, _, sa, _, _ = merged[-1]
            merged[-1] = (qa, p[1], sa, p[3], False)
        else:
            merged.append(p)
    return merged


def align_words(query: list[str], source: list[str], paragraphs: list[tuple[int, int]],
                sm: SequenceMatcher | None = None) -> Alignment:
    """Align normalised query words (split into paragraphs [a, b)) to normalised source words."""
    ex = explainer()
    if sm is None:
        sm = SequenceMatcher(None, autojunk=False)
        sm.set_seq2(source)
    nq = len(query)
    covered_q = 0
    covered_s: set[int] = set()
    swaps: list[AlignedSwap] = []
    para_cov: list[int] = []
    for pa, pb in paragraphs:
        para_cov.append(covered_q)
        para = query[pa:pb]
        if not para:
            continue
        sm.set_seq1(para)
        blocks = [bl for bl in sm.get_matching_blocks() if bl.size]
        if not blocks:
            continue
        # gaps between consecutive blocks (and nothing before the first / after the last block:
        # text outside the aligned stretch is not part of the copy)
        anchored = [bl.size >= MIN_ANCHOR for bl in blocks]
        gap_pieces: list[list[tuple[int, int, int, int, bool]]] = []
        for k in range(len(blocks) - 1):
            b1, b2 = blocks[k], blocks[k + 1]
            qa, qb = b1.a + b1.size, b2.a
            sa, sb = b1.b + b1.size, b2.b
            pieces = explain_gap(para[qa:qb], source[sa:sb], ex)
            gap_pieces.append([(qa + x, qa + y, sa + u, sa + v, kn) for x, y, u, v, kn in pieces])
            if any(p[4] for p in pieces):
                anchored[k] = anchored[k + 1] = True
        # unanchored blocks next to a fully explained gap between anchored blocks become anchored
        for k, bl in enumerate(blocks):
            if anchored[k]:
                covered_q += bl.size
                covered_s.update(range(bl.b, bl.b + bl.size))
        for k, pieces in enumerate(gap_pieces):
            if not (anchored[k] and anchored[k + 1]):
                continue
            for qa, qb, sa, sb, known in pieces:
                if known:
                    covered_q += qb - qa
                    covered_s.update(range(sa, sb))
                if qb > qa and sb > sa and (known or (qb - qa <= MAX_UNIT and sb - sa <= MAX_UNIT)):
                    swaps.append(AlignedSwap(pa + qa, pa + qb, sa, sb, known))
    para_cov.append(covered_q)
    para_cov = [b - a for a, b in zip(para_cov, para_cov[1:])]
    score = covered_q / nq if nq else 0.0
    coverage = len(covered_s) / len(source) if source else 0.0
    return Alignment(score, coverage, covered_q, swaps, para_cov)


def paragraph_spans(tokens: list[Token], text: str) -> list[tuple[int, int]]:
    """Word-index ranges of the paragraphs (split at newlines) of a word-token list."""
    spans = []
    start = 0
    for i in range(1, len(tokens)):
        if "\n" in text[tokens[i - 1].end:tokens[i].start]:
            spans.append((start, i))
            start = i
    if tokens:
        spans.append((start, len(tokens)))
    return spans


def align_texts(query: str, source: str) -> tuple[Alignment, list[Token], list[Token]]:
    """Convenience: tokenise both texts and align (no scar repair)."""
    qw = words(tokenize(query))
    sw = words(tokenize(source))
    al = align_words([_norm(t.text) for t in qw], [_norm(t.text) for t in sw], paragraph_spans(qw, query))
    return al, qw, sw
