"""The swap model: tree evaluation, the shipped file, and how check() reports with it."""
from __future__ import annotations

import numpy as np
import pytest

import unspin
from unspin import api
from unspin.swap_model import FEATURES, SwapModel, default_swap_model, swap_features


def _stump_model(feature: int, split: float, low: float, high: float, init: float = 0.0) -> SwapModel:
    """One depth-1 tree (root, left leaf, right leaf) plus a second tree that adds 0.5 everywhere."""
    n = len(FEATURES)
    assert 0 <= feature < n
    feat = np.array([[feature, 0, 0], [0, 0, 0]])
    split_ = np.array([[split, np.inf, np.inf], [np.inf, np.inf, np.inf]])
    left = np.array([[1, 1, 2], [0, 1, 2]])
    right = np.array([[2, 1, 2], [0, 1, 2]])
    value = np.array([[0.0, low, high], [0.5, 0.0, 0.0]])
    return SwapModel(FEATURES, feat, split_, left, right, value, init, 1.0, 2, 0.3, 0.05, 0.5)


def test_trees_are_walked_to_their_leaves():
    m = _stump_model(feature=7, split=1.5, low=-2.0, high=3.0, init=0.25)
    x = np.zeros((3, len(FEATURES)))
    x[:, 7] = [1.0, 1.5, 2.0]  # below, on (goes left, as scikit-learn does), above the split
    z = np.log(m.probability(x) / (1 - m.probability(x)))
    assert z == pytest.approx([0.25 - 2.0 + 0.5, 0.25 - 2.0 + 0.5, 0.25 + 3.0 + 0.5])
    assert m.probability(np.zeros((0, len(FEATURES)))).shape == (0,)


def test_compiled_and_numpy_tree_walks_agree():
    from unspin.swap_model import _tree_sums, _tree_sums_numpy

    m = default_swap_model()
    x = np.random.default_rng(1).normal(scale=3.0, size=(300, len(FEATURES)))
    args = (m.feature, m.split, m.left, m.right, m.value, m.depth)
    assert np.allclose(_tree_sums(x, *args), _tree_sums_numpy(x, *args), rtol=0, atol=1e-12)


def test_a_model_round_trips_and_refuses_other_features():
    m = _stump_model(feature=0, split=0.0, low=-1.0, high=1.0)
    again = SwapModel.from_dict(m.to_dict())
    x = np.random.default_rng(0).normal(size=(20, len(FEATURES)))
    assert np.array_equal(again.probability(x), m.probability(x))
    d = m.to_dict()
    d["features"] = list(FEATURES[:-1])
    with pytest.raises(ValueError, match="retrain"):
        SwapModel.from_dict(d)


def test_a_listed_swap_is_reported_at_its_calibrated_probability():
    """The model's score (trained with real swaps weighted up) is reported through its
    calibration: monotone, never below the threshold, the score itself without one; the
    calibration round-trips, and the shipped one lowers an inflated score."""
    import dataclasses

    m = dataclasses.replace(_stump_model(feature=0, split=0.0, low=-1.0, high=1.0),
                            calibration_x=(0.5, 0.7, 0.95), calibration_y=(0.3, 0.55, 0.93))
    assert _stump_model(feature=0, split=0.0, low=-1.0, high=1.0).reported(0.62) == 0.62
    got = [m.reported(p) for p in (0.5, 0.6, 0.7, 0.8, 0.95, 1.0)]
    assert got == sorted(got) and min(got) == 0.5  # (0.3 at 0.5: listed, so at least the threshold)
    assert got[2] == pytest.approx(0.55) and got[-1] == pytest.approx(0.93)
    again = SwapModel.from_dict(m.to_dict())
    assert (again.calibration_x, again.calibration_y) == (m.calibration_x, m.calibration_y)
    shipped = default_swap_model()
    assert shipped.calibration_x and shipped.reported(0.75) < 0.75 - 0.1
    assert shipped.reported(0.999) > 0.9


def test_the_shipped_model_prefers_a_swap_the_lattice_is_sure_of():
    model = default_swap_model()
    assert model is not None and model.features == FEATURES and model.threshold == 0.5
    common = dict(alternatives=[], thesaurus="wordnet", lm_gain=6.0, channel=-2.0, capitalised=False,
                  initial=False, doc_probability=0.99, rate=0.3, counts={"astatine": 1}, n_doc_words=300,
                  unigram=lambda w: -12.0 if w == "astatine" else -6.0)
    rows = [swap_features(["astatine"], "at", posterior, **common) for posterior in (0.99, 0.6, 0.35, 0.1)]
    assert len(rows[0]) == len(FEATURES)
    p = model.probability(rows)
    # (the lattice's posterior counts, though less than it did before the topic features: a
    # chemical element for "at", two words with nothing in common, is a swap more often than not)
    assert p[0] > model.threshold and p[0] > p[2] + 0.1
    assert list(p) == sorted(p, reverse=True)


