"""Accuracy of unspin.check on the frozen dev sets (bench/devsets) and the real example.

    python bench/accuracy.py [--split dev|test] [--limit N] [--simulator NAME] [--neural]
                             [--no-swap-model] [--baseline identity] [--json OUT] [--png OUT]

Metrics (per simulator, per simulator x rate, overall):
  locate P/R/F1  word tokens of the spun text; predicted = inside a swap with probability >= 0.5,
                 gold = inside a gold swap span.
  restore        share of gold swaps restored exactly (case-insensitive, scar-insensitive words):
                 the span is grown to cover every predicted or gold swap overlapping it, and the
                 spun text over that span with the predicted replacements must equal it with the
                 gold replacements.
  WER            word-level Levenshtein / original words, lowercased, punctuation ignored;
                 before = spun vs original, after = restored vs original.
  false/1k       predicted swaps per 1,000 words on clean records.
  example        high-confidence rows of washington-examiner-spun.swaps.tsv restored in place.
  reliability    listed swaps per probability bin: mean probability against the share that is real
                 (every word inside a gold swap), and their calibration error.
"""
from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (parsed_settings, load_records, machine, norm_words, save_reliability_plot, shared_dir,  # noqa: E402
                    word_spans, words_in_gold)

THRESHOLD = 0.5
TARGETS = {"restore": 0.55, "locate_f1": 0.85, "false_per_1k": 2.0}


# ----------------------------------------------------------------------------- engines
@dataclass
class _Swap:
    start: int
    end: int
    spun: str
    original: str
    probability: float = 1.0
    alternatives: list = field(default_factory=list)


@dataclass
class _Report:
    swaps: list
    restored: str
    spun_probability: float = 0.0
    verdict: str = "clean"


def identity(text: str) -> _Report:
    return _Report([], text)


def make_engine(args, recs=()):
    if args.baseline == "identity":
        return identity
    if args.baseline == "oracle":  # the gold swaps: checks the scorer itself (expect 1.0 / 0.0)
        gold = {r["spun"]: r for r in recs}

        def oracle(text: str) -> _Report:
            rec = gold.get(text)
            if rec is None:
                return identity(text)
            sw = [_Swap(s["start"], s["end"], s["spun"], s["original"]) for s in rec["swaps"]]
            return _Report(sw, rec["original"])

        return oracle
    import unspin

    fast = not args.neural
    settings, weights = getattr(args, "set", []), getattr(args, "weight", [])
    if getattr(args, "no_swap_model", False) or settings or weights:
        # the posterior gate the swap model replaced, or other settings (tuning only)
        import dataclasses

        from unspin import api

        cfg = api._config()
        params = dataclasses.replace(cfg.decoder, **parsed_settings(settings, like=cfg.decoder))
        w = dataclasses.replace(cfg.weights, **parsed_settings(weights))
        total = sum(dataclasses.astuple(w))  # (the mixture's weights sum to 1)
        w = type(w)(*(x / total for x in dataclasses.astuple(w)))
        kw = {"swap_model": None} if getattr(args, "no_swap_model", False) else {}
        decoder = api.make_decoder(params, w, **kw)
        return lambda text: api.check(text, decoder=decoder)

    def run(text: str):
        try:
            return unspin.check(text, fast=fast)
        except TypeError as e:
            if "fast" not in str(e):
                raise
            return unspin.check(text)

    return run


# ----------------------------------------------------------------------------- metrics
def levenshtein(a: list[str], b: list[str]) -> int:
    """Word-level edit distance (Myers/Hyyro bit-parallel: one big-int pass over b)."""
    if not a:
        return len(b)
    if not b:
        return len(a)
    m = len(a)
    peq: dict[str, int] = {}
    for i, x in enumerate(a):
        peq[x] = peq.get(x, 0) | (1 << i)
    mask, hb = (1 << m) - 1, 1 << (m - 1)
    pv, mv, dist = mask, 0, m
    for y in b:
        eq = peq.get(y, 0)
        xv = eq | mv
        xh = (((eq & pv) + pv) ^ pv) | eq
        ph = mv | ~(xh | pv)
        mh = pv & xh
        if ph & hb:
            dist += 1
        elif mh & hb:
            dist -= 1
        ph = (ph << 1) | 1
        mh <<= 1
        pv = (mh | ~(xv | ph)) & mask
        mv = ph & xv & mask
    return dist


