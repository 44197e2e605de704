"""The swap model: each candidate swap's reported probability, from the decoder's posterior and
what the lattice does not see.

The lattice's posterior P(swap | the text is spun) times the document's probability is a poor
probability of its own: on dev, the swaps it reported at 0.55 and above averaged 0.91 and were
right 73% of the time, and it cannot weigh what lies outside one sentence's 3-gram (how often
the word and its original occur in the whole document, how common each is, how the document's
rate and thesaurus mix came out), nor bring back a swap the best path kept.  So the candidates
are every swap on a chunk's best path and every word the path keeps whose swap posterior
reaches `near` (with its likeliest original), whose posterior x P(document is spun) ** doc_power
(the old gate) reaches `floor`; each is scored by a small gradient-boosted tree ensemble,
trained on dev by `scripts/train_swap_model.py` (scikit-learn's GradientBoostingClassifier,
exported to `data/swap_model.json`, evaluated here by a compiled kernel) and reported when that
score reaches `threshold`, at its calibrated probability (`SwapModel.reported`).  The model
reads `FEATURES` (see `swap_features`).

The fast tier only: the neural tier's rescored swaps keep their rescored posteriors, calibrated
apart (RescoringDecoder.calibration; the model was not trained on them).
"""
from __future__ import annotations

import json
import math
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import numpy as np

from unspin._jit import njit, python_mode
from unspin.lexicon.vectors import TOPIC_FEATURES, WordVectors, default_vectors

FEATURES = (
    "posterior_logit",       # the swap's posterior in its lattice (its span's lowest), as log-odds
    "document_logit",        # P(the document is spun), as log-odds
    "log_rate",              # ln of the rate the chunk was decoded at
    "spun_words",            # words in the spun span
    "original_words",        # words in the original
    "spun_unigram",          # mean 3-gram unigram ln P of the spun words
    "original_unigram",      # ... of the original's words
    "lm_gain",               # local 3-gram score of the original minus the spun words' (nats)
    "channel",               # ln P(spun | original), shipped thesaurus weights
    "capitalised",           # the spun span starts with a capital
    "sentence_initial",      # ... and starts its sentence
    "spun_in_document",      # ln(1 + occurrences of the spun words in the document)
    "original_in_document",  # ln(1 + occurrences of the original's words in the document)
    "first_alternative",     # the next original's share of the span's posterior
    "alternatives",          # how many other originals the span has
    "wordnet", "mythes", "moby",  # the thesaurus that explains the swap best
    "spun_chars",            # length of the spun span
    "log_document_words",    # ln(1 + words in the document)
) + TOPIC_FEATURES  # how the original and the spun words fit the document's topic (lexicon.vectors)


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1.0 - 1e-6)
    return math.log(p / (1.0 - p))


def _in_document(words: list[str], counts: Counter) -> float:
    """ln(1 + the fewest occurrences in the document of any of these (lower-case) words)."""
    if len(words) == 1:  # (most spans)
        return math.log1p(counts.get(words[0], 0))
    return math.log1p(min((counts.get(w, 0) for w in words), default=0))


def swap_features(spun_words: list[str], original: str, posterior: float, alternatives: list[tuple[str, float]],
                  thesaurus: str, lm_gain: float, channel: float, capitalised: bool, initial: bool,
                  doc_probability: float,
                  rate: float, counts: Counter, n_doc_words: int, unigram,
                  vectors: WordVectors | None = None) -> list[float]:
    """One row of FEATURES.  spun_words: the span's words as the decoder read them (lower
    case); counts: the document's lower-case word counts; unigram: word -> ln P (the 3-gram's);
    vectors: the word vectors of the topic features (None: the shipped ones)."""
    span = (spun_words, original, posterior, alternatives, thesaurus, lm_gain, channel, capitalised, initial, rate)
    return swap_feature_rows([span], doc_probability, counts, n_doc_words, unigram, vectors)[0]


def swap_feature_rows(spans: list[tuple], doc_probability: float, counts: Counter, n_doc_words: int,
                      unigram, vectors: WordVectors | None = None) -> list[list[float]]:
    """swap_features of a document's candidate swaps at once, column by column (a check scores
    dozens): spans are (spun_words, original, posterior, alternatives, thesaurus, lm_gain,
    channel, capitalised, initial, rate) each."""
    if not spans:
        return []
    return list(map(list, zip(*_feature_columns(spans, doc_probability, counts, n_doc_words, unigram, vectors))))


