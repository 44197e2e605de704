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
import threading
from dataclasses import dataclass, field

import numpy as np

from unspin.lattice import decode_many, gather_near, gather_swaps, shortlist_many
from unspin.lexicon.channel import ABSENT, QUANT, THESAURI, Channel, reported_thesaurus
from unspin.lm import NgramLM

_REVERSE = THESAURI.index("reverse")  # (see DecoderParams.final_reverse)
# Words a decoder prepares after which it sets up for a long run (Decoder.set_up_long_run: the
# 3-gram's hash tables pinned on huge pages, whose copy took 0.36 s here and saves about 5% of
# a check, and the channel's pair index, 0.2 s for 1-2%), which pays after about 200,000 words
# (a long document, a long run; never a one-shot short check).
PIN_AFTER_WORDS = 200_000


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
    # a swap's reported probability is its posterior times P(document is spun) ** doc_power:
    # above 1, a document the detector is unsure of (formal clean prose, say) keeps its words
    doc_power: float = 1.0
    rate_min: float = 0.005
    rate_max: float = 0.6
    # Per-document thesaurus weights (one EM step after the rate pass, see
    # Decoder.thesaurus_weights): the shipped weights count as this many swaps; 0 = off.
    adapt_prior: float = 0.0
    # Cache prior (lattice._cache_bonus): each original word's prior is mixed with its frequency
    # in the document (weight cache_lambda; 0 = off), because a spinner leaves most occurrences
    # of a word alone: an original the text uses elsewhere is likelier.  cache_keep scales the
    # same term for a kept word (a rare word a clean text repeats stays as it is).
    cache_lambda: float = 0.0
    cache_keep: float = 0.0
    # After decoding, a reported swap's originals are ranked again: each one's ln P(spun |
    # original) below the span's best is scaled by this (the arc posteriors hold it once).  On
    # dev the 3-gram over-rates common originals; a sharper channel inside the lattice costs
    # recall, as every swap gets dearer, so it is applied only to the choice.  1: off.
    channel_sharpen: float = 1.0
    # The weight of the "reverse" column (the thesauri's symmetric closure) in the last pass,
    # the one that gives the swaps, as a share of its weight in the others: it helps tell a
    # spun text from a clean one (the detector reads the pass before), but a swap it explains
    # best is rarely right.  1: the same weight in every pass.
    final_reverse: float = 1.0
    # Every thesaurus weight in the last pass times this: the rate passes set how likely a swap
    # is before the channel and LM are heard; the last one may ask for more channel evidence or
    # less (> 1: more swaps, each likelier restored; 1: as the other passes).
    final_channel_scale: float = 1.0
    # The reverse column stays in the last pass after all (final_reverse 1) for a document whose
    # first pass attributed at least this share of its expected swaps to it (0: never), counted
    # with reverse_share_prior more swaps attributed elsewhere (a short or clean text's few
    # swaps say little).  A spinner whose synonym database is symmetric swaps many words for
    # headwords whose entries list them, which only the reverse column explains: on dev the
    # spinners' documents put 2-3% of their swaps there (90th percentile about 5%), and a
    # document of such a spinner about 6%.  Off in params.json: at 0.05 it restored 0.452 ->
    # 0.491 of bench/devsets/unseen.py's `symmetric` spinner's swaps, but dev's false swaps
    # went 0.13 -> 0.25 per 1,000 clean words, and a spun text of names ("Chicago
    # Conservatory College") had "Conservatory" restored to "School" (test_api).
    reverse_share_on: float = 0.0
    reverse_share_prior: float = 20.0
    # The rate passes converge fast and predictably: the rate the next pass would estimate is
    # close to a quadratic in this pass's estimate, rate_step = (c0, c1, c2) (learned on dev).
    # The last pass's rate is the last estimate moved on by it once, which stands in for one
    # more rate pass at no cost.  (0, 1, 0): the estimate as it is.
    rate_step: tuple[float, float, float] = (0.0, 1.0, 0.0)

    def __post_init__(self):
        object.__setattr__(self, "rate_step", tuple(float(c) for c in self.rate_step))  # (JSON gives a list)

    def next_rate(self, rate: float) -> float:
        """rate_step applied to an estimated rate, clamped to [rate_min, rate_max]."""
        c0, c1, c2 = self.rate_step
        return min(self.rate_max, max(self.rate_min, c0 + c1 * rate + c2 * rate * rate))


