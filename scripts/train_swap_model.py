#!/usr/bin/env python3
"""Train the swap model (unspin.swap_model) on the dev split and write src/unspin/data/swap_model.json.

    python scripts/train_swap_model.py [--weight 2.0] [--refit] [--cv]

1. Collect: unspin.check over bench/devsets/dev.jsonl.gz with a recording model in place of the
   shipped one, so that every swap the model would look at (posterior x P(document is spun) **
   doc_power >= --floor) is reported and its feature row kept, exactly as check() builds it.
   A swap is positive when every word of its span lies inside a gold swap.  Cached in
   bench/.cache/swap-features-dev.npz (--refit reuses it).
2. Fit scikit-learn's GradientBoostingClassifier (depth-3 trees), a real swap weighted --weight
   and one whose original is also right --exact-weight (a false one 1): the report threshold
   stays 0.5, and a real swap is worth more than a false one to locate F1 and restore (weights
   1 give calibrated probabilities, whose best F1 threshold is near 0.35 and which restore less).
   --cv prints 5-fold figures (folds by document) for several weights first.
3. Export the trees (padded to one node count) to JSON, evaluated by SwapModel.probability,
   with the calibration of its reported probabilities (SwapModel.reported: isotonic, on 5-fold
   cross-fitted scores).  --calibrate-only fits that calibration alone for the shipped model.

Needs scikit-learn (pip install scikit-learn); the package itself does not.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "src"))
from common import CACHE, parsed_settings, load_records, norm_words, word_spans, words_in_gold  # noqa: E402

from unspin.swap_model import FEATURES, SwapModel  # noqa: E402

SHIPPED = OUT = ROOT / "src" / "unspin" / "data" / "swap_model.json"
FLOOR = 0.15
NEAR = 0.05
THRESHOLD = 0.5
DEPTH = 3
TREES = 150
LEARNING_RATE = 0.1


class _Recorder:
    """Stands in for the model: looks at what the real one would, reports all of it."""

    threshold = THRESHOLD

    def __init__(self, floor: float, near: float):
        self.floor = floor
        self.near = near
        self.rows: list[list[float]] = []

    def probability(self, rows):
        self.rows.extend(rows)
        return np.ones(len(rows))

    @staticmethod
    def reported(score: float) -> float:
        return score


def _collect(job):
    recs, floor, near, overrides = job
    from dataclasses import replace

    from unspin.api import _config, check, make_decoder

    recorder = _Recorder(floor, near)
    decoder = make_decoder(replace(_config().decoder, **overrides), swap_model=recorder)
    out_rows, labels, doc, tok_in, tok_all, exact, clean = [], [], [], [], [], [], []
    gold_tokens = clean_words = 0
    gold_swaps = 0
    for rec in recs:
        spun, gold = rec["spun"], rec["swaps"]
        recorder.rows = []
        report = check(spun, decoder=decoder)
        if len(recorder.rows) != len(report.swaps):
            raise RuntimeError(f"{rec['id']}: {len(recorder.rows)} rows for {len(report.swaps)} swaps")
        spans = word_spans(spun)
        is_clean = rec["simulator"] == "clean"
        clean_words += len(norm_words(rec["original"])) if is_clean else 0
        gold_tokens += sum(any(g["start"] <= a and b <= g["end"] for g in gold) for a, b in spans)
        gold_swaps += len(gold)
        key = zlib.crc32(rec["id"].encode())
        for row, s in zip(recorder.rows, report.swaps):
            inside, n_words = words_in_gold(spans, gold, s.start, s.end)
            out_rows.append(row)
            labels.append(n_words > 0 and inside == n_words)
            doc.append(key)
            clean.append(is_clean)
            tok_in.append(inside)
            tok_all.append(n_words)
            exact.append(any(g["start"] == s.start and g["end"] == s.end
                             and norm_words(g["original"]) == norm_words(s.original) for g in gold))
    return out_rows, labels, doc, tok_in, tok_all, exact, clean, gold_tokens, gold_swaps, clean_words


def collect(floor: float, near: float, workers: int, overrides: dict | None = None) -> dict:
    recs = load_records("dev")
    t0 = time.time()
    parts = [(recs[i::workers], floor, near, overrides or {}) for i in range(workers)]
    with ProcessPoolExecutor(workers) as pool:
        got = list(pool.map(_collect, parts))
    data = {k: np.concatenate([np.asarray(g[i]) for g in got]) for i, k in
            enumerate(["x", "y", "doc", "tok_in", "tok_all", "exact", "clean"])}
    data["x"] = data["x"].reshape(-1, len(FEATURES))
    for i, k in enumerate(["gold_tokens", "gold_swaps", "clean_words"], 7):
        data[k] = np.asarray(sum(g[i] for g in got))
    print(f"collected {len(data['y'])} candidate swaps from {len(recs)} dev texts in {time.time() - t0:.0f}s",
          flush=True)
    return data


def figures(d: dict, keep: np.ndarray) -> dict:
    tp = int(d["tok_in"][keep].sum())
    fp = int((d["tok_all"] - d["tok_in"])[keep].sum())
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / int(d["gold_tokens"])
    return {"locate_p": p, "locate_r": r, "locate_f1": 2 * p * r / (p + r) if p + r else 0.0,
            "restore": int(d["exact"][keep].sum()) / int(d["gold_swaps"]),
            "false_per_1k": 1000 * int((keep & d["clean"].astype(bool)).sum()) / int(d["clean_words"])}


def fit(x, y, exact, clean, weight, exact_weight, clean_weight):
    from sklearn.ensemble import GradientBoostingClassifier

    m = GradientBoostingClassifier(n_estimators=TREES, max_depth=DEPTH, learning_rate=LEARNING_RATE, random_state=0)
    m.fit(x, y, sample_weight=np.where(exact & y, exact_weight, np.where(y, weight, np.where(clean, clean_weight, 1.0))))
    return m


def calibration(x, y, exact, clean, doc, weight, exact_weight, clean_weight) -> tuple[list[float], list[float]]:
    """Knots of an isotonic map from the model's score to the share real (SwapModel.reported):
    fitted on 5-fold cross-fitted scores (folds by document; the shipped model's own scores on
    its training rows would overstate), over the candidates scored at or above THRESHOLD, the
    ones check() lists."""
    from train_detector import isotonic

    fold = doc % 5
    score = np.zeros(len(y))
    for k in range(5):
        tr = fold != k
        score[fold == k] = fit(x[tr], y[tr], exact[tr], clean[tr], weight, exact_weight, clean_weight).predict_proba(
            x[fold == k])[:, 1]
    listed = score >= THRESHOLD
    kx, ky = isotonic(score[listed], y[listed].astype(np.float64))
    for lo, hi in ((0.5, 0.6), (0.6, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 1.01)):
        sel = listed & (score >= lo) & (score < hi)
        print(f"  cross-fitted score {lo:.1f}-{min(hi, 1.0):.1f}: {sel.sum():6d} candidates, real {y[sel].mean():.3f}")
    return kx, ky


def export(m, floor: float, near: float, meta: dict) -> SwapModel:
    trees = [est[0].tree_ for est in m.estimators_]
    nodes = max(t.node_count for t in trees)
    shape = (len(trees), nodes)
    feature = np.zeros(shape, np.int64)
    split = np.zeros(shape)
    left = np.tile(np.arange(nodes), (len(trees), 1))  # (padding and leaves point to themselves)
    right = left.copy()
    value = np.zeros(shape)
    for i, t in enumerate(trees):
        n = t.node_count
        leaf = t.children_left[:n] < 0
        feature[i, :n] = np.where(leaf, 0, t.feature[:n])
        split[i, :n] = np.where(leaf, np.inf, t.threshold[:n])
        left[i, :n] = np.where(leaf, np.arange(n), t.children_left[:n])
        right[i, :n] = np.where(leaf, np.arange(n), t.children_right[:n])
        value[i, :n] = t.value[:n, 0, 0]
    probe = np.zeros((1, len(FEATURES)))
    # the ensemble's starting log-odds (sklearn's prior), read back from its decision function
    init = float(m.decision_function(probe)[0]) - LEARNING_RATE * sum(float(t.predict(probe.astype(np.float32)).ravel()[0])
                                                                      for t in trees)
    model = SwapModel(FEATURES, feature, split, left, right, value, init, LEARNING_RATE, DEPTH, floor, near, THRESHOLD, meta)
    return model


def write(model: SwapModel) -> None:
    """The model to OUT; when that is the shipped file, data/MANIFEST.json re-hashed too (as
    train_detector.py does), so that the artefacts and their manifest never disagree."""
    OUT.write_text(json.dumps(model.to_dict(), separators=(",", ":")) + "\n", encoding="utf-8")
    if OUT == SHIPPED:
        sys.path.insert(0, str(ROOT / "scripts"))
        from build_artefacts import write_manifest  # noqa: E402

        write_manifest({})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weight", type=float, default=1.5, help="weight of a real swap whose original is wrong")
    ap.add_argument("--exact-weight", type=float, default=4.0, help="weight of a real swap restored exactly")
    ap.add_argument("--clean-weight", type=float, default=10.0, help="weight of a false swap in a clean text")
    ap.add_argument("--floor", type=float, default=FLOOR)
    ap.add_argument("--near", type=float, default=NEAR)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--refit", action="store_true", help="reuse the collected features")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="a decoder parameter for the collection (tuning only: the shipped params.json is not changed)")
    ap.add_argument("--cv", action="store_true", help="5-fold figures for several weights first")
    ap.add_argument("--calibrate-only", action="store_true",
                    help="fit only the shipped model's calibration (SwapModel.reported), at the weights it was trained with")
    ap.add_argument("--cv-weights", help="the --cv settings: w/we/wc[,w/we/wc...] (default: five of them)")
    args = ap.parse_args()
    cache = CACHE / "swap-features-dev.npz"
    if args.set:  # (a tuning run: its features are not the shipped parameters', nor is its model)
        cache = CACHE / "swap-features-dev-tuning.npz"
        global OUT
        OUT = CACHE / "swap_model-tuning.json"
    if args.refit and cache.exists():
        d = dict(np.load(cache))
    else:
        from unspin.api import _config

        overrides = parsed_settings(args.set, like=_config().decoder)
        d = collect(args.floor, args.near, args.workers, overrides)
        CACHE.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(cache, **d)
    x, y, exact, clean = d["x"], d["y"].astype(bool), d["exact"].astype(bool), d["clean"].astype(bool)
    base = figures(d, np.ones(len(y), bool))  # (the recorder reports every candidate)
    print(f"every candidate: false {base['false_per_1k']:.2f} per 1k clean words, F1 {base['locate_f1']:.3f} (P {base['locate_p']:.3f} R {base['locate_r']:.3f}), "
          f"restore {base['restore']:.3f}")
    if args.cv:
        fold = d["doc"] % 5
        settings = ((1.0, 1.0, 1.0), (2.5, 2.5, 1.0), (1.5, 4.0, 1.0), (1.5, 4.0, 3.0), (1.5, 4.0, 10.0))
        if args.cv_weights:
            settings = [tuple(float(v) for v in item.split("/")) for item in args.cv_weights.split(",")]
        for w, we, wc in settings:
            score = np.zeros(len(y))
            for k in range(5):
                tr = fold != k
                m = fit(x[tr], y[tr], exact[tr], clean[tr], w, we, wc)
                score[fold == k] = m.predict_proba(x[fold == k])[:, 1]
            f = figures(d, score >= THRESHOLD)
            print(f"cv weights {w} / {we} / {wc}: false {f['false_per_1k']:.2f} per 1k clean words, F1 {f['locate_f1']:.3f} (P {f['locate_p']:.3f} R {f['locate_r']:.3f}), "
                  f"restore {f['restore']:.3f}", flush=True)
    if args.calibrate_only:
        shipped = SwapModel.from_dict(json.loads(OUT.read_text(encoding="utf-8")))
        w = shipped.meta
        kx, ky = calibration(x, y, exact, clean, d["doc"], w["positive_weight"], w["exact_weight"], w["clean_weight"])
        model = dataclasses.replace(shipped, calibration_x=tuple(kx), calibration_y=tuple(ky))
        write(model)
        print(f"wrote the calibration ({len(kx)} knots) into {OUT.relative_to(ROOT)}")
        return 0
    m = fit(x, y, exact, clean, args.weight, args.exact_weight, args.clean_weight)
    meta = {"trained_on": "bench/devsets/dev.jsonl.gz", "candidates": int(len(y)), "positive_weight": args.weight,
            "exact_weight": args.exact_weight, "clean_weight": args.clean_weight,
            "trees": TREES, "learning_rate": LEARNING_RATE,
            "command": "python scripts/train_swap_model.py " + " ".join(sys.argv[1:])}
    model = export(m, args.floor, args.near, meta)
    kx, ky = calibration(x, y, exact, clean, d["doc"], args.weight, args.exact_weight, args.clean_weight)
    model = dataclasses.replace(model, calibration_x=tuple(kx), calibration_y=tuple(ky))
    check = model.probability(x[:2000])
    ref = m.predict_proba(x[:2000])[:, 1]
    if not np.allclose(check, ref, atol=1e-6):
        raise SystemExit(f"export differs from sklearn: max {np.abs(check - ref).max():.2e}")
    write(model)
    f = figures(d, model.probability(x) >= THRESHOLD)
    print(f"wrote {OUT.relative_to(ROOT)} ({OUT.stat().st_size // 1024} KB); on dev itself: F1 {f['locate_f1']:.3f}, "
          f"restore {f['restore']:.3f}, false {f['false_per_1k']:.2f} per 1k clean words")
    return 0


if __name__ == "__main__":
    sys.exit(main())