def render(text: str, start: int, end: int, swaps: list) -> str:
    """text[start:end] with `swaps` (inside the span, non-overlapping) replaced by .original."""
    out, pos = [], start
    for s in sorted(swaps, key=lambda s: s["start"]):
        if s["start"] < pos:
            continue  # overlapping predictions: keep the first
        out.append(text[pos:s["start"]])
        out.append(s["original"])
        pos = s["end"]
    out.append(text[pos:end])
    return "".join(out)


def closure(start: int, end: int, groups: list[list[dict]]) -> tuple[int, int]:
    changed = True
    while changed:
        changed = False
        for group in groups:
            for s in group:
                if s["start"] < end and s["end"] > start and (s["start"] < start or s["end"] > end):
                    start, end = min(start, s["start"]), max(end, s["end"])
                    changed = True
    return start, end


def inside(group: list[dict], start: int, end: int) -> list[dict]:
    return [s for s in group if s["start"] >= start and s["end"] <= end]


class Tally:
    def __init__(self):
        self.tp = self.fp = self.fn = 0
        self.gold = self.restored = 0
        self.edits_before = self.edits_after = self.words = 0
        self.docs = 0
        self.clean_words = self.clean_false = 0

    def add(self, other: "Tally"):
        for k, v in vars(other).items():
            setattr(self, k, getattr(self, k) + v)

    def figures(self) -> dict:
        p = self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0
        r = self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        out = {"docs": self.docs}
        if self.gold:
            out.update(locate_p=p, locate_r=r, locate_f1=f, restore=self.restored / self.gold,
                       gold_swaps=self.gold)
        if self.words:
            out.update(wer_before=self.edits_before / self.words,
                       wer_after=self.edits_after / self.words)
        if self.clean_words:
            out.update(false_per_1k=1000 * self.clean_false / self.clean_words,
                       clean_words=self.clean_words)
        return out


def score(rec: dict, rep) -> Tally:
    t = Tally()
    t.docs = 1
    spun = rec["spun"]
    pred = [{"start": s.start, "end": s.end, "original": s.original}
            for s in rep.swaps if s.probability >= THRESHOLD]
    gold = rec["swaps"]
    if rec["simulator"] == "clean":
        t.clean_words = len(norm_words(rec["original"]))
        t.clean_false = len(pred)
    # locate
    for a, b in word_spans(spun):
        g = any(s["start"] <= a and b <= s["end"] for s in gold)
        p = any(s["start"] < b and a < s["end"] for s in pred)
        t.tp += g and p
        t.fp += p and not g
        t.fn += g and not p
    # restore
    for s in gold:
        t.gold += 1
        a, b = closure(s["start"], s["end"], [pred, gold])
        if norm_words(render(spun, a, b, inside(pred, a, b))) == \
                norm_words(render(spun, a, b, inside(gold, a, b))):
            t.restored += 1
    # WER
    orig = norm_words(rec["original"])
    t.words = len(orig)
    if gold:
        t.edits_before = levenshtein(norm_words(spun), orig)
    t.edits_after = levenshtein(norm_words(rep.restored), orig)
    return t


# ----------------------------------------------------------------------------- swap probabilities
SWAP_BINS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0001)


def swap_reliability(rec: dict, rep, bins: list[list[float]]) -> None:
    """Add each listed swap (probability >= THRESHOLD) to its probability bin: [count, sum of
    probabilities, how many were real] (real = every word of its span inside a gold swap)."""
    spans = word_spans(rec["spun"])
    gold = rec["swaps"]
    for s in rep.swaps:
        if s.probability < THRESHOLD:
            continue
        inside, n_words = words_in_gold(spans, gold, s.start, s.end)
        real = n_words > 0 and inside == n_words
        k = next(i for i, hi in enumerate(SWAP_BINS[1:]) if s.probability < hi)
        bins[k][0] += 1
        bins[k][1] += s.probability
        bins[k][2] += real


def reliability_figures(bins: list[list[float]]) -> dict:
    n = sum(b[0] for b in bins)
    rows = [{"bin": f"{SWAP_BINS[i]:.1f}-{min(SWAP_BINS[i + 1], 1.0):.1f}", "swaps": int(b[0]),
             "mean_probability": b[1] / b[0] if b[0] else None, "real": b[2] / b[0] if b[0] else None}
            for i, b in enumerate(bins)]
    ece = sum(abs(b[1] - b[2]) for b in bins) / n if n else 0.0  # Σ_bins n_b |mean p - share real| / n
    return {"bins": rows, "ece": ece, "swaps": n}