def test_check_reports_the_model_probability_above_its_threshold():
    text = open(api.resources.files("unspin") / "data" / "demo" / "demo.txt", encoding="utf-8").read()
    model = default_swap_model()
    report = unspin.check(text, fast=True)
    assert report.swaps and all(s.probability >= model.threshold for s in report.swaps)
    # ...at the calibrated probability of the model's score (see SwapModel.reported)
    import dataclasses

    uncalibrated = dataclasses.replace(model, calibration_x=(), calibration_y=())
    raw = api.check(text, decoder=api.make_decoder(swap_model=uncalibrated))
    assert [s.start for s in raw.swaps] == [s.start for s in report.swaps]
    assert all(s.probability == pytest.approx(model.reported(r.probability), abs=1e-3)
               for s, r in zip(report.swaps, raw.swaps))
    assert any(s.probability < r.probability - 0.05 for s, r in zip(report.swaps, raw.swaps))
    # without a model, the swaps are the posterior-gated ones of before, a different set
    plain = api.check(text, decoder=api.make_decoder(swap_model=None))
    assert plain.swaps and all(s.probability >= api._config().decoder.report_threshold for s in plain.swaps)
    assert [(s.start, s.probability) for s in plain.swaps] != [(s.start, s.probability) for s in report.swaps]


def test_a_model_that_rejects_everything_reports_no_swaps_but_repairs_scars():
    m = _stump_model(feature=0, split=0.0, low=-50.0, high=-50.0)
    text = open(api.resources.files("unspin") / "data" / "demo" / "demo.txt", encoding="utf-8").read()
    text = text.replace("the ", "the U. S. ", 1)
    assert unspin.check(text, fast=True).swaps
    report = api.check(text, decoder=api.make_decoder(swap_model=m))
    assert report.swaps == [] and report.scars and "U.S." in report.restored
    assert report.spun_probability == unspin.check(text, fast=True).spun_probability  # (the detector's)


def test_the_neural_tier_keeps_its_own_probabilities():
    """api reports a swap the neural tier rescored (WordSwap.rescored) at its rescored posterior
    whatever the swap model says, and leaves every other swap to the model: with a model that
    rejects everything, only the rescored swaps are reported."""
    import dataclasses

    from unspin.neural import RescoreParams, RescoringDecoder

    reject = _stump_model(feature=0, split=0.0, low=-50.0, high=-50.0)
    base = api.make_decoder(swap_model=reject)
    assert RescoringDecoder(base, lm=None).swap_model is reject
    assert RescoringDecoder(base, lm=None, params=RescoreParams(model_for_the_rest=False)).swap_model is None
    text = open(api.resources.files("unspin") / "data" / "demo" / "demo.txt", encoding="utf-8").read()
    fast = unspin.check(text, fast=True)
    assert len(fast.swaps) >= 2
    marked = {text[s.start:s.end].lower() for s in fast.swaps[::2]}  # every other one

    class Marking:
        """The fast decoder, its last pass's swaps on `marked` words marked as rescored."""

        swap_model = reject

        def __getattr__(self, name):
            return getattr(base, name)

        def decode_batch(self, batch, rate=None, min_doc=1.0, with_swaps=True, log_weights=None,
                         stats_only=False, near_min=0.0):
            out = base.decode_batch(batch, rate, min_doc, with_swaps, log_weights, stats_only, near_min=near_min)
            if with_swaps and not stats_only:
                for words, r in zip(batch.words, out):
                    r.swaps = [dataclasses.replace(s, rescored=" ".join(words[s.start:s.end]) in marked)
                               for s in r.swaps]
            return out

    report = api.check(text, decoder=Marking())
    got = {text[s.start:s.end].lower() for s in report.swaps}
    assert got and got <= marked  # the model rejected the rest
    threshold = api._config().decoder.report_threshold
    assert all(s.probability >= threshold for s in report.swaps)
    # ...at their calibrated probability when the decoder has a calibration (RescoringDecoder's
    # `calibration`: the shipped one, scripts/calibrate_neural.py), never below the threshold
    from unspin.swap_model import calibrated

    class Calibrated(Marking):
        calibration = ((0.5, 1.0), (0.2, 0.75))

    again = api.check(text, decoder=Calibrated())
    assert [(s.start, s.original) for s in again.swaps] == [(s.start, s.original) for s in report.swaps]
    assert [s.probability for s in again.swaps] == pytest.approx(
        [calibrated(s.probability, *Calibrated.calibration, threshold) for s in report.swaps], abs=1e-3)
    assert any(s.probability < r.probability for s, r in zip(again.swaps, report.swaps))
    assert min(s.probability for s in again.swaps) >= threshold
    # the shipped calibration (data/params.json) is the neural tier's by default: it lowers an
    # overconfident posterior and keeps the order
    xs, ys = RescoringDecoder(base, lm=None).calibration
    assert xs and list(xs) == sorted(xs) and list(ys) == sorted(ys)
    assert calibrated(0.99, xs, ys, threshold) < 0.9 and calibrated(0.6, xs, ys, threshold) == threshold
    assert RescoringDecoder(base, lm=None, calibration=((), ())).calibration == ((), ())


