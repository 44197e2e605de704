"""`check`: text -> Report.  The one place where the stages meet.

text -> scars repaired (offset map kept) -> paragraphs -> sentences -> words
     -> decoder (channel + prior) -> swaps with input offsets -> restored text and document score
"""
from __future__ import annotations

import dataclasses
import json
import math
import operator
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Callable

from unspin import language
from unspin.decode import _REVERSE, Decoder, DecoderParams, DocContext
from unspin.lexicon.channel import Channel, ChannelWeights
from unspin.detection import DocStats, WordSignals, cheap_stats, default_model, word_counts
from unspin.report import Alternative, Detection, Evidence, Report, Scar, Swap
from unspin.scars import Repaired, repair_scars
from unspin.lexicon.vectors import default_vectors
from unspin.swap_model import SwapModel, calibrated, default_swap_model, knots, swap_feature_matrix
from unspin.text import match_case, split_paragraphs, surfaces, text_pieces, word_sentences

MIN_WORDS = 12  # below this the document score is not meaningful (the detect issue measures it)
LANGUAGE_SAMPLE = 400  # characters from the head, middle and tail looked at to decide a language


@dataclass(frozen=True)
class EngineConfig:
    decoder: DecoderParams
    weights: ChannelWeights
    # knots of the neural tier's rescored swaps' calibration (RescoringDecoder.calibration)
    rescored_calibration: tuple[tuple[float, ...], tuple[float, ...]] = ((), ())


@lru_cache(maxsize=1)
def _config() -> EngineConfig:
    path = resources.files("unspin") / "data" / "params.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return EngineConfig(DecoderParams(), ChannelWeights())
    return EngineConfig(DecoderParams(**raw.get("decoder", {})), ChannelWeights(**raw.get("channel", {})),
                        knots(raw.get("rescored_calibration", {})))


@lru_cache(maxsize=2)
def _decoder(fast: bool) -> Decoder:
    """fast=True: channel + 3-gram.  fast=False: a decoder of its own whose store also holds the
    neural tier's wider shortlist (RescoreParams.shortlist, for its last pass; its other passes
    read the fast tier's rows), its uncertain swaps rescored by the neural tier (unspin.neural)
    when that is installed; without it unspin says so once on stderr and runs on the fast tier."""
    if not fast:
        from unspin.neural import RescoreParams, RescoringDecoder, neural_lm

        nlm = neural_lm()
        if nlm is None:
            return _decoder(True)
        return RescoringDecoder(make_decoder(store_shortlist=RescoreParams.shortlist), nlm)
    return make_decoder()


_SHIPPED = object()


def make_decoder(params: DecoderParams | None = None, weights: ChannelWeights | None = None,
                 swap_model: SwapModel | None | object = _SHIPPED, store_shortlist: int = 0) -> Decoder:
    """A decoder with explicit parameters (for tuning and benchmarks); swap_model: the
    shipped one unless given (None: none, see unspin.swap_model); store_shortlist: see Decoder."""
    from unspin.lm import fast_lm

    cfg = _config()
    model = default_swap_model() if swap_model is _SHIPPED else swap_model
    return Decoder(Channel(weights=weights or cfg.weights), fast_lm(), params or cfg.decoder, model,
                   store_shortlist=store_shortlist)


def _early_verdict(text: str) -> str | None:
    if not text.strip():
        return "too-short"
    if not language.is_english(_language_sample(text)) and not _part_reads_english(text):
        return "not-english"
    return None


# Texts up to this many characters are counted (_chunks) before their language is asked, and
# asked only where the counts leave it in doubt (_language_verdict); longer ones are asked first,
# from samples, so that a huge text of another language is not read whole.
COUNT_FIRST_CHARS = 1 << 20


def _opening_verdict(text: str) -> str | None:
    """"too-short", or "not-english" for a text too long to be counted first, or None."""
    if not text.strip():
        return "too-short"
    return _early_verdict(text) if len(text) > COUNT_FIRST_CHARS else None


def _language_verdict(text: str, chunks: list[_Chunk], stats: DocStats) -> str | None:
    """"not-english" or None, for a text of at most COUNT_FIRST_CHARS once its chunks are
    counted (stats: their screening counts summed, _cheap_stats, which detect() screens with
    too).  A text under SUSPECT_RARE_SHARE of whose words are rare or unknown to the 3-gram, with
    fewer than SUSPECT_LETTERS letters English rarely writes, is English without asking:
    the 30 cases of tests/cases/language.json have 0-0.43 rare words (English) against 0.52-1.0
    (French to Hindi), and of the 6,785 texts of the dev, test and unseen sets and the test cases
    none the language test calls foreign passes this (6,328 do).  Asking costs about a twentieth
    of screening a text (warm, 300-3,000-word documents)."""
    if len(text) <= COUNT_FIRST_CHARS:
        if not (stats.n_words and stats.n_rare < SUSPECT_RARE_SHARE * stats.n_words
                and _letters_beyond_english(text) < SUSPECT_LETTERS):
            if _early_verdict(text):
                return "not-english"
    if not any(c.english for c in chunks):  # (paragraphs of other languages only)
        return "not-english"
    return None