# ----------------------------------------------------------------------------- real example
def real_example(engine) -> dict | None:
    ex = shared_dir() / "examples"
    txt, tsv = ex / "washington-examiner-spun.txt", ex / "washington-examiner-spun.swaps.tsv"
    if not txt.exists() or not tsv.exists():
        return None
    text = txt.read_text(encoding="utf-8")
    with open(tsv, encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh, delimiter="\t")]
    rep = engine(text)
    pred = [{"start": s.start, "end": s.end, "original": s.original}
            for s in rep.swaps if s.probability >= THRESHOLD]
    words = [(m.start(), m.end(), norm_words(m.group(0))) for m in
             re.finditer(r"\S+", text)]
    flat = []  # (normalised word, start, end)
    for a, b, ws in words:
        flat.extend((w, a, b) for w in ws)
    results = []
    for row in rows:
        if row["confidence"].strip() != "high":
            continue
        target = norm_words(row["spun"])
        want = norm_words(row["original"])
        hit = None
        for k in range(len(flat) - len(target) + 1):
            if [w for w, _, _ in flat[k:k + len(target)]] == target:
                hit = (flat[k][1], flat[k + len(target) - 1][2])
                break
        ok = False
        if hit:
            a, b = closure(hit[0], hit[1], [pred])
            got = norm_words(render(text, a, b, inside(pred, a, b)))
            ok = any(got[i:i + len(want)] == want for i in range(len(got) - len(want) + 1))
        results.append({"spun": row["spun"], "original": row["original"], "found": bool(hit),
                        "restored": ok})
    return {"high_rows": len(results), "restored": sum(r["restored"] for r in results),
            "rows": results}


# ----------------------------------------------------------------------------- report
def fmt(v, key) -> str:
    if v is None:
        return "-"
    if key == "docs":
        return str(v)
    return f"{v:.3f}" if key != "false_per_1k" else f"{v:.2f}"


COLS = ["docs", "locate_p", "locate_r", "locate_f1", "restore", "wer_before", "wer_after",
        "false_per_1k"]


def print_table(rows: list[tuple[str, dict]]) -> None:
    head = f"{'group':30s}" + "".join(f"{c:>13s}" for c in COLS)
    print(head)
    print("-" * len(head))
    for name, fig in rows:
        print(f"{name:30s}" + "".join(f"{fmt(fig.get(c), c):>13s}" for c in COLS))
    tgt = {"locate_f1": f">={TARGETS['locate_f1']}", "restore": f">={TARGETS['restore']}",
           "false_per_1k": f"<={TARGETS['false_per_1k']:g}"}
    print(f"{'target':30s}" + "".join(f"{tgt.get(c, ''):>13s}" for c in COLS))


