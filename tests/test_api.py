"""The Python API end to end (unspin.check / restore / detect) on real engine behaviour.

Two kinds of tests:

* invariants of every Report, whatever the engine decides: swap and scar offsets index the input
  (also after CRLF, tabs, emoji and CJK before the swaps), probabilities in [0, 1], alternatives
  sorted, `restored` rebuilt from the report, untouched words untouched, bad input verdicts,
  a large document in bounded memory, restore/detect agree with check.  These run with the
  default engine and with an *eager* decoder (low report threshold) so that there are many swaps
  to check even when the tuned engine reports few;
* engine-quality cases kept as data, ftfy-style, in tests/cases/check_*.json:
  `check_in_the_wild.json` (the shared spun article), `check_negative.json` (clean text that must
  stay clean), `check_known_failures.json` (what the engine still gets wrong, `"expect": "fail"`,
  run as non-strict xfail: an XPASS means a case can move to the other files).

Case fields: `text` (or "@example" for the shared article, "@demo/NAME" for a demo file),
`context` ("@example": check the whole article, judge the case's line in it), `verdict` (allowed
verdicts), `min_swaps`, `max_swaps`, `swapped` (substrings of the text each overlapped by a swap),
`restored_contains`, `restored_lacks`, `restored_equals_input`.
"""
from __future__ import annotations

import dataclasses
import gzip
import json
import math
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import unspin
from unspin.report import Detection, Report

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "tests" / "cases"
DEMO = ROOT / "src" / "unspin" / "data" / "demo"
EXAMPLE = Path(os.environ.get("UNSPIN_SHARED") or Path(__file__).resolve().parents[2] / "shared") / "examples" / "washington-examiner-spun.txt"
DEVSET = ROOT / "bench" / "devsets" / "dev.jsonl.gz"


# ----------------------------------------------------------------------------- helpers
def _example() -> str:
    if not EXAMPLE.exists():
        pytest.skip(f"{EXAMPLE} not present")
    return EXAMPLE.read_text("utf-8")


def _resolve(ref: str) -> str:
    if ref == "@example":
        return _example()
    if ref.startswith("@demo/"):
        return (DEMO / ref[len("@demo/"):]).read_text("utf-8")
    return ref


_cache: dict[tuple[str, str], Report] = {}


def _check(text: str, engine: str = "default") -> Report:
    key = (engine, text)
    if key not in _cache:
        _cache[key] = unspin.check(text) if engine == "default" else _eager_check(text)
    return _cache[key]


def _eager_check(text: str) -> Report:
    """check() with a decoder that reports swaps from a low posterior up: many swaps, same code path."""
    from unspin import api

    base = api._config().decoder
    fields = {f.name for f in dataclasses.fields(base)}
    if "report_threshold" not in fields:
        pytest.skip("DecoderParams has no report_threshold")
    return api.check(text, decoder=api.make_decoder(dataclasses.replace(base, report_threshold=0.05)))


def _rebuild(text: str, report: Report) -> str:
    """The input with every scar repaired and every swap applied, from the report alone.
    A scar inside a swap is part of what the swap replaces; partial overlaps are a bug."""
    edits = [(s.start, s.end, s.original, "swap") for s in report.swaps]
    for sc in report.scars:
        inside = any(s.start <= sc.start and sc.end <= s.end for s in report.swaps)
        if not inside:
            edits.append((sc.start, sc.end, sc.repaired, "scar"))
    edits.sort()
    out, cursor = [], 0
    for start, end, new, kind in edits:
        assert start >= cursor, f"overlapping edits at {start} ({kind}): {edits}"
        out.append(text[cursor:start])
        out.append(new)
        cursor = end
    out.append(text[cursor:])
    return "".join(out)


_WORD = re.compile(r"[^\W_]+")


def _untouched_words(text: str, report: Report) -> list[str]:
    spans = [(s.start, s.end) for s in report.swaps]
    return [m.group() for m in _WORD.finditer(text)
            if not any(a < m.end() and m.start() < b for a, b in spans)]


def _letters(s: str) -> str:
    return "".join(_WORD.findall(s))


# ----------------------------------------------------------------------------- texts for invariants
def _variants() -> dict[str, str]:
    art = EXAMPLE.read_text("utf-8") if EXAMPLE.exists() else (CASES / "spun-sample.txt").read_text("utf-8")
    demo = (DEMO / "demo.txt").read_text("utf-8")
    return {
        "example": art,
        "demo": demo,
        "crlf": demo.replace("\n", "\r\n"),
        "tabs": demo.replace(", ", ",\t").replace(" the ", "\tthe "),
        "emoji": "🙂🚀 " + demo.replace("\n", "\n👍🏽 "),  # astral chars: 1 code point each, 2 UTF-16 units
        "cjk": "東京の記者会見。 " + demo.replace(". ", "。 ", 1),
        "combining": "Cafe\u0301 owners said: " + demo,  # a combining accent before everything
    }


VARIANTS = _variants()
ENGINES = ["default", "eager"]


@pytest.fixture(params=[(e, v) for e in ENGINES for v in VARIANTS], ids=lambda p: f"{p[0]}-{p[1]}", scope="module")
def checked(request):
    engine, name = request.param
    text = VARIANTS[name]
    return text, _check(text, engine)


def test_eager_engine_finds_swaps_to_check():
    """Guards the invariants below against passing vacuously."""
    assert len(_check(VARIANTS["demo"], "eager").swaps) >= 10


def test_offsets_index_the_input(checked):
    text, r = checked
    for s in r.swaps:
        assert 0 <= s.start < s.end <= len(text)
        assert text[s.start:s.end] == s.spun, s
    for sc in r.scars:
        assert text[sc.start:sc.end] == sc.found, sc
    starts = [s.start for s in r.swaps]
    assert starts == sorted(starts)
    assert all(a.end <= b.start for a, b in zip(r.swaps, r.swaps[1:])), "overlapping swaps"


