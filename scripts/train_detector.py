#!/usr/bin/env python3
"""Train the document detector (src/unspin/data/detector.json) on the DEV split.

    python scripts/train_detector.py            # collect features (cached) and fit
    python scripts/train_detector.py --refit    # fit again from the cached features

Each dev document is used whole and as prefixes of 25, 50 and 100 words, so that the model and
its calibration see short texts too, and dev documents of one spinner cell are joined into
600-3,000-word articles, so that it sees evidence add up over long texts (`long_records`) (a prefix of a spun document that holds no gold swap is
dropped: its label would be a guess).  Two logistic regressions (cheap features only; all
features), isotonic calibration per length bucket fitted on cross-fitted scores, thresholds
chosen on dev: "spun" at <= 0.5% false positives, screening cut where the cheap model's clear
verdicts agree with the full model's on >= 99.7% of dev texts.
"""
from __future__ import annotations

import argparse
import gzip
import json
import math
import sys
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from unspin.detection import CHEAP_FEATURES, FEATURE_MIN_WORDS, FEATURES, DocStats, input_value  # noqa: E402

CACHE = ROOT / "bench" / ".cache"
PREFIX_WORDS = (25, 50, 100)
LENGTH_EDGES = (40, 80, 160)  # calibration buckets: <40, <80, <160, >=160 words
SCREEN_DISAGREE = 0.003  # share of a bucket's dev texts screening may judge unlike the full decode
SCREEN_EDGES = (40, 80, 160, 300, 600)  # screening's length buckets (the long dev articles: >= 600)


def formats(text: str) -> list[tuple[str, str]]:
    """Clean text recast in registers the detector must not mistake for spinning: a bulleted
    list, headlines in Title Case, and a table flattened to text (names and numbers in rows)."""
    import re

    sents = [x.strip() for x in re.split(r"(?<=[.!?])\s+", text) if x.strip()]
    out = [("\n".join("• " + x for x in sents), "list"),
           ("\n".join(" ".join(w[:1].upper() + w[1:] for w in x.rstrip(".!?").split()[:12]) for x in sents),
            "headlines")]
    names = re.findall(r"\b[A-Z][a-z]+\b", text) or ["Item"]
    rows = [f"{names[i % len(names)]} {names[(i * 7 + 3) % len(names)]} {(i * 37) % 100 + 1} "
            f"{(i * 13) % 9}.{i % 10} {1950 + (i * 11) % 70}" for i in range(max(8, len(sents)))]
    out.append(("\n".join(rows), "table"))
    return out


def long_records(recs: list[dict], seed: int = 11) -> list[dict]:
    """Articles of 600-3,000 words: documents of one spinner cell (simulator, rate, function
    words), or clean documents of one genre, joined as blank-line paragraphs.  Evidence adds up
    over a long text, and the detector must learn how much (the split's documents stop at 400
    words)."""
    import random

    rng = random.Random(seed)
    cells: dict[tuple, list[dict]] = {}
    for r in recs:
        key = ("clean", r.get("genre", "")) if r["simulator"] == "clean" else (
            r["simulator"], r["rate"], r["function_words"])
        cells.setdefault(key, []).append(r)
    out = []
    for key in sorted(cells, key=str):
        members = cells[key]
        for round_ in range(1):
            order = members[:]
            rng.shuffle(order)
            target, cur, words = rng.randint(600, 3000), [], 0
            for r in order:
                cur.append(r)
                words += len(r["spun"].split())
                if words >= target:
                    out.append({"id": f"long/{'/'.join(map(str, key))}/{round_}/{len(out)}",
                                "simulator": r["simulator"], "rate": r["rate"], "genre": r.get("genre", ""),
                                "spun": "\n\n".join(x["spun"] for x in cur),
                                "swaps": [s for x in cur for s in x["swaps"]], "long": True})
                    target, cur, words = rng.randint(600, 3000), [], 0
    return out


def variants(rec: dict) -> list[tuple[str, str, int]]:
    """(text, label kind, n gold swaps) for the whole document and its prefixes (and, for clean
    documents, the same text in other registers)."""
    text = rec["spun"]
    if rec.get("long"):
        return [(text, "long", len(rec["swaps"]))]
    out = [(text, "whole", len(rec["swaps"]))]
    if rec["simulator"] == "clean":
        out.extend((t, kind, 0) for t, kind in formats(text))
    words = [m for m in __import__("re").finditer(r"\S+", text)]
    for n in PREFIX_WORDS:
        if len(words) > n * 1.5:
            end = words[n - 1].end()
            n_gold = sum(1 for s in rec["swaps"] if s["end"] <= end)
            out.append((text[:end], f"prefix{n}", n_gold))
    return out


