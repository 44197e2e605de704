"""Noisy-channel decoding of one sentence: P(original | spun) ∝ P(spun | original) · P(original).

For each sentence the decoder builds a lattice of arcs.  An arc covers spun words [start, end)
and emits original words: the identity arc emits the spun word itself, a swap arc emits a
candidate original from the channel (a phrase may cover several spun words and emit several
original words, in both directions).  Arc scores are

    identity: ln(1 - rate)                      (if the word could be a spin at all, else 0)
    swap:     ln(rate) + w_ch · ln P(spun | original)
    + w_lm · Σ ln P_lm(original words | two previous words on the path)

Viterbi gives the restored sentence; forward-backward over the same lattice gives each spun
word's posterior probability of having been swapped (locate), and each arc's posterior ranks the
alternatives.  Histories beyond an arc's own words come from the predecessor's Viterbi path (the
usual approximation that keeps the lattice first-order).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from unspin.lattice import decode_sentence, shortlist
from unspin.lexicon.channel import ABSENT, QUANT, THESAURI, Channel
from unspin.lm import NgramLM


@dataclass(frozen=True)
class DecoderParams:
    rate: float = 0.15  # prior share of spinnable words a spinner swapped
    channel_weight: float = 1.0
    lm_weight: float = 1.0
    # ln P_lm(word | history) - unigram_discount * ln P_lm(word): reward contextual fit rather than
    # frequency alone.  A 3-gram backs off to unigrams for most rare words, and without this a
    # clean text's rare words lose to their common synonyms.  Path-independent, so it is folded
    # into each arc's static score.
    unigram_discount: float = 0.0
    # Positions whose spun word fits its left context this well (ln P(w | h) - ln P(w), nats)
    # get no swap candidates: the screening that keeps decoding cheap on clean text.
    gate_pmi: float = 99.0
    shortlist: int = 16  # candidates per spun phrase scored in context (best by channel + unigram)
    max_candidates: int = 5  # swap arcs kept per (start, length) after local pruning
    prune_margin: float = 4.0  # nats a candidate may trail the identity locally and still be kept
    report_threshold: float = 0.5  # a swap on the best path is applied only above this posterior
    # Document-level rate: decode once with `rate`, re-estimate the share of spinnable words that
    # were swapped from the posteriors, decode again with it (clamped).  Clean text then gets a
    # low rate and few false swaps; heavily spun text a high one.  0 passes = fixed rate.
    # Document gate: P(document is spun) = sigmoid(doc_slope * (evidence per 100 words - doc_center))
    # where evidence is the summed log_evidence of its sentences; each word's swap probability is
    # its posterior within a spun document times P(document is spun).  Clean prose with a few
    # rare words then keeps them.
    doc_center: float = 12.0
    doc_slope: float = 0.5
    scar_weight: float = 3.0  # log-odds per scar per 100 words (capped at 3 per 100)
    rate_passes: int = 1
    rate_min: float = 0.005
    rate_max: float = 0.6


@dataclass
class WordSwap:
    """A swap decided for spun words [start, end) of the sentence (word indices)."""

    start: int
    end: int
    original: str
    probability: float
    thesaurus: str
    alternatives: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class SentenceResult:
    swaps: list[WordSwap]
    swap_posterior: list[float]  # per spun word
    spinnable: list[bool]  # per spun word: is it a key of the channel at all
    # ln Σ_paths score (all hypotheses) minus the score of "nothing was swapped" (rate 0): the
    # sentence's evidence that it was spun.  Summed over a document it is a log-likelihood ratio.
    log_evidence: float = 0.0
    log_clean: float = 0.0  # the LM score of the sentence as it stands (no swaps)


class _CandidateStore:
    """Each spun phrase's shortlist of candidates, as rows of arrays the compiled lattice reads:
    original words as LM ids, their number, the static arc score, the original's index in the
    channel and the thesaurus that explains it best.  Rows are appended the first time a phrase
    is seen; past `max_rows` the store starts afresh (bounded memory)."""

    def __init__(self, max_rows: int = 2_000_000, max_words: int = 4):
        self.max_rows = max_rows
        self.max_words = max_words
        self.slots: dict[str, tuple[int, int]] = {}
        self._alloc(1 << 14)

    def _alloc(self, cap: int) -> None:
        self.out = np.full((cap, self.max_words), -1, dtype=np.int32)
        self.length = np.zeros(cap, dtype=np.int32)
        self.static = np.zeros(cap, dtype=np.float64)
        self.orig = np.zeros(cap, dtype=np.int32)
        self.thes = np.zeros(cap, dtype=np.int8)
        self.n = 0

    def clear(self) -> None:
        self._alloc(1 << 14)
        self.slots.clear()

    def reserve(self, rows: int) -> None:
        if self.n + rows <= len(self.length):
            return
        cap = len(self.length)
        while cap < self.n + rows:
            cap *= 2
        old = (self.out, self.length, self.static, self.orig, self.thes)
        n = self.n
        self._alloc(cap)
        for new, prev in zip((self.out, self.length, self.static, self.orig, self.thes), old):
            new[:n] = prev[:n]
        self.n = n


class Decoder:
    def __init__(self, channel: Channel, lm: NgramLM, params: DecoderParams | None = None):
        self.channel = channel
        self.lm = lm
        self.params = params or DecoderParams()
        self._store = _CandidateStore(max_words=channel.max_phrase_words)
        # per word type: (LM id, is a channel key, starts a multi-word key)
        self._word_info: dict[str, tuple[int, bool, bool]] = {}
        self._bos = lm.vocab["<s>"]
        self._eos = lm.vocab["</s>"]
        self._orig_ids = channel.original_ids(lm.vocab, lm.vocab_digest)

    # ------------------------------------------------------------------ candidates
    def _slot(self, phrase: str) -> tuple[int, int]:
        """The store rows of a spun phrase's shortlist: the channel's candidates ranked by
        channel + unigram prior (the context-free part of the ranking), cut to `shortlist`."""
        store = self._store
        got = store.slots.get(phrase)
        if got is None:
            key = self.channel.key_index(phrase)
            if key < 0:
                got = (-1, 0)
            else:
                p = self.params
                offsets, cand_orig, cand_cost = self.channel.tables
                if store.n + p.shortlist > store.max_rows:
                    store.clear()
                store.reserve(p.shortlist)
                n = shortlist(self.lm.tables, self.lm.oov_scores(), key, offsets, cand_orig, cand_cost,
                              self.channel.log_weights, QUANT, ABSENT, self._orig_ids,
                              p.channel_weight, p.lm_weight, p.unigram_discount * p.lm_weight, p.shortlist,
                              store.out, store.length, store.static, store.orig, store.thes, store.n)
                got = (store.n, n) if n else (-1, 0)
                store.n += n
            store.slots[phrase] = got
        return got

    def _info(self, word: str) -> tuple[int, bool, bool]:
        got = self._word_info.get(word)
        if got is None:
            ch = self.channel
            got = (self.lm.word_id(word), word in ch, word in ch.phrase_first_words)
            if len(self._word_info) >= 1_000_000:
                self._word_info.clear()
            self._word_info[word] = got
        return got

    # ------------------------------------------------------------------ decoding
    def decode(self, words: list[str], linked: list[bool], rate: float | None = None,
               min_doc: float = 1.0) -> SentenceResult:
        """rate: the document's estimated swap rate (None: the prior `params.rate`).
        Swaps on the best path are returned when their posterior reaches report_threshold * min_doc
        (the caller scales by P(document is spun) and applies the threshold itself).
        linked[i]: words i and i+1 are adjacent (only spaces between), so a phrase may span them."""
        n = len(words)
        if n == 0:
            return SentenceResult([], [], [], 0.0)
        p = self.params
        rate = rate if rate is not None else p.rate
        max_len = self.channel.max_phrase_words
        infos = [self._info(w) for w in words]
        ids = np.fromiter((x[0] for x in infos), dtype=np.int32, count=n)
        spinnable_list = [x[1] for x in infos]
        spinnable = np.fromiter(spinnable_list, dtype=np.bool_, count=n)
        slot_start = np.full((n, max_len), -1, dtype=np.int32)
        slot_count = np.zeros((n, max_len), dtype=np.int32)
        phrases = p.max_candidates > 0
        for i, (_id, key, first) in enumerate(infos):
            if key and phrases:
                # slots can move when the store starts afresh: re-read them after the last add
                slot_start[i, 0], slot_count[i, 0] = self._slot(words[i])
            if first and phrases:
                for length in range(2, max_len + 1):
                    end = i + length
                    if end > n or not linked[end - 2]:
                        break
                    slot_start[i, length - 1], slot_count[i, length - 1] = self._slot(" ".join(words[i:end]))
        store = self._store
        if (slot_start >= store.n).any():  # the store started afresh mid-sentence: gather again
            return self.decode(words, linked, rate, min_doc)
        (arc_start, arc_end, arc_row, post, path, swap_post, log_z, log_clean) = decode_sentence(
            self.lm.tables, self.lm.oov_scores(), ids, spinnable, slot_start, slot_count,
            store.out, store.length, store.static,
            math.log(1.0 - rate), math.log(rate), p.unigram_discount * p.lm_weight, p.prune_margin,
            p.max_candidates, p.lm_weight, p.gate_pmi, self._bos, self._eos)

        swaps = []
        thr = p.report_threshold
        originals = self.channel.originals
        swap_list = swap_post.tolist()
        starts = arc_start.tolist()
        ends = arc_end.tolist()
        rows = arc_row.tolist()
        for k in path.tolist():
            r = rows[k]
            if r < 0:
                continue
            a_start, a_end = starts[k], ends[k]
            prob = min(swap_list[a_start:a_end])
            if prob < thr * min_doc:
                continue
            alts: dict[str, float] = {}
            kk = k
            while kk > 0 and starts[kk - 1] == a_start:
                kk -= 1
            while kk < len(starts) and starts[kk] == a_start:
                rr = rows[kk]
                if kk != k and (ends[kk] == a_end or rr < 0):
                    text = originals[store.orig[rr]] if rr >= 0 else " ".join(words[a_start:a_end])
                    alts[text] = alts.get(text, 0.0) + float(post[kk])
                kk += 1
            alternatives = sorted(alts.items(), key=lambda x: -x[1])[:5]
            swaps.append(WordSwap(a_start, a_end, originals[store.orig[r]], prob, THESAURI[store.thes[r]],
                                  alternatives))
        return SentenceResult(swaps, swap_list, spinnable_list, float(log_z - log_clean), float(log_clean))
