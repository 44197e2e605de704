"""The 3-gram read into arrays scores exactly as pocketsphinx does, and the compiled decoder
gives the same swaps as the plain-Python reference decoder it replaced (tests/reference_decoder.py)."""
from __future__ import annotations

import math
import os
import random

import pytest

from unspin.lm import fast_lm

TEXT = ("A minute management standard underscored the U.S. and Japan's very long standing cooperative "
        "relationship and said that conversations go on constantly . The president sojourn the "
        "ancient metropolis astatine dawn and spoke with reporters about the new trade agreement .")


def _pocketsphinx():
    from pocketsphinx import Config, LogMath, NGramModel, get_model_path

    config = Config()
    config["logfn"] = os.devnull
    return NGramModel(config, LogMath(), os.path.join(get_model_path(), "en-us", "en-us.lm.bin"))


def test_tables_match_pocketsphinx_scores():
    lm = fast_lm()
    ps = _pocketsphinx()
    words = TEXT.lower().split() + ["the", "of", "</s>", "<s>", "qzxvbn"]
    rng = random.Random(7)
    queries = [(words[i], words[i - 1], words[i - 2]) for i in range(2, len(words))]
    queries += [(rng.choice(words), rng.choice(words), rng.choice(words)) for _ in range(400)]
    checked = 0
    for w, h1, h2 in queries:
        if w == "<s>" or w not in lm.vocab:
            continue  # unknown words: the wordfreq back-off (tested below)
        if h1 == "qzxvbn" or h2 == "qzxvbn":
            continue  # an unknown history: pocketsphinx maps it to <UNK>, we drop it (tested below)
        want = ps.prob([w, h1, h2]) * math.log(1.0001)
        assert lm.logprob(w, h1, h2) == pytest.approx(want, abs=1e-3), (w, h1, h2)
        checked += 1
    assert checked > 300
    # an unknown word gets its wordfreq back-off, far below any known word's trigram score
    assert lm.logprob("qzxvbn", "the", "of") <= -15
    # an unknown history word leaves the lower-order estimate
    assert lm.logprob("the", "qzxvbn", "of") == pytest.approx(lm.unigram("the"), abs=1e-6)


def test_unknown_words_get_stable_ids_and_scores():
    lm = fast_lm()
    a = lm.word_id("floccinaucinihilipilification")
    assert a >= lm.vocab_size
    assert lm.word_id("floccinaucinihilipilification") == a
    assert lm.oov_scores()[a - lm.vocab_size] == pytest.approx(lm.unigram("floccinaucinihilipilification"))
    assert lm.word_id("the") == lm.vocab["the"]


def test_a_word_neither_model_knows_is_slot_zero_and_remembered(monkeypatch):
    """A word wordfreq does not know either is slot 0 (id vocab_size), every time; the answer
    is remembered (wordfreq is asked once), in a bounded set."""
    from unspin.lm import NgramLM

    lm = fast_lm()
    asked = []
    real = NgramLM._wordfreq
    monkeypatch.setattr(NgramLM, "_wordfreq", lambda self, w: asked.append(w) or real(self, w))
    monkeypatch.setattr(NgramLM, "MAX_UNKNOWN", 2)
    words = ["qzxvbnqqa", "qzxvbnqqb", "qzxvbnqqc"]
    assert [lm.word_id(w) for w in words + words[-1:]] == [lm.vocab_size] * 4
    assert asked == words  # (the last one's second look-up was remembered)
    assert len(lm._unknown) <= 2
    assert lm.unigram("qzxvbnqqc") == pytest.approx(lm.oov_scores()[0])


def test_compiled_decoder_matches_reference():
    import reference_decoder
    from unspin.api import make_decoder
    from unspin.text import sentences, tokenize

    dec = make_decoder()
    ref = reference_decoder.Decoder(dec.channel, dec.lm, dec.params)
    n_swaps = 0
    for sent in sentences(tokenize(TEXT)):
        words = [t.norm for t in sent if t.is_word]
        linked = [True] * (len(words) - 1)
        for rate in (None, 0.05, 0.4):
            a = dec.decode(words, linked, rate)
            b = ref.decode(words, linked, rate)
            assert [(s.start, s.end, s.original, s.thesaurus) for s in a.swaps] == \
                   [(s.start, s.end, s.original, s.thesaurus) for s in b.swaps]
            for s, t in zip(a.swaps, b.swaps):
                assert s.probability == pytest.approx(t.probability, abs=1e-6)
                assert [x for x, _ in s.alternatives] == [x for x, _ in t.alternatives]
            assert a.swap_posterior == pytest.approx(b.swap_posterior, abs=1e-6)
            assert a.log_evidence == pytest.approx(b.log_evidence, abs=1e-4)
            assert a.log_clean == pytest.approx(b.log_clean, abs=1e-4)
            n_swaps += len(a.swaps)
    assert n_swaps > 3  # the text is spun: the comparison covered real swaps


