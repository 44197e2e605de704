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
  symmetric       a synonym database made symmetric, as many spinners' are: a word's candidates
                  are its synonyms (and similar terms) in any of the three thesauri and every
                  headword whose entry lists it; random pick, 30 % POS preference.  unspin's
                  channel has the second kind only as its "reverse" column (added 2026-12-07,
                  with its own seed: the records of the four above are unchanged)
  runs            the three thesauri (a random one per word), random synonym or similar term,
                  30 % POS preference, its swaps in runs: each chosen word's neighbours join it
                  one by one with probability 0.7, as a spinner that rewrites phrases leaves
                  them (the real example's "minute management standard"; added 2026-12-07 with a
                  seed of its own: the records above are unchanged)

Each at rates 0.1 / 0.3 / 0.5, function words off and on, 10 documents per cell, 30 % scarred
(build.spun_record, as for dev/test).
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
from build import DEVSETS, RATES, chunk_brown, ensure_brown, read_brown, split_of, spun_record, write  # noqa: E402
from spinners import SpinnerConfig, load_thesauri  # noqa: E402

UNSEEN = {
    "mythes-first": SpinnerConfig("mythes-first", ("mythes",), "first", uninflected=0.15),
    "wordnet-similar": SpinnerConfig("wordnet-similar", ("wordnet",), "random", relations=("syn", "similar"),
                                     pos_pref=0.5, uninflected=0.2),
    "moby-first": SpinnerConfig("moby-first", ("moby",), "first", uninflected=0.2),
    "mythes-strict": SpinnerConfig("mythes-strict", ("mythes",), "random", pos_pref=1.0, uninflected=0.0),
}
# (built after the four above, from their own random stream)
LATER = {
    "symmetric": SpinnerConfig("symmetric", ("symmetric",), "random", relations=("syn", "similar"), pos_pref=0.3,
                               uninflected=0.2),
}
# (and after it, from a stream of its own again)
RUNS = {
    "runs": SpinnerConfig("runs", ("wordnet", "mythes", "moby"), "random", relations=("syn", "similar"),
                          pos_pref=0.3, uninflected=0.2, runs=0.7),
}
DOCS_PER_CELL = 10
SEED = "unspin-unseen-v1"


def symmetric_thesaurus(thesauri: dict) -> dict:
    """The three thesauri's synonyms and similar terms, each pair in both directions: per
    word, its own senses (those relations) and one sense per thesaurus and part of speech
    holding every headword whose entry lists it."""
    out: dict = {}
    inverse: dict = {}
    for name in ("wordnet", "mythes", "moby"):
        for head, senses in thesauri[name].items():
            for pos, terms in senses:
                kept = [(t, r) for t, r in terms if r in ("syn", "similar")]
                if kept:
                    out.setdefault(head, []).append((pos, kept))
                for t, _r in kept:
                    inverse.setdefault(t, {}).setdefault((name, pos), {})[head] = None
    for term, groups in inverse.items():
        for (_name, pos), heads in groups.items():
            out.setdefault(term, []).append((pos, [(h, "syn") for h in heads]))
    return out


def _records(spinners: dict, docs: list, thesauri: dict, stream: str) -> list[dict]:
    """DOCS_PER_CELL records per spinner, rate and function-word setting, the documents drawn
    in turn from the test documents shuffled by random.Random(stream)."""
    rng = random.Random(stream)
    pool = list(docs)
    rng.shuffle(pool)
    records, k = [], 0
    for sim, cfg in spinners.items():
        for rate in RATES:
            for fw in (False, True):
                for n in range(DOCS_PER_CELL):
                    d = pool[k % len(pool)]
                    k += 1
                    rid = f"unseen/{sim}/{rate}/{'fw' if fw else 'content'}/{n:02d}"
                    records.append(spun_record(d, rid, cfg, rate, fw, thesauri, SEED))
    return records


def main() -> int:
    thesauri = load_thesauri()
    docs = chunk_brown(read_brown(ensure_brown()))["test"]
    records = _records(UNSEEN, docs, thesauri, SEED)
    records += _records(LATER, docs, {**thesauri, "symmetric": symmetric_thesaurus(thesauri)}, SEED + "-later")
    records += _records(RUNS, docs, thesauri, SEED + "-runs")
    assert all(split_of(r["source"][6:].split("#")[0]) == "test" for r in records if r["source"].startswith("brown:"))
    write(DEVSETS / "unseen.jsonl.gz", records)
    print(f"unseen: {len(records)} records, {sum(len(r['swaps']) for r in records)} swaps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
