"""Scar repair: cases as data (tests/cases/scars.json), the offset-map property, speed."""
import json
import gc
import time
from pathlib import Path

import pytest

from unspin.report import Scar
from unspin.scars import SCAR_KINDS, repair_scars

CASES = json.loads((Path(__file__).parent / "cases" / "scars.json").read_text("utf-8"))
EXAMPLE = Path(__file__).resolve().parents[2] / "shared" / "examples" / "washington-examiner-spun.txt"


def check_mapping(original: str, r) -> None:
    """to_input maps every repaired character back to the input character it came from."""
    m = list(r.to_input)
    assert len(m) == len(r.text) + 1
    assert m[-1] == len(original)
    assert m[0] == 0 or (len(original) > 0 and original[: m[0]].strip() == "")
    assert all(a <= b for a, b in zip(m, m[1:])), "to_input must be monotone"
    inserted = 0
    for i, ch in enumerate(r.text):
        j = m[i]
        if j < len(original) and original[j] == ch and (i + 1 == len(r.text) or m[i + 1] > j):
            continue
        assert ch == " ", f"repaired char {i} {ch!r} is neither copied nor an inserted space"
        inserted += 1
    # deleted characters are only horizontal whitespace
    kept = set(m[i] for i in range(len(r.text)))
    for j, ch in enumerate(original):
        if j not in kept:
            assert ch in " \t\u00a0", f"input char {j} {ch!r} was deleted"
    # every scar: found is the input slice; repaired is what the span became
    for s in r.scars:
        assert isinstance(s, Scar) and s.kind in SCAR_KINDS
        assert original[s.start:s.end] == s.found
        got = "".join(ch for i, ch in enumerate(r.text) if s.start <= m[i] < s.end)
        assert got == s.repaired, (s, got)
    # spans of the repaired text map back to spans of the input with the same non-space content
    for a in range(0, len(r.text) + 1, max(1, len(r.text) // 7)):
        for b in range(a, len(r.text) + 1, max(1, len(r.text) // 5)):
            src = original[m[a]:m[b]]
            assert "".join(src.split()) == "".join(r.text[a:b].split())


@pytest.mark.parametrize("case", CASES, ids=[c["label"] for c in CASES])
def test_case(case):
    r = repair_scars(case["original"])
    check_mapping(case["original"], r)
    kinds = sorted({s.kind for s in r.scars})
    ok = r.text == case["fixed"] and kinds == sorted(set(case["kinds"]))
    if case.get("expect", "pass") == "fail":
        assert not ok, "known failure now passes: move it to the passing cases"
    else:
        assert r.text == case["fixed"]
        assert kinds == sorted(set(case["kinds"]))
    if case["set"] == "negative":
        assert r.text == case["original"] and r.scars == []


def test_case_file_shape():
    sets = {c["set"] for c in CASES}
    assert sets == {"in-the-wild", "negative", "synthetic"}
    assert sum(c["set"] == "negative" for c in CASES) >= 15


@pytest.mark.skipif(not EXAMPLE.exists(), reason="shared example not available")
def test_whole_example_article():
    text = EXAMPLE.read_text("utf-8")
    r = repair_scars(text)
    check_mapping(text, r)
    assert "U. S." not in r.text and r.text.count("U.S.") == text.count("U. S.")
    assert " ”" not in r.text and "“ " not in r.text
    assert "that’s longer" in r.text and "country’s" in r.text and "U.S.-Japan" in r.text
    assert "U.S., such" in r.text
    assert r.text.count("\n") == text.count("\n")


def test_idempotent():
    for c in CASES:
        once = repair_scars(c["original"]).text
        if c.get("expect", "pass") == "pass":
            assert repair_scars(once).text == once


def test_offset_map_sequence_api():
    r = repair_scars("the U. S. , such")
    assert r.text == "the U.S., such"
    assert r.input_span(4, 8) == (4, 10)  # "U.S." <- "U. S. " (the deleted space goes along)
    assert r.to_input[-1] == 16 and len(r.to_input) == len(r.text) + 1
    assert r.to_input[2:5] == [2, 3, 4]
    with pytest.raises(IndexError):
        r.to_input[len(r.text) + 1]


def test_one_megabyte():
    base = EXAMPLE.read_text("utf-8") if EXAMPLE.exists() else CASES[1]["original"] + "\n"
    clean = repair_scars(base).text + "\n"
    big_clean = (clean * (2**20 // len(clean) + 1))[: 2**20]
    big_spun = (base * (2**20 // len(base) + 1))[: 2**20]
    repair_scars(big_clean)  # warm up
    t = time.perf_counter()
    repair_scars(big_clean)
    clean_s = time.perf_counter() - t
    t = time.perf_counter()
    r = repair_scars(big_spun)
    spun_s = time.perf_counter() - t
    assert len(r.scars) > 1000
    # Throughput is measured in bench/speed.py, not asserted here (a loaded CI box is no clock).
    assert clean_s >= 0 and spun_s >= 0


@pytest.mark.parametrize(
    "unit", [" ,", "U. ", " '", "\t ,", '" ', "“ ”", "it ’s ", "n't "], ids=repr
)
def test_linear_on_adversarial_input(unit):
    """Pathological inputs (a scar or a near-scar every few characters) stay linear:
    4x the input may cost at most ~8x the time (allowing for noise), never quadratic."""

    def cost(n):
        text = unit * n
        best = float("inf")
        # the cyclic GC off while timing: a full collection over the suite's loaded models lands
        # on whichever run allocates most and made the large run look superlinear (CI, once)
        gc.collect()
        gc.disable()
        try:
            for _ in range(3):
                t = time.perf_counter()
                r = repair_scars(text)
                best = min(best, time.perf_counter() - t)
        finally:
            gc.enable()
        assert len(r.to_input) == len(r.text) + 1 and r.to_input[-1] == len(text)
        return best

    # 8x the input: linear costs ~8x, quadratic ~64x.  The bound is loose on purpose (a shared CI
    # box is a noisy clock); it still catches quadratic behaviour.
    small, large = cost(5_000), cost(40_000)
    assert large < 32 * small + 0.1, (small, large)


def test_offset_map_shift_is_its_one_offset_or_none():
    """OffsetMap.shift: the amount every repaired offset moves by where no repair moved a
    character (check() then maps a swap's offsets without a call each), else None."""
    from unspin.scars import OffsetMap, repair_scars

    plain = repair_scars("Nothing to repair here, said the official.").to_input
    assert plain.shift() == 0 and all(plain[i] == i for i in range(len(plain)))
    repaired = repair_scars("The U. S. plan, said the official , was “ new ”.").to_input
    assert repaired.shift() is None and list(repaired) != list(range(len(repaired)))
    moved = OffsetMap([0], [5], 10)
    assert moved.shift() == 5 and [moved[i] for i in range(10)] == list(range(5, 15))
