"""Reference (plain Python) implementation of the lattice decoder, kept as a test oracle for the
compiled one in unspin.lattice: the same maths (see unspin.decode), one look-up at a time.
Not part of the package; its parameters and results are unspin.decode's own classes."""
from __future__ import annotations

import math
from dataclasses import dataclass

from unspin.decode import DecoderParams, SentenceResult, WordSwap
from unspin.lexicon.channel import Channel
from unspin.lm import LanguageModel


@dataclass(slots=True)
class Arc:
    start: int
    end: int
    outs: tuple[str, ...]
    log_channel: float
    identity: bool
    thesaurus: str = ""
    mix: float = 0.0  # ln P(spun | original), the channel's mixture (swap arcs)
    # filled by decoding
    viterbi: float = -math.inf
    back: int = -1
    alpha: float = -math.inf
    beta: float = -math.inf
    hist: tuple[str, str] = ("<s>", "<s>")


def _logsumexp(values) -> float:
    m = max(values)
    if m == -math.inf:
        return m
    return m + math.log(sum(math.exp(v - m) for v in values))


class Decoder:
    def __init__(self, channel: Channel, lm: LanguageModel, params: DecoderParams | None = None):
        self.channel = channel
        self.lm = lm
        self.params = params or DecoderParams()
        self._rank_cache: dict[str, list] = {}
        self._uni_cache: dict[str, float] = {}

    # ------------------------------------------------------------------ lattice
    def _ranked(self, phrase: str) -> list[tuple[tuple[str, ...], float, str]]:
        """The channel's candidates for a spun phrase, best first by channel + unigram prior,
        cut to `shortlist`: the context-free part of the ranking, cached per phrase.
        Items: (original words, static arc score without ln(rate), thesaurus)."""
        got = self._rank_cache.get(phrase)
        if got is None:
            p = self.params
            lm = self.lm
            disc = p.unigram_discount * p.lm_weight
            scored = []
            for c in self.channel.candidates(phrase):
                outs = tuple(c.original.split(" "))
                prior = sum(lm.unigram(w) for w in outs)
                # static: the arc's path-independent score apart from ln(rate)
                static = p.channel_weight * c.log_channel - disc * prior
                scored.append((p.channel_weight * c.log_channel + p.lm_weight * prior, outs, static, c.thesaurus,
                               c.log_channel))
            scored.sort(key=lambda x: -x[0])
            got = [(outs, st, th, mix) for _s, outs, st, th, mix in scored[: p.shortlist]]
            if len(self._rank_cache) < 300_000:
                self._rank_cache[phrase] = got
        return got

    def _arcs(self, words: list[str], linked: list[bool], rate: float) -> list[Arc]:
        """linked[i]: words i and i+1 are adjacent (only spaces between), so a phrase may span them."""
        p = self.params
        ch = self.channel
        log_keep = math.log(1.0 - rate)
        log_swap = math.log(rate)
        disc = p.unigram_discount * p.lm_weight
        n = len(words)
        arcs: list[Arc] = []
        for i, w in enumerate(words):
            spinnable = w in ch
            id_score = (log_keep - (disc * self._uni(w) if disc else 0.0)) if spinnable else 0.0
            arcs.append(Arc(i, i + 1, (w,), id_score, True))
            prev1 = words[i - 1] if i > 0 else "<s>"
            prev2 = words[i - 2] if i > 1 else "<s>"
            for length in range(1, ch.max_phrase_words + 1):
                end = i + length
                if end > n or (length > 1 and not linked[end - 2]):
                    break
                if length == 1:
                    phrase = w
                    if not spinnable or self.lm.logprob(w, prev1, prev2) - self._uni(w) > p.gate_pmi:
                        continue
                else:
                    if w not in ch.phrase_first_words:
                        break
                    phrase = " ".join(words[i:end])
                ranked = self._ranked(phrase)
                if not ranked:
                    continue
                # Local pruning: score each candidate with the spun neighbours as context and
                # keep those that come close to (or beat) leaving the spun words as they are.
                nxt1 = words[end] if end < n else "</s>"
                base = self._local(words[i:end], prev2, prev1, nxt1) + log_keep * length
                if disc:
                    base -= disc * sum(self._uni(x) for x in words[i:end])
                floor = base - p.prune_margin
                kept = []
                for outs, static, thesaurus, mix in ranked:
                    s_ = log_swap + static
                    local = s_ + self._local(outs, prev2, prev1, nxt1)
                    if local > floor:
                        kept.append((local, s_, outs, thesaurus, mix))
                if len(kept) > p.max_candidates:
                    kept.sort(key=lambda x: -x[0])
                    kept = kept[: p.max_candidates]
                for _local, s_, outs, thesaurus, mix in kept:
                    arcs.append(Arc(i, end, outs, s_, False, thesaurus, mix))
        return arcs

    def _uni(self, word: str) -> float:
        got = self._uni_cache.get(word)
        if got is None:
            got = self._uni_cache[word] = self.lm.unigram(word)
        return got

    def _local(self, outs, prev2, prev1, nxt1) -> float:
        logprob = self.lm.logprob
        h2, h1 = prev2, prev1
        total = 0.0
        for w in outs:
            total += logprob(w, h1, h2)
            h2, h1 = h1, w
        total += logprob(nxt1, h1, h2)
        return self.params.lm_weight * total

    # ------------------------------------------------------------------ decoding
    def decode(self, words: list[str], linked: list[bool], rate: float | None = None,
               min_doc: float = 1.0) -> SentenceResult:
        """rate: the document's estimated swap rate (None: the prior `params.rate`).
        Swaps on the best path are returned when their posterior reaches report_threshold * min_doc
        (the caller scales by P(document is spun) and applies the threshold itself)."""
        n = len(words)
        if n == 0:
            return SentenceResult([], [], [], 0.0)
        arcs = self._arcs(words, linked, rate if rate is not None else self.params.rate)
        w_lm = self.params.lm_weight
        lm = self.lm
        starts: list[list[int]] = [[] for _ in range(n + 1)]
        ends: list[list[int]] = [[] for _ in range(n + 1)]
        for k, a in enumerate(arcs):
            starts[a.start].append(k)
            ends[a.end].append(k)

        def emit(a: Arc, h1: str, h2: str) -> float:
            total = 0.0
            for w in a.outs:
                total += lm.logprob(w, h1, h2)
                h2, h1 = h1, w
            return w_lm * total

        # trans[(p, k)]: LM score of arc k's words after predecessor p (p = -1: sentence start).
        trans: dict[tuple[int, int], float] = {}
        for k in starts[0]:
            a = arcs[k]
            t = emit(a, "<s>", "<s>")
            trans[(-1, k)] = t
            a.viterbi = a.alpha = t + a.log_channel
            a.back = -1
            a.hist = _push(("<s>", "<s>"), a.outs)
        for i in range(1, n):
            preds = ends[i]
            for k in starts[i]:
                a = arcs[k]
                best, best_p, scores = -math.inf, -1, []
                for pk in preds:
                    p_arc = arcs[pk]
                    h1, h2 = p_arc.hist
                    t = emit(a, h1, h2)
                    trans[(pk, k)] = t
                    v = p_arc.viterbi + t
                    if v > best:
                        best, best_p = v, pk
                    scores.append(p_arc.alpha + t)
                a.viterbi = best + a.log_channel
                a.back = best_p
                a.alpha = _logsumexp(scores) + a.log_channel
                a.hist = _push(arcs[best_p].hist, a.outs)
        final: dict[int, float] = {}
        for k in ends[n]:
            h1, h2 = arcs[k].hist
            final[k] = w_lm * lm.logprob("</s>", h1, h2)
        # Viterbi back-trace
        last = max(ends[n], key=lambda k: arcs[k].viterbi + final[k])
        path = []
        k = last
        while k != -1:
            path.append(k)
            k = arcs[k].back
        path.reverse()
        # backward pass
        for k in ends[n]:
            arcs[k].beta = final[k]
        for i in range(n - 1, 0, -1):
            for pk in ends[i]:
                vals = [trans[(pk, k)] + arcs[k].log_channel + arcs[k].beta for k in starts[i]]
                arcs[pk].beta = _logsumexp(vals)
        log_z = _logsumexp([arcs[k].alpha + final[k] for k in ends[n]])
        # The all-identity path under rate 0 (identity arcs come first at each position).
        id_arc = [ks[0] for ks in starts[:n]]
        log_clean = trans[(-1, id_arc[0])] + final[id_arc[n - 1]]
        for i in range(1, n):
            log_clean += trans[(id_arc[i - 1], id_arc[i])]
        log_keep = math.log(1.0 - (rate if rate is not None else self.params.rate))
        spinnable = [w in self.channel for w in words]
        for i in range(n):
            log_clean += arcs[id_arc[i]].log_channel - (log_keep if spinnable[i] else 0.0)
        post = [math.exp(min(0.0, a.alpha + a.beta - log_z)) for a in arcs]
        swap_post = [0.0] * n
        for a, pa in zip(arcs, post):
            if not a.identity:
                for j in range(a.start, a.end):
                    swap_post[j] += pa
        swap_post = [min(1.0, x) for x in swap_post]

        swaps = []
        thr = self.params.report_threshold
        for k in path:
            a = arcs[k]
            if a.identity:
                continue
            prob = min(swap_post[a.start:a.end])
            if prob < thr * min_doc:
                continue
            alts: dict[str, float] = {}
            for kk in starts[a.start]:
                b = arcs[kk]
                if kk == k or (b.end != a.end and not b.identity):
                    continue
                text = " ".join(b.outs) if not b.identity else " ".join(words[a.start:a.end])
                alts[text] = alts.get(text, 0.0) + post[kk]
            if self.params.channel_sharpen != 1.0:
                # the span's originals ranked again, the channel's distance to the best scaled
                same = [kk for kk in starts[a.start] if not arcs[kk].identity and arcs[kk].end == a.end]
                best_mix = max(arcs[kk].mix for kk in same)
                score = {kk: math.log(max(post[kk], 1e-300)) + (self.params.channel_sharpen - 1.0)
                         * (arcs[kk].mix - best_mix) for kk in same}
                top = max(score.values())
                weight = {kk: math.exp(v - top) for kk, v in score.items()}
                scale = sum(post[kk] for kk in same) / sum(weight.values())
                k = max(same, key=lambda kk: (score[kk], -kk))
                a = arcs[k]
                for kk in same:
                    text = " ".join(arcs[kk].outs)
                    alts.pop(text, None)
                    if kk != k:
                        alts[text] = weight[kk] * scale
            alternatives = sorted(alts.items(), key=lambda x: -x[1])[:5]
            swaps.append(WordSwap(a.start, a.end, " ".join(a.outs), prob, a.thesaurus, alternatives))
        return SentenceResult(swaps, swap_post, spinnable, log_z - log_clean, log_clean)


def _push(hist: tuple[str, str], outs: tuple[str, ...]) -> tuple[str, str]:
    h1, h2 = hist
    for w in outs:
        h2, h1 = h1, w
    return (h1, h2)