def test_swaps_are_words(checked):
    text, r = checked
    for s in r.swaps:
        assert s.spun == s.spun.strip() and s.spun[:1].isalnum() and s.spun[-1:].isalnum(), s
        assert s.original.strip() and s.original.lower() != s.spun.lower(), s


def test_probabilities(checked):
    _text, r = checked
    assert 0.0 <= r.spun_probability <= 1.0
    for s in r.swaps:
        assert 0.0 <= s.probability <= 1.0, s
        probs = [a.probability for a in s.alternatives]
        assert all(0.0 <= p <= 1.0 for p in probs), s
        assert probs == sorted(probs, reverse=True), f"alternatives not sorted: {s}"
        assert s.thesaurus in ("wordnet", "mythes", "moby", "reverse", ""), s


def test_restored_is_input_with_scars_repaired_and_swaps_applied(checked):
    text, r = checked
    assert r.restored == _rebuild(text, r)


def test_untouched_words_stay(checked):
    text, r = checked
    cursor = 0
    for w in _untouched_words(text, r):
        found = r.restored.find(w, cursor)
        assert found >= 0, f"untouched word {w!r} missing from restored text after offset {cursor}"
        cursor = found + len(w)
    # stronger: scars only move spaces, so the letters of restored are exactly the input's
    # letters with each swap's spun letters replaced by its original's
    expect, cursor = [], 0
    for s in r.swaps:
        expect += [text[cursor:s.start], s.original]
        cursor = s.end
    expect.append(text[cursor:])
    assert _letters(r.restored) == _letters("".join(expect))


def test_verdict_vocabulary(checked):
    _text, r = checked
    assert r.verdict in ("spun", "clean", "undecided", "too-short", "not-english")
    assert json.loads(json.dumps(r.to_dict(), ensure_ascii=False)) == r.to_dict()


def test_line_endings_and_prefixes_do_not_change_decisions():
    """The same words get the same swaps whatever the whitespace, and after emoji/CJK prefixes."""
    def decided(name):
        return [(s.spun.lower(), s.original.lower()) for s in _check(VARIANTS[name], "eager").swaps]

    base = decided("demo")
    assert decided("crlf") == base
    assert decided("emoji") == base


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("text", ["", " ", "\n\n\t  \r\n", "\u00a0\u2003"], ids=["empty", "space", "blank-lines", "nbsp-emsp"])
def test_empty_or_whitespace_is_too_short(text):
    r = unspin.check(text)
    assert (r.verdict, r.swaps, r.scars, r.restored) == ("too-short", [], [], text)
    assert unspin.restore(text) == text


@pytest.mark.parametrize("text", ["...!!!???", "- - - *", "12 34 56"])
def test_no_words_is_too_short_with_no_evidence(text):
    """No word and no scar: nothing to judge, so probability 0 (the models' bias alone said 0.73)."""
    r, d = unspin.check(text, fast=True), unspin.detect(text)
    assert (r.verdict, r.spun_probability, r.swaps) == ("too-short", 0.0, [])
    assert (d.verdict, d.spun_probability, d.evidence) == ("too-short", 0.0, [])


def test_few_words_is_too_short():
    r = unspin.check("A minute management standard said so.")
    assert r.verdict == "too-short"


@pytest.mark.parametrize("text", ["The end.", "All rights reserved.", "Read more", "Posted by admin", "Thank you.",
                                  "Click here to subscribe."])
def test_a_few_clean_words_are_not_scored_as_spun(text):
    """Texts shorter than any the detector was trained on: their counts are read as rates over
    FEATURE_MIN_WORDS words.  Read over their own two or three words, one odd word made a rate
    of 50 per 100, and boilerplate scored 0.9-0.995 ("The end." 0.991)."""
    d = unspin.detect(text)
    assert d.verdict == "too-short" and d.spun_probability < 0.8


def test_a_short_spun_sentence_keeps_its_score_and_swaps():
    r = unspin.check("The visit astatine noon was connected Monday.", fast=True)
    assert r.verdict == "too-short" and r.spun_probability > 0.9
    sure = [(s.spun, s.original) for s in r.swaps if s.probability > 0.9]
    assert sure == [("astatine", "at"), ("connected", "on")]
    # ("visit" for "call", WordNet synonyms, may be listed too, at even odds in eight words)
    assert all(s.probability <= 0.6 for s in r.swaps if (s.spun, s.original) not in sure)


def test_rates_are_read_over_at_least_feature_min_words():
    from unspin.detection import FEATURE_MIN_WORDS, DocStats

    short = DocStats(n_words=2, n_odd=1, n_scars=1, decoded=True, lm_logprob=-20.0).features()
    assert short["odd_per_100"] == pytest.approx(100 / FEATURE_MIN_WORDS)
    assert short["log_words"] == pytest.approx(math.log(FEATURE_MIN_WORDS))
    assert short["surprise"] == pytest.approx(10.0)  # (per word read: an average, not a count)
    long_ = DocStats(n_words=40, n_odd=1).features()
    assert long_["odd_per_100"] == pytest.approx(2.5)


@pytest.mark.parametrize("text", [
    "Der Bundestag hat am Donnerstag ein neues Gesetz beschlossen, das die Mieten in den großen "
    "Städten begrenzen soll. Die Opposition kritisierte den Entwurf als unzureichend.",
    "Le gouvernement a présenté mercredi un projet de loi visant à réduire les délais de "
    "traitement des demandes de logement social dans les grandes villes du pays.",
    "北京时间周五，两国领导人在白宫举行会谈，讨论了贸易、投资和安全合作等问题。双方同意加强在半导体领域的合作。",
    "Москва, 12 февраля. Правительство утвердило новую программу поддержки малого бизнеса в регионах.",
], ids=["de", "fr", "zh", "ru"])
def test_not_english(text):
    r = unspin.check(text)
    assert (r.verdict, r.swaps, r.restored) == ("not-english", [], text)


_GERMAN = ("Der Bundestag hat am Donnerstag ein neues Gesetz beschlossen, das die Mieten in den großen "
           "Städten begrenzen soll. Die Opposition kritisierte den Entwurf als unzureichend, während die "
           "Regierung von einem wichtigen Schritt für Familien mit kleinen Einkommen sprach. ")