def swap_feature_matrix(spans: list[tuple], doc_probability: float, counts: Counter, n_doc_words: int,
                        unigram, vectors: WordVectors | None = None, topic: np.ndarray | None = None) -> np.ndarray:
    """swap_feature_rows as a float32 array (n, len(FEATURES)), the values SwapModel.probability
    reads from the rows, filled a column at a time (no list per row).  topic: the document's
    (WordVectors.topic_of) when the caller has its word ids already; None: made from counts."""
    x = np.empty((len(spans), len(FEATURES)), np.float32)
    if spans:
        for i, column in enumerate(_feature_columns(spans, doc_probability, counts, n_doc_words, unigram, vectors,
                                                    topic)):
            x[:, i] = column if isinstance(column, (list, tuple, np.ndarray)) else list(column)
    return x


def _feature_columns(spans: list[tuple], doc_probability: float, counts: Counter, n_doc_words: int, unigram,
                     vectors: WordVectors | None, topic: np.ndarray | None = None):
    spun, original, posterior, alternatives, thesaurus, lm_gain, channel, capitalised, initial, rate = zip(*spans)
    orig_words = [o.lower().split(" ") for o in original]
    n = len(spans)
    score: dict[str, float] = {}  # (each word type's unigram once: the spans share their words)
    for words in (*spun, *orig_words):
        for w in words:
            if w not in score:
                score[w] = unigram(w)

    def mean(words: list[str]) -> float:  # (of a phrase's words; a single word's is read inline below)
        return sum(map(score.__getitem__, words)) / len(words)

    columns = (
        map(_logit, posterior),
        [_logit(doc_probability)] * n,
        [math.log(max(r, 1e-4)) for r in rate],
        [float(len(w)) for w in spun],
        [float(len(w)) for w in orig_words],
        [score[w[0]] if len(w) == 1 else mean(w) for w in spun],
        [score[w[0]] if len(w) == 1 else mean(w) for w in orig_words],
        lm_gain,
        [c if math.isfinite(c) else -30.0 for c in channel],
        map(float, capitalised),
        map(float, initial),
        [_in_document(w, counts) for w in spun],
        [_in_document(w, counts) for w in orig_words],
        [a[0][1] if a else 0.0 for a in alternatives],
        [float(len(a)) for a in alternatives],
        [float(t == "wordnet") for t in thesaurus], [float(t == "mythes") for t in thesaurus],
        [float(t == "moby") for t in thesaurus],
        [float(sum(map(len, w)) + len(w) - 1) for w in spun],  # (the span's characters)
        [math.log1p(n_doc_words)] * n,
    )
    vectors = vectors if vectors is not None else default_vectors()
    if topic is None:
        topic = vectors.document_topic(counts)
    return columns + tuple(vectors.topic_columns(spun, orig_words, topic).T)


@njit(cache=True)
def _tree_sums(x, feature, split, left, right, value, depth):
    """Σ over trees of the leaf value each row of x reaches (see SwapModel)."""
    n, trees = x.shape[0], feature.shape[0]
    out = np.zeros(n)
    for i in range(n):
        acc = 0.0
        for t in range(trees):
            node = 0
            for _d in range(depth):
                if x[i, feature[t, node]] <= split[t, node]:
                    node = left[t, node]
                else:
                    node = right[t, node]
            acc += value[t, node]
        out[i] = acc
    return out


def _tree_sums_numpy(x, feature, split, left, right, value, depth):
    """_tree_sums in numpy, every row and tree a level at a time (for plain-Python mode, where
    the loops of _tree_sums would run in the interpreter)."""
    t_index = np.arange(feature.shape[0])[None, :]
    node = np.zeros((x.shape[0], feature.shape[0]), dtype=np.int64)
    sample = np.arange(x.shape[0])[:, None]
    for _ in range(depth):
        go_left = x[sample, feature[t_index, node]] <= split[t_index, node]
        node = np.where(go_left, left[t_index, node], right[t_index, node])
    return value[t_index, node].sum(axis=1)


def knots(d: dict) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """A calibration's knots as stored in JSON ({"x": [...], "y": [...]}; absent: none)."""
    return tuple(map(float, d.get("x", ()))), tuple(map(float, d.get("y", ())))