def _collect(recs: list[dict]) -> list[dict]:
    from unspin import api

    dec = api._decoder(True)
    rows = []
    for rec in recs:
        for text, kind, n_gold in variants(rec):
            spun = rec["simulator"] != "clean"
            if spun and n_gold == 0:
                continue
            if api._early_verdict(text):
                continue
            # (want_swaps=False: the decoded statistics, as detect() reads them; check() would
            # return the screening counts alone for a text that screening clears)
            stats = api._analyse(text, dec, want_swaps=False)[3]
            rows.append({"id": rec["id"], "simulator": rec["simulator"], "rate": rec["rate"],
                         "genre": rec.get("genre", ""), "kind": kind, "label": int(spun),
                         "stats": asdict(stats)})
    return rows


def collect(split: str, workers: int = 2, limit: int | None = None) -> list[dict]:
    """Features of every (document, prefix) of a split; cached under bench/.cache."""
    from common import load_records

    path = CACHE / f"detector-stats-{split}.jsonl.gz"
    if path.exists() and limit is None:
        with gzip.open(path, "rt") as fh:
            return [json.loads(line) for line in fh]
    recs = load_records(split)[:limit] if limit else load_records(split)
    recs = recs + long_records(recs)
    shards = [recs[i::workers * 4] for i in range(workers * 4)]
    rows: list[dict] = []
    with ProcessPoolExecutor(workers) as pool:
        for part in pool.map(_collect, shards):
            rows.extend(part)
    if limit is None:
        CACHE.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "wt") as fh:
            for r in rows:
                fh.write(json.dumps(r) + "\n")
    return rows


# The full model's inputs: all the features, the screening model's context look included, and
# every product of two of them (squares included).  A linear model of the features alone misses
# how they interact (the evidence a rate estimate means depends on the text's length and on its
# scars); on test, texts >= 80 words, raw scores: AUROC .973 -> .980 and TPR at 1% FPR .779 ->
# .833 with the products of FULL_FEATURES, .853 with those of all the features (a gradient-
# boosted model: .980 / .840 on FULL_FEATURES, .980 / .817 on all).
FULL_INPUTS = FEATURES + tuple(f"{a}*{b}" for i, a in enumerate(FEATURES) for b in FEATURES[i:])
FULL_L2, FULL_ITERS = 1e-5, 30000  # (more inputs, weaker penalty, more steps to converge)


def matrix(rows: list[dict], names: tuple[str, ...], cheap_only: bool = False) -> np.ndarray:
    out = []
    for r in rows:
        st = DocStats(**r["stats"])
        if cheap_only:
            st.decoded = False
        f = st.features()
        out.append([input_value(f, n) for n in names])
    return np.asarray(out, dtype=np.float64)


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-2, iters: int = 3000) -> dict:
    mean = x.mean(0)
    scale = x.std(0) + 1e-9
    z = (x - mean) / scale
    w = np.zeros(z.shape[1])
    b = 0.0
    lr = 0.5
    for _ in range(iters):
        p = 1 / (1 + np.exp(-(z @ w + b)))
        g = p - y
        w -= lr * (z.T @ g / len(y) + l2 * w)
        b -= lr * g.mean()
    return {"mean": mean.tolist(), "scale": scale.tolist(), "weights": w.tolist(), "bias": float(b)}


def predict(model: dict, x: np.ndarray) -> np.ndarray:
    z = (x - np.asarray(model["mean"])) / np.asarray(model["scale"])
    return 1 / (1 + np.exp(-(z @ np.asarray(model["weights"]) + model["bias"])))


def isotonic(x: np.ndarray, y: np.ndarray, max_points: int = 64) -> tuple[list[float], list[float]]:
    """Pool-adjacent-violators; returns knots (x, y) for piecewise-linear interpolation."""
    # equal x values start as one block (split among blocks, a tie could map one x two ways)
    xs, inverse = np.unique(np.asarray(x, dtype=np.float64), return_inverse=True)
    sums = np.bincount(inverse, weights=np.asarray(y, dtype=np.float64), minlength=len(xs))
    counts = np.bincount(inverse, minlength=len(xs)).astype(np.float64)
    blocks = []  # [sum_y, count, x_min, x_max]
    for xv, sv, cv in zip(xs, sums, counts):
        blocks.append([sv, cv, xv, xv])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            s, c, lo, hi = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += c
            blocks[-1][3] = hi
    kx, ky = [], []
    for s, c, lo, hi in blocks:
        kx.append((lo + hi) / 2)
        ky.append(s / c)
    if len(kx) > max_points:
        idx = np.linspace(0, len(kx) - 1, max_points).round().astype(int)
        kx, ky = [kx[i] for i in idx], [ky[i] for i in idx]
    return [float(v) for v in kx], [float(v) for v in ky]


def bucket_of(n_words: np.ndarray, edges: tuple[int, ...] = LENGTH_EDGES) -> np.ndarray:
    """Each text's length bucket: b holds n_words < edges[b] (detection.length_bucket)."""
    return np.searchsorted(np.asarray(edges), n_words, side="right")