_FRENCH = ("Le gouvernement a présenté mercredi un projet de loi visant à réduire les délais de traitement "
           "des demandes de logement social dans les grandes villes du pays, selon le ministre. ")


@pytest.mark.parametrize("foreign", [_GERMAN, _FRENCH], ids=["de", "fr"])
@pytest.mark.parametrize("repeat", [1, 6])
def test_mixed_language_text_is_judged_on_its_english_part(spun_text, foreign, repeat):
    """A paragraph of another language, short or longer than the English part, neither hides
    the English part's spinning nor gets decoded itself; the English part's report is the one
    it gets alone (offsets shifted).  Before: a German paragraph as long as a spun English
    article made the whole text "not-english", or diluted its counts to "clean"."""
    english = "\n\n".join(spun_text.split("\n\n")[:1])[:2500].rsplit("\n", 1)[0]
    head = (foreign * repeat).strip() + "\n\n"
    alone = unspin.check(english, fast=True)
    mixed = unspin.check(head + english, fast=True)
    assert alone.verdict == "spun" and mixed.verdict == "spun"
    assert unspin.detect(head + english).verdict == "spun"
    assert all(s.start >= len(head) for s in mixed.swaps)
    shifted = {(s.start - len(head), s.end - len(head), s.original) for s in mixed.swaps}
    own = {(s.start, s.end, s.original) for s in alone.swaps}
    if repeat > 1:  # (set apart: it counts for nothing, and the English part is judged alone)
        assert shifted == own and mixed.restored.endswith(alone.restored)
    else:  # (a few foreign words among many English ones are read with them: a swap listed at
        # the threshold may come and go, the surer ones stay)
        assert {(s.start, s.end, s.original) for s in alone.swaps if s.probability >= 0.6} <= shifted
        assert len(shifted & own) >= 0.6 * len(own)


_CHINESE = "北京时间周五，两国领导人在白宫举行会谈，讨论了贸易、投资和安全合作等问题。"


@pytest.mark.parametrize("foreign", [_GERMAN, _FRENCH, _CHINESE], ids=["de", "fr", "zh"])
@pytest.mark.parametrize("repeat", [6, 20])
@pytest.mark.parametrize("foreign_first", [True, False], ids=["foreign-first", "english-first"])
def test_one_line_mixed_language_text_is_judged_on_its_english_part(spun_text, foreign, repeat, foreign_first):
    """Text flattened to one line (no paragraph to split at) is judged on its English part too,
    sentence by sentence: it gets the English part's own report, offsets shifted, and the
    foreign part is not decoded.  Before: with the English part first, German or French as long
    as a fifth of it made the whole text "clean" (read as English, its rare words diluting the
    counts), and with either first, Chinese made it "not-english"."""
    english = " ".join(spun_text.split())
    alone = unspin.check(english, fast=True)
    foreign_part = (foreign * repeat).strip()
    text = foreign_part + " " + english if foreign_first else english + " " + foreign_part
    shift = len(foreign_part) + 1 if foreign_first else 0
    mixed = unspin.check(text, fast=True)
    assert mixed.verdict == alone.verdict and unspin.detect(text).verdict == alone.verdict
    assert abs(mixed.spun_probability - alone.spun_probability) < 0.02
    assert {(s.start - shift, s.end - shift, s.original) for s in mixed.swaps} == \
        {(s.start, s.end, s.original) for s in alone.swaps}
    foreign_span = (0, shift) if foreign_first else (len(english), len(text))
    assert not any(foreign_span[0] <= s.start < foreign_span[1] for s in mixed.swaps)


def test_one_language_one_line_text_is_not_split(spun_text):
    """A text of one language on one line stays one chunk: English is decoded as it is, and
    another language is "not-english" without decoding."""
    from unspin import api

    decoder = api._decoder(True)
    english = " ".join(spun_text.split())
    assert [(c.offset, c.english) for c in api._chunks(english, decoder)] == [(0, True)]
    for foreign in (_GERMAN * 20, _CHINESE * 60):
        assert [c.english for c in api._chunks(foreign, decoder)] == [False]
        assert unspin.detect(foreign).verdict == "not-english"


def test_mixed_language_chunks_cover_the_text_and_check_agrees_with_detect(spun_text):
    """Whatever the mix and the separators, the chunks (English or not) are the text in order,
    swaps point at their words, and check() and detect() give the same verdict and probability."""
    import random

    from unspin import api

    rng = random.Random(7)
    english = spun_text.split("\n")
    foreign = [_GERMAN, _FRENCH, "Правительство утвердило новую программу поддержки малого бизнеса. ",
               "北京时间周五，两国领导人在白宫举行会谈，讨论了贸易、投资和安全合作等问题。"]
    decoder = api._decoder(True)
    for _ in range(12):
        parts = []
        for _ in range(rng.randint(2, 7)):
            parts.append(rng.choice(english) if rng.random() < 0.5 else rng.choice(foreign) * rng.randint(1, 5))
            parts.append(rng.choice(["\n", "\n\n", "\r\n\r\n", " \n \n", " "]))
        text = "".join(parts)
        chunks = api._chunks(text, decoder)
        assert "".join(c.text for c in chunks) == text
        assert [c.offset for c in chunks] == [sum(len(c.text) for c in chunks[:k]) for k in range(len(chunks))]
        r, d = unspin.check(text, fast=True), unspin.detect(text)
        assert (r.verdict, r.spun_probability) == (d.verdict, d.spun_probability)
        assert all(text[s.start:s.end] == s.spun for s in r.swaps)


def test_text_of_other_languages_throughout_is_not_english():
    text = "\n\n".join([_GERMAN * 3, _FRENCH * 3, _GERMAN * 2])
    assert unspin.check(text).verdict == unspin.detect(text).verdict == "not-english"


