#!/usr/bin/env python3
"""Fit the calibration of the neural tier's rescored swaps (data/params.json, "rescored_calibration").

    python scripts/calibrate_neural.py [--limit 200]   # collect (cached in bench/.cache) and fit
    python scripts/calibrate_neural.py --refit         # fit again from the cached swaps

A swap the neural tier rescored is reported at its rescored posterior times the document's gate
(see unspin.api), which runs high: on test, the ones listed at 0.9-1 averaged 0.99 and 84% were
real.  This runs `unspin.check` with the neural tier over --limit dev records (spread over the
split) without a calibration, keeps every listed swap the model rescored (real: every word of
its span inside a gold swap, as bench/accuracy.py counts), and fits an isotonic map from the
reported probability to the share real (unspin.swap_model.calibrated applies it, never below
the report threshold).  The swaps the model does not rescore are the swap model's, calibrated
by scripts/train_swap_model.py.  Needs the neural tier (make neural); about 2 s a record.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "scripts"))
from common import CACHE, load_records, word_spans, words_in_gold  # noqa: E402
from train_detector import isotonic  # noqa: E402

PARAMS = ROOT / "src" / "unspin" / "data" / "params.json"
MARK = "\x00rescored"  # appended to a rescored swap's thesaurus while collecting, to tell it apart


class _Marking:
    """The neural tier's decoder, its rescored swaps' thesaurus marked (api copies it into the
    reported Swap), and no calibration."""

    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def decode_batch(self, *args, **kwargs):
        out = self.inner.decode_batch(*args, **kwargs)
        for r in out:
            r.swaps = [dataclasses.replace(s, thesaurus=s.thesaurus + MARK) if s.rescored else s for s in r.swaps]
        return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=200, help="dev records, spread over the split")
    ap.add_argument("--refit", action="store_true", help="fit again from the swaps collected last time")
    args = ap.parse_args()
    cache = CACHE / "rescored-swaps-dev.npz"
    if args.refit and cache.exists():
        got = np.load(cache)
        fit(got["p"], got["y"], int(got["records"]))
        return 0
    from unspin import api
    from unspin.neural import RescoreParams, RescoringDecoder, neural_lm

    nlm = neural_lm()
    if nlm is None:
        raise SystemExit("the neural tier is not installed (make neural)")
    decoder = _Marking(RescoringDecoder(api.make_decoder(store_shortlist=RescoreParams.shortlist), nlm,
                                        calibration=((), ())))
    recs = load_records("dev")
    step = len(recs) / min(args.limit, len(recs))
    recs = [recs[int(i * step)] for i in range(min(args.limit, len(recs)))]
    probs, real = [], []
    t0 = time.time()
    for k, rec in enumerate(recs, 1):
        report = api.check(rec["spun"], decoder=decoder)
        spans = word_spans(rec["spun"])
        for s in report.swaps:
            if not s.thesaurus.endswith(MARK):
                continue
            inside, n_words = words_in_gold(spans, rec["swaps"], s.start, s.end)
            probs.append(s.probability)
            real.append(n_words > 0 and inside == n_words)
        if k % 25 == 0:
            print(f"  {k}/{len(recs)} records, {len(probs)} rescored swaps, {time.time() - t0:.0f} s", flush=True)
    p, y = np.asarray(probs), np.asarray(real, dtype=np.float64)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(cache, p=p, y=y, records=len(recs))
    fit(p, y, len(recs))
    return 0


def fit(p: np.ndarray, y: np.ndarray, n_records: int) -> None:
    for lo, hi in ((0.5, 0.6), (0.6, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 1.01)):
        sel = (p >= lo) & (p < hi)
        if sel.any():
            print(f"  listed at {lo:.1f}-{min(hi, 1.0):.1f}: {sel.sum():5d} rescored swaps, mean {p[sel].mean():.3f}, "
                  f"real {y[sel].mean():.3f}")
    kx, ky = isotonic(p, y)
    raw = json.loads(PARAMS.read_text(encoding="utf-8"))
    raw["rescored_calibration"] = {"x": [round(v, 6) for v in kx], "y": [round(v, 6) for v in ky],
                                   "fitted_on": f"{len(p)} rescored swaps of {n_records} dev records",
                                   "command": "python scripts/calibrate_neural.py " + " ".join(sys.argv[1:])}
    PARAMS.write_text(json.dumps(raw, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    from build_artefacts import write_manifest

    write_manifest({})
    print(f"wrote the calibration ({len(kx)} knots) into {PARAMS.relative_to(ROOT)} and refreshed the manifest")


if __name__ == "__main__":
    sys.exit(main())
