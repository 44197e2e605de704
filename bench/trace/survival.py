"""Which tokens survive spinning?  python bench/trace/survival.py [--split dev] [--min-count 30]

Measured on the dev set's gold swaps: for every lower-cased token of the original texts, the share
of its occurrences that a spinner replaced, per simulator at rate 0.5 with function words on (the
worst case), and how often spinners *introduce* it (inside a spun term).  Prints the table and the
stop words kept by trace signatures (worst-case survival >= 0.97 and rarely introduced).
"""
from __future__ import annotations

import argparse
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import load_records  # noqa: E402

WORD = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*|[^\s\w]")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", default="dev")
    ap.add_argument("--min-count", type=int, default=30)
    ap.add_argument("--survival", type=float, default=0.95)
    ap.add_argument("--introduced", type=float, default=0.10)
    args = ap.parse_args()
    recs = [r for r in load_records(args.split) if r["rate"] == 0.5 and r["function_words"]]
    total: dict[str, Counter] = defaultdict(Counter)
    swapped: dict[str, Counter] = defaultdict(Counter)
    introduced: dict[str, Counter] = defaultdict(Counter)
    for r in recs:
        sim = r["simulator"]
        total[sim].update(t.lower() for t in WORD.findall(r["original"]))
        for s in r["swaps"]:
            swapped[sim].update(t.lower() for t in WORD.findall(s["original"]))
            introduced[sim].update(t.lower() for t in WORD.findall(s["spun"]))
    sims = sorted(total)
    allc = Counter()
    for s in sims:
        allc.update(total[s])
    rows = []
    for tok, n in allc.most_common():
        if n < args.min_count:
            break
        surv = min(1 - swapped[s][tok] / total[s][tok] for s in sims if total[s][tok])
        intro = max(introduced[s][tok] / max(1, total[s][tok]) for s in sims)
        rows.append((tok, n, surv, intro))
    print(f"{len(recs)} records (rate 0.5, function words on), simulators: {', '.join(sims)}")
    print(f"{'token':>12} {'count':>6} {'worst survival':>15} {'worst intro/occ':>16}")
    for tok, n, surv, intro in rows[:80]:
        print(f"{tok:>12} {n:6d} {surv:15.3f} {intro:16.3f}")
    keep = [t for t, n, s, i in rows if s >= args.survival and i <= args.introduced and re.fullmatch(r"[a-z']+", t)]
    print("\nkept stop words (survival >= %.2f, introduced <= %.2f per occurrence):" % (args.survival, args.introduced))
    print(" ".join(keep))
    return 0


if __name__ == "__main__":
    sys.exit(main())