@dataclass
class WordSwap:
    """A swap decided for spun words [start, end) of the sentence (word indices)."""

    start: int
    end: int
    original: str
    probability: float
    thesaurus: str
    alternatives: list[tuple[str, float]] = field(default_factory=list)
    # what the swap model (unspin.swap_model) reads besides the posterior: the rate-free local
    # 3-gram score of the original minus the spun words' (nats), and ln P(spun | original)
    # under the shipped thesaurus weights
    lm_gain: float = 0.0
    channel: float = 0.0
    # the neural tier decided it (its probability is the rescored one, not for the swap model)
    rescored: bool = False


@dataclass
class SentenceResult:
    swaps: list[WordSwap]
    swap_posterior: list[float]  # per spun word
    spinnable: list[bool]  # per spun word: is it a key of the channel at all
    # ln Σ_paths score (all hypotheses) minus the score of "nothing was swapped" (rate 0): the
    # sentence's evidence that it was spun.  Summed over a document it is a log-likelihood ratio.
    log_evidence: float = 0.0
    log_clean: float = 0.0  # the LM score of the sentence as it stands (no swaps)
    # words the best path keeps although their swap posterior reaches decode_batch's near_min:
    # one WordSwap each (the likeliest one-word candidate; probability = the swap posterior),
    # for a second opinion from the neural tier
    near: list[WordSwap] = field(default_factory=list)


_NO_DOC_IDS = np.zeros(0, dtype=np.int32)
_NO_DOC_COUNTS = np.zeros(0, dtype=np.float64)
_NO_MIX = np.zeros(0, dtype=np.float64)