def test_channel_sharpening_reranks_only_the_choice():
    """channel_sharpen re-ranks a reported swap's originals after decoding: where swaps are
    and their probabilities stay; at a strong setting some choice changes, the old choice then
    being an alternative; the compiled decoder and the reference agree at every setting."""
    from dataclasses import replace

    import reference_decoder
    from unspin.api import make_decoder
    from unspin.text import sentences, tokenize

    base = make_decoder()
    sents = [[t.norm for t in sent if t.is_word] for sent in sentences(tokenize(TEXT))]
    got = {}
    for sharpen in (1.0, 4.0):
        dec = make_decoder(replace(base.params, channel_sharpen=sharpen))
        ref = reference_decoder.Decoder(dec.channel, dec.lm, dec.params)
        out = []
        for words in sents:
            linked = [True] * (len(words) - 1)
            a, b = dec.decode(words, linked, 0.4), ref.decode(words, linked, 0.4)
            assert [(s.start, s.end, s.original) for s in a.swaps] == [(s.start, s.end, s.original) for s in b.swaps]
            for s, t in zip(a.swaps, b.swaps):
                assert s.alternatives == [(x, pytest.approx(p, abs=1e-6)) for x, p in t.alternatives]
                assert s.original not in dict(s.alternatives)
            out.extend(a.swaps)
        got[sharpen] = out
    plain, sharp = got[1.0], got[4.0]
    assert [(s.start, s.end, s.probability) for s in plain] == [(s.start, s.end, s.probability) for s in sharp]
    changed = [(s, t) for s, t in zip(plain, sharp) if s.original != t.original]
    assert changed, "no choice moved: the test text no longer exercises sharpening"
    for s, t in changed:
        assert s.original in dict(t.alternatives)


def test_decoded_model_cache_round_trip(tmp_path, monkeypatch):
    """The first load decodes the trie and writes the arrays; the second maps them; both score
    alike.  An unwritable or disabled cache still loads (by decoding)."""
    import numpy as np

    from unspin.lm import NgramLM
    from unspin.lm.trie import default_path

    monkeypatch.setenv("UNSPIN_CACHE_DIR", str(tmp_path / "cache"))
    first = NgramLM()
    written = list((tmp_path / "cache").iterdir())
    assert len(written) == 1 and (written[0] / "done").exists()
    second = NgramLM()
    assert isinstance(second.tables[3], np.ndarray) and not second.tables[3].flags.writeable
    # the hash tables too (compared as int64: their float views hold keys' bits, some NaN)
    assert np.array_equal(first.tables[2], second.tables[2]) and np.array_equal(first.tables[4], second.tables[4])
    for q in (("said", "he", "<s>"), ("of", "part", "a"), ("astatine", "at", "the")):
        assert second.logprob(*q) == first.logprob(*q)
    monkeypatch.setenv("UNSPIN_CACHE_DIR", "off")
    assert NgramLM().logprob("said", "he", "<s>") == first.logprob("said", "he", "<s>")
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    monkeypatch.setenv("UNSPIN_CACHE_DIR", str(blocked))
    assert NgramLM().logprob("said", "he", "<s>") == first.logprob("said", "he", "<s>")
    assert default_path().endswith("en-us.lm.bin")


def test_batch_survives_the_store_starting_afresh():
    """The candidate store is bounded; a batch prepared before it starts afresh is gathered
    again, not decoded against rows that now mean other candidates."""
    from unspin.api import make_decoder
    from unspin.text import sentences, tokenize

    dec = make_decoder()
    units = [([t.norm for t in s if t.is_word], None) for s in sentences(tokenize(TEXT))]
    units = [(w, [True] * (len(w) - 1)) for w, _ in units]
    before = [[(s.start, s.original) for s in r.swaps] for r in dec.decode_batch(dec.prepare(units))]
    batch = dec.prepare(units)
    dec._store.clear()
    dec._word_info.clear()
    dec.decode(["the", "president", "sojourn", "paris"], [True, True, True])  # refill other rows
    after = [[(s.start, s.original) for s in r.swaps] for r in dec.decode_batch(batch)]
    assert after == before and any(before)


