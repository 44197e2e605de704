"""The shipped channel table: its columns, the rank-aware (first-pick) columns, reported names."""
import math

import numpy as np

from unspin.lexicon.channel import ABSENT, THESAURI, Channel, ChannelWeights, reported_thesaurus


def _column(channel: Channel, spun: str, original: str, name: str) -> float:
    """ln P_t(spun | original) for column `name` (-inf: the column does not explain the pair)."""
    for o, logp in channel.components(spun):
        if o == original:
            return float(logp[THESAURI.index(name)])
    raise AssertionError(f"{original!r} is not a candidate for {spun!r}")


def test_table_has_one_cost_column_per_thesaurus():
    ch = Channel()
    _offsets, _orig, cost = ch.tables
    assert cost.shape[1] == len(THESAURI)
    assert len(ChannelWeights().as_array()) == len(THESAURI)
    # every stored candidate is explained by at least one column
    sample = np.asarray(cost[:: max(1, len(cost) // 100_000)])
    assert (sample != ABSENT).any(axis=1).all()


def test_first_pick_columns():
    ch = Channel()
    # WordNet's first sense of "at" is the element {astatine, At}: a rank-aware WordNet spinner
    # always writes "astatine", one picking senses uniformly only sometimes
    assert _column(ch, "astatine", "at", "wordnet-first") == 0.0
    assert _column(ch, "astatine", "at", "wordnet") < 0.0
    # POS-blind and re-inflected: "made" -> make's first sense, the noun {brand, make} -> "branded"
    assert math.isfinite(_column(ch, "branded", "made", "wordnet-first"))
    # "second" -> "sec" is the first pick ({second, sec, s}); "minute" comes from a later sense
    # ({moment, minute, second, instant}): no first-pick probability
    assert _column(ch, "sec", "second", "wordnet-first") == 0.0
    assert _column(ch, "minute", "second", "wordnet") > -math.inf
    assert _column(ch, "minute", "second", "wordnet-first") == -math.inf


def test_first_pick_columns_are_reported_as_their_thesaurus():
    assert reported_thesaurus(THESAURI.index("wordnet-first")) == "wordnet"
    assert reported_thesaurus(THESAURI.index("mythes-first")) == "mythes"
    assert reported_thesaurus(THESAURI.index("moby")) == "moby"
    names = {c.thesaurus for c in Channel().candidates("astatine")}
    assert names <= {"wordnet", "mythes", "moby", "reverse"}


def test_forms_with_digits_are_never_undone():
    # WordNet lists "50" under "fifty" and the table holds such keys, but the 3-gram prior spells
    # numbers out: a digit in the text is never a swap to undo
    ch = Channel()
    assert "50" in ch._keys and "1 kings" in ch._keys  # (the shipped table has them)
    for form in ("50", "1 kings", "10th"):
        assert ch.key_index(form) == -1 and ch.candidates(form) == () and form not in ch
    assert ch.key_index("fifty") >= 0 and ch.candidates("fifty")


def test_check_keeps_numbers_written_in_digits():
    import unspin

    text = ("Savings of up to 50 percent are obtainable, and 80 miles of trails were built by 3,000 men "
            "in 1961. The depot held 12 trucks and 40 tanks.")
    rep = unspin.check(text, fast=True)
    assert not any(any(ch.isdigit() for ch in s.spun) for s in rep.swaps), rep.swaps
    for number in ("50", "80", "3,000", "1961", "12", "40"):
        assert number in rep.restored


def test_every_form_of_a_tag_is_an_original():
    # lemminflect gives "be" two past forms (was, were) and two present ones besides "is" (am,
    # are); a spinner writes its term's one form for the tag ("existed", "exist"), and the
    # table inverts it to each of the original's forms
    ch = Channel()
    for spun, originals in (("existed", ("was", "were")), ("exist", ("are", "am", "is")),
                            ("beryllium", ("be", "was", "were", "are"))):
        found = {c.original for c in ch.candidates(spun)}
        assert set(originals) <= found, (spun, set(originals) - found)
    # the present plural inflects like the base form: "are" -> the term as it is, never "exists"
    assert "are" not in {c.original for c in ch.candidates("exists")}


def test_key_lookups_same_before_and_after_the_dict():
    """A long run switches key look-ups from bisection to a dict (Channel.KEY_DICT_AFTER); the
    answers must not change: keys, phrases, misses, and keys with a digit (never undone)."""
    ch = Channel()
    keys = ch._keys
    digit_keys = [k for k in keys if any(c.isdigit() for c in k)][:20]
    assert len(digit_keys) == 20 and len(set(keys)) == len(keys)
    probes = keys[:: max(1, len(keys) // 500)] + digit_keys + ["astatine", "in accord circumstances",
                                                                   "zzqx not a key", "50", "", "the cat"]
    before = [ch.key_index(p) for p in probes]
    assert all(i == -1 for p, i in zip(probes, before) if any(c.isdigit() for c in p))
    assert sum(i >= 0 for i in before) > 400
    fresh = Channel()
    fresh._lookups = fresh.KEY_DICT_AFTER  # the next new string builds the dict
    fresh.key_index("zzqx first probe")
    assert fresh._key_rows is not None
    assert [fresh.key_index(p) for p in probes] == before
    assert all(keys[i] == p for p, i in zip(probes, before) if i >= 0)


def test_pair_index_holds_every_pair_that_opens_a_key():
    """Decoder._prepare makes a word pair's string only where the pair may open a multi-word
    key: every pair that opens one must pass, and nearly every other must not."""
    ch = Channel()
    assert ch.pair_index is None
    ch.build_pair_index()
    multi = [k for k in ch._keys[::97] if " " in k]
    assert len(multi) > 500
    heads = [k.split(" ")[:2] for k in multi]
    assert ch.pairs_in_index([h[0] for h in heads], [h[1] for h in heads]).all()
    assert ch.pairs_in_index(["in", "united"], ["accord", "states"]).tolist() == [True, True]
    # (not "in bananas" -> False: the bits come from str hashes, which Python salts per process,
    # so any one pair that opens no key shares a bit in some 3% of runs; the share below is the
    # test of that side)
    words = [k.split(" ")[0] for k in ch._keys[::53]]
    others = [(a, b) for a, b in zip(words, words[1:]) if f"{a} {b}" not in ch.key_prefixes and ch.key_index(f"{a} {b}") < 0
              and not any(c.isdigit() for c in a + b)]
    assert len(others) > 5000
    # (a bit set of 2**23 bits for about 250,000 pairs: some 3% of the others share a bit)
    passed = ch.pairs_in_index([a for a, _ in others], [b for _, b in others]).mean()
    assert passed < 0.06, passed
