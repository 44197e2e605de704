"""`check`: text -> Report.  The one place where the stages meet.

text -> scars repaired (offset map kept) -> paragraphs -> sentences -> words
     -> decoder (channel + prior) -> swaps with input offsets -> restored text and document score
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from unspin import language
from unspin.decode import Decoder, DecoderParams
from unspin.lexicon.channel import ChannelWeights, default_channel, Channel
from unspin.report import Alternative, Report, Scar, Swap
from unspin.scars import repair_scars
from unspin.text import Token, sentences, split_paragraphs, tokenize

MIN_WORDS = 12  # below this the document score is not meaningful (the detect issue measures it)
LANGUAGE_SAMPLE = 200_000  # characters of a document looked at to decide its language


@dataclass(frozen=True)
class EngineConfig:
    decoder: DecoderParams
    weights: ChannelWeights


@lru_cache(maxsize=1)
def _config() -> EngineConfig:
    path = resources.files("unspin") / "data" / "params.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return EngineConfig(DecoderParams(), ChannelWeights())
    return EngineConfig(DecoderParams(**raw.get("decoder", {})), ChannelWeights(**raw.get("channel", {})))


@lru_cache(maxsize=2)
def _decoder(fast: bool) -> Decoder:
    from unspin.lm import fast_lm

    cfg = _config()
    channel = Channel(weights=cfg.weights)
    # fast=False will add the neural tier (its own issue); until then both use the 3-gram.
    return Decoder(channel, fast_lm(), cfg.decoder)


def make_decoder(params: DecoderParams | None = None, weights: ChannelWeights | None = None) -> Decoder:
    """A decoder with explicit parameters (for tuning and benchmarks)."""
    from unspin.lm import fast_lm

    cfg = _config()
    return Decoder(Channel(weights=weights or cfg.weights), fast_lm(), params or cfg.decoder)


def _match_case(spun: str, original: str) -> str:
    if len(spun) > 1 and spun.isupper():
        return original.upper()
    if spun[:1].isupper():
        return original[:1].upper() + original[1:]
    return original


def _adjacent(text: str, a: Token, b: Token) -> bool:
    gap = text[a.end : b.start]
    return gap.isspace() and "\n" not in gap


def check(text: str, fast: bool = False, decoder: Decoder | None = None) -> Report:
    if not isinstance(text, str):
        raise TypeError(f"check() takes str, not {type(text).__name__}")
    if not text.strip():
        return Report(0.0, "too-short", [], [], text)
    if not language.is_english(text[:LANGUAGE_SAMPLE]):
        return Report(0.0, "not-english", [], [], text)
    decoder = decoder or _decoder(fast)

    swaps: list[Swap] = []
    scars: list[Scar] = []
    restored_parts: list[str] = []
    n_words = n_spinnable = 0
    swap_mass = 0.0
    params = decoder.params
    for offset, chunk in split_paragraphs(text):
        rep = repair_scars(chunk)
        to_input = rep.to_input
        for s in rep.scars:
            scars.append(Scar(s.start + offset, s.end + offset, s.kind, s.found, s.repaired))
        fixed = rep.text
        english = language.is_english(chunk) if len(chunk) > 200 else True
        units = []
        for sent in sentences(tokenize(fixed)) if english else ():
            word_toks = [t for t in sent if t.is_word]
            if word_toks:
                words = [t.norm for t in word_toks]
                linked = [_adjacent(fixed, word_toks[i], word_toks[i + 1]) for i in range(len(word_toks) - 1)]
                units.append((word_toks, words, linked))
        rate = None
        results = [decoder.decode(words, linked) for _t, words, linked in units]
        for _ in range(params.rate_passes):
            spinnable = sum(sum(r.spinnable) for r in results)
            mass = sum(p for r in results for p, sp in zip(r.swap_posterior, r.spinnable) if sp)
            rate = min(params.rate_max, max(params.rate_min, mass / spinnable if spinnable else 0.0))
            results = [decoder.decode(words, linked, rate) for _t, words, linked in units]
        pieces: list[str] = []
        cursor = 0
        for (word_toks, words, _linked), result in zip(units, results):
            n_words += len(words)
            n_spinnable += sum(result.spinnable)
            swap_mass += sum(result.swap_posterior)
            for ws in result.swaps:
                a, b = word_toks[ws.start].start, word_toks[ws.end - 1].end
                spun_fixed = fixed[a:b]
                original = _match_case(spun_fixed, ws.original)
                pieces.append(fixed[cursor:a])
                pieces.append(original)
                cursor = b
                # b - 1 is the word's last char: to_input[b] may lie past a space the scar repair removed.
                ia, ib = to_input[a] + offset, to_input[b - 1] + 1 + offset
                swaps.append(Swap(
                    start=ia, end=ib, spun=text[ia:ib], original=original,
                    probability=round(ws.probability, 4),
                    alternatives=[Alternative(_match_case(spun_fixed, t), round(p, 4)) for t, p in ws.alternatives],
                    thesaurus=ws.thesaurus,
                ))
        pieces.append(fixed[cursor:])
        restored_parts.append("".join(pieces))

    probability = _spun_probability(n_words, len(swaps), swap_mass, len(scars))
    if n_words < MIN_WORDS:
        verdict = "too-short"
    elif probability >= 0.7:
        verdict = "spun"
    elif probability <= 0.3:
        verdict = "clean"
    else:
        verdict = "undecided"
    return Report(round(probability, 4), verdict, swaps, scars, "".join(restored_parts))


def _spun_probability(n_words: int, n_swaps: int, swap_mass: float, n_scars: int) -> float:
    """Placeholder document score until the calibrated detector lands: swap density plus scars.
    Monotone in the evidence and in [0, 1]."""
    if n_words == 0:
        return 0.0
    density = (n_swaps + swap_mass) / (2 * n_words)
    z = -4.0 + 120.0 * density + 0.6 * min(n_scars, 5)
    return 1.0 / (1.0 + math.exp(-z))