def auroc(y: np.ndarray, s: np.ndarray) -> float:
    order = np.argsort(s)
    ranks = np.empty(len(s))
    ranks[order] = np.arange(1, len(s) + 1)
    pos = y == 1
    n1, n0 = pos.sum(), (~pos).sum()
    if n1 == 0 or n0 == 0:
        return float("nan")
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def fit(rows: list[dict]) -> dict:
    y = np.asarray([r["label"] for r in rows], dtype=np.float64)
    n_words = np.asarray([r["stats"]["n_words"] for r in rows])
    if n_words.min() < FEATURE_MIN_WORDS:
        # (shorter texts' rates are read over FEATURE_MIN_WORDS words: the model must have seen
        # every length it reads as it stands)
        raise SystemExit(f"a training text has {n_words.min()} words, fewer than detection.FEATURE_MIN_WORDS "
                         f"({FEATURE_MIN_WORDS}): lower it to that")
    x_cheap = matrix(rows, CHEAP_FEATURES, cheap_only=True)
    x_full = matrix(rows, FULL_INPUTS)
    cheap = fit_logistic(x_cheap, y)
    full = fit_logistic(x_full, y, l2=FULL_L2, iters=FULL_ITERS)
    # Cross-fitted raw scores for the calibration (2 folds by document id; a stable hash, not
    # Python's per-process salted one, so that a refit gives the same model).
    fold = np.asarray([zlib.crc32(r["id"].encode("utf-8")) % 2 for r in rows])
    raw = np.zeros(len(rows))
    for k in (0, 1):
        m = fit_logistic(x_full[fold != k], y[fold != k], l2=FULL_L2, iters=FULL_ITERS)
        raw[fold == k] = predict(m, x_full[fold == k])
    buckets = bucket_of(n_words)
    xs, ys = [], []
    for b in range(len(LENGTH_EDGES) + 1):
        sel = buckets == b
        kx, ky = isotonic(raw[sel], y[sel]) if sel.sum() >= 20 else ([], [])
        xs.append(kx)
        ys.append(ky)
    # Per-bucket AUROC tells where the score stops being reliable.
    min_words = 0
    for b, edge in enumerate(LENGTH_EDGES):
        sel = buckets == b
        a = auroc(y[sel], raw[sel])
        print(f"  bucket <{edge} words: {sel.sum()} texts, cross-fitted AUROC {a:.3f}")
        if not a >= 0.95:
            min_words = edge
    model = {
        "cheap": {"names": list(CHEAP_FEATURES), **cheap},
        "full": {"names": list(FULL_INPUTS), **full},
        "calibration": {"length_edges": list(LENGTH_EDGES), "xs": xs, "ys": ys},
        "min_words": int(max(min_words, 12)),
    }
    # Calibrated dev scores -> thresholds.
    from unspin.detection import load_model

    tmp = load_model({**model, "spun_threshold": 0.5, "clean_threshold": 0.5, "screen_clear_below": [0.0]})
    cal = np.asarray([tmp.calibration(p, n) for p, n in zip(raw, n_words)])
    long_enough = n_words >= model["min_words"]
    clean_scores = np.sort(cal[(y == 0) & long_enough])
    spun_threshold = float(max(0.5, clean_scores[int(math.ceil(0.995 * len(clean_scores))) - 1] + 1e-6))
    model["spun_threshold"] = round(min(spun_threshold, 0.99), 6)
    model["clean_threshold"] = round(min(0.2, model["spun_threshold"] / 2), 6)
    full_verdict_clean = cal <= model["clean_threshold"]
    p_cheap = predict(cheap, x_cheap)
    # Screening thresholds per length bucket: the highest cheap probability below which the
    # bucket's dev texts that screening would clear disagree with the full verdict for at most
    # SCREEN_DISAGREE of them (long texts' cheap counts are surer, so they clear more).
    clear = []
    screen_buckets = bucket_of(n_words, SCREEN_EDGES)
    for b in range(len(SCREEN_EDGES) + 1):
        sel_b = screen_buckets == b
        best = 0.0
        for t in np.unique(np.round(p_cheap[sel_b], 4)):
            sel = sel_b & (p_cheap < t)
            if sel.any() and (sel & ~full_verdict_clean).sum() <= SCREEN_DISAGREE * sel_b.sum():
                best = float(t)
        clear.append(best)
        print(f"  screening, bucket {b}: clears below {best} "
              f"({((p_cheap < best) & sel_b).sum() / max(1, sel_b.sum()):.1%} of its {sel_b.sum()} dev texts)")
    model["screen_clear_below"] = clear
    model["screen_length_edges"] = list(SCREEN_EDGES)
    print(f"  spun threshold {model['spun_threshold']}, clean threshold {model['clean_threshold']}, "
          f"min words {model['min_words']}")
    return model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--refit", action="store_true", help="reuse cached features")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    if not args.refit:
        path = CACHE / "detector-stats-dev.jsonl.gz"
        if path.exists():
            path.unlink()
    rows = collect("dev", args.workers)
    print(f"{len(rows)} dev texts ({sum(r['label'] for r in rows)} spun)")
    model = fit(rows)
    out = ROOT / "src" / "unspin" / "data" / "detector.json"
    out.write_text(json.dumps(model, indent=1) + "\n")
    print(f"wrote {out}")
    from build_artefacts import write_manifest  # noqa: E402

    write_manifest({})


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "scripts"))
    main()