class _CandidateStore:
    """Each spun phrase's shortlist of candidates, as rows of arrays the compiled lattice reads:
    original words as LM ids, their number, the static arc score, the original's index in the
    channel and the thesaurus that explains it best.  Rows are appended the first time a phrase
    is seen; past `max_rows` the store starts afresh (bounded memory)."""

    def __init__(self, max_rows: int = 2_000_000, max_words: int = 4):
        self.max_rows = max_rows
        self.max_words = max_words
        self.slots: dict[str, tuple[int, int]] = {}
        self.generation = 0  # bumped when the store starts afresh (row numbers change)
        self._alloc(1 << 14)

    def _alloc(self, cap: int) -> None:
        self.out = np.full((cap, self.max_words), -1, dtype=np.int32)
        self.length = np.zeros(cap, dtype=np.int32)
        self.static = np.zeros(cap, dtype=np.float64)
        self.orig = np.zeros(cap, dtype=np.int32)
        self.thes = np.zeros(cap, dtype=np.int8)
        self.cost = np.zeros((cap, len(THESAURI)), dtype=np.uint8)  # per-thesaurus channel costs
        self.mix = np.zeros(cap, dtype=np.float64)  # their mixture under the shipped weights
        self.n = 0

    def clear(self) -> None:
        self._alloc(1 << 14)
        self.slots.clear()
        self.generation += 1

    def reserve(self, rows: int) -> None:
        if self.n + rows <= len(self.length):
            return
        cap = len(self.length)
        while cap < self.n + rows:
            cap *= 2
        self._resize(cap)

    def trim(self) -> None:
        """Capacity down to the rows held and an eighth more (after a bulk fill that reserved
        for every candidate a shortlist could have)."""
        cap = max(1 << 14, self.n + self.n // 8)
        if cap < len(self.length):
            self._resize(cap)

    def _resize(self, cap: int) -> None:
        old = (self.out, self.length, self.static, self.orig, self.thes, self.cost, self.mix)
        n = self.n
        self._alloc(cap)
        for new, prev in zip((self.out, self.length, self.static, self.orig, self.thes, self.cost, self.mix), old):
            new[:n] = prev[:n]
        self.n = n


class Decoder:
    def __init__(self, channel: Channel, lm: NgramLM, params: DecoderParams | None = None, swap_model=None,
                 store_shortlist: int = 0):
        """store_shortlist: candidates per spun phrase held in the store, if more than
        params.shortlist: a call may then widen its shortlist up to that (decode_batch's
        lattice), while the others read the first params.shortlist rows, the same rows a
        decoder without it reads (the rows are ranked context-free, best first)."""
        self.channel = channel
        self.lm = lm
        self.params = params or DecoderParams()
        self.store_rows = max(self.params.shortlist, store_shortlist)
        # unspin.swap_model.SwapModel: what api.check reports each swap's probability with
        # (None: the posterior times P(document is spun) ** doc_power, against report_threshold)
        self.swap_model = swap_model
        self._store = _CandidateStore(max_words=channel.max_phrase_words)
        # Per word type, a row of _info_table (see _info): the dict gives the row, so that a
        # batch's words become arrays with one look-up each and one fancy index
        self._word_info: dict[str, int] = {}
        self._info_table = np.zeros((1 << 12, 5), dtype=np.int64)
        self._bos = lm.vocab["<s>"]
        self._eos = lm.vocab["</s>"]
        self._orig_ids = channel.original_ids(lm.vocab, lm.vocab_digest)
        self._words_prepared = 0  # (see NgramLM.pin_tables)
        self._vocabulary_learnt = False
        self._set_up = False  # (set_up_long_run has run)
        # The candidate store and caches are shared by every call: one thread at a time (the
        # compiled kernels hold the GIL anyway, so little is serialised that could overlap).
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ candidates
    def _shortlists(self, keys: list[int]) -> np.ndarray:
        """Write the shortlists of channel keys `keys`, one after another, into the store's rows
        from store.n on (compiled: lattice.shortlist_many) and return how many rows each took;
        the caller gives them out and moves store.n past them."""
        store, ch, p = self._store, self.channel, self.params
        counts = np.zeros(len(keys), dtype=np.int64)
        if keys:
            offsets, cand_orig, cand_cost = ch.tables
            store.reserve(len(keys) * self.store_rows)
            shortlist_many(self.lm.tables, self.lm.oov_scores(), np.asarray(keys, dtype=np.int64), offsets, cand_orig,
                           cand_cost, ch.log_weights, QUANT, ABSENT, self._orig_ids,
                           p.channel_weight, p.lm_weight, p.unigram_discount * p.lm_weight, self.store_rows,
                           store.out, store.length, store.static, store.orig, store.thes, store.cost, store.mix,
                           store.n, counts)
        return counts

    def _new_slots(self, phrases: list[str]) -> None:
        """_slot for the phrases the store does not hold yet, their shortlists gathered in one
        compiled call (a call per phrase cost about 10 us of argument checking; a distinct 2 KB
        spun piece brings about 13 new phrases), written in the same order to the same rows as
        _slot one by one would.  Where the store would start afresh, it leaves them to _slot."""
        store, ch = self._store, self.channel
        new = [phrase for phrase in dict.fromkeys(phrases) if phrase not in store.slots]
        if not new:
            return
        keys = [ch.key_index(phrase) for phrase in new]
        keyed = [k for k in keys if k >= 0]
        if store.n + len(keyed) * self.store_rows > store.max_rows:
            return  # (_slot starts the store afresh when it must)
        counts = self._shortlists(keyed)
        row, j = store.n, 0
        for phrase, k in zip(new, keys):
            if k < 0:
                store.slots[phrase] = (-1, 0)
                continue
            n = int(counts[j])
            j += 1
            store.slots[phrase] = (row, n) if n else (-1, 0)
            row += n
        store.n = row

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
                if store.n + self.store_rows > store.max_rows:
                    store.clear()
                    self._word_info.clear()
                n = int(self._shortlists([key])[0])
                got = (store.n, n) if n else (-1, 0)
                store.n += n
            store.slots[phrase] = got
        return got

    def _learn_words(self, words: list[str]) -> None:
        """_info for every word not seen yet, their shortlists gathered in one compiled call."""
        info = self._word_info
        new = [w for w in dict.fromkeys(words) if w not in info]
        if not new:
            return
        store, p, ch = self._store, self.params, self.channel
        # (a word whose shortlist the store holds already keeps it)
        keys = [ch.key_index(w) if p.max_candidates > 0 and w not in store.slots else -1 for w in new]
        keyed = [k for k in keys if k >= 0]
        if store.n + len(keyed) * self.store_rows > store.max_rows or len(info) + len(new) >= 1_000_000:
            # start afresh (bounded memory): the store, and the info whose rows name its rows,
            # and learn every word of `words` again
            store.clear()
            info.clear()
            new = list(dict.fromkeys(words))
            keys = [ch.key_index(w) if p.max_candidates > 0 else -1 for w in new]
            keyed = [k for k in keys if k >= 0]
        counts = self._shortlists(keyed)
        first_words = ch.phrase_first_words
        n0 = len(info)
        table = self._info_table
        if n0 + len(new) > len(table):
            cap = len(table)
            while cap < n0 + len(new):
                cap *= 2
            grown = np.zeros((cap, 5), dtype=np.int64)
            grown[:n0] = table[:n0]
            table = self._info_table = grown
        rows = []
        row = store.n
        j = 0
        for w, k in zip(new, keys):
            if k >= 0:
                count = int(counts[j])
                j += 1
                start = row if count else -1
                row += count
                store.slots[w] = (start, count)
            else:
                start, count = store.slots.get(w, (-1, 0))
            rows.append((self.lm.word_id(w), w in ch, w in first_words, start, count))
        table[n0:n0 + len(new)] = rows
        info.update(zip(new, range(n0, n0 + len(new))))
        store.n = row

    def _info(self, word: str) -> tuple[int, bool, bool, int, int]:
        """Per word type: (LM id, is a channel key, starts a multi-word key, store rows of its
        single-word shortlist).  Cleared with the store, whose rows it names."""
        if word not in self._word_info:
            self._learn_words([word])
        lm_id, key, first, start, count = self._info_table[self._word_info[word]].tolist()
        return lm_id, bool(key), bool(first), start, count

    # ------------------------------------------------------------------ decoding
    def set_up_long_run(self, vocabulary: bool = True) -> None:
        """What pays off for a process that decodes a lot: the 3-gram's tables on huge pages
        (NgramLM.pin_tables), the channel's word-pair index (Channel.build_pair_index), and
        with `vocabulary` the candidates of the 3-gram's whole vocabulary (learn_vocabulary):
        about 1.1 s and 230 MB of private memory once (134 MB of it the tables); and the
        channel's dict of keys (Channel.build_key_rows), which a long run builds anyway.  A
        server's or scan's worker asks for all of it at start (api.set_up_long_run); any process
        gets the first two after PIN_AFTER_WORDS words (by then it has met the words it meets
        often).  The same results."""
        self._set_up = True  # (_prepare then asks no more)
        getattr(self.lm, "pin_tables", lambda: None)()
        self.channel.build_pair_index()
        self.channel.build_key_rows()
        if vocabulary:
            self.learn_vocabulary()

    def learn_vocabulary(self) -> None:
        """Gather the candidates of every word of the 3-gram's vocabulary now (0.5 s, 72,500
        words; about 90 MB of private memory, and 60 MB of the channel's mapped tables read in),
        as a stream of documents would one by one: a word met for the first time costs 8 us or
        so (distinct 2 KB spun pieces: 0.8 ms of a check's 9.9 on first sight).  Only where
        the store holds them with room to spare (not the neural tier's wider shortlist); once."""
        with self._lock:  # (the store and the word info are shared: see __init__)
            if self._vocabulary_learnt:
                return
            self._vocabulary_learnt = True
            words = getattr(self.lm, "vocabulary", list)()
            if len(words) * self.store_rows <= self._store.max_rows * 3 // 4:
                self._learn_words(words)
                self._store.trim()

    def prepare(self, units: list[tuple[list[str], list[bool]]]) -> "Batch":
        with self._lock:
            return self._prepare(units)

    def _prepare(self, units: list[tuple[list[str], list[bool]]]) -> "Batch":
        """Gather the candidates of a batch of sentences (words, linked) once, for one or more
        `decode_batch` calls (the decoder decodes each chunk at two rates).
        linked[i]: words i and i+1 are adjacent (only spaces between), so a phrase may span them."""
        max_len = self.channel.max_phrase_words
        store = self._store
        generation = store.generation
        sizes = [len(w) for w, _l in units]
        total = sum(sizes)
        self._words_prepared += total
        if self._words_prepared > PIN_AFTER_WORDS and not self._set_up:
            self.set_up_long_run(vocabulary=False)
        slot_start = np.full((total, max_len), -1, dtype=np.int32)
        slot_count = np.zeros((total, max_len), dtype=np.int32)
        phrases = self.params.max_candidates > 0
        flat = [w for words, _l in units for w in words]
        info = self._word_info
        found = list(map(info.get, flat))  # (one look-up per word; the new ones are None)
        if None in found:
            missing = [i for i, r in enumerate(found) if r is None]
            self._learn_words([flat[i] for i in missing])
            if store.generation != generation:
                # it started afresh: every word of flat learnt again, in its order, as a call
                # with all of them would have (only the rows' order depends on it)
                store.clear()
                info.clear()
                self._learn_words(flat)
                found = list(map(info.__getitem__, flat))
            else:
                for i in missing:
                    found[i] = info[flat[i]]
        rows = np.fromiter(found, np.int64, total)
        cols = self._info_table[rows].T  # lm id, key, first, start, count
        ids = cols[0].astype(np.int32)
        spinnable = cols[1].astype(np.bool_)
        slot_start[:, 0] = np.where(spinnable, cols[3], -1)
        slot_count[:, 0] = np.where(spinnable, cols[4], 0)
        ptr = np.zeros(len(units) + 1, dtype=np.int64)
        np.cumsum(sizes, out=ptr[1:])
        if phrases:
            prefixes, key_index = self.channel.key_prefixes, self.channel.key_index
            starts = cols[2].astype(np.bool_)  # the word starts some multi-word key
            pairs = self.channel.pair_index  # (None until a long run: see Channel.pair_index)
            if pairs is not None and total > 1:
                # ... and the next word follows it in one (most such pairs are neither a key
                # nor a key's prefix: their strings are never made)
                starts[:-1] &= self.channel.pairs_in_index(flat[:-1], flat[1:])
            starts_at = np.flatnonzero(starts)
            at_sent = np.searchsorted(ptr, starts_at, side="right") - 1
            sent_at = ptr.tolist()
            wanted: list[tuple[int, int, str]] = []  # (word, length - 1, phrase) of each phrase slot
            for g, s_ in zip(starts_at.tolist(), at_sent.tolist()):
                words, linked = units[s_]
                n = len(words)
                i = g - sent_at[s_]
                phrase = words[i]
                for length in range(2, max_len + 1):
                    end = i + length
                    if end > n or not linked[end - 2]:
                        break
                    phrase = phrase + " " + words[end - 1]
                    if phrase not in prefixes and key_index(phrase) < 0:
                        break  # no key is or starts with this phrase
                    wanted.append((g, length - 1, phrase))
            self._new_slots([phrase for _g, _l, phrase in wanted])
            slots = store.slots
            for g, li, phrase in wanted:
                slot_start[g, li], slot_count[g, li] = slots.get(phrase) or self._slot(phrase)
        if store.generation != generation:  # the store started afresh meanwhile: gather again
            return self._prepare(units)
        local_lm = np.full((total, max_len * (max(1, int(slot_count.max(initial=0))) + 1)), np.nan)
        return Batch([w for w, _l in units], [l for _w, l in units], ptr, ids, spinnable, slot_start, slot_count,
                     local_lm, generation)

    def decode_batch(self, batch: "Batch", rate: float | None = None, min_doc: float = 1.0,
                     with_swaps: bool = True, log_weights: np.ndarray | None = None,
                     stats_only: bool = False, near_min: float = 0.0,
                     lattice: tuple[int, float, int] | None = None) -> list[SentenceResult]:
        """Decode every sentence of a prepared batch.  rate: the document's estimated swap rate
        (None: the prior `params.rate`).  log_weights: the document's ln thesaurus weights (None:
        the channel's; see `thesaurus_weights`).  stats_only: set the batch's statistics
        (n_spinnable, swap_mass, thesaurus_counts, log_evidence, log_clean) and return no
        per-sentence results (a pass that only estimates the document's rate and thesaurus mix).
        near_min > 0: also list the kept words at least this likely swapped (SentenceResult.near).
        lattice: (max_candidates, prune_margin, shortlist) for this call instead of the params'
        (the neural tier's last pass keeps more candidates for its model to rank: RescoreParams;
        a shortlist past the store's, store_shortlist, reads the store's).
        Swaps on the best path are returned when their
        posterior reaches report_threshold * min_doc (the caller scales by P(document is spun)
        and applies the threshold itself); with_swaps=False returns posteriors and evidence only
        (a pass that only estimates the rate)."""
        with self._lock:
            return self._decode_batch(batch, rate, min_doc, with_swaps, log_weights, stats_only, near_min, lattice)

    def doc_context(self, counts) -> DocContext:
        """The cache prior's view of a document from its word counts ({lower-case word: count},
        e.g. what detection.cheap_stats counted): LM ids, sorted, and counts."""
        with self._lock:
            found = list(map(self.lm.vocab.get, counts))  # (most words: one look-up, no call)
            if None in found:
                found = [self.lm.word_id(w) if i is None else i for w, i in zip(counts, found)]
            raw = np.fromiter(found, dtype=np.int32, count=len(counts))
        # sorted and merged: words the LM does not know may share one id
        ids, inverse = np.unique(raw, return_inverse=True)
        cnt = np.bincount(inverse, weights=np.fromiter(counts.values(), dtype=np.float64, count=len(counts)),
                          minlength=len(ids))
        return DocContext(ids.astype(np.int32), cnt, int(sum(counts.values())))

    def doc_context_of_ids(self, ids: list[np.ndarray]) -> DocContext:
        """doc_context of the words whose LM ids (lm.word_id, one per occurrence) are `ids`, in
        arrays: the same context without a look-up per word type."""
        flat = np.concatenate(ids) if ids else np.zeros(0, np.int64)
        types, counts = np.unique(flat, return_counts=True)
        return DocContext(types.astype(np.int32), counts.astype(np.float64), len(flat))

    def final_weights(self, log_weights: np.ndarray | None, keep_reverse: bool = False) -> np.ndarray | None:
        """The last pass's ln thesaurus weights (see DecoderParams.final_reverse and
        final_channel_scale) from the document's (None: the channel's); keep_reverse: the
        reverse column as it is (see reverse_share_on)."""
        p = self.params
        reverse = 1.0 if keep_reverse else p.final_reverse
        if reverse == 1.0 and p.final_channel_scale == 1.0:
            return log_weights
        w = np.array(log_weights if log_weights is not None else self.channel.log_weights, dtype=np.float64)
        w += math.log(p.final_channel_scale)
        w[_REVERSE] += math.log(max(reverse, 1e-12))
        return w

    def thesaurus_weights(self, counts: np.ndarray) -> np.ndarray:
        """ln thesaurus weights for a document whose decoded swaps were attributed `counts`
        (expected swaps per thesaurus, `Batch.thesaurus_counts` summed): one EM step from the
        shipped weights, which act as a prior worth `params.adapt_prior` swaps.  A spinner
        draws from one thesaurus (or a few), so a document's own mix sharpens the channel."""
        w0 = np.exp(self.channel.log_weights)
        total = w0.sum()  # (the shipped weights' total mass is kept: it scales every swap alike)
        w = total * (counts + self.params.adapt_prior * w0 / total) / (counts.sum() + self.params.adapt_prior)
        return np.log(np.maximum(w, 1e-12))

    def _decode_batch(self, batch: "Batch", rate: float | None, min_doc: float, with_swaps: bool,
                      log_weights: np.ndarray | None = None, stats_only: bool = False,
                      near_min: float = 0.0, lattice: tuple[int, float, int] | None = None) -> list[SentenceResult]:
        store = self._store
        if batch.generation != store.generation:
            # the store started afresh since (it is bounded): gather the candidates again
            fresh = self._prepare(list(zip(batch.words, batch.linked)))
            doc = batch.doc
            batch.__dict__.update(fresh.__dict__)
            batch.doc = doc
        p = self.params
        max_candidates, prune_margin, short = lattice if lattice is not None else (
            p.max_candidates, p.prune_margin, p.shortlist)
        slot_count = batch.slot_count if short >= self.store_rows else np.minimum(batch.slot_count, short)
        rate = rate if rate is not None else p.rate
        adapt = log_weights is not None
        doc_w = log_weights if adapt else self.channel.log_weights
        doc = batch.doc
        cache_lam = p.cache_lambda if doc is not None and doc.n_words > 0 else 0.0
        if cache_lam:
            doc_ids, doc_cnt, doc_inv_n = doc.ids, doc.counts, 1.0 / doc.n_words
        else:
            doc_ids, doc_cnt, doc_inv_n = _NO_DOC_IDS, _NO_DOC_COUNTS, 0.0
        (arc_ptr, arc_start, arc_end, arc_row, post, path_ptr, path, swap_post, log_z, log_clean) = decode_many(
            self.lm.tables, self.lm.oov_scores(), self.lm.memo, batch.ptr, batch.ids, batch.spinnable, batch.slot_start,
            slot_count, batch.local_lm, store.out, store.length, store.static,
            store.cost, adapt, doc_w, store.mix, p.channel_weight, QUANT, ABSENT,
            math.log(1.0 - rate), math.log(rate), p.unigram_discount * p.lm_weight, prune_margin,
            max_candidates, p.lm_weight, p.gate_pmi, self._bos, self._eos,
            doc_ids, doc_cnt, doc_inv_n, cache_lam, p.cache_keep)
        batch.n_spinnable = int(batch.spinnable.sum())
        batch.swap_mass = float(swap_post[batch.spinnable].sum())
        # E step: each swap arc's posterior shared among the thesauri that explain it
        swap_arcs = arc_row >= 0
        arc_mix = None  # each swap arc's ln P(spun | original) under doc_w, for channel_sharpen
        if swap_arcs.any():
            cost = store.cost[arc_row[swap_arcs]]
            lp = np.where(cost == ABSENT, -np.inf, -cost.astype(np.float64) * QUANT) + doc_w
            top = lp.max(axis=1, keepdims=True)
            lp -= top
            resp = np.exp(lp)
            total = resp.sum(axis=1, keepdims=True)
            if p.channel_sharpen != 1.0 and not stats_only:
                arc_mix = np.full(len(arc_row), -np.inf)
                arc_mix[swap_arcs] = (top + np.log(total))[:, 0]
            resp /= total
            batch.thesaurus_counts = (post[swap_arcs, None] * resp).sum(axis=0)
        else:
            batch.thesaurus_counts = np.zeros(len(THESAURI))
        batch.log_evidence = float((log_z - log_clean).sum())
        # the sentences that favour "spun" only: a lightly spun text's few swapped sentences are
        # not cancelled by its many clean ones (each of which costs ln(1 - rate) per word)
        batch.evidence_pos = float(np.maximum(log_z - log_clean, 0.0).sum())
        batch.log_clean = float(log_clean.sum())
        if stats_only:
            return []
        thr = p.report_threshold * min_doc
        originals = self.channel.originals
        swap_all = swap_post.tolist()
        spin_all = batch.spinnable.tolist()
        sent_ptr = batch.ptr.tolist()
        n_sent = len(batch.words)
        # the best paths' swap arcs (global arc indices), their reported rows and alternatives
        # gathered at once (lattice.gather_swaps): most path arcs keep their word
        if with_swaps and len(path):
            path_sent = np.repeat(np.arange(n_sent), np.diff(path_ptr))
            on_path = arc_ptr[:-1][path_sent] + path
            is_swap = arc_row[on_path] >= 0
            swap_on_path, swap_sent = on_path[is_swap], path_sent[is_swap]
            keep, prob, rows, gain, alt_ptr, alt_key, alt_w, covered = gather_swaps(
                arc_ptr, arc_start, arc_end, arc_row, post, batch.ptr, swap_post, swap_on_path,
                swap_sent, store.orig, arc_mix if arc_mix is not None else _NO_MIX,
                arc_mix is not None, p.channel_sharpen - 1.0, thr, batch.slot_start, batch.local_lm, 5)
            kept_at = np.flatnonzero(keep)
            swaps_ptr = np.searchsorted(swap_sent[kept_at], np.arange(n_sent + 1)).tolist()
            kept_at = kept_at.tolist()
            swap_start = arc_start[swap_on_path].tolist()
            swap_end = arc_end[swap_on_path].tolist()
            alt_ptr = alt_ptr.tolist()
            alt_text = list(map(originals.__getitem__, alt_key.tolist()))
            for q in np.flatnonzero(alt_key < 0).tolist():
                alt_text[q] = None  # (keeping the span's words: its text is made below)
            alt_w = alt_w.tolist()
            prob, gain = prob.tolist(), gain.tolist()
            safe = np.maximum(rows, 0)  # (rows of swaps not kept are -1, and not read)
            swap_orig = list(map(originals.__getitem__, store.orig[safe].tolist()))
            swap_thes = list(map(reported_thesaurus, store.thes[safe].tolist()))
            swap_mix = store.mix[safe].tolist()
        else:
            kept_at, swaps_ptr, covered = [], [0] * (n_sent + 1), np.zeros(len(swap_post), np.bool_)
        if with_swaps and near_min > 0:
            # kept words at least near_min likely swapped, with their one-word candidates
            arc_sent = np.repeat(np.arange(n_sent), np.diff(arc_ptr))
            word_of_arc = batch.ptr[:-1][arc_sent] + arc_start
            found = np.flatnonzero((arc_row >= 0) & (arc_end == arc_start + 1) & (swap_post[word_of_arc] >= near_min))
            n_words, n_rows, n_gain, n_ptr, n_key, n_w = gather_near(
                found, word_of_arc[found], arc_row, post, store.orig, covered, batch.slot_start, batch.local_lm, 6)
            near_sent_ptr = np.searchsorted(n_words, batch.ptr).tolist()
            n_text = list(map(originals.__getitem__, n_key.tolist()))
            n_w = n_w.tolist()
            n_thes = list(map(reported_thesaurus, store.thes[n_rows].tolist()))
            n_mix = store.mix[n_rows].tolist()
            n_words, n_gain, n_ptr = n_words.tolist(), n_gain.tolist(), n_ptr.tolist()
        results = []
        for s, words in enumerate(batch.words):
            a0, a1 = sent_ptr[s], sent_ptr[s + 1]
            if a1 == a0:
                results.append(SentenceResult([], [], [], 0.0))
                continue
            swap_list = swap_all[a0:a1]
            swaps = []
            for j in kept_at[swaps_ptr[s]:swaps_ptr[s + 1]]:
                a_start, a_end = swap_start[j], swap_end[j]
                q0, q1 = alt_ptr[j], alt_ptr[j + 1]
                alternatives = list(zip(alt_text[q0:q1], alt_w[q0:q1]))
                for q, (t, w) in enumerate(alternatives):
                    if t is None:  # (keeping the span's words)
                        alternatives[q] = (words[a_start] if a_end == a_start + 1 else " ".join(words[a_start:a_end]), w)
                        break
                swaps.append(WordSwap(a_start, a_end, swap_orig[j], prob[j], swap_thes[j], alternatives, gain[j],
                                      swap_mix[j]))
            near: list[WordSwap] = []
            if with_swaps and near_min > 0:
                for j in range(near_sent_ptr[s], near_sent_ptr[s + 1]):
                    i, q0, q1 = n_words[j] - a0, n_ptr[j], n_ptr[j + 1]
                    near.append(WordSwap(i, i + 1, n_text[q0], swap_list[i], n_thes[j],
                                         list(zip(n_text[q0 + 1:q1], n_w[q0 + 1:q1])), n_gain[j], n_mix[j]))
            results.append(SentenceResult(swaps, swap_list, spin_all[a0:a1],
                                          float(log_z[s] - log_clean[s]), float(log_clean[s]), near))
        return results

    def decode(self, words: list[str], linked: list[bool], rate: float | None = None,
               min_doc: float = 1.0) -> SentenceResult:
        """One sentence (see `prepare` and `decode_batch`)."""
        return self.decode_batch(self.prepare([(words, linked)]), rate, min_doc)[0]


@dataclass
class Batch:
    """Sentences with their candidates gathered (`Decoder.prepare`); word arrays concatenated,
    sentence s is words ptr[s]:ptr[s+1]."""

    words: list[list[str]]
    linked: list[list[bool]]
    ptr: np.ndarray
    ids: np.ndarray
    spinnable: np.ndarray
    slot_start: np.ndarray
    slot_count: np.ndarray
    local_lm: np.ndarray  # rate-free local LM scores, filled by the first decode_batch (see lattice)
    generation: int
    # expected swaps per thesaurus on the last decode_batch (arc posteriors shared among the
    # thesauri that explain each swap): the E step of per-document thesaurus weights
    thesaurus_counts: np.ndarray | None = None
    n_spinnable: int = 0  # words that are channel keys, and their summed swap posteriors,
    swap_mass: float = 0.0  # on the last decode_batch (what a document's rate is estimated from)
    log_evidence: float = 0.0  # Σ of the sentences' SentenceResult.log_evidence, log_clean
    log_clean: float = 0.0
    evidence_pos: float = 0.0  # Σ over sentences of max(0, log_evidence)
    # the document the sentences come from (Decoder.doc_context), for the cache prior; None: none
    doc: "DocContext | None" = None
    # for a decoder that reads text (the neural tier's, see RescoringDecoder.reads_surface): the
    # sentences as they stand (unspin.text.Surface each) and the text before them as pieces
    # (word with the gap before it: the end of the chunk before); None / (): not asked for
    surface: "list | None" = None
    preceding: tuple[str, ...] = ()


@dataclass(frozen=True)
class DocContext:
    """A document's word counts as the compiled lattice reads them (see lattice._cache_bonus)."""

    ids: np.ndarray  # int32, sorted: the LM ids of the document's word types
    counts: np.ndarray  # float64: their counts
    n_words: int
