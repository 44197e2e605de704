"""Tune decoder parameters on the DEV split (never on test): coordinate search, figures per setting.

    python bench/tune.py --limit 300 --set rate=0.1 --grid channel_weight=1,1.5,2
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import Tally, score  # noqa: E402
from common import load_records  # noqa: E402

from unspin.api import _config, check, make_decoder  # noqa: E402
from unspin.lexicon.channel import ChannelWeights  # noqa: E402

_DECODERS = {}


def _run(job):
    key, params, weights, recs = job
    dec = _DECODERS.get(key)
    if dec is None:
        dec = _DECODERS[key] = make_decoder(params, weights)
    total = Tally()
    for rec in recs:
        total.add(score(rec, check(rec["spun"], decoder=dec)))
    return total


def subset(recs, limit):
    by = {}
    for r in recs:
        by.setdefault((r["simulator"], r["rate"], r["function_words"]), []).append(r)
    per = max(1, limit // len(by))
    out = []
    for k in sorted(by):
        # clean documents get a bigger share: false swaps per 1,000 words needs enough words
        out.extend(by[k][: per * 6 if k[0] == "clean" else per])
    return out


def parse_value(v):
    for f in (int, float):
        try:
            return f(v)
        except ValueError:
            pass
    return v


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=300)
    ap.add_argument("--set", action="append", default=[], help="name=value (decoder or w_<thesaurus>)")
    ap.add_argument("--grid", action="append", default=[], help="name=v1,v2,...")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    recs = subset(load_records("dev"), args.limit)
    base = _config()
    fixed = dict(kv.split("=", 1) for kv in args.set)
    grid = [(k, v.split(",")) for k, v in (g.split("=", 1) for g in args.grid)]
    names = [k for k, _ in grid]
    with ProcessPoolExecutor(args.workers) as pool:
        for values in itertools.product(*[vs for _, vs in grid]) if grid else [()]:
            setting = {**fixed, **dict(zip(names, values))}
            dec_kw = {k: parse_value(v) for k, v in setting.items() if not k.startswith("w_")}
            w_kw = {k[2:]: float(v) for k, v in setting.items() if k.startswith("w_")}
            params = replace(base.decoder, **dec_kw)
            weights = replace(base.weights, **w_kw)
            shards = [recs[i :: args.workers] for i in range(args.workers)]
            t = time.time()
            total = Tally()
            for part in pool.map(_run, [(json.dumps(setting, sort_keys=True), params, weights, s) for s in shards]):
                total.add(part)
            f = total.figures()
            print(json.dumps(setting), " ".join(f"{k}={v:.3f}" for k, v in f.items()
                  if k in ("locate_p", "locate_r", "locate_f1", "restore", "wer_after", "false_per_1k")),
                  f"({time.time() - t:.0f}s)", flush=True)


if __name__ == "__main__":
    main()