def test_language_is_asked_only_where_the_counts_leave_it_in_doubt(spun_text, monkeypatch):
    """English whose counts are plainly English is not asked its language; English with many
    rare words is asked and passes; another language is asked and fails; a text too long to be
    counted first is asked first, from samples, and never read whole when it is not English."""
    from unspin import api, language

    asked = []
    real = language.is_english
    monkeypatch.setattr(language, "is_english", lambda text, *a: asked.append(text) or real(text, *a))
    assert unspin.detect(spun_text[:3000]).verdict not in ("not-english", "too-short")
    assert asked == []
    abstract = ("Heterozygous CRISPR-Cas9 knockouts of TP53 in HEK293T fibroblasts upregulated CDKN1A "
                "transcription; immunoblotting quantified phosphorylated MDM2 and p21 isoforms.") * 3
    assert unspin.check(abstract, fast=True).verdict != "not-english" and asked
    asked.clear()
    assert unspin.check(_GERMAN * 4, fast=True).verdict == "not-english" and asked
    huge = _GERMAN * (api.COUNT_FIRST_CHARS // len(_GERMAN) + 1)

    def counted(*_a, **_k):
        raise AssertionError("a huge text of another language was read whole")

    monkeypatch.setattr(api, "_chunks", counted)
    assert unspin.check(huge, fast=True).verdict == unspin.detect(huge).verdict == "not-english"


def test_check_rejects_bytes():
    with pytest.raises(TypeError):
        unspin.check(b"some bytes")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- restore / detect
def test_restore_is_check_restored():
    text = VARIANTS["demo"]
    assert unspin.restore(text) == unspin.check(text).restored


def test_detect_matches_check():
    text = VARIANTS["example"]
    d = unspin.detect(text)
    assert isinstance(d, Detection)
    r = unspin.check(text)
    assert d.spun_probability == r.spun_probability
    assert d.verdict == r.verdict


def test_detect_matches_check_where_screening_clears():
    """check() must take the screening decision on the same cheap counts detect() screens with
    (it once rebuilt them and dropped one feature, so the two could part on clean text)."""
    from unspin import api
    from unspin.detection import default_model

    model = default_model()
    cleared = 0
    with gzip.open(DEVSET, "rt", encoding="utf-8") as fh:
        clean = [r["spun"] for r in map(json.loads, fh) if r["simulator"] == "clean"][:150]
    for text in clean:
        stats = api._cheap_stats(api._chunks(text, api._decoder(True)))
        cleared += model.screen_clears(model.score(stats)[0], stats.n_words)
        d, r = unspin.detect(text), unspin.check(text, fast=True)
        assert (d.spun_probability, d.verdict) == (r.spun_probability, r.verdict)
    assert cleared >= 2  # the screening path was exercised


def test_to_dict_is_asdict():
    """Report.to_dict and Detection.to_dict are written out for speed: they must stay what
    dataclasses.asdict gives (a field added to a result type must be added there too)."""
    import copy
    import pickle
    from dataclasses import asdict

    texts = [VARIANTS["demo"], "Conversations regarding a fresh deal between the U. S. and Japan are poised "
             "to begin next month, ” he said astatine the end of the twelvemonth.", "   "]
    reports = [unspin.check(t, fast=True) for t in texts]
    assert any(r.swaps and r.swaps[0].alternatives for r in reports) and any(r.scars for r in reports)
    for r in reports:
        assert r.to_dict() == asdict(r)
        assert list(r.to_dict()) == list(asdict(r))
        d = unspin.detect(texts[0])
        assert d.to_dict() == asdict(d) and d.evidence
        # (the result types are slotted, frozen dataclasses: they still copy and pickle)
        assert pickle.loads(pickle.dumps(r)) == r and copy.deepcopy(r) == r
        assert pickle.loads(pickle.dumps(d)) == d
        if r.swaps:  # (no __dict__: a report holds about 0.8 KB a swap, 1 KB before)
            assert not hasattr(r.swaps[0], "__dict__") and not hasattr(r.swaps[0].alternatives[0], "__dict__")


def test_check_skips_decoding_what_screening_clears(monkeypatch):
    """A text screening clears gets no swap past the report threshold (its probability gates
    them all), so check() answers without decoding; the report is the decoded one."""
    from dataclasses import asdict

    from unspin import api
    from unspin.decode import Decoder

    with gzip.open(DEVSET, "rt", encoding="utf-8") as fh:
        recs = list(map(json.loads, fh))
    clean = [r["spun"] for r in recs if r["simulator"] == "clean"][:60]
    # a long clean article with scars: the shortcut must still repair and report them
    article = "\n\n".join(clean[:8]).replace("the U.S.", "the U. S.").replace(" said", " said ”")
    texts = [article] + clean
    quick = [unspin.check(t, fast=True) for t in texts]
    skipped = [api._cleared_without_swaps(api._chunks(t, api._decoder(True)), api._decoder(True))
               for t in texts]
    assert skipped[0] and sum(skipped) >= 5
    assert quick[0].scars and quick[0].restored != article
    with monkeypatch.context() as m:
        m.setattr(api, "_cleared_without_swaps", lambda chunks, decoder: False)
        full = [unspin.check(t, fast=True) for t in texts]
    assert [asdict(r) for r in quick] == [asdict(r) for r in full]
    # and it really does not decode
    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded a text that screening clears")
    with monkeypatch.context() as m:
        m.setattr(Decoder, "decode_batch", no_decoding)
        assert asdict(unspin.check(article, fast=True)) == asdict(quick[0])


def test_screening_clears_by_length_bucket():
    """Longer texts may be cleared at a higher cheap probability (their counts are surer);
    a model file from before per-bucket screening (one number) still loads."""
    import json as _json
    from importlib import resources

    from unspin.detection import default_model, load_model

    model = default_model()
    edges, below = model.screen_length_edges, model.screen_clear_below
    assert len(below) == len(edges) + 1 and below[-1] > below[0]
    p = (below[0] + below[-1]) / 2  # above the shortest bucket's threshold, below the longest's
    assert not model.screen_clears(p, 10) and model.screen_clears(p, edges[-1] + 500)
    raw = _json.loads((resources.files("unspin") / "data" / "detector.json").read_text("utf-8"))
    raw.pop("screen_length_edges")
    old = load_model({**raw, "screen_clear_below": 0.25})
    assert old.screen_clears(0.2, 10) and old.screen_clears(0.2, 5000) and not old.screen_clears(0.3, 5000)


def test_detect_callable_twice():
    """A submodule named like the function would rebind `unspin.detect` to the module on the
    first call; the second call must still reach the function."""
    text = VARIANTS["demo"]
    unspin.detect(text)
    assert isinstance(unspin.detect(text), Detection)


# ----------------------------------------------------------------------------- cases as data
def _load(name: str) -> list:
    cases = json.loads((CASES / name).read_text("utf-8"))
    out = []
    for c in cases:
        marks = [pytest.mark.xfail(reason="known failure", strict=False)] if c.get("expect") == "fail" else []
        out.append(pytest.param(c, id=f"{c['set']}: {c['label']}", marks=marks))
    return out


CASE_PARAMS = _load("check_in_the_wild.json") + _load("check_negative.json") + _load("check_known_failures.json")


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_case(case):
    text = _resolve(case["text"])
    if case.get("context"):
        doc = _resolve(case["context"])
        base = doc.index(text)
        r = _check(doc)
        lo, hi = base, base + len(text)
        swaps = [s for s in r.swaps if lo <= s.start and s.end <= hi]
        # the case's line as restored: rebuild it from the report, as for any document
        local = Report(r.spun_probability, r.verdict,
                       [dataclasses.replace(s, start=s.start - base, end=s.end - base) for s in swaps],
                       [dataclasses.replace(s, start=s.start - base, end=s.end - base) for s in r.scars
                        if lo <= s.start and s.end <= hi], "")
        restored = _rebuild(text, local)
    else:
        r = _check(text)
        swaps, restored = r.swaps, r.restored
        base = 0
    if "verdict" in case:
        assert r.verdict in case["verdict"], (r.verdict, r.spun_probability)
    found = [(s.spun, s.original, s.probability) for s in swaps]
    if "min_swaps" in case:
        assert len(swaps) >= case["min_swaps"], found
    if "max_swaps" in case:
        assert len(swaps) <= case["max_swaps"], found
    for phrase in case.get("swapped", []):
        i = text.index(phrase) + base
        assert any(s.start < i + len(phrase) and i < s.end for s in swaps), f"{phrase!r} not swapped: {found}"
    for want in case.get("restored_contains", []):
        assert want in restored, f"{want!r} not in restored: {restored!r}"
    for unwanted in case.get("restored_lacks", []):
        assert unwanted not in restored, f"{unwanted!r} in restored: {restored!r}"
    if case.get("restored_equals_input"):
        assert restored == text


def test_case_files_are_well_formed():
    allowed = {"set", "label", "text", "context", "source", "expect", "verdict", "min_swaps", "max_swaps",
               "swapped", "restored_contains", "restored_lacks", "restored_equals_input", "note"}
    for name in ("check_in_the_wild.json", "check_negative.json", "check_known_failures.json"):
        for c in json.loads((CASES / name).read_text("utf-8")):
            assert set(c) <= allowed, (name, set(c) - allowed)
            assert c["set"] in ("in-the-wild", "negative", "synthetic"), (name, c["label"])
            assert (c.get("expect") == "fail") == (name == "check_known_failures.json"), (name, c["label"])


# ----------------------------------------------------------------------------- large documents
_LARGE = textwrap.dedent("""
    import gzip, json, resource, sys, time
    import unspin
    target = int(sys.argv[1])
    recs = [json.loads(l) for l in gzip.open(sys.argv[2], "rt", encoding="utf-8")]
    paras = [r["spun"] for r in recs if r["simulator"] != "clean"]
    unspin.check(paras[0] + "\\n" + paras[1])  # load the models; warm the caches
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    parts, size, i = [], 0, 0
    while size < target:
        p = paras[i % len(paras)]
        parts.append(p)
        size += len(p) + 1
        i += 1
    doc = "\\n".join(parts)
    t0 = time.perf_counter()
    r = unspin.check(doc)
    dt = time.perf_counter() - t0
    for s in r.swaps[:: max(1, len(r.swaps) // 2000)]:
        assert doc[s.start:s.end] == s.spun, s
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"chars": len(doc), "swaps": len(r.swaps), "seconds": dt, "verdict": r.verdict,
                      "rss_before_mb": before / 1024, "rss_after_mb": after / 1024}))
""")


def _run_large(target_chars: int, timeout: float) -> dict:
    if not DEVSET.exists():
        pytest.skip("bench/devsets/dev.jsonl.gz not present")
    proc = subprocess.run([sys.executable, "-c", _LARGE, str(target_chars), str(DEVSET)],
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_large_document_bounded_memory():
    """~200 KB of varied spun news in one document (~35,000 words: ~9 s at 4,000 words/s).  Peak RSS
    over the loaded, warmed-up engine may grow by the capped caches (phrase rankings, channel
    candidates, LM scores: measured ~85 MB at 200 KB) plus ~200 bytes per input character."""
    got = _run_large(200_000, timeout=120)
    assert got["chars"] >= 200_000 and got["swaps"] > 100 and got["verdict"] == "spun", got
    growth = got["rss_after_mb"] - got["rss_before_mb"]
    assert growth <= 150 + 200 * got["chars"] / 1e6, got


@pytest.mark.slow
@pytest.mark.parametrize("mb", [5, 100])
def test_huge_document(mb):
    """The real thing: 5 MB and 100 MB in one call (38 s and, by extrapolation, 13 minutes on
    2026-12-07).  Run with `pytest -m slow`.  The growth is the report (each swap about 0.8 KB
    with its alternatives: ~18,000 swaps per MB of this text), a few copies of the text (the
    input, its repaired chunks, the restored text) and at most 1 GB besides: held swaps are
    judged and let go every EMIT_HELD, a huge text's batches and units made again for its last
    pass.  Measured on 2026-12-07 (fast tier): 5 MB 289 MB, 10 MB 397 MB (it was 781 MB at 5 MB
    when every held swap waited for the end)."""
    got = _run_large(mb * 1_000_000, timeout=mb * 600)
    bound = 1024 + 1.0 * got["swaps"] / 1024 + 8 * got["chars"] / 2**20
    assert got["rss_after_mb"] - got["rss_before_mb"] <= bound, got


@pytest.mark.parametrize("spun, original, initial, want", [
    ("astatine", "at", False, "at"),
    ("Astatine", "at", True, "At"),
    ("ASTATINE", "at", False, "AT"),
    # a capitalised phrase, or one capitalised word inside a sentence, is a name or a title
    ("In Accord Circumstances", "united states", False, "United States"),
    ("In Accord Circumstances", "united states", True, "United States"),
    ("Khrushchev", "nikita khrushchev", False, "Nikita Khrushchev"),
    ("Land", "united states of america", False, "United States of America"),
    # at a sentence's start a capital only says that: the rest stays as the channel has it
    ("Reasoning", "thinking about it", True, "Thinking about it"),
    # a phrase with a lower-case word is not a name
    ("Press event", "press conference", True, "Press conference"),
])
def test_restored_words_take_the_spun_words_case(spun, original, initial, want):
    from unspin.text import match_case

    assert match_case(spun, original, initial) == want


def test_reverse_column_explains_no_reported_swap():
    """The thesauri's symmetric closure ("reverse") widens what the detector's passes see, but
    the last pass, whose swaps are reported, decodes without it (DecoderParams.final_reverse)."""
    import dataclasses

    from unspin.api import _config, check, make_decoder

    text = ("In the Book of Ezekiel Gog is angstrom ruler from the land of Magog merely in the Book of "
            "Revelation Gog and Magog are nations nether the rule of Satan. He is now united states "
            "president of the Chicago Conservatory College. She falls over backwards when she sees her "
            "mother-in-law.")
    cfg = _config()
    assert cfg.decoder.final_reverse == 0.0
    with_reverse = check(text, decoder=make_decoder(dataclasses.replace(cfg.decoder, final_reverse=1.0)))
    assert any(s.thesaurus == "reverse" for s in with_reverse.swaps)  # ("Conservatory" -> "School")
    shipped = unspin.check(text, fast=True)
    assert shipped.swaps and not any(s.thesaurus == "reverse" for s in shipped.swaps), shipped.swaps
    assert "Conservatory" in shipped.restored and "Ezekiel" in shipped.restored
    # the document's probability comes from the passes before: the same either way
    assert shipped.spun_probability == with_reverse.spun_probability
    # reverse_share_on (off as shipped): the column stays for a document that attributes that
    # share of its swaps to it, and only then
    def with_share(share):
        return check(text, decoder=make_decoder(dataclasses.replace(cfg.decoder, reverse_share_on=share)))
    assert cfg.decoder.reverse_share_on == 0.0
    assert any(s.thesaurus == "reverse" for s in with_share(0.05).swaps)
    assert with_share(0.9) == shipped


def test_swaps_that_only_add_words_are_not_reported():
    """WordNet lists "Adolf Eichmann" for "Eichmann", and the 3-gram likes the full name, but a
    spinner gains no disguise by dropping words: such swaps are not reported."""
    from unspin.api import _only_adds_words

    assert _only_adds_words(["eichmann"], "adolf eichmann")
    assert _only_adds_words(["hudson"], "hudson river") and _only_adds_words(["then"], "and then")
    assert not _only_adds_words(["book", "of", "ezekiel"], "ezekiel")  # (fewer words: a real spin)
    assert not _only_adds_words(["few"], "few") and not _only_adds_words(["lots"], "a lot")
    text = ("Possibly under the guidance of this Nazi principle one could, as Eichmann declared, feel in "
            "person favorable toward the Jews and hush be their liquidator. Not through fear of disobeying "
            "orders of magnitude, as Eichmann unbroken nerve-racking to explicate, but through a curious "
            "silliness that began in a half-acceptance of the vicious absurdities.")
    rep = unspin.check(text, fast=True)
    assert len(rep.swaps) >= 5  # (spun: it keeps its other swaps)
    assert not any(s.spun == "Eichmann" for s in rep.swaps), rep.swaps
    assert "as Eichmann " in rep.restored and "Adolf" not in rep.restored


def test_final_pass_weights():
    """The last pass's thesaurus weights: every column times final_channel_scale, the reverse
    column times final_reverse too; the other passes keep the document's weights."""
    import dataclasses
    import math

    import numpy as np

    from unspin.api import _config, make_decoder
    from unspin.lexicon.channel import THESAURI

    cfg = _config()
    dec = make_decoder(dataclasses.replace(cfg.decoder, final_channel_scale=2.0, final_reverse=0.5))
    doc = np.log(np.full(len(THESAURI), 0.1))
    got = dec.final_weights(doc)
    rev = THESAURI.index("reverse")
    for j in range(len(THESAURI)):
        want = doc[j] + math.log(2.0) + (math.log(0.5) if j == rev else 0.0)
        assert abs(got[j] - want) < 1e-12
    assert np.allclose(doc, math.log(0.1))  # (the document's weights are not touched)
    plain = make_decoder(dataclasses.replace(cfg.decoder, final_channel_scale=1.0, final_reverse=1.0))
    assert plain.final_weights(doc) is doc and plain.final_weights(None) is None
    assert np.allclose(dec.final_weights(None)[:rev], dec.channel.log_weights[:rev] + math.log(2.0))


def test_last_pass_rate_is_moved_on_by_rate_step():
    """The last pass decodes at the estimated rate moved on by rate_step (a stand-in for one
    more rate pass); the pass before decodes at the prior rate."""
    import dataclasses

    from unspin.api import _config, check, make_decoder
    from unspin.decode import DecoderParams

    params = dataclasses.replace(_config().decoder, rate_passes=1, rate_step=(0.01, 2.0, -0.5))
    dec = make_decoder(params)
    seen = []  # (rate asked for, the estimate the pass left: swap mass / spinnable words)
    inner = dec.decode_batch

    def spy(batch, rate=None, *args, **kwargs):
        out = inner(batch, rate, *args, **kwargs)
        seen.append((rate, batch.swap_mass / batch.n_spinnable))
        return out

    dec.decode_batch = spy
    check((DEMO / "demo.txt").read_text("utf-8"), decoder=dec)
    assert len(seen) == 2 and seen[0][0] is None
    est = min(params.rate_max, max(params.rate_min, seen[0][1]))
    want = min(params.rate_max, max(params.rate_min, 0.01 + 2.0 * est - 0.5 * est * est))
    assert abs(seen[1][0] - want) < 1e-12 and abs(want - est) > 1e-3
    # the identity step leaves the estimate as it is; JSON's list becomes a (hashable) tuple
    assert DecoderParams().next_rate(0.2) == 0.2 and DecoderParams().next_rate(0.9) == DecoderParams().rate_max
    assert DecoderParams(rate_step=[0, 1, 0]).rate_step == (0.0, 1.0, 0.0)
    hash(DecoderParams(rate_step=[0, 1, 0]))


def test_evidence_names_the_signals_and_sums_to_the_logit():
    """The full model reads products of its features; the evidence folds each product's
    contribution into its two signals, so it lists each signal once and still adds up."""
    import math

    from unspin import api
    from unspin.detection import FEATURES, default_model

    model = default_model()
    assert any("*" in n for n in model.full.names)  # (the shipped model does read products)
    d = api.detect(VARIANTS["demo"], screen=False)
    names = [e.signal for e in d.evidence]
    assert names and len(names) == len(set(names)) and set(names) <= set(FEATURES)
    assert abs(d.evidence[0].contribution) >= abs(d.evidence[-1].contribution)  # largest first
    stats = api._analyse(VARIANTS["demo"], api._decoder(True), want_swaps=False)[3]
    f = stats.features()
    z = model.full.logit(f)
    assert sum(e.contribution for e in d.evidence) == pytest.approx(z - model.full.bias, abs=1e-3)
    assert all(e.value == pytest.approx(f[e.signal], abs=1e-4) for e in d.evidence)
    assert 0.0 < 1 / (1 + math.exp(-z)) < 1.0
    # the evidence-free path (screening, check) gives score()'s probability, to the bit
    assert model.full.logit(f) == model.full.bias + sum(c for _n, _v, c in model.full.logit_terms(f))
    for text in VARIANTS.values():
        st = api._analyse(text, api._decoder(True), want_swaps=False)[3]
        for s_ in (st, dataclasses.replace(st, decoded=False)):
            assert model.probability(s_) == model.score(s_)[0]


def test_a_wider_store_changes_no_ordinary_pass_and_widens_the_last():
    """Decoder(store_shortlist=48) (the neural tier's) holds 48 candidates per spun word: its
    ordinary passes read the first DecoderParams.shortlist of them, the very rows a plain
    decoder holds, so they decode alike; a pass that asks for the wider shortlist (lattice=)
    reaches candidates past them ("official" for "standard" ranks 41st)."""
    from unspin.api import make_decoder
    from unspin.text import word_sentences

    text = ("A minute management standard underscored the U.S. and Japan’s very long standing cooperative "
            "relationship. The officials were additionally asked for an update on the trade talks, "
            "and the national added that both leaders may explain foreign investment.")
    units = [(w, l) for _t, w, l in word_sentences(text)]
    plain, wide = make_decoder(), make_decoder(store_shortlist=48)
    k = plain.params.shortlist
    assert wide.store_rows == 48 and plain.store_rows == k == 16

    def seen(decoder, results, batch):
        out = []
        for r, (words, _l) in zip(results, units):
            out += [(tuple(words[s.start:s.end]), s.original, round(s.probability, 9), tuple(s.alternatives))
                    for s in r.swaps + r.near]
        return out, [r.swap_posterior for r in results]

    b_plain, b_wide = plain.prepare(units), wide.prepare(units)
    assert seen(plain, plain.decode_batch(b_plain, 0.2, near_min=0.05), b_plain) == \
        seen(wide, wide.decode_batch(b_wide, 0.2, near_min=0.05), b_wide)

    def first_rows(decoder, word):
        start, count = decoder._slot(word)
        return {decoder.channel.originals[o] for o in decoder._store.orig[start:start + min(count, k)]}

    narrow = wide.decode_batch(b_wide, 0.2, near_min=0.05, lattice=(8, 5.0, k))
    widened = wide.decode_batch(b_wide, 0.2, near_min=0.05, lattice=(8, 5.0, 48))
    beyond = set()
    for results, out in ((narrow, set()), (widened, beyond)):
        for r, (words, _l) in zip(results, units):
            for s in r.swaps + r.near:
                if s.end - s.start == 1:
                    rows = first_rows(wide, words[s.start])
                    out |= {(words[s.start], t) for t in [s.original] + [a for a, _p in s.alternatives]
                            if t not in rows and t != words[s.start]}
        if results is narrow:
            assert not out  # the narrow pass stays inside the first k rows
    assert beyond, "the wide pass found no candidate past the first rows"


class _RefusingNeuralLM:
    """A neural LM that fails any use: the neural tier must not be reached."""

    def __getattr__(self, name):
        raise AssertionError(f"the neural tier was used ({name})")


def test_neural_tier_is_skipped_where_the_document_gates_every_rescored_swap_out():
    """A rescored swap is reported at posterior x P(spun) ** doc_power >= report_threshold: a
    text the detector puts below 0.79 (here a clean one screening does not clear) can have none,
    so the model is not run (RescoringDecoder.gated_out) and the report is the one it would give
    (here, as the fast tier's, none)."""
    from unspin import api
    from unspin.neural import RescoringDecoder

    cases = json.loads((CASES / "check_negative.json").read_text(encoding="utf-8"))
    text = next(c["text"] for c in cases if c["label"] == "plain local news")
    fast = api._decoder(True)
    assert not api._cleared_without_swaps(api._chunks(text, fast), fast)  # (not screening's shortcut)
    dec = RescoringDecoder(fast, lm=_RefusingNeuralLM())
    assert api.check(text, decoder=dec) == api.check(text, fast=True)
    # a text above the gate does reach it
    with pytest.raises(AssertionError, match="the neural tier was used"):
        api.check("The sojourn was successful the metropolis connected Monday astatine noon. " * 4, decoder=dec)


def _final_passes(monkeypatch, decoder) -> list:
    """The decoder's last passes (with_swaps=True) from here on."""
    seen = []
    real = type(decoder).decode_batch

    def spy(self, batch, *args, **kwargs):
        if kwargs.get("with_swaps"):
            seen.append(len(batch.words))
        return real(self, batch, *args, **kwargs)

    monkeypatch.setattr(type(decoder), "decode_batch", spy)
    return seen


def test_the_last_pass_is_skipped_where_the_gate_leaves_nothing_to_report(monkeypatch):
    """Every chunk's statistics pass runs first; a text whose probability gates every swap under
    the swap floor (a clean one screening did not clear) has its report without the last pass."""
    from unspin import api

    cases = json.loads((CASES / "check_negative.json").read_text(encoding="utf-8"))
    clean = next(c["text"] for c in cases if c["label"] == "plain local news")
    dec = api._decoder(True)
    assert not api._cleared_without_swaps(api._chunks(clean, dec), dec)
    finals = _final_passes(monkeypatch, dec)
    r = api.check(clean, fast=True)
    assert finals == [] and r.swaps == [] and r.verdict in ("clean", "too-short", "undecided")
    assert r.spun_probability == unspin.detect(clean).spun_probability
    spun = (CASES / "spun-sample.txt").read_text(encoding="utf-8")
    assert api.check(spun, fast=True).swaps and finals


def test_a_chunk_prepared_again_for_its_last_pass_gives_the_same_report(monkeypatch):
    """Past KEEP_BATCH_WORDS a chunk's batch is not held from its first passes to its last (a
    huge text in bounded memory): prepared again, it gives the same swaps."""
    from unspin import api, text as text_mod

    demo = Path(api.__file__).parent / "data" / "demo" / "demo.txt"
    text = (CASES / "spun-sample.txt").read_text(encoding="utf-8") + "\n\n" + demo.read_text(encoding="utf-8")
    # (chunks of at most 1,500 characters: several of them)
    monkeypatch.setattr(api, "split_paragraphs", lambda t: text_mod.split_paragraphs(t, 1500))
    want = api.check(text, fast=True)
    assert len(list(api.split_paragraphs(text))) > 2 and len(want.swaps) > 5
    monkeypatch.setattr(api, "KEEP_BATCH_WORDS", 0)
    assert api.check(text, fast=True) == want
    # ... and with its held swaps judged a few at a time, as they come, rather than all at the
    # end (a huge text's report is then all it keeps of them)
    emitted = []
    monkeypatch.setattr(api, "EMIT_HELD", 2)
    monkeypatch.setattr(api, "_emit_swaps", lambda *a, _emit=api._emit_swaps, **kw: (emitted.append(len(a[-1])),
                                                                                     _emit(*a, **kw))[1])
    assert api.check(text, fast=True) == want
    assert len(emitted) > 2, emitted
    # ... and handed out as they come (on_swaps): the same swaps in order, the same head
    handed = []
    streamed = api.check(text, fast=True, on_swaps=lambda p, v, swaps: handed.append((p, v, swaps)))
    assert len(handed) >= 2 and streamed.swaps == []
    assert [s for _p, _v, batch in handed for s in batch] == want.swaps
    assert {(p, v) for p, v, _b in handed} == {(want.spun_probability, want.verdict)}
    assert dataclasses.replace(streamed, swaps=want.swaps) == want


@pytest.mark.parametrize("extra", ["", "\n\n" + _GERMAN * 3, "\n\nZbigniew Brzęczyszczykiewicz and Qxvort-Blenheim met 3 times in 1999's heat. "
                                   "Zbigniew left; Qxvort stayed."])
def test_doc_context_from_screening_ids_is_the_one_from_word_counts(spun_text, extra):
    """The cache prior's document context is read from the LM ids screening found for each
    chunk's words (_Chunk.ids) instead of looking each word type up again: the same ids, counts
    and length as Decoder.doc_context of the chunks' word counts."""
    from collections import Counter

    from unspin import api

    decoder = api._decoder(True)
    chunks = api._chunks(spun_text[:4000] + extra, decoder)
    english = [c for c in chunks if c.english]
    assert english and all(c.ids is not None for c in english)
    total = Counter()
    for c in english:
        total.update(c.words)
    want = decoder.doc_context(total)
    got = decoder.doc_context_of_ids([c.ids for c in english])
    assert got.ids.dtype == want.ids.dtype and got.ids.tolist() == want.ids.tolist()
    assert got.counts.tolist() == want.counts.tolist() and got.n_words == want.n_words > 0


def test_new_phrases_are_shortlisted_together_as_one_by_one(spun_text, monkeypatch):
    """Decoder._prepare gathers the shortlists of a text's new multi-word phrases in one compiled
    call (_new_slots): the same rows, in the same order, and the same report as _slot phrase by
    phrase."""
    from unspin import api
    from unspin.decode import Decoder

    text = spun_text[:6000] + "\n\nThe meeting will take place in accord with the rules of the United States Senate."
    together = api.make_decoder()
    report = api.check(text, decoder=together).to_dict()
    monkeypatch.setattr(Decoder, "_new_slots", lambda self, phrases: None)
    alone = api.make_decoder()
    assert api.check(text, decoder=alone).to_dict() == report
    phrases = [k for k in together._store.slots if " " in k]
    assert len(phrases) > 20 and any(together._store.slots[k][1] > 0 for k in phrases)
    assert {k: together._store.slots[k] for k in phrases} == {k: alone._store.slots[k] for k in phrases}
    n = together._store.n
    assert n == alone._store.n
    for name in ("out", "length", "static", "orig", "thes", "cost", "mix"):
        assert (getattr(together._store, name)[:n] == getattr(alone._store, name)[:n]).all(), name