def main() -> int:
    ap = argparse.ArgumentParser(description="accuracy of unspin.check on the dev sets")
    ap.add_argument("--split", choices=["dev", "test", "unseen"], default="test")  # unseen: bench/devsets/unseen.py
    ap.add_argument("--limit", type=int, default=0, help="at most N records (spread over cells)")
    ap.add_argument("--simulator", default="", help="only this simulator (clean kept for false/1k)")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--fast", action="store_true", help="n-gram tier only (default)")
    g.add_argument("--neural", action="store_true", help="call check(text, fast=False)")
    ap.add_argument("--baseline", choices=["identity", "oracle"],
                    help="score a baseline, not unspin (oracle = gold swaps, to test the scorer)")
    ap.add_argument("--no-swap-model", action="store_true",
                    help="n-gram tier with the posterior gate instead of the swap model (unspin.swap_model)")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="a decoder parameter (DecoderParams) other than the shipped one, fast tier (tuning only)")
    ap.add_argument("--weight", action="append", default=[], metavar="THESAURUS=W",
                    help="a channel mixture weight other than the shipped one (the weights are renormalised)")
    ap.add_argument("--json", metavar="OUT", help="write all figures as JSON")
    ap.add_argument("--png", metavar="OUT", help="save the listed swaps' reliability plot here (needs matplotlib)")
    args = ap.parse_args()

    print("command:", " ".join([Path(sys.executable).name] + sys.argv))
    print("machine:", machine())
    recs = load_records(args.split)
    engine = make_engine(args, recs)
    if args.simulator:
        recs = [r for r in recs if r["simulator"] in (args.simulator, "clean")]
        if not any(r["simulator"] == args.simulator for r in recs):
            print(f"no records for simulator {args.simulator!r}")
            return 2
    if args.limit and args.limit < len(recs):
        step = len(recs) / args.limit
        recs = [recs[int(i * step)] for i in range(args.limit)]

    groups: dict[str, Tally] = defaultdict(Tally)
    bins = [[0, 0.0, 0] for _ in SWAP_BINS[1:]]
    t0 = time.perf_counter()
    words, engine_s = 0, 0.0
    for n, rec in enumerate(recs, 1):
        t1 = time.perf_counter()
        rep = engine(rec["spun"])
        engine_s += time.perf_counter() - t1
        words += len(rec["spun"].split())
        t = score(rec, rep)
        swap_reliability(rec, rep, bins)
        sim = rec["simulator"]
        keys = ["overall", sim]
        if sim != "clean":
            keys += ["spun (all simulators)", f"{sim} @ {rec['rate']}",
                     f"{sim} {'+fw' if rec['function_words'] else 'content'}",
                     f"rate {rec['rate']}", "function words" if rec["function_words"] else
                     "content words only", "scarred docs" if rec["scars"] else "unscarred docs"]
        for k in keys:
            groups[k].add(t)
        if n % 100 == 0:
            el = time.perf_counter() - t0
            print(f"  {n}/{len(recs)} docs, {el:.0f} s, {words / max(engine_s, 1e-9):,.0f} words/s",
                  file=sys.stderr)
    elapsed = time.perf_counter() - t0

    order = ["overall", "spun (all simulators)", "clean"]
    sims = sorted({r["simulator"] for r in recs} - {"clean"})
    order += sims
    order += ["rate 0.1", "rate 0.3", "rate 0.5", "content words only", "function words",
              "unscarred docs", "scarred docs"]
    order += [k for s in sims for k in sorted(groups) if k.startswith(s + " ") and k != s]
    rows = [(k, groups[k].figures()) for k in order if k in groups]
    print()
    print_table(rows)
    print(f"\nthroughput: {words:,} words in {engine_s:.1f} s of check() = "
          f"{words / max(engine_s, 1e-9):,.0f} words/s ({len(recs)} docs; {elapsed:.1f} s in all)")

    rel = reliability_figures(bins)
    print(f"\nlisted swaps by probability (share real: every word inside a gold swap); "
          f"calibration error {rel['ece']:.3f} over {rel['swaps']:,} swaps:")
    for b in rel["bins"]:
        if b["swaps"]:
            print(f"  {b['bin']}  {b['swaps']:>7,} swaps  mean p {b['mean_probability']:.3f}  real {b['real']:.3f}")
    if args.png:
        save_reliability_plot([(b["mean_probability"], b["real"]) for b in rel["bins"] if b["swaps"]],
                              f"listed swaps (calibration error {rel['ece']:.3f})", args.png,
                              "reported swap probability", "share real", f"Swap reliability, {args.split} split"
                              + (" (neural tier)" if args.neural else ""))

    ex = real_example(engine)
    if ex:
        print(f"real example (washington-examiner): {ex['restored']}/{ex['high_rows']} "
              f"high-confidence swaps restored")
        for r in ex["rows"]:
            mark = "ok " if r["restored"] else ("-- " if r["found"] else "?? ")
            print(f"   {mark}{r['spun']!r} -> {r['original']!r}")
    else:
        print("real example: not found (set UNSPIN_SHARED)")

    overall = dict(rows)
    spun_fig = overall.get("spun (all simulators)", {})
    clean_fig = overall.get("clean", {})
    verdict = {
        "restore": spun_fig.get("restore", 0) >= TARGETS["restore"],
        "locate_f1": spun_fig.get("locate_f1", 0) >= TARGETS["locate_f1"],
        "false_per_1k": clean_fig.get("false_per_1k", 0) <= TARGETS["false_per_1k"],
    }
    print("targets met:", ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in verdict.items()))
    if args.json:
        out = {"command": sys.argv, "machine": machine(), "split": args.split,
               "engine": args.baseline or ("unspin --neural" if args.neural else "unspin --fast"),
               "targets": TARGETS, "targets_met": verdict, "groups": dict(rows), "swap_reliability": rel,
               "throughput_words_per_s": words / max(engine_s, 1e-9), "engine_s": engine_s,
               "elapsed_s": elapsed,
               "real_example": ex}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=1, ensure_ascii=False))
        print("wrote", args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