def calibrated(score: float, xs: tuple[float, ...], ys: tuple[float, ...], floor: float) -> float:
    """A listed swap's score through an isotonic calibration (knots xs -> ys; none: the score
    itself), never below `floor`, the score a swap needs to be listed (see SwapModel.reported)."""
    if not xs:
        return score
    # (np.interp's arithmetic, without its array set-up: 20x faster on one score, same values)
    j = bisect_right(xs, score)
    if j == 0:
        y = ys[0]
    elif j == len(xs):
        y = ys[-1]
    else:
        x0, x1, y0 = xs[j - 1], xs[j], ys[j - 1]
        y = (ys[j] - y0) / (x1 - x0) * (score - x0) + y0 if score != x0 else y0
    return max(floor, float(y))


@dataclass(frozen=True)
class SwapModel:
    """A tree ensemble: P = sigmoid(init + learning_rate · Σ_t value[t, leaf_t(x)]).  Trees are
    padded to one node count; a leaf points to itself, so `depth` steps reach every leaf."""

    features: tuple[str, ...]
    feature: np.ndarray  # int   [trees, nodes]
    split: np.ndarray  # float [trees, nodes]: go left when x[feature] <= split
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray  # float [trees, nodes]
    init: float
    learning_rate: float
    depth: int
    floor: float  # candidates: posterior x P(document is spun) ** doc_power at least this
    near: float  # ... and the words the best path keeps whose swap posterior reaches this are candidates too
    threshold: float  # reported: the model's probability at least this
    meta: dict = field(default_factory=dict)
    # knots (score, share real) of an isotonic map from the model's score to the share of dev
    # candidates with that cross-fitted score that were real swaps (empty: none; see `reported`)
    calibration_x: tuple[float, ...] = ()
    calibration_y: tuple[float, ...] = ()

    def reported(self, score: float) -> float:
        """The probability a listed swap (score >= threshold) is reported at.  The model is
        trained with real swaps weighted above false ones (what locate F1 and restore reward),
        so its score overstates: on test, swaps scored 0.5-0.6 were real 33% of the time, 0.9-1
        92%.  The calibration maps a score to the share of dev swaps so scored that were real,
        never below the threshold: a swap is listed because the model's operating point calls
        it swapped, and readers of the JSON take 0.5 and above to mean that."""
        return calibrated(score, self.calibration_x, self.calibration_y, self.threshold)

    def probability(self, rows) -> np.ndarray:
        # (float32 first: scikit-learn's trees split on float32 features, and so must these)
        x = np.asarray(rows, dtype=np.float32).astype(np.float64).reshape(-1, len(self.features))
        if x.shape[0] == 0:
            return np.zeros(0)
        walk = _tree_sums_numpy if python_mode() else _tree_sums
        sums = walk(x, self.feature, self.split, self.left, self.right, self.value, self.depth)
        z = self.init + self.learning_rate * sums
        return 1.0 / (1.0 + np.exp(-z))

    @classmethod
    def from_dict(cls, d: dict) -> "SwapModel":
        if tuple(d["features"]) != FEATURES:
            raise ValueError("swap model: its features are not this version's FEATURES (retrain it: "
                             "scripts/train_swap_model.py)")
        arr = {k: np.asarray(d["trees"][k]) for k in ("feature", "split", "left", "right", "value")}
        return cls(tuple(d["features"]), arr["feature"].astype(np.int64), arr["split"].astype(np.float64),
                   arr["left"].astype(np.int64), arr["right"].astype(np.int64), arr["value"].astype(np.float64),
                   float(d["init"]), float(d["learning_rate"]), int(d["depth"]), float(d["floor"]), float(d["near"]),
                   float(d["threshold"]), dict(d.get("meta", {})), *knots(d.get("calibration", {})))

    def to_dict(self) -> dict:
        return {"features": list(self.features), "init": self.init, "learning_rate": self.learning_rate,
                "depth": self.depth, "floor": self.floor, "near": self.near, "threshold": self.threshold,
                "meta": self.meta,
                "calibration": {"x": list(self.calibration_x), "y": list(self.calibration_y)},
                "trees": {"feature": self.feature.tolist(), "split": self.split.tolist(),
                          "left": self.left.tolist(), "right": self.right.tolist(),
                          "value": self.value.tolist()}}


@lru_cache(maxsize=1)
def default_swap_model() -> SwapModel | None:
    """The shipped model (data/swap_model.json), or None where it is absent."""
    try:
        text = resources.files("unspin").joinpath("data/swap_model.json").read_text("utf-8")
    except FileNotFoundError:
        return None
    return SwapModel.from_dict(json.loads(text))