def test_check_from_several_threads_matches_sequential():
    from concurrent.futures import ThreadPoolExecutor

    from unspin import api

    texts = [TEXT, TEXT.replace("sojourn", "visit"), TEXT.upper().lower(), TEXT[: len(TEXT) // 2]]
    want = [[(s.start, s.original) for s in api.check(t, fast=True).swaps] for t in texts]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda t: [(s.start, s.original) for s in api.check(t, fast=True).swaps], texts * 3))
    assert got == want * 3


def test_wordfreq_fast_path_matches_wordfreq():
    """Unknown words' back-off scores skip wordfreq's tokeniser for plain words: same values."""
    import wordfreq

    from unspin.lm import _wordfreq_en

    words = ["the", "sojourn", "astatine", "zqxjvb", "well-known", "don't", "naïve", "u.s.", "covid19",
             "Paris", "x", "floccinaucinihilipilification", "ooh", "2024"]
    rng = random.Random(7)
    words += rng.sample(sorted(wordfreq.get_frequency_dict("en")), 3000)
    for w in words:
        assert _wordfreq_en(w) == wordfreq.word_frequency(w, "en"), w


def test_word_signals_in_one_call_match_one_by_one():
    from unspin.api import make_decoder
    from unspin.detection import WordSignals

    dec = make_decoder()
    words = ["astatine", "the", "sojourn", "connected", "qzxvbn", "minute", "management", "indium",
             "standard", "ran", "astatine", "in"]
    batch = WordSignals(dec.channel, dec.lm).many(words)
    single = WordSignals(dec.channel, dec.lm)
    assert batch == [single(w) for w in words]
    assert batch[0][1] and batch[0][3] > 0  # astatine: a function-word oddity, likely spun
    assert batch[1][3] < 0  # the: likelier clean
    # the table holds what the compiled per-word kernel gives
    import math

    from unspin.detection import FUNCTION_WORDS
    from unspin.lattice import word_signals
    from unspin.lexicon.channel import ABSENT, QUANT

    sig = WordSignals(dec.channel, dec.lm)
    for w, (odd, fw, rare, llr) in zip(words, batch):
        assert rare == (dec.lm.unigram(w) < sig.RARE), w
        key = dec.channel.key_index(w)
        if key < 0:
            assert (odd, fw, llr) == (False, False, math.log(1 - sig.LLR_RATE)), w
            continue
        offsets, cand_orig, cand_cost = dec.channel.tables
        o, f, x = word_signals(dec.lm.tables, dec.lm.oov_scores(), key, dec.lm.word_id(w), w in FUNCTION_WORDS,
                               offsets, cand_orig, cand_cost, dec.channel.log_weights, QUANT, ABSENT,
                               sig._orig_ids, sig._fw_ids, sig.ODD_RATIO, sig.FW_MIN_CHANNEL, sig.LLR_RATE)
        assert (odd, fw, llr) == (bool(o), bool(f), min(sig.LLR_MAX, float(x))), w


def test_context_look_reads_swaps_in_context():
    """The screening stage's context llr: a spun sentence scores above its original; the value
    does not depend on what the per-type caches saw before; sentence ends reset the context."""
    from unspin.api import make_decoder
    from unspin.detection import WordSignals, screen_tokens

    dec = make_decoder()
    original = ("He went to the store at noon. She said that the results were good and the "
                "team would visit the city in the spring.")
    spun = ("He went to the store astatine noon. She said that the results were good and the "
            "team would sojourn the metropolis successful the spring.")
    warm = WordSignals(dec.channel, dec.lm)
    warm.context(screen_tokens("A completely different text about ships, rivers and the sea."))
    s_llr, s_pos, s_hits = warm.context(screen_tokens(spun))
    o_llr, o_pos, o_hits = warm.context(screen_tokens(original))
    assert s_llr > o_llr + 3 and s_pos > o_pos and s_hits > o_hits
    fresh = WordSignals(dec.channel, dec.lm)
    assert fresh.context(screen_tokens(spun)) == (s_llr, s_pos, s_hits)
    # a sentence end between two words: the second is read at a sentence start
    joined = warm.context(screen_tokens("the ship sailed astatine noon"))
    split = warm.context(screen_tokens("the ship sailed. astatine noon"))
    assert joined != split
    # past its bounds the per-type table starts afresh, and counts stay the same
    small = WordSignals(dec.channel, dec.lm)
    small.CONTEXT_MAX_TYPES = 12
    first = [small.screen(screen_tokens(t)) for t in (spun, original, spun)]
    assert small._n_types <= len(set(screen_tokens(spun)))
    assert first == [fresh.screen(screen_tokens(t)) for t in (spun, original, spun)]
    assert screen_tokens("U.S. ships’ crews sailed! Well-known?") == \
        ["u", ".", "s", ".", "ships", "crews", "sailed", "!", "well-known", "?"]


