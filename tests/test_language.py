"""English detection: cases as data (tests/cases/language.json), shares, cold start."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from unspin.language import (
    _FOREIGN_MARKERS,
    build_foreign_markers,
    english_share,
    is_english,
    language_stats,
)

CASES = json.loads((Path(__file__).parent / "cases" / "language.json").read_text("utf-8"))


@pytest.mark.parametrize("case", CASES, ids=[c["label"] for c in CASES])
def test_case(case):
    share = english_share(case["text"])
    assert 0.0 <= share <= 1.0
    assert is_english(case["text"]) is case["english"], share
    # not just on the right side of the line: clear cases are clear
    if case["english"]:
        assert share >= 0.75
    else:
        assert share <= 0.3


def test_both_sides_covered():
    assert sum(c["english"] for c in CASES) >= 8
    assert sum(not c["english"] for c in CASES) >= 15


def test_no_evidence_is_not_foreign():
    for text in ["", "   \n", "2025 1,000 3.5", "🙂🙂", "Ishiba Nippon"]:
        assert english_share(text) == 1.0


def test_mixed_text_decided_by_english_part():
    en = next(c["text"] for c in CASES if c["label"] == "news with names and numbers")
    fr = next(c["text"] for c in CASES if c["label"] == "French")
    zh = next(c["text"] for c in CASES if c["label"] == "Chinese")
    assert is_english(en + "\n\n" + fr)  # more English than French
    assert not is_english(fr + "\n\n" + fr + "\n\n" + en[:60])
    s = english_share(en + "\n\n" + zh)
    assert 0.3 < s < 0.8  # the share is exposed so the caller can decide per paragraph
    st = language_stats(en + " " + fr)
    assert st.english > 30 and st.foreign > 15


def test_threshold_parameter():
    text = next(c["text"] for c in CASES if c["label"] == "technical text with identifiers")
    share = english_share(text)
    assert is_english(text, threshold=share)
    assert not is_english(text, threshold=min(1.0, share + 0.01))


def test_embedded_markers_match_wordfreq_data():
    assert build_foreign_markers() == _FOREIGN_MARKERS.split()


def test_cold_start_is_cheap():
    code = (
        "import time; t=time.perf_counter(); from unspin.language import is_english; "
        "is_english('The cat sat on the mat.'); print(time.perf_counter()-t); "
        "import sys; print('wordfreq' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    # Timing belongs in bench/speed.py (cold start); here: wordfreq itself is never imported.
    assert out[1] == "False"


def _stats_by_regex(text: str):
    """language_stats read with _TOKEN_RE alone (what it did before its ASCII path)."""
    from unspin import language

    counts = [0, 0, 0]
    for cjk, tok in language._TOKEN_RE.findall(text):
        counts[1 if cjk else language._classify(tok)] += 1
    return tuple(counts)


@pytest.mark.parametrize("text", [
    "The minister's “very, very long standing” ties — and the U.S.’s role… don't 'quote' x'y 'tis rock'n'roll",
    "Plain ASCII: 1990s, e-mail, O'Neill's co-op, ISN'T, a'b'c, ''double'' ' lone '",
    # a run of letters and apostrophes ending in one, or in two (the possessive pattern's edges)
    "ends in an apostrophe' o’ rock’n’roll’ a''b ab’’cd’ ’tis’",
    "naïve café — déjà vu",  # beyond the ASCII path: letters with accents
    "Zürich 東京 and Ελλάδα, “quoted” text’s end",
    "",
    *[c["text"] for c in CASES],
])
def test_the_ascii_path_counts_what_the_regex_path_does(text):
    s = language_stats(text)
    assert (s.english, s.foreign, s.neutral) == _stats_by_regex(text)
