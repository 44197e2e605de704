"""The dev sets' spinner simulators (bench/devsets/spinners.py): what the benchmarks measure
against must itself do what it says."""
from __future__ import annotations

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench" / "devsets"))

from spinners import Unit, _runs  # noqa: E402


def _adjacent_share(units: list[Unit]) -> float:
    starts = {u.i for u in units}
    ends = {u.j for u in units}
    return sum(u.j in starts or u.i in ends for u in units) / len(units)


def test_runs_take_k_units_in_runs_of_neighbours():
    """_runs: exactly k distinct units, in text order; with p_next 0.7 most of them stand next to
    another chosen one (independent choice at a rate of 0.3: about half as many); p_next 0:
    isolated picks only by chance; units with a gap between them never join a run."""
    units = [Unit(i, i + 1) for i in range(300)]
    for k in (1, 30, 90, 300):
        got = _runs(units, k, 0.7, random.Random(k))
        assert len(got) == k and len({u.i for u in got}) == k
        assert [u.i for u in got] == sorted(u.i for u in got)
    rng = random.Random(1)
    clustered = _adjacent_share(_runs(units, 90, 0.7, rng))
    independent = _adjacent_share(sorted(random.Random(1).sample(units, 90), key=lambda u: u.i))
    assert clustered > 0.7 and independent < 0.6
    gapped = [Unit(2 * i, 2 * i + 1) for i in range(100)]  # a word between every two units
    assert _adjacent_share(_runs(gapped, 40, 1.0, random.Random(3))) == 0.0