COMPILED_TOKENIZER_CASES = [
    "He went to the store astatine noon. She said that the team would sojourn the metropolis.",
    "U.S. ships’ crews sailed! Well-known? don't-stop -- 'tis x' -y a-b-c' ' - ...!!!??",
    "Ünïcödé wörds — “quoted” İstanbul’s ΣΊΣΥΦΟΣ café naïve Zürich 東京 Москва",
    "astral letters 𝒜𝒷𝒸 and 𐐀𐐁 with emoji 😀😀 between words",
    "a lone surrogate \ud800 inside, \udfff too",
    "", "   \n\t ", "12 345 6.7", "\x00\x01 binary\x7f bytes",
    "!?." * 3000, "a." * 5000 + " and so on",  # (more tokens than the kernel's first buffer holds)
]


def test_compiled_tokenizer_reads_the_regex_tokens():
    """screen_text (the compiled tokenizer and hash look-up) gives the counts of screen over
    the regex's tokens, for texts of every script, astral letters, lone surrogates, and when
    the per-type tables start afresh in the middle of a text."""
    from unspin.api import make_decoder
    from unspin.detection import WordSignals, screen_tokens

    dec = make_decoder()
    by_regex = WordSignals(dec.channel, dec.lm)
    compiled = WordSignals(dec.channel, dec.lm)
    for text in COMPILED_TOKENIZER_CASES * 2:  # (the second time round every type is known)
        assert compiled.screen_text(text) == by_regex.screen(screen_tokens(text)), text
    small = WordSignals(dec.channel, dec.lm)
    small.CONTEXT_MAX_TYPES = 8
    for text in COMPILED_TOKENIZER_CASES:
        assert small.screen_text(text) == by_regex.screen(screen_tokens(text)), text
    # a table grown well past its first size (rehashed) still finds every type
    many = " ".join(f"w{chr(0x61 + i % 26)}{chr(0x61 + i // 26 % 26)}{chr(0x61 + i // 676)}" for i in range(9000))
    assert compiled.screen_text(many) == by_regex.screen(screen_tokens(many))
    assert compiled.screen_text(many) == by_regex.screen(screen_tokens(many))


def test_document_thesaurus_weights():
    """Decoding with the shipped weights passed as a document's is decoding without them; the E
    step shares each swap's posterior among thesauri; weights favouring one thesaurus move the
    posteriors of pairs only the others explain."""
    import numpy as np

    from unspin.api import make_decoder

    dec = make_decoder()
    words = "he made a sojourn to paris astatine the end of the twelvemonth".split()
    linked = [True] * (len(words) - 1)
    batch = dec.prepare([(words, linked)])
    plain = dec.decode_batch(batch, 0.3)[0]
    counts = batch.thesaurus_counts
    from unspin.lexicon.channel import THESAURI

    assert counts.shape == (len(THESAURI),) and counts.sum() > 0.5
    same = dec.decode_batch(batch, 0.3, log_weights=dec.channel.log_weights.copy())[0]
    assert same.swap_posterior == pytest.approx(plain.swap_posterior, abs=1e-9)
    assert batch.thesaurus_counts == pytest.approx(counts)
    w = dec.thesaurus_weights(np.array([100.0] + [0.0] * (len(THESAURI) - 1)))  # a WordNet spinner
    assert np.exp(w).sum() == pytest.approx(np.exp(dec.channel.log_weights).sum()) and np.argmax(w) == 0
    other = dec.decode_batch(batch, 0.3, log_weights=w)[0]
    assert other.swap_posterior != pytest.approx(plain.swap_posterior, abs=1e-3)