def test_a_one_word_swap_lists_keeping_the_word_among_its_alternatives():
    """Path swaps hold their identity arc; a word the path kept and the model reported lists
    keeping it too (at 1 - its swap posterior)."""
    text = open(api.resources.files("unspin") / "data" / "demo" / "demo.txt", encoding="utf-8").read()
    report = unspin.check(text, fast=True)
    one_word = [s for s in report.swaps if " " not in s.spun]
    assert len(one_word) >= 10
    for s in one_word:
        assert s.spun.lower() in [a.text.lower() for a in s.alternatives], (s.spun, s.original, s.alternatives)
        # ...with what the swap's reported probability leaves: the list sums to 1, best first
        assert s.probability + sum(a.probability for a in s.alternatives) == pytest.approx(1.0, abs=1e-3)
        assert [a.probability for a in s.alternatives] == sorted((a.probability for a in s.alternatives), reverse=True)


def test_without_a_swap_model_the_kept_words_are_never_reported():
    """The neural tier decodes with near_min (its rescoring reads the kept words) and has no swap
    model: the kept words it did not rescore into swaps must not be reported beside its swaps."""
    plain = api.make_decoder(swap_model=None)

    class NearDecoder:  # a decoder that returns the kept words too, as the neural tier's does
        swap_model = None

        def __getattr__(self, name):
            return getattr(plain, name)

        def decode_batch(self, batch, rate=None, min_doc=1.0, with_swaps=True, log_weights=None,
                         stats_only=False):
            return plain.decode_batch(batch, rate, min_doc, with_swaps, log_weights, stats_only, near_min=0.01)

    text = open(api.resources.files("unspin") / "data" / "demo" / "demo.txt", encoding="utf-8").read()
    got = api.check(text, decoder=NearDecoder())
    want = api.check(text, decoder=plain)
    assert got == want and got.swaps


def test_the_feature_matrix_holds_the_rows_values():
    """swap_feature_matrix (what check() scores) is swap_feature_rows as float32, and the
    model's probabilities of either are the same."""
    from collections import Counter

    from unspin.lm import fast_lm
    from unspin.swap_model import swap_feature_matrix, swap_feature_rows

    spans = [(["minute"], "second", 0.7, [("little", 0.1)], "wordnet", 1.5, -3.2, False, False, 0.3),
             (["press", "event"], "press conference", 0.95, [], "moby", 4.0, float("-inf"), True, True, 0.01),
             (["zorblax"], "Zorblaxes", 0.2, [("a", 0.3), ("b", 0.1)], "mythes", -0.5, -9.0, True, False, 0.5)]
    counts = Counter({"minute": 2, "second": 1, "press": 3})
    lm = fast_lm()
    rows = swap_feature_rows(spans, 0.9, counts, 120, lm.unigram)
    x = swap_feature_matrix(spans, 0.9, counts, 120, lm.unigram)
    assert x.dtype == np.float32 and x.shape == (3, len(FEATURES)) and x.flags.c_contiguous
    assert np.array_equal(x, np.asarray(rows, dtype=np.float32))
    model = default_swap_model()
    if model is not None:
        assert np.array_equal(model.probability(x), model.probability(rows))
    assert swap_feature_matrix([], 0.9, counts, 120, lm.unigram).shape == (0, len(FEATURES))
