"""An "unseen spinners" set: spinner configurations that neither the engine's tuning nor its
training ever saw (python bench/devsets/unseen.py; ~1 min after build.py's caches exist).

The frozen dev/test sets (build.py) hold five simulators, and the channel weights, decoder
settings and detector are all fitted on dev.  This set asks how unspin does on spinners outside
that family, over the TEST split's clean documents (never used for fitting):

  mythes-first    MyThes, the first synonym of the first sense (a rank-aware MyThes spinner)
  wordnet-similar WordNet, random sense, synonyms and similar-to terms, 50 % POS preference
  moby-first      Moby, the first term of the root's list (alphabetical: an arbitrary pick)
  mythes-strict   MyThes, random synonym (no generic/related terms), always the Brown POS,
                  never un-inflected

Each at rates 0.1 / 0.3 / 0.5, function words off and on, 10 documents per cell, 30 % scarred.
Output: bench/devsets/unseen.jsonl.gz, scored with `python bench/accuracy.py --split unseen`.
Report it; do not tune on it.
"""
from __future__ import annotations

import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from build import (DEVSETS, RATES, SCAR_SHARE, chunk_brown, ensure_brown, read_brown,  # noqa: E402
                   split_of, write)
from spinners import SpinnerConfig, load_thesauri, render, spin  # noqa: E402

UNSEEN = {
    "mythes-first": SpinnerConfig("mythes-first", ("mythes",), "first", uninflected=0.15),
    "wordnet-similar": SpinnerConfig("wordnet-similar", ("wordnet",), "random", relations=("syn", "similar"),
                                     pos_pref=0.5, uninflected=0.2),
    "moby-first": SpinnerConfig("moby-first", ("moby",), "first", uninflected=0.2),
    "mythes-strict": SpinnerConfig("mythes-strict", ("mythes",), "random", pos_pref=1.0, uninflected=0.0),
}
DOCS_PER_CELL = 10
SEED = "unspin-unseen-v1"


def main() -> int:
    thesauri = load_thesauri()
    docs = chunk_brown(read_brown(ensure_brown()))["test"]
    rng = random.Random(SEED)
    pool = list(docs)
    rng.shuffle(pool)
    records, k = [], 0
    for sim, cfg in UNSEEN.items():
        for rate in RATES:
            for fw in (False, True):
                for n in range(DOCS_PER_CELL):
                    d = pool[k % len(pool)]
                    k += 1
                    rid = f"unseen/{sim}/{rate}/{'fw' if fw else 'content'}/{n:02d}"
                    r = random.Random(f"{SEED}|{rid}")
                    units = spin(d["toks"], cfg, rate, fw, thesauri, r)
                    scars = r.random() < SCAR_SHARE
                    spun, original, swaps = render(d["toks"], units, scars, r)
                    records.append({"id": rid, "source": d["source"], "genre": d["genre"], "simulator": sim,
                                    "rate": rate, "function_words": fw, "scars": scars, "spun": spun,
                                    "original": original, "swaps": swaps})
    assert all(split_of(r["source"][6:].split("#")[0]) == "test" for r in records if r["source"].startswith("brown:"))
    write(DEVSETS / "unseen.jsonl.gz", records)
    print(f"unseen: {len(records)} records, {sum(len(r['swaps']) for r in records)} swaps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