def test_cache_prior_favours_originals_the_document_uses():
    """The document cache prior (DecoderParams.cache_lambda): an original the document uses
    elsewhere gains, one it never uses loses; no document (or lambda 0) is the plain decoder."""
    import dataclasses
    from collections import Counter

    from unspin.api import make_decoder

    dec = make_decoder()
    assert dec.params.cache_lambda > 0
    words = "they made a short sojourn in the city before the winter".split()
    linked = [True] * (len(words) - 1)
    i = words.index("sojourn")

    def posterior_of(original: str, doc_words) -> float:
        batch = dec.prepare([(words, linked)])
        batch.doc = None if doc_words is None else dec.doc_context(Counter(doc_words))
        res = dec.decode_batch(batch, 0.3, min_doc=0.0)[0]
        for s in res.swaps:
            if s.start == i:
                return (s.probability if s.original == original else 0.0) + \
                    sum(p for t, p in s.alternatives if t == original)
        return 0.0

    plain = posterior_of("visit", None)
    text = words + "the visit was short and a second visit came in the spring".split()
    assert posterior_of("visit", text) > plain + 0.05
    # lambda 0: the document changes nothing
    off = make_decoder(dataclasses.replace(dec.params, cache_lambda=0.0))
    batch = off.prepare([(words, linked)])
    batch.doc = off.doc_context(Counter(text))
    with_doc = off.decode_batch(batch, 0.3, min_doc=0.0)[0]
    without = off.decode(words, linked, 0.3, min_doc=0.0)
    assert with_doc.swap_posterior == pytest.approx(without.swap_posterior, abs=1e-12)


def test_doc_context_merges_words_that_share_an_id():
    from collections import Counter

    from unspin.api import make_decoder

    dec = make_decoder()
    ctx = dec.doc_context(Counter({"the": 3, "qxzvbnmw": 2, "zzqxvbnmk": 1, "city": 1}))
    assert list(ctx.ids) == sorted(set(ctx.ids.tolist()))
    assert ctx.counts.sum() == 7 and ctx.n_words == 7


def test_document_terms_memo_is_invisible():
    """The compiled lattice memoises each candidate row's document terms (adapted channel, cache
    prior) for one call, across its sentences.  Decoding sentences together or one call each
    must then give the same posteriors and swaps, with both terms on."""
    from collections import Counter

    import numpy as np

    from unspin.api import make_decoder
    from unspin.text import sentences, tokenize

    dec = make_decoder()
    units = []
    for sent in sentences(tokenize(TEXT + " " + TEXT)):  # repeated words: rows recur across sentences
        words = [t.norm for t in sent if t.is_word]
        units.append((words, [True] * (len(words) - 1)))
    doc = dec.doc_context(Counter(w for words, _l in units for w in words))
    log_w = dec.thesaurus_weights(np.array([5.0, 1.0, 0.5, 0.0, 2.0, 0.0]))

    def run(batch_units):
        batch = dec.prepare(batch_units)
        batch.doc = doc
        return dec.decode_batch(batch, 0.3, log_weights=log_w)

    together = run(units)
    apart = [run([u])[0] for u in units]
    n_swaps = 0
    for a, b in zip(together, apart):
        assert a.swap_posterior == pytest.approx(b.swap_posterior, abs=1e-9)
        assert [(s.start, s.end, s.original) for s in a.swaps] == [(s.start, s.end, s.original) for s in b.swaps]
        n_swaps += len(a.swaps)
    assert n_swaps > 3


def test_decoder_whose_store_keeps_starting_afresh_decodes_alike():
    """A store too small for more than a sentence or two starts afresh again and again (and the
    word info whose rows name its rows with it): every sentence decodes as with a roomy store."""
    from unspin.api import make_decoder
    from unspin.text import word_sentences

    roomy, cramped = make_decoder(), make_decoder()
    cramped._store.max_rows = 30 * roomy.params.shortlist
    text = " ".join([TEXT, TEXT.replace("sojourn", "visit"), TEXT.upper().lower()])
    units = [(w, linked) for _t, w, linked in word_sentences(text)]
    assert len(units) >= 6
    generation = cramped._store.generation
    for unit in units * 2:
        want = [(s.start, s.original, s.probability) for r in roomy.decode_batch(roomy.prepare([unit])) for s in r.swaps]
        got = [(s.start, s.original, s.probability) for r in cramped.decode_batch(cramped.prepare([unit])) for s in r.swaps]
        assert got == want
    assert cramped._store.generation > generation + 1
    assert cramped._info("sojourn") == roomy._info("sojourn")[:3] + cramped._info("sojourn")[3:]


