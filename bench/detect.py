#!/usr/bin/env python3
"""Detector benchmark on the frozen TEST split: accuracy, calibration, baseline, screening, speed.

    python bench/detect.py [--json OUT] [--png bench/out/reliability.png] [--speed-mb 4]

Texts: each test document whole and as 25/50/100-word prefixes, clean ones also as a list,
headlines and a flattened table, and 600-3,000-word articles of one spinner cell (or one genre,
clean) joined as blank-line paragraphs ("long"; scripts/train_detector.py builds all of them).
Accuracy: AUROC, TPR at 1% FPR, expected calibration error (10 bins), per simulator and per
length; 95% intervals of the overall AUROC and TPR over resamples of the test documents (a
document drawn with all its texts); false-positive rate of the default verdict on clean text per
genre.  Baseline in the same
run: a perplexity-only detector (the 3-gram's per-word surprise, as crawl filters like CCNet use).
Screening: share of texts the cheap stage clears, and agreement of screened vs full verdicts.
Short texts: prefixes of 3-30 words of test texts, below and just above the detector's shortest
training texts (its rates are read over at least 15 words, detection.FEATURE_MIN_WORDS).
Speed: screening throughput (MB/s per core) on 300-3,000-word documents, beside a bare regex
word-tokenisation pass over the same text: on first sight (a fresh process, every word type new),
in steady state (other documents screened next, as a long scan meets them), and on the same
documents again (every word type known).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "bench"))

from common import machine, save_reliability_plot  # noqa: E402
from train_detector import auroc, collect  # noqa: E402

from unspin.detection import DocStats, default_model  # noqa: E402


def tpr_at_fpr(y: np.ndarray, s: np.ndarray, fpr: float = 0.01) -> float:
    neg = np.sort(s[y == 0])
    if len(neg) == 0:
        return float("nan")
    t = neg[min(len(neg) - 1, int(np.ceil((1 - fpr) * len(neg))) - 1)]
    return float((s[y == 1] > t).mean())


def ece(y: np.ndarray, p: np.ndarray, bins: int = 10) -> tuple[float, list]:
    edges = np.linspace(0, 1, bins + 1)
    total, table = 0.0, []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (p >= lo) & (p < hi if hi < 1 else p <= hi)
        if sel.any():
            total += sel.sum() / len(p) * abs(p[sel].mean() - y[sel].mean())
            table.append((float(p[sel].mean()), float(y[sel].mean()), int(sel.sum())))
    return float(total), table


def bootstrap(groups: list[str], y: np.ndarray, p: np.ndarray, rounds: int = 500, seed: int = 0) -> dict:
    """95% intervals of AUROC and TPR at 1% FPR over resamples of the test *documents* (each
    drawn with all its texts: whole, prefixes, list, headlines, table), clean and spun ones
    apart.  A text's variants are not independent draws: the 1% FPR threshold is set by the
    dozen most spun-looking clean texts, which are a handful of documents' variants."""
    rng = np.random.default_rng(seed)
    by_group: dict[str, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        by_group[g].append(i)
    clean = [np.asarray(v) for g, v in by_group.items() if y[v[0]] == 0]
    spun = [np.asarray(v) for g, v in by_group.items() if y[v[0]] == 1]
    aurocs, tprs = [], []
    for _ in range(rounds):
        pick = [clean[k] for k in rng.integers(0, len(clean), len(clean))]
        pick += [spun[k] for k in rng.integers(0, len(spun), len(spun))]
        idx = np.concatenate(pick)
        aurocs.append(auroc(y[idx], p[idx]))
        tprs.append(tpr_at_fpr(y[idx], p[idx]))
    return {"documents": {"clean": len(clean), "spun": len(spun)}, "rounds": rounds,
            "auroc_95": [float(np.percentile(aurocs, 2.5)), float(np.percentile(aurocs, 97.5))],
            "tpr_at_1pct_fpr_95": [float(np.percentile(tprs, 2.5)), float(np.percentile(tprs, 97.5))]}


SHORT_WORDS = (3, 6, 10, 15, 20, 30)


def short_texts(n: int = 300) -> dict:
    """Texts shorter than the detector's shortest training texts (15 words) and just above: the
    first `words` words of the first n clean test texts and of the first n spun ones (rate 0.3 and
    0.5).  Per length: the clean texts' mean probability and share above 0.9, the spun ones'
    mean, and AUROC (the verdict is too-short below 80 words; the probability is still read)."""
    import unspin
    from common import load_records

    recs = load_records("test")
    clean = [r["original"] for r in recs if r["simulator"] == "clean"][:n]
    spun = [r["spun"] for r in recs if r["simulator"] != "clean" and r["rate"] >= 0.3][:n]
    out = {}
    for k in SHORT_WORDS:
        pc = np.asarray([unspin.detect(" ".join(t.split()[:k])).spun_probability for t in clean])
        ps = np.asarray([unspin.detect(" ".join(t.split()[:k])).spun_probability for t in spun])
        y = np.r_[np.zeros(len(pc)), np.ones(len(ps))]
        out[k] = {"clean_mean": float(pc.mean()), "clean_above_0.9": float((pc > 0.9).mean()),
                  "spun_mean": float(ps.mean()), "auroc": auroc(y, np.r_[pc, ps])}
    return out


def speed_documents(split: str, mb: float) -> list[str]:
    """Clean texts of a split joined into 300-3,000-word documents, about `mb` MB of them."""
    from common import load_records

    clean = [r["original"] for r in load_records(split) if r["simulator"] == "clean"]
    docs, cur = [], []
    words = 0
    target = 600
    for t in clean * 50:
        cur.append(t)
        words += len(t.split())
        if words >= target:
            docs.append("\n\n".join(cur))
            cur, words = [], 0
            target = 300 + (target * 7) % 2700  # 300..3,000 words
        if sum(map(len, docs)) > mb * 1e6:
            break
    return docs


def _timed_pass(docs: list[str], decoded: list[bool] | None = None) -> tuple[float, float, dict]:
    """detect() over docs: (seconds, seconds spent on the docs flagged in `decoded`, verdicts)."""
    import unspin

    verdicts: dict[str, int] = defaultdict(int)
    decoded_s = 0.0
    t = time.perf_counter()
    for i, d in enumerate(docs):
        t_doc = time.perf_counter()
        verdicts[unspin.detect(d).verdict] += 1
        if decoded is not None and decoded[i]:
            decoded_s += time.perf_counter() - t_doc
    return time.perf_counter() - t, decoded_s, dict(verdicts)


def _regex_seconds(docs: list[str]) -> float:
    rx = re.compile(r"\w+")
    t = time.perf_counter()
    for d in docs:
        rx.findall(d.lower())
    return time.perf_counter() - t


def speed(mb: float) -> dict:
    """Screening throughput in three conditions, each a pass of detect() over 300-3,000-word
    clean documents, timed beside a bare regex tokenisation of the same bytes:
      first sight  test documents in a process that has screened nothing yet (models loaded):
                   every word type is met for the first time, and its rows are learnt;
      steady       then, set up as `unspin scan`'s screening workers are (api.set_up_long_run),
                   dev documents: other texts of the same language, what
                   a long scan meets once it has screened a few MB (the words of a new document
                   are mostly known, its names and rare words are not);
      warm         the test documents again, every word type known."""
    import unspin
    from unspin import api

    docs = speed_documents("test", mb)
    other = speed_documents("dev", mb)
    size = sum(len(d.encode()) for d in docs)
    other_size = sum(len(d.encode()) for d in other)
    unspin.detect(docs[0])  # load models
    screen_s, _, verdicts = _timed_pass(docs)
    # then set up as `unspin scan`'s screening workers are at their start (scan.tasks, scan.local)
    t = time.perf_counter()
    api.set_up_long_run(True)
    setup_s = time.perf_counter() - t
    steady_s, _, _ = _timed_pass(other)
    # which texts screening cannot clear (the full decode runs), found outside the timed passes
    decoder = api._decoder(True)
    decoded = [api._screening(api._cheap_stats(api._chunks(d, decoder))) is None for d in docs]
    # The same documents again: the per-word-type caches (signals, shortlists, unknown words'
    # frequencies) now hold their words.
    warm_s, decoded_s, _ = _timed_pass(docs, decoded)
    n_decoded = sum(decoded)
    decoded_bytes = sum(len(d.encode()) for d, full in zip(docs, decoded) if full)
    regex_s = _regex_seconds(docs)
    other_regex_s = _regex_seconds(other)
    return {"docs": len(docs), "mb": size / 1e6, "screen_mb_s": size / 1e6 / screen_s,
            "steady_docs": len(other), "steady_mb": other_size / 1e6, "long_run_setup_s": setup_s,
            "screen_steady_mb_s": other_size / 1e6 / steady_s,
            "steady_ratio_to_regex": other_regex_s / steady_s,
            # the warm pass's texts screening could not clear (the full decode ran): how many,
            # their share of the bytes and of the time
            "decoded_docs": n_decoded, "decoded_byte_share": decoded_bytes / size,
            "decoded_time_share": decoded_s / warm_s,
            "screen_warm_mb_s": size / 1e6 / warm_s, "warm_ratio_to_regex": regex_s / warm_s,
            "regex_mb_s": size / 1e6 / regex_s, "ratio_to_regex": regex_s / screen_s,
            "verdicts": verdicts}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json")
    ap.add_argument("--png", default=str(ROOT / "bench" / "out" / "reliability.png"))
    ap.add_argument("--speed-mb", type=float, default=2.0)
    ap.add_argument("--limit", type=int)
    args = ap.parse_args()
    print("command:", " ".join(["python"] + sys.argv))
    print("machine:", machine())
    model = default_model()
    rows = collect("test", limit=args.limit)
    y = np.asarray([r["label"] for r in rows])
    n_words = np.asarray([r["stats"]["n_words"] for r in rows])
    p_full, p_screen, verdict_full, verdict_screen, surprise = [], [], [], [], []
    for r in rows:
        st = DocStats(**r["stats"])
        p, _ = model.score(st)
        cheap = DocStats(**{**r["stats"], "decoded": False})
        pc, _ = model.score(cheap)
        p_full.append(p)
        verdict_full.append(model.verdict(p, st.n_words))
        cleared = model.screen_clears(pc, st.n_words)
        p_screen.append(pc if cleared else p)
        verdict_screen.append(model.verdict(0.0, st.n_words) if cleared else model.verdict(p, st.n_words))
        surprise.append(st.features()["surprise"])
    p_full, p_screen, surprise = map(np.asarray, (p_full, p_screen, surprise))
    out: dict = {"texts": len(rows), "spun": int(y.sum())}
    long_ = n_words >= model.min_words
    print(f"\n{len(rows)} test texts ({int(y.sum())} spun); min_words {model.min_words}; "
          f"spun threshold {model.spun_threshold}")
    e, table = ece(y[long_], p_screen[long_])
    out["overall"] = {
        "auroc": auroc(y[long_], p_full[long_]),
        "tpr_at_1pct_fpr": tpr_at_fpr(y[long_], p_full[long_]),
        "ece": e,
        "baseline_perplexity_auroc": auroc(y[long_], surprise[long_]),
        "baseline_perplexity_tpr_at_1pct_fpr": tpr_at_fpr(y[long_], surprise[long_]),
    }
    vf = np.asarray(verdict_full)
    vs = np.asarray(verdict_screen)
    out["screening"] = {"cleared_share": float((p_screen != p_full).mean()),
                        "verdict_agreement": float((vf == vs).mean())}
    clean = (y == 0) & long_
    out["clean_fpr_default"] = float((vs[clean] == "spun").mean())
    print(f"{'group':32} {'n':>6} {'AUROC':>7} {'TPR@1%':>7} {'ppl AUROC':>9} {'ppl TPR':>8}")
    groups = defaultdict(list)
    for i, r in enumerate(rows):
        if not long_[i]:
            continue
        if r["label"]:
            groups[f"sim {r['simulator']}"].append(i)
            groups[f"rate {r['rate']}"].append(i)
        groups[f"len {r['kind']}"].append(i)
    clean_idx = [i for i in range(len(rows)) if clean[i]]
    for name, idx in sorted(groups.items()):
        idx = sorted(set(idx) | set(clean_idx))
        yy, pp, ss = y[idx], p_full[idx], surprise[idx]
        if yy.min() == yy.max():  # (registers only clean texts were made in: list, headlines, table)
            continue
        out[name] = {"auroc": auroc(yy, pp), "tpr_at_1pct_fpr": tpr_at_fpr(yy, pp),
                     "ppl_auroc": auroc(yy, ss), "ppl_tpr": tpr_at_fpr(yy, ss)}
        o = out[name]
        print(f"{name:32} {len(idx):6} {o['auroc']:7.3f} {o['tpr_at_1pct_fpr']:7.3f} "
              f"{o['ppl_auroc']:9.3f} {o['ppl_tpr']:8.3f}")
    o = out["overall"]
    print(f"{'overall':32} {int(long_.sum()):6} {o['auroc']:7.3f} {o['tpr_at_1pct_fpr']:7.3f} "
          f"{o['baseline_perplexity_auroc']:9.3f} {o['baseline_perplexity_tpr_at_1pct_fpr']:8.3f}")
    idx = np.flatnonzero(long_)
    out["overall"]["bootstrap"] = b = bootstrap([rows[i]["id"] for i in idx], y[idx], p_full[idx])
    print(f"{'':32} 95% intervals over {b['rounds']} resamples of the {b['documents']['clean']} clean and "
          f"{b['documents']['spun']} spun documents: AUROC {b['auroc_95'][0]:.3f}-{b['auroc_95'][1]:.3f}, "
          f"TPR@1% {b['tpr_at_1pct_fpr_95'][0]:.3f}-{b['tpr_at_1pct_fpr_95'][1]:.3f}")
    print(f"targets: AUROC >= 0.995, TPR@1%FPR >= 0.95, ECE <= 0.05 (ECE here {e:.3f}); "
          f"clean FPR at default threshold {out['clean_fpr_default']:.3%} (target <= 1%)")
    for key, label, digits in (("genre", "genre", 0), ("kind", "register/length", 1)):
        groups_fp = defaultdict(list)
        for i, r in enumerate(rows):
            if clean[i]:
                groups_fp[r[key]].append(vs[i] == "spun")
        print(f"clean FPR per {label}:",
              ", ".join(f"{g} {np.mean(v):.{digits}%} (n={len(v)})" for g, v in sorted(groups_fp.items())))
        out[f"clean_fpr_per_{key}"] = {g: float(np.mean(v)) for g, v in groups_fp.items()}
    print(f"screening: clears {out['screening']['cleared_share']:.1%} of texts; verdict agreement "
          f"screened vs full {out['screening']['verdict_agreement']:.2%} (target >= 99.5%)")
    save_reliability_plot([(t[0], t[1]) for t in table], f"unspin (ECE {e:.3f})", args.png, "predicted P(spun)",
                          "observed share spun", "Reliability, test split")
    out["short_texts"] = short = short_texts()
    print("short texts (first k words of 300 clean / 300 spun test texts): " + "; ".join(
        f"{k}: clean {v['clean_mean']:.2f} ({v['clean_above_0.9']:.1%} > 0.9), spun {v['spun_mean']:.2f}, "
        f"AUROC {v['auroc']:.3f}" for k, v in short.items()))
    if args.speed_mb > 0:
        s = speed(args.speed_mb)
        out["speed"] = s
        print(f"screening speed (targets >= 5 MB/s per core, >= 0.25 of a regex tokenisation pass): "
              f"first sight {s['screen_mb_s']:.2f} MB/s on {s['docs']} clean test docs ({s['mb']:.1f} MB, "
              f"300-3,000 words; ratio {s['ratio_to_regex']:.3f}); steady {s['screen_steady_mb_s']:.2f} MB/s on "
              f"{s['steady_docs']} clean dev docs screened next, set up as a scan's worker "
              f"({s['long_run_setup_s']:.2f} s) ({s['steady_mb']:.1f} MB; ratio "
              f"{s['steady_ratio_to_regex']:.3f}); warm {s['screen_warm_mb_s']:.2f} MB/s on the test docs again "
              f"(ratio {s['warm_ratio_to_regex']:.3f}); regex tokenisation {s['regex_mb_s']:.1f} MB/s; "
              f"verdicts {s['verdicts']}; the warm pass's full decode ran on "
              f"{s['decoded_docs']} docs, {s['decoded_byte_share']:.1%} of the bytes and "
              f"{s['decoded_time_share']:.0%} of the warm pass's time")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
