"""Word vectors and the swap model's topic features (unspin.lexicon.vectors)."""
from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest

from unspin.lexicon import vectors as V
from unspin.lexicon.vectors import TOPIC_FEATURES, WordVectors, default_vectors
from unspin.swap_model import FEATURES

BRIEFING = ("the white house declined to comment after the president met japan's prime minister; a senior "
            "administration official told reporters at a briefing that tariffs, trade and defense spending "
            "were discussed, and the official said the alliance would hold talks on security cooperation").split()


def _reference(v: WordVectors, spun: list[str], original: list[str], topic: np.ndarray) -> list[float]:
    """The topic features of one span, written out plainly."""
    def ids(words):
        return [v.lm.vocab[w] for w in words if w in v.lm.vocab and v.has[v.lm.vocab[w]]]

    s, o = ids(spun), ids(original)
    if not s or not o:
        return [0.0] * 5
    vs = v.unit_rows(s).sum(0)
    vo = v.unit_rows(o).sum(0)
    vs, vo = vs / np.linalg.norm(vs), vo / np.linalg.norm(vo)
    rest = topic - v.weight[s].astype(float) @ v.unit_rows(s)
    n = np.linalg.norm(rest)
    if n <= V.MIN_TOPIC_NORM:
        return [1.0, 0.0, vo @ vs, 0.0, 0.0]
    return [1.0, (vo - vs) @ rest / n, vo @ vs, vs @ rest / n, vo @ rest / n]


def test_the_vectors_index_the_priors_vocabulary():
    v = default_vectors()
    assert v.rows.shape == (v.lm.vocab_size, 100) and v.rows.dtype == np.int8
    assert 0.9 < v.has.mean() < 1.0  # (GloVe lacks a few thousand of the 3-gram's words)
    assert not v.rows[~v.has].any()
    norms = np.linalg.norm(v.unit_rows(np.flatnonzero(v.has)[::97]), axis=1)
    assert np.allclose(norms, 1.0, atol=1e-12)
    # the commonest words carry no topic, rarer ones more
    vocab = v.lm.vocab
    assert v.weight[vocab["the"]] == 0 and v.weight[vocab["and"]] == 0
    assert 0 < v.weight[vocab["official"]] < v.weight[vocab["tariffs"]]


def test_vectors_for_another_vocabulary_are_refused(tmp_path):
    shipped = default_vectors()
    folder = tmp_path / "vectors"
    folder.mkdir()
    np.save(folder / "vectors.npy", np.zeros((3, 100), np.int8))
    (folder / "lm_vocab.sha256").write_text("0" * 64 + "\n")
    with pytest.raises(ValueError, match="another 3-gram vocabulary"):
        WordVectors(shipped.lm, folder)
    (folder / "lm_vocab.sha256").write_text(shipped.lm.vocab_digest + "\n")
    with pytest.raises(ValueError, match="3 rows"):
        WordVectors(shipped.lm, folder)


def test_an_original_that_fits_the_topic_gains():
    """The real example's "minute management standard": in a text about a White House briefing
    "administration" and "official" fit the topic far better than the spinner's words, while
    "big" for "large" (a writer's own choice) gains little either way."""
    v = default_vectors()
    topic = v.document_topic(Counter(BRIEFING))
    cols = v.topic_columns([["management"], ["standard"], ["large"]], [["administration"], ["official"], ["big"]], topic)
    have, gain = cols[:, 0], cols[:, 1]
    assert list(have) == [1.0, 1.0, 1.0]
    assert gain[0] > 0.2 and gain[1] > 0.2
    assert abs(gain[2]) < 0.1
    assert list(FEATURES[-len(TOPIC_FEATURES):]) == list(TOPIC_FEATURES)


def test_topic_columns_match_a_plain_computation_in_both_modes():
    """Random spans (phrases, words without vectors, spans with none) in the compiled kernel and
    in its numpy twin (plain-Python mode): the same figures as the features written out."""
    v = default_vectors()
    rng = random.Random(3)
    vocab = v.lm.vocabulary()
    topic = v.document_topic(Counter(rng.choice(vocab[:20000]) for _ in range(300)))
    for _ in range(50):
        k = rng.randint(1, 8)

        def pick():
            return [rng.choice(vocab) if rng.random() > 0.2 else "qqxzv" for _ in range(rng.randint(1, 3))]

        spun, original = [pick() for _ in range(k)], [pick() for _ in range(k)]
        want = np.array([_reference(v, s, o, topic) for s, o in zip(spun, original)])
        assert np.allclose(v.topic_columns(spun, original, topic), want, atol=1e-7)
        flat, starts = [[], []], [[], []]
        for side, spans in enumerate((spun, original)):
            for words in spans:
                starts[side].append(len(flat[side]))
                flat[side] += [v.lm.vocab[w] for w in words if w in v.lm.vocab and v.has[v.lm.vocab[w]]]
            starts[side].append(len(flat[side]))
        args = [np.asarray(a, np.int64) for a in (flat[0], starts[0], flat[1], starts[1])]
        out = np.zeros((k, 5))
        V._topic_numpy(*args, v.rows, v.weight, topic, out)
        assert np.allclose(out, want, atol=1e-7)


def test_a_document_without_other_topic_words_gives_zero_cosines():
    """Nothing but common words besides the span (whose words are the document's, as in a
    check): no topic to fit, the spun words' own vectors taken out of the document's."""
    v = default_vectors()
    for text in ("the and of a to management", "management of the and a"):
        topic = v.document_topic(Counter(text.split()))
        cols = v.topic_columns([["management"]], [["administration"]], topic)
        assert cols[0, 0] == 1.0 and cols[0, 2] > 0  # (the pair's own similarity is still read)
        assert cols[0, 1] == cols[0, 3] == cols[0, 4] == 0.0, text
    assert not v.topic_columns([], [], topic).size


def test_the_document_topic_from_counts_and_from_word_ids_agree():
    from unspin.api import _decoder

    v = default_vectors()
    counts = Counter(BRIEFING + ["qqxzv", "o'brien"])
    doc = _decoder(True).doc_context(counts)
    assert np.allclose(v.document_topic(counts), v.topic_of(doc.ids, doc.counts))