def _trie_logprob(m, w, h1, h2):
    """Katz back-off read straight from the trie's sorted arrays (the layout the hash tables of
    unspin.lm.kernels are built from): the reference for the hashed look-up."""
    import numpy as np

    def bigram(w, h1):
        lo, hi = int(m.bi_start[w]), int(m.bi_start[w + 1])
        j = lo + int(np.searchsorted(m.bi_word[lo:hi], h1))
        return j if j < hi and m.bi_word[j] == h1 else -1

    j = bigram(w, h1)
    if j >= 0:
        lo, hi = int(m.tri_start[j]), int(m.tri_start[j + 1])
        k = lo + int(np.searchsorted(m.tri_word[lo:hi], h2))
        if k < hi and m.tri_word[k] == h2:
            return float(m.tri_prob[k])
    j2 = bigram(h1, h2)
    bo2 = float(m.bi_bo[j2]) if j2 >= 0 else 0.0
    if j >= 0:
        return float(m.bi_prob[j]) + bo2
    return float(m.uni_prob[w]) + float(m.uni_bo[h1]) + bo2


def test_hashed_lookup_matches_the_trie_exactly():
    """Every path of the hashed look-up (trigram hit, bigram with and without the context's
    back-off, unigram) gives the trie's score bit for bit, on trigrams the model has and on
    random ones (mostly absent)."""
    import numpy as np

    from unspin.lm.kernels import logprob

    lm = fast_lm()
    m = lm.model
    rng = np.random.default_rng(3)
    queries = []
    # present trigrams: walk a few bigrams' trigram lists
    for j in rng.integers(0, len(m.bi_word), 300):
        w = int(np.searchsorted(m.bi_start, j, side="right") - 1)
        lo, hi = int(m.tri_start[j]), int(m.tri_start[j + 1])
        if hi > lo:
            queries.append((w, int(m.bi_word[j]), int(m.tri_word[rng.integers(lo, hi)])))
            queries.append((w, int(m.bi_word[j]), int(rng.integers(0, lm.vocab_size))))  # the bigram, other h2
    # frequent words in random order: bigram and unigram back-offs
    freq = np.exp(m.uni_prob.astype(np.float64))
    common = rng.choice(lm.vocab_size, 3000, p=freq / freq.sum())
    queries += [tuple(int(x) for x in common[i:i + 3]) for i in range(0, 2997, 3)]
    kinds = {"bi": 0, "uni": 0}
    for w, h1, h2 in queries:
        got = logprob(lm.tables, lm.oov_scores(), w, h1, h2)
        assert got == _trie_logprob(m, w, h1, h2), (w, h1, h2)
        lo, hi = int(m.bi_start[w]), int(m.bi_start[w + 1])
        kinds["bi" if h1 in set(m.bi_word[lo:hi].tolist()) else "uni"] += 1
    assert kinds["bi"] > 300 and kinds["uni"] > 100


def test_max_logprob_bounds_every_context():
    """max_logprob(w) is at least logprob(w, h1, h2) for every history: trigrams the model has,
    random histories, unknown ones; the decoder skips candidates by it, so a bound too low
    would change results."""
    import numpy as np

    from unspin.lm.kernels import logprob, max_logprob

    lm = fast_lm()
    m, oov = lm.model, lm.oov_scores()
    rng = np.random.default_rng(5)
    freq = np.exp(m.uni_prob.astype(np.float64))
    ws = rng.choice(lm.vocab_size, 400, p=freq / freq.sum()).tolist() + rng.integers(0, lm.vocab_size, 100).tolist()
    tight = 0
    for w in ws:
        top = max_logprob(lm.tables, oov, w)
        lo, hi = int(m.bi_start[w]), int(m.bi_start[w + 1])
        histories = [(int(h1), int(rng.integers(-1, lm.vocab_size))) for h1 in m.bi_word[lo:hi][:40]]
        for j in range(lo, min(hi, lo + 40)):  # the trigrams under w's bigrams
            for k in range(int(m.tri_start[j]), min(int(m.tri_start[j + 1]), int(m.tri_start[j]) + 5)):
                histories.append((int(m.bi_word[j]), int(m.tri_word[k])))
        histories += [(int(a), int(b)) for a, b in rng.integers(-1, lm.vocab_size, (40, 2))]
        best = max(logprob(lm.tables, oov, w, h1, h2) for h1, h2 in histories)
        assert best <= top, (w, best, top)
        tight += top - best < 1.0
    assert tight > 100  # (and not uselessly loose)
    unknown = lm.word_id("qzxvbnqq")
    assert logprob(lm.tables, oov, unknown, 5, 6) <= max_logprob(lm.tables, oov, unknown)


