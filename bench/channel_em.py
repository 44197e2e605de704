#!/usr/bin/env python3
"""Learn the channel's mixture weights (params.json "channel") by EM over the DEV split's gold swaps.

    python bench/channel_em.py [--split dev] [--floor reverse=0.03] [--write]

Each gold swap (spun form, original) that the channel explains gives the per-column likelihoods
P_t(spun | original) (unspin.lexicon.channel.Channel.components); EM fits the mixture weights
w_t that maximise Σ ln Σ_t w_t P_t.  --floor keeps a column at least at a weight (the reverse
closure stands for spinners unlike ours, which the dev set does not have).  Prints the weights,
the share of gold swaps the channel explains, and the mean log-likelihood before and after.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, load_records  # noqa: E402

from unspin.api import _config  # noqa: E402
from unspin.lexicon.channel import THESAURI, Channel  # noqa: E402


def gold_likelihoods(channel: Channel, records: list[dict]) -> tuple[np.ndarray, int]:
    rows, total = [], 0
    for rec in records:
        for g in rec["swaps"]:
            total += 1
            spun, orig = g["spun"].lower(), g["original"].lower()
            for o, logp in channel.components(spun):
                if o == orig:
                    rows.append(np.exp(logp))
                    break
    return np.asarray(rows), total


def em(lik: np.ndarray, floors: dict[int, float], iters: int = 200) -> np.ndarray:
    w = np.full(lik.shape[1], 1.0 / lik.shape[1])
    for _ in range(iters):
        resp = lik * w
        resp /= resp.sum(axis=1, keepdims=True)
        w = resp.mean(axis=0)
        for t, f in floors.items():
            w[t] = max(w[t], f)
        w /= w.sum()
    return w


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", default="dev")
    ap.add_argument("--floor", action="append", default=["reverse=0.03"], help="column=min weight")
    ap.add_argument("--write", action="store_true", help="write the weights into src/unspin/data/params.json")
    args = ap.parse_args()
    floors = {THESAURI.index(k): float(v) for k, v in (f.split("=") for f in args.floor)}
    channel = Channel()
    lik, total = gold_likelihoods(channel, [r for r in load_records(args.split) if r["swaps"]])
    print(f"{len(lik)} of {total} gold swaps explained by the channel ({len(lik) / total:.1%})")
    w0 = _config().weights.as_array()
    w = em(lik, floors)
    for name, ww in (("shipped", w0 / w0.sum()), ("EM", w)):
        ll = np.log(np.maximum((lik * ww).sum(axis=1), 1e-300)).mean()
        print(f"{name:8s} mean ln P(spun | original) {ll:.3f}  " +
              "  ".join(f"{t}={x:.3f}" for t, x in zip(THESAURI, ww)))
    if args.write:
        path = REPO / "src" / "unspin" / "data" / "params.json"
        params = json.loads(path.read_text(encoding="utf-8"))
        params["channel"] = {t.replace("-", "_"): round(float(x), 3) for t, x in zip(THESAURI, w)}
        path.write_text(json.dumps(params, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