def _part_reads_english(text: str) -> bool:
    """Whether the head, middle or tail of a text longer than its language sample reads as
    English on its own (mixed-language text is judged on its English part, which _chunks
    finds, at paragraphs or, within one, at sentences; a text of another language throughout
    costs three more looks here, and no decoding)."""
    if len(text) <= 3 * LANGUAGE_SAMPLE:
        return False
    return any(map(_part_is_english, _sample_parts(text)))


def _language_sample(text: str) -> str:
    """Head, middle and tail of a text: judging 20k characters of one language costs about as
    much as decoding them, and a text rarely changes language in between only."""
    return text if len(text) <= 3 * LANGUAGE_SAMPLE else " ".join(_sample_parts(text))


def _sample_parts(text: str) -> tuple[str, str, str]:
    """A text's head, middle and tail, LANGUAGE_SAMPLE characters each."""
    cut = LANGUAGE_SAMPLE
    mid = len(text) // 2
    return text[:cut], text[mid - cut // 2: mid + cut // 2], text[-cut:]


def check(text: str, fast: bool = False, decoder: Decoder | None = None, budget: float | None = None,
          on_swaps: Callable[[float, str, list[Swap]], None] | None = None) -> Report:
    """budget: seconds the neural tier may spend rescoring this text (None: no limit); past
    it, the swaps it did not reach keep the n-gram's decision (RescoringDecoder.budgeted).
    on_swaps(spun_probability, verdict, swaps): every swap handed out as soon as it is judged,
    in order, up to a few thousand a call, with the report's probability and verdict (a huge
    text's swaps need not be held: `check --json` writes them as they come); the returned
    report's `swaps` is then empty."""
    if not isinstance(text, str):
        raise TypeError(f"check() takes str, not {type(text).__name__}")
    early = _opening_verdict(text)
    if early:
        return Report(0.0, early, [], [], text)
    decoder = decoder or _decoder(fast)
    chunks = _chunks(text, decoder)
    early = _language_verdict(text, chunks, _cheap_stats(chunks))
    if early:
        return Report(0.0, early, [], [], text)
    if budget is not None and hasattr(decoder, "budgeted"):
        decoder = decoder.budgeted(budget, len(text.split()))
    swaps, scars, restored, stats, scored = _analyse(text, decoder, on_swaps=on_swaps, chunks=chunks)
    probability, verdict, _evidence = scored
    return Report(round(probability, 4), verdict, swaps, scars, restored)


def detect(text: str, screen: bool = True) -> Detection:
    """See unspin.detection: screening first, the full decode only where it cannot clear."""
    if not isinstance(text, str):
        raise TypeError(f"detect() takes str, not {type(text).__name__}")
    early = _opening_verdict(text)
    if early:
        return Detection(0.0, early, [])
    decoder = _decoder(True)
    chunks = _chunks(text, decoder)  # (repaired and counted once, for both stages)
    cheap = _cheap_stats(chunks)
    early = _language_verdict(text, chunks, cheap)
    if early:
        return Detection(0.0, early, [])
    cleared = _screening(cheap) if screen else None
    if cleared is not None:
        p, verdict, evidence = cleared
        return Detection(round(p, 4), verdict, evidence)
    stats = _analyse(text, decoder, want_swaps=False, chunks=chunks)[3]
    p, verdict, evidence = _score(text, stats, decoder)
    return Detection(round(p, 4), verdict, evidence)


def set_up_long_run(fast: bool = True, vocabulary: bool = True, collector: bool = True) -> None:
    """For a process about to check or screen text after text (the server's and `unspin
    scan`'s workers): the tier's decoder set up at once (Decoder.set_up_long_run: the 3-gram's
    tables on huge pages, the channel's pair index) and, with `vocabulary`, the decoder's
    candidates and screening's rows of the 3-gram's whole vocabulary learnt ahead (about 1 s
    and 90 MB more: WordSignals.learn_vocabulary), rather than word by word over the first
    thousands of documents.  The same results.  Distinct 2 KB spun pieces checked in turn:
    9.9 -> 8.9 ms each over the first 600, 7.5 -> 7.6 ms once the words are known.  A process
    that screens (`unspin scan`'s detect) learns it too: 300-3,000-word clean documents
    screened once set up (bench/detect.py's steady state: other texts first, then new ones),
    four alternating runs, CPU time: first sight of 2 MB 2.0-3.0 -> 3.0-4.4 MB/s, the next 2 MB
    2.4-3.2 -> 3.6-4.4 MB/s, the same 2 MB again 3.8-5.8 -> 4.3-5.4 MB/s (the larger tables
    cost warm look-ups a little), for 1.4 s more at the start.  The process's garbage
    collector is then set for a long run (see GC_THRESHOLD_LONG_RUN; collector=False leaves it
    as it is, for a process of the library's caller: unspin.set_up_long_run).  Last, a short
    spun text is checked by the tier's n-gram decoder, so that every compiled kernel a check
    takes is loaded (from numba's cache; compiled, on a fresh install) before the first real
    text; and by the neural tier, whose runtime then makes its first
    passes (a clean text would not run the model at all: no rescored swap could be reported)."""
    decoder = _decoder(fast)
    decoder.set_up_long_run(vocabulary=vocabulary)
    if vocabulary:
        _signals(decoder).learn_vocabulary()
    inner = getattr(decoder, "inner", decoder)  # (the neural tier's n-gram decoder)
    check(WARM_UP_TEXT, decoder=inner)
    if decoder is not inner:
        check(WARM_UP_TEXT, decoder=decoder)
    if collector:
        _collect_garbage_for_long_run()


# A short spun text that takes each compiled kernel of a fast check: screening, a phrase, the
# lattice, the swap model (set_up_long_run reads it once the tables are pinned).
WARM_UP_TEXT = ("The committee met astatine the bank connected Tuesday to discuss the budget for next year, "
                "and a minute management standard said the U. S. plan would be published in the spring.")


# A long-running worker's collector: the first collection threshold (objects allocated less
# freed) raised from CPython's 700, and what was loaded until now frozen out of its reach.  A
# check allocates some ten thousand objects and frees nearly all of them by reference counting;
# at 700 the collector ran about once a check and walked the models' 110,000 live objects every
# tenth time (distinct 2 KB spun pieces: 0.39 ms of a check's ~10 in collections; frozen and
# raised: 0.01 ms).  Cycles are still collected, less often.
GC_THRESHOLD_LONG_RUN = (10_000, 20, 20)


def _collect_garbage_for_long_run() -> None:
    import gc

    gc.collect()
    gc.freeze()  # (the loaded models and tables: live for the process's life)
    if gc.get_threshold()[0] < GC_THRESHOLD_LONG_RUN[0]:  # (a process that set its own keeps it)
        gc.set_threshold(*GC_THRESHOLD_LONG_RUN)


def _signals(decoder: Decoder) -> WordSignals:
    """The screening signals over a decoder's channel and 3-gram, one per decoder: a neural
    decoder with a budget (a new RescoringDecoder each check) shares its inner decoder's, as
    it would otherwise learn every word type again, text after text."""
    return _signals_of(getattr(decoder, "inner", decoder))


@lru_cache(maxsize=4)
def _signals_of(decoder: Decoder) -> WordSignals:
    return WordSignals(decoder.channel, decoder.lm)


@dataclass
class _Chunk:
    """A paragraph-sized piece of the input with its scars repaired and its cheap counts."""

    offset: int
    text: str
    repaired: Repaired
    cheap: DocStats  # (empty for a paragraph of another language: it counts for nothing)
    english: bool = True  # (else it is not decoded)
    # the LM ids of its words as screening read them (the keys of `words`, each as often as it
    # occurs), for the decoder's cache prior (Decoder.doc_context_of_ids); None for a paragraph
    # of another language, which is not read
    ids: object = None

    @property
    def words(self) -> Counter:
        """Its word counts, lower case, as the screening stage reads them (only the decoder's
        cache prior needs them: the screening counts come from the compiled tokenizer)."""
        return word_counts(self.repaired.text)


def _chunks(text: str, decoder: Decoder) -> list[_Chunk]:
    """The text in chunks (split_paragraphs), each with its scars repaired and its screening
    counts.  Mixed-language text is judged on its English part: a chunk with many rare words
    is looked at paragraph by paragraph, and a run of paragraphs of another language becomes a
    chunk of its own that counts for nothing and is not decoded (_Chunk.english)."""
    signals = _signals(decoder)
    out = []
    for offset, chunk in split_paragraphs(text):
        rep = repair_scars(chunk)
        # (read after the scar repair, which joins "U. S." and "that ’s" as the decoder sees them)
        ids: list = []
        cheap = cheap_stats(rep.text, len(rep.scars), signals, ids)
        if len(chunk) > 200 and (cheap.n_rare >= SUSPECT_RARE_SHARE * cheap.n_words
                                 or _letters_beyond_english(chunk) >= SUSPECT_LETTERS):
            runs = _language_runs(chunk, signals)
            if len(runs) > 1 or not runs[0][2]:
                for start, part, english in runs:
                    rep = repair_scars(part)
                    ids = []
                    part_cheap = cheap_stats(rep.text, len(rep.scars), signals, ids) if english else DocStats()
                    out.append(_Chunk(offset + start, part, rep, part_cheap, english, ids[0] if ids else None))
                continue
        out.append(_Chunk(offset, chunk, rep, cheap, True, ids[0]))
    return out


# A chunk is looked at paragraph by paragraph where at least this share of its words are rare
# or unknown to the 3-gram, as where a fifth or more of them are of another language: German,
# French and Spanish prose have 52-68%, the test split's texts 10% (clean) and 14% (spun) at
# the median, and 2.7% of clean ones and 11% of spun ones reach it.  A paragraph is then asked
# its language where at least FOREIGN_RARE_SHARE are.  (Asking every paragraph would cost
# about 25 µs each, half of warm screening's time on paragraphs of a few hundred characters.)
SUSPECT_RARE_SHARE = 0.2
FOREIGN_RARE_SHARE = 0.35
# ... or where it has at least this many letters English rarely writes (accented Latin, Cyrillic,
# CJK): a paragraph of German or French among many English ones leaves the rare share low (a
# real spun article's is 4.5%), not these.
SUSPECT_LETTERS = 8
# UTF-8 lead bytes of such letters: U+00C0-017F (accented Latin), U+0400-047F (Cyrillic), U+3000-
# 9FFF (kana, CJK); not U+2000-2FFF (lead byte E2: the quotes and dashes English text has)
_BEYOND_ENGLISH = bytes([0xC3, 0xC4, 0xC5, 0xD0, 0xD1, *range(0xE3, 0xEA)])
_NOT_BEYOND = bytes(b for b in range(256) if b not in _BEYOND_ENGLISH)


def _letters_beyond_english(text: str) -> int:
    """About how many of a text's letters are accented Latin, Cyrillic or CJK (a UTF-8 byte
    count, about 1 µs a KB)."""
    return len(text.encode("utf-8", "surrogatepass").translate(None, _NOT_BEYOND))


def _language_runs(chunk: str, signals: WordSignals) -> list[tuple[int, str, bool]]:
    """A chunk as runs of consecutive paragraphs (at blank lines, else at line breaks) of one
    language: (offset in the chunk, text, English?) each, together the whole chunk."""
    sep = "\n\n" if "\n\n" in chunk.strip() else "\n"
    pieces, at = [], 0
    while at < len(chunk):
        cut = chunk.find(sep, at)
        end = len(chunk) if cut < 0 else cut + len(sep)
        pieces.append((at, chunk[at:end]))
        at = end
    runs: list[tuple[int, str, bool]] = []
    for at, piece in pieces:
        # a long paragraph whose head, middle and tail are not all of one language (a page whose
        # text was flattened to one line, an English article with a foreign comment after it):
        # judged sentence by sentence, so that its English part alone is read
        if _mixed_paragraph(piece):
            parts = _paragraph_sentences(piece)
        else:
            parts = [(0, piece, len(piece) <= 200 or _reads_english(piece, cheap_stats(piece, 0, signals)))]
        for start, part, part_english in parts:
            if runs and (runs[-1][2] == part_english or not part.strip()):
                runs[-1] = (runs[-1][0], runs[-1][1] + part, runs[-1][2])
            else:
                runs.append((at + start, part, part_english))
    return runs


def _mixed_paragraph(piece: str) -> bool:
    """Whether a paragraph longer than three language samples has English and non-English
    ones among its head, middle and tail (three looks of LANGUAGE_SAMPLE characters)."""
    if len(piece) <= 3 * LANGUAGE_SAMPLE:
        return False
    return len(set(map(_part_is_english, _sample_parts(piece)))) > 1


# language.is_english of a sample part, remembered for a few texts: a one-paragraph text's parts
# are looked at by _mixed_paragraph (its chunks) and again by _part_reads_english (its verdict)
_part_is_english = lru_cache(maxsize=16)(language.is_english)


# A sentence's end within a paragraph: . ! ? and the space after them, or a CJK full stop, and
# any space after it (those scripts put none).
_SENTENCE_END_RE = re.compile(r"[.!?]+[\"”’')\]]*\s+|[。！？]+[”’」』）]*\s*")


def _paragraph_sentences(paragraph: str) -> list[tuple[int, str, bool]]:
    """A paragraph's sentences, each as (offset, text, English?), together the whole paragraph
    (_language_runs joins those of one language).  A sentence without words that tell
    (numbers, names alone) is taken as of the language of the one before it.  (Not
    text.sentences: the decoder's split needs the paragraph tokenized and knows no CJK full
    stop, where a Chinese passage before an English one ends.)"""
    out: list[tuple[int, str, bool]] = []
    at = 0
    english = True
    ends = [m.end() for m in _SENTENCE_END_RE.finditer(paragraph)]
    for end in ends + ([len(paragraph)] if not ends or ends[-1] < len(paragraph) else []):
        sentence = paragraph[at:end]
        st = language.language_stats(sentence)
        if st.english + st.foreign or not out:
            english = st.share >= language.THRESHOLD
        out.append((at, sentence, english))
        at = end
    return out


def _reads_english(piece: str, cheap: DocStats) -> bool:
    """Whether a paragraph is English: one with few rare words is taken as English unasked."""
    if cheap.n_rare < FOREIGN_RARE_SHARE * cheap.n_words:
        return True
    return language.is_english(_language_sample(piece))


def _cheap_stats(chunks: list[_Chunk]) -> DocStats:
    stats = DocStats()
    for c in chunks:
        stats.add(c.cheap)
    return stats


def _screening(stats: DocStats, evidence: bool = True) -> tuple[float, str, list[Evidence]] | None:
    """The screening answer (probability, verdict, evidence) if the screening model clears a
    text with these counts, else None: the one rule detect(), check()'s score and its shortcut
    all follow.  It reads the cheap counts only, as detect()'s screening sees them."""
    model = default_model()
    if model is None:
        return None
    cheap = dataclasses.replace(stats, decoded=False) if stats.decoded else stats
    p = model.probability(cheap)
    if not model.screen_clears(p, stats.n_words):
        return None
    return p, model.verdict(0.0, stats.n_words), model.score(cheap)[1] if evidence else []


def _swap_floor(decoder: Decoder) -> float:
    """The least posterior x P(document is spun) ** doc_power a swap may have to be reported (with
    a swap model, to be looked at by it)."""
    model = decoder.swap_model
    return model.floor if model is not None else decoder.params.report_threshold


def _cleared_without_swaps(chunks: list[_Chunk], decoder: Decoder) -> bool:
    """Whether screening clears the text with a probability whose gate (** doc_power) keeps
    every swap, whatever its posterior, under the swap floor."""
    cleared = _screening(_cheap_stats(chunks), evidence=False)
    return cleared is not None and cleared[0] ** decoder.params.doc_power < _swap_floor(decoder)


def _score(text: str, stats: DocStats, decoder: Decoder, evidence: bool = True) -> tuple[float, str, list[Evidence]]:
    """The document's calibrated probability, verdict and evidence (evidence=False: none, as
    check() reports none).  Texts that screening clears keep the screening value, so that
    check() and detect() always agree."""
    model = default_model()
    if model is None:
        p = _spun_probability(stats.evidence, stats.n_words, stats.n_scars, decoder.params)
        verdict = "too-short" if stats.n_words < MIN_WORDS else (
            "spun" if p >= 0.7 else "clean" if p <= 0.3 else "undecided")
        return p, verdict, []
    cleared = _screening(stats, evidence)
    if cleared is not None:
        return cleared
    if not evidence:
        p = model.probability(stats)
        return p, model.verdict(p, stats.n_words), []
    p, terms = model.score(stats)
    return p, model.verdict(p, stats.n_words), terms


def _analyse(text: str, decoder: Decoder, want_swaps: bool = True, chunks: list[_Chunk] | None = None,
             on_swaps: Callable[[float, str, list[Swap]], None] | None = None
             ) -> tuple[list[Swap], list[Scar], str, DocStats, tuple[float, str, list[Evidence]] | None]:
    """Decode `text` chunk by chunk: swaps (input offsets), scars, restored text, statistics,
    and the document's `_score` (which gates the swaps; without its evidence, which check()
    does not report).  want_swaps=False (detect): statistics
    only; no swaps, the text comes back unrestored and the score is None (detect scores the
    statistics itself).  chunks: `_chunks(text, decoder)` when the caller has them already."""
    swaps: list[Swap] = []
    scars: list[Scar] = []
    restored_parts: list[str] = []
    stats = DocStats()
    params = decoder.params
    thesaurus_counts = 0.0  # expected swaps per thesaurus over the chunks decoded so far
    pending: list[tuple[str, list]] = []  # per chunk: its repaired text and its candidate swaps
    chunks = chunks if chunks is not None else _chunks(text, decoder)
    if want_swaps and _cleared_without_swaps(chunks, decoder):
        # Screening clears this text, so its probability is the screening one, and that gates
        # every swap below the swap floor (see the gate below): decoding could report
        # nothing.  The report is the one decoding would give, at screening speed.
        for piece in chunks:
            scars.extend(Scar(s.start + piece.offset, s.end + piece.offset, s.kind, s.found, s.repaired)
                         for s in piece.repaired.scars)
        stats = _cheap_stats(chunks)
        return [], scars, "".join(piece.repaired.text for piece in chunks), stats, _score(text, stats, decoder, False)
    model = decoder.swap_model if want_swaps else None
    doc = None  # the whole document's word counts, for the decoder's cache prior (last passes)
    total: Counter = Counter()  # (and the swap model)
    reads_surface = getattr(decoder, "reads_surface", 0)  # (the neural tier reads text: see decode.Batch)
    preceding: tuple[str, ...] = ()
    # Pass 0 at the prior rate; then re-estimate each chunk's rate from the posteriors, pass
    # after pass.  The detector reads the statistics of the pass before the last, decoded
    # without the cache prior (which sharpens the choice among originals but blurs clean from
    # spun: a clean text's rare words gain likely-looking originals too); the last pass adds the
    # cache prior and gives the swaps.  detect() stops after the statistics, so it and check()
    # agree.  Every chunk's passes before the last run first: the document's probability is
    # then known before any last pass, and its gate may leave nothing to report (a clean text
    # screening did not clear: the last pass, about half of check's time, is skipped) or nothing
    # for the neural tier to rescore (RescoringDecoder.gated_out).
    passes = params.rate_passes
    stats_pass = max(0, passes - 1)
    first = range(passes) if want_swaps else range(stats_pass + 1)
    states: list[_ChunkState] = []
    held_words = 0  # words whose batches are held for their last pass (KEEP_BATCH_WORDS)
    for piece in chunks:
        offset, chunk, rep = piece.offset, piece.text, piece.repaired
        for s in rep.scars:
            scars.append(Scar(s.start + offset, s.end + offset, s.kind, s.found, s.repaired))
        # each paragraph is judged on its own (mixed-language text: its English part is decoded;
        # see _chunks); a text of one paragraph was judged already
        units = word_sentences(rep.text) if piece.english else []
        batch = decoder.prepare([(words, linked) for _t, words, linked in units])
        state = _ChunkState(piece, units, batch, thesaurus_counts)
        if reads_surface and want_swaps:
            batch.surface = surfaces(rep.text, units)
            batch.preceding = preceding
            if reads_surface > 0:  # (the next chunk's: this one's last words as they stand)
                preceding = tuple(text_pieces(batch.surface)[-reads_surface:])
        for k in first:
            _decode_pass(decoder, state, k, passes, want_swaps, doc, model)
            if k == stats_pass:
                state.snap = _snapshot(batch)
        if state.snap is not None:
            thesaurus_counts = _add_statistics(stats, state, thesaurus_counts)
        if not want_swaps:
            restored_parts.append(chunk)
            continue
        held_words += len(batch.ids)
        if held_words > KEEP_BATCH_WORDS:  # (a huge text: prepared again for its last pass)
            state.drop_batch()
        states.append(state)
    if want_swaps:
        if passes > 0:  # (the statistics are in)
            scored = _score(text, stats, decoder, False)  # (check() reports no evidence)
            gate = scored[0] ** params.doc_power
            if gate < _swap_floor(decoder):  # nothing could be reported
                return [], scars, "".join(piece.repaired.text for piece in chunks), stats, scored
            if rescored_gated_out(scored[0], params) and hasattr(decoder, "gated_out"):
                decoder = decoder.gated_out()  # no rescored swap could be reported
        if params.cache_lambda > 0 or model is not None:  # (counted once the gate lets swaps through)
            for piece in chunks:
                if piece.english:  # (a paragraph of another language counts for nothing)
                    total.update(piece.words)
            if params.cache_lambda > 0:
                # (from the ids screening found: the same context as doc_context(total), without
                # a dict look-up per word type, which cost 0.27 ms of a 2 KB check)
                doc = decoder.doc_context_of_ids([piece.ids for piece in chunks if piece.english])
        handed_out = 0  # swaps given to on_swaps

        def emit(pending: list) -> None:
            nonlocal handed_out
            _emit_swaps(text, swaps, restored_parts, decoder, model, gate, scored[0], total,
                        getattr(decoder, "calibration", None) or ((), ()), pending, doc=doc)
            if on_swaps is not None and swaps:
                on_swaps(round(scored[0], 4), scored[1], swaps[:])
                handed_out += len(swaps)
                swaps.clear()

        n_held = 0
        for i, state in enumerate(states):
            states[i] = None  # (a huge text: each chunk's words and swaps are let go once emitted)
            batch = state.batch if state.batch is not None else state.prepare_again(decoder)
            results, chunk_rate = _decode_pass(decoder, state, passes, passes, want_swaps, doc, model)
            if passes == 0:  # (its one pass gives the statistics too)
                state.snap = _snapshot(batch)
                thesaurus_counts = _add_statistics(stats, state, thesaurus_counts)
            state.batch = None
            rep, offset, units = state.piece.repaired, state.piece.offset, state.units_again()
            to_input, fixed = rep.to_input, rep.text
            # (where no repair moved a character, the offsets shift by one amount: no call each)
            shift = to_input.shift()
            # Swaps that could be reported (the decoder returned those whose posterior alone
            # reaches the threshold), held until the document's probability is applied.
            held = []
            for (word_toks, words, _linked), result in zip(units, results):
                # with a swap model, the words the best path keeps but might be swaps (SentenceResult.near)
                # are its candidates too: one of them reported is a swap the path missed
                # (only then: the neural tier's results keep the near list its rescoring read)
                near = result.near if model is not None else ()
                kept = set(map(id, near))
                for ws in sorted(result.swaps + near, key=lambda w: w.start) if near else result.swaps:
                    if model is not None and ws.probability < model.floor and not ws.rescored:
                        continue  # (below the floor whatever the document's probability, as gate <= 1)
                    if " " in ws.original and _only_adds_words(words[ws.start:ws.end], ws.original):
                        continue
                    a, b = word_toks[ws.start].start, word_toks[ws.end - 1].end
                    # b - 1 is the word's last char: to_input[b] may lie past a space the scar
                    # repair removed
                    ia, ib = (to_input[a], to_input[b - 1] + 1) if shift is None else (a + shift, b + shift)
                    held.append((a, b, ia + offset, ib + offset, ws, ws.start == 0,
                                 words[ws.start:ws.end], chunk_rate, id(ws) in kept))
            pending.append((fixed, held))
            n_held += len(held)
            if passes > 0 and n_held >= EMIT_HELD:  # (the document's probability is known: emit them)
                emit(pending)
                pending, n_held = [], 0
        # A swap is a candidate when P(swap | the text is spun) * P(the text is spun) ** doc_power
        # reaches the floor, and reported when that reaches report_threshold (with a swap model:
        # when the model's probability reaches its threshold), with the document's probability
        # (the detector's, which check() reports; without one, the decoder's own evidence)
        # judged on the whole text: a lightly spun paragraph of a clearly spun article keeps its
        # swaps, and one odd paragraph of a clean text does not make its rare words swaps.
        if passes == 0:
            scored = _score(text, stats, decoder, False)  # (check() reports no evidence)
            gate = scored[0] ** params.doc_power
        emit(pending)
    else:
        scored = None
    stats.n_swaps = len(swaps) + (handed_out if want_swaps else 0)  # (not a feature: the score above holds)
    return swaps, scars, "".join(restored_parts), stats, scored


def _emit_swaps(text: str, swaps: list[Swap], restored_parts: list[str], decoder, model: SwapModel | None,
                gate: float, doc_probability: float, counts: Counter, rescored_knots, pending: list,
                doc: DocContext | None = None) -> None:
    """Judge held swaps of consecutive chunks (`pending`: per chunk, its repaired text and its
    held swaps) once the document's probability is known: append the reported ones to `swaps`
    and each chunk's restored text to `restored_parts`.  Called on the held swaps as they come
    (a huge text), each swap judged as it would be with the whole text's at once."""
    params = decoder.params
    modelled = (_model_probabilities(model, pending, gate, doc_probability, counts, decoder.lm, doc)
                if model is not None else {})
    for fixed, held in pending:
        pieces: list[str] = []
        cursor = 0
        for a, b, ia, ib, ws, initial, words, _rate, kept in held:
            if model is None or ws.rescored:  # (the neural tier's: its rescored posterior)
                prob = ws.probability * gate
                if prob < params.report_threshold:
                    continue
                if ws.rescored:  # (reported at its calibrated probability: RescoringDecoder.calibration)
                    prob = calibrated(prob, *rescored_knots, params.report_threshold)
            else:
                score = modelled.get(id(ws), 0.0)
                if score < model.threshold:
                    continue
                prob = model.reported(score)
            spun_fixed = fixed[a:b]
            original = match_case(spun_fixed, ws.original, initial)
            pieces.append(fixed[cursor:a])
            pieces.append(original)
            cursor = b
            swaps.append(Swap(
                start=ia, end=ib, spun=text[ia:ib], original=original,
                probability=round(prob, 4),
                alternatives=_alternatives(spun_fixed, _with_keeping(ws, words) if kept else ws.alternatives, prob,
                                           initial, " ".join(words)),
                thesaurus=ws.thesaurus,
            ))
        pieces.append(fixed[cursor:])
        restored_parts.append("".join(pieces))


def rescored_gated_out(probability: float, params: DecoderParams) -> bool:
    """Whether a document of this spun probability can report no rescored swap: one is reported
    at posterior x P(spun) ** doc_power >= report_threshold (P(spun) under 0.79 leaves none)."""
    return probability ** params.doc_power < params.report_threshold


# Batches held from a chunk's first passes to its last (whose 3-gram scores they keep) for at
# most this many words of a text; past it a chunk is prepared again for its last pass (a huge
# text in bounded memory: a held word costs about 0.6 KB, 1.6 KB with the neural tier's shortlist).
KEEP_BATCH_WORDS = 50_000
# Held swaps judged and emitted together once the document's probability is known (a huge text
# keeps only this many, plus one chunk's, besides its report).
EMIT_HELD = 10_000


@dataclass
class _ChunkState:
    """A chunk between its first passes and its last (see _analyse)."""

    piece: _Chunk
    units: list
    batch: object  # decode.Batch (None: dropped, see KEEP_BATCH_WORDS)
    thesaurus_before: object  # the thesaurus counts of the chunks before it
    snap: tuple | None = None  # the statistics pass's figures (_snapshot)
    dropped: tuple | None = None  # what the last pass reads off the batch, once it is dropped

    def drop_batch(self) -> None:
        """Drop the batch and the units (a huge text: both are made again for the last pass)."""
        b = self.batch
        self.dropped = (b.n_spinnable, b.swap_mass, b.thesaurus_counts, b.surface, b.preceding)
        self.batch = None
        if self.units:  # (a chunk judged not English has none to make again)
            self.units = None

    def units_again(self) -> list:
        if self.units is None:
            self.units = word_sentences(self.piece.repaired.text)
        return self.units

    def prepare_again(self, decoder) -> object:
        b = self.batch = decoder.prepare([(words, linked) for _t, words, linked in self.units_again()])
        b.n_spinnable, b.swap_mass, b.thesaurus_counts, b.surface, b.preceding = self.dropped
        return b


def _decode_pass(decoder, state: _ChunkState, k: int, passes: int, want_swaps: bool, doc, model):
    """Pass k of a chunk (the last, k == passes, gives its swaps when want_swaps): its results
    and the rate it was decoded at."""
    params, batch = decoder.params, state.batch
    rate = log_w = None
    if k > 0:
        spinnable, mass = batch.n_spinnable, batch.swap_mass
        rate = min(params.rate_max, max(params.rate_min, mass / spinnable if spinnable else 0.0))
        if want_swaps and k == passes:
            rate = params.next_rate(rate)
        # the document's thesaurus mix so far (this chunk and the ones before it)
        if params.adapt_prior > 0 and batch.thesaurus_counts is not None:
            log_w = decoder.thesaurus_weights(state.thesaurus_before + batch.thesaurus_counts)
    final = want_swaps and k == passes
    if final:
        keep = False
        if params.reverse_share_on > 0 and batch.thesaurus_counts is not None:
            counts = state.thesaurus_before + batch.thesaurus_counts
            keep = counts[_REVERSE] >= params.reverse_share_on * (counts.sum() + params.reverse_share_prior)
        log_w = decoder.final_weights(log_w, keep)
    batch.doc = doc if final and passes > 0 else None
    # (only the last pass's sentences are read, and only for their swaps that could be
    # reported: min_doc=1 returns those whose posterior reaches report_threshold)
    # (with a swap model every swap on the best path and the likely kept words: the floor is
    # applied by _analyse, so kept words under it are not asked for: they were two in five of
    # those listed, each with its alternatives; the neural tier lists its own)
    extra = {"near_min": max(model.near, model.floor)} if model is not None and final else {}
    results = decoder.decode_batch(batch, rate, min_doc=0.0 if model is not None else 1.0, with_swaps=final,
                                   log_weights=log_w, stats_only=not final, **extra)
    return results, rate if rate is not None else params.rate


def _snapshot(batch) -> tuple:
    return (batch.log_evidence, batch.log_clean, batch.n_spinnable, batch.swap_mass, batch.evidence_pos,
            batch.thesaurus_counts)


def _add_statistics(stats: DocStats, state: _ChunkState, thesaurus_counts):
    """Add a chunk's decoded statistics to the document's; the thesaurus counts with its own."""
    evidence, log_clean, n_spinnable, swap_mass, evidence_pos, counts = state.snap
    stats.add(dataclasses.replace(state.piece.cheap, decoded=True, evidence=evidence, lm_logprob=log_clean,
                                  n_spinnable=n_spinnable, swap_mass=swap_mass, evidence_pos=evidence_pos))
    return thesaurus_counts + counts if counts is not None else thesaurus_counts


def _model_probabilities(model: SwapModel, pending: list[tuple[str, list]], gate: float,
                         doc_probability: float, counts: Counter, lm, doc: DocContext | None = None) -> dict[int, float]:
    """The swap model's probability of every held swap whose posterior x gate reaches its floor,
    by id of the WordSwap (one call of the model for the whole document).  doc: the document's
    word ids and counts when the decoder made them (its topic is read from them: no look-ups)."""
    spans, looked = [], []
    n_words = sum(counts.values())
    for fixed, held in pending:
        for a, b, _ia, _ib, ws, initial, words, rate, _kept in held:
            if ws.rescored or ws.probability * gate < model.floor:
                continue
            spans.append((words, ws.original, ws.probability, ws.alternatives, ws.thesaurus, ws.lm_gain,
                          ws.channel, fixed[a:a + 1].isupper(), initial, rate))
            looked.append(ws)
    if not spans:
        return {}
    vectors = default_vectors()
    topic = vectors.topic_of(doc.ids, doc.counts) if doc is not None else None
    rows = swap_feature_matrix(spans, doc_probability, counts, n_words, lm.unigram, vectors, topic)  # (once a word type)
    return {id(ws): p for ws, p in zip(looked, model.probability(rows).tolist())}


def _with_keeping(ws, words: list[str]) -> list[tuple[str, float]]:
    """A kept word's alternatives with keeping it among them (a path swap's hold its identity
    arc already), at 1 - its swap posterior, best first, five at most."""
    alts = ws.alternatives + [(" ".join(words), max(0.0, 1.0 - ws.probability))]
    return sorted(alts, key=lambda x: -x[1])[:5]


def _only_adds_words(spun_words: list[str], original: str) -> bool:
    """Whether the original is the spun words with words added around them ("Khrushchev" ->
    "Nikita Khrushchev", "Hudson" -> "Hudson River", "then" -> "and then"): WordNet lists such
    pairs as synonyms, but a spinner gains no disguise by dropping words, and the 3-gram likes
    the longer name.  Such swaps are not reported (on dev they were right 22 times in 231)."""
    orig = original.split(" ")
    n = len(spun_words)
    return n < len(orig) and any(orig[i:i + n] == spun_words for i in range(len(orig) - n + 1))


_second = operator.itemgetter(1)


def _alternatives(spun: str, alts: list[tuple[str, float]], reported: float,
                  initial: bool = False, kept: str = "") -> list[Alternative]:
    """Other originals for the same span and keeping its words (the alternative `kept`, the
    decoder's words of the span), their probabilities renormalised so that the swap's reported
    probability plus the alternatives' sum to at most 1; what is left over goes to keeping the
    words where that is listed.  (A calibrated swap reported at 0.66 leaves 0.34 to keeping
    it, which the lattice's posterior, near 1, gave almost nothing: the list reads "fresh
    0.34", not "fresh 0.00".)  Best first."""
    rest = max(0.0, 1.0 - reported)
    total = sum(map(_second, alts))
    scale = min(1.0, rest / total) if total > 0 else 0.0
    probs = {t: p * scale for t, p in alts}
    if kept in probs:
        probs[kept] += rest - sum(probs.values())
    ranked = sorted(probs.items(), key=_second, reverse=True)  # (stable: ties keep their order)
    if spun.islower():  # (most spans: match_case would give every text back as it is)
        return [Alternative(t, round(p, 4)) for t, p in ranked]
    return [Alternative(match_case(spun, t, initial), round(p, 4)) for t, p in ranked]


def _spun_probability(evidence: float, n_words: int, n_scars: int, params: DecoderParams) -> float:
    """Placeholder document score until the calibrated detector lands: the decoder's evidence
    per 100 words, nudged by scars.  Monotone in the evidence and in [0, 1]."""
    if n_words == 0:
        return 0.0
    scar_density = min(3.0, 100.0 * n_scars / n_words)
    z = params.doc_slope * (100.0 * evidence / n_words - params.doc_center) + params.scar_weight * scar_density
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))