def test_english_frequencies_match_wordfreq_without_importing_it():
    """unspin.lm.wordfreq_en scores the words the 3-gram lacks as wordfreq.word_frequency(w, "en")
    does (the same float), reading wordfreq's data file itself: every hyphenated, numbered or
    clitic word of the dev texts and made-up edge cases; other words go to wordfreq."""
    import gzip
    import json
    import re
    import subprocess
    import sys
    import unicodedata
    from pathlib import Path

    import wordfreq

    from unspin.lm import wordfreq_en

    dev = Path(__file__).resolve().parents[1] / "bench" / "devsets" / "dev.jsonl.gz"
    words = {"17th", "1913", "2024", "2045", "2100", "1800", "0", "00", "07", "6", "395", "12345", "3d", "mp3",
             "covid-19", "100-year-old", "1990s", "9-11", "by-the-sea", "hair's-breadth", "creston's", "can't",
             "they're", "we'll", "i've", "she'd", "i'm", "o'hare", "ne'er", "1920's", "b-52's", "l'arcade",
             "rock'n'roll", "'tis", "a-", "-a", "a--b", "1,000", "3.5", "naïve", "Capital", "zzzzqx-qqq",
             # wordfreq's elision rule: 1-2 letters, an apostrophe, a vowel or "h" start a token
             "me'a", "j'ai", "ch'an", "d'angelo", "y'all", "x'y", "qu'un", "l'homme", "d'y", "x'ya'e", "a'e'i'o",
             "o'hare-o'hare", "1-o'hare", "she'arim", "dell'arca", "po'k", "pa's", "o'clock", "b'dikkat's",
             "a'b'c", "abc'de", "o''hare", "o'", "x'y-2",
             # Latin letters beyond ASCII (NFC, case-folded as wordfreq does), digits before an
             # apostrophe, and shapes that still go to wordfreq (other scripts, marks left over)
             "café", "CAFÉ", "zürich's", "erdoğan's", "straße", "groß", "ﬁne", "ﬀ", "über-cool",
             "résumés", "coöperation", "l'été", "d'été", "qu'à", "o'été", "œuvre", "Œuvre", "æsir",
             "ångström's", "łódź", "dvořák", "déjà-vu", "naïveté", "jalapeño-3", "3é", "é3", "ǆ", "ǀ",
             "1's", "a1's", "12'abc", "123'abc", "2é's", "mid-1950's", "İstanbul", "naı̈ve", "x²",
             "ⅷ", "ş", "ș", "μέλι", "москва", "東京", "'café", "émigrés'"}
    if dev.exists():
        with gzip.open(dev, "rt", encoding="utf-8") as fh:
            for line in fh:
                words.update(re.findall(r"[\w'-]+", json.loads(line)["spun"].lower().replace("’", "'")))
    scored_here = [w for w in words if wordfreq_en._SIMPLE.fullmatch(w)]
    beyond_ascii = [w for w in words if not w.isascii()
                    and wordfreq_en._LATIN.fullmatch(unicodedata.normalize("NFC", w).casefold())]
    assert len(beyond_ascii) >= 25
    assert len(scored_here) > (5000 if dev.exists() else 20)
    assert sum(not w.isalpha() for w in scored_here) > (1000 if dev.exists() else 15)
    wrong = [(w, wordfreq_en.frequency(w), wordfreq.word_frequency(w, "en"))
             for w in sorted(words) if wordfreq_en.frequency(w) != wordfreq.word_frequency(w, "en")]
    assert not wrong, wrong[:10]
    # ... and a process that looks such words up never imports wordfreq (0.3 s of every cold start)
    code = ("import sys; from unspin.lm import fast_lm; lm = fast_lm(); "
            "[lm.word_id(w) for w in ('zorblax', 'by-the-sea', '1913', \"creston's\", \"o'hare\", \"she'arim\", "
            "'caf\\u00e9', \"erdo\\u011fan's\", \"1920's\", 'stra\\u00dfe')]; "
            "print('wordfreq' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr[-2000:]


def test_pinned_hash_tables_give_the_same_scores():
    """NgramLM.pin_tables copies the 3-gram's hash tables onto huge pages (huge_page_copy): the
    same arrays, read-only as the memory map's, so the same look-ups, the same compiled kernels
    and the same reports."""
    from pathlib import Path

    import numpy as np

    from unspin import api
    from unspin.decode import Decoder
    from unspin.lexicon.channel import Channel
    from unspin.lm import NgramLM, huge_page_copy
    from unspin.lm.kernels import logprob
    from unspin.swap_model import default_swap_model

    for a in (np.arange(1 << 20, dtype=np.int64).reshape(-1, 2), np.arange(10, dtype=np.float32)):
        b = huge_page_copy(a)
        assert b.dtype == a.dtype and b.shape == a.shape and np.array_equal(a, b) and b.flags.writeable
    text = (Path(__file__).resolve().parents[1] / "src" / "unspin" / "data" / "demo" / "demo.txt").read_text("utf-8")
    # (an instance of its own: the suite's shared one may be pinned already)
    lm = NgramLM()
    cfg = api._config()
    decoder = Decoder(Channel(weights=cfg.weights), lm, cfg.decoder, default_swap_model())
    before = api.check(text, decoder=decoder).to_dict()
    rng = np.random.default_rng(0)
    ids = rng.integers(-1, lm.vocab_size, size=(2000, 3))
    old = lm.tables
    lm.pin_tables()
    assert lm.tables[2] is not old[2] and lm._pinned and lm.memo.shape == (2 * (1 << 18),)
    # read-only, as the memory map's arrays: one signature, so the kernels compiled for the map
    # serve the copies (writable ones had every kernel compiled again, 20 s on a fresh install)
    import numba

    assert not any(a.flags.writeable for a in lm.tables) and numba.typeof(lm.tables) == numba.typeof(old)
    for w, h1, h2 in ids:
        assert logprob(old, lm.oov_scores(), w, h1, h2) == logprob(lm.tables, lm.oov_scores(), w, h1, h2)
    assert api.check(text, decoder=decoder).to_dict() == before
    lm.pin_tables()  # (once)


def test_long_run_set_up_gives_the_same_reports():
    """Decoder.set_up_long_run (a worker's; any process's after PIN_AFTER_WORDS words, less
    the vocabulary): the 3-gram's tables on huge pages, the channel's pair index, which lets the
    decoder skip word pairs that open no multi-word key, and the vocabulary's candidates and
    screening rows learnt ahead.  The reports are the same as without it."""
    from pathlib import Path

    from unspin import api

    root = Path(__file__).resolve().parents[1]
    text = (root / "src" / "unspin" / "data" / "demo" / "demo.txt").read_text("utf-8")
    text += "\n\nThe meeting will take place in accord with the rules of the United States Senate, all the same."
    plain = api.make_decoder()
    before = api.check(text, decoder=plain)
    assert plain.channel.pair_index is None and before.swaps
    assert any(" " in s.spun or " " in s.original for s in before.swaps)  # (phrases were read)
    settled = api.make_decoder()
    settled.set_up_long_run()
    api._signals(settled).learn_vocabulary()  # (as api.set_up_long_run does for the shared one)
    assert settled.channel.pair_index is not None
    assert len(settled._word_info) > 70_000 and len(api._signals(settled)._type_row) > 70_000
    assert api.check(text, decoder=settled).to_dict() == before.to_dict()


def test_public_long_run_set_up_keeps_the_callers_collector_and_the_reports():
    """unspin.set_up_long_run(), for a program about to check or screen many texts: the tables
    pinned and the vocabulary learnt, the same reports, the process's garbage collector untouched."""
    import json
    import subprocess
    import sys

    code = """
import gc, json, unspin
from unspin import api
from unspin.lm import fast_lm
spun = "The committee met astatine the bank connected Tuesday to discuss the budget for following year. " * 6
threshold = gc.get_threshold()
before = [unspin.check(spun, fast=True).to_dict(), unspin.detect(spun).to_dict()]
unspin.set_up_long_run()
after = [unspin.check(spun, fast=True).to_dict(), unspin.detect(spun).to_dict()]
fast = api._decoder(True)
print(json.dumps([before == after, gc.get_threshold() == threshold, fast_lm()._pinned,
                  len(api._signals(fast)._type_row) > 70_000, len(fast._word_info) > 70_000]))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [True, True, True, True, True]
