"""The neural prior tier (unspin.neural) against the fast n-gram tier, side by side.

    python bench/neural.py [--split dev|test|unseen] [--limit N] [--tune] [--weights NG,NN[,CH,UNI]] [--json OUT]

For each record, `unspin.api.check(text, decoder=...)` runs once with the n-gram decoder (the
fast tier, scored as is), and the final pass's sentences are planned for rescoring
(`unspin.neural.plan`) and scored by SmolLM2 once; then every weight setting re-runs check()
with a decoder stand-in that returns the cached decodes with the cached neural scores combined
at those weights (`unspin.neural.combine`), so a grid costs no extra model time.  A document
whose probability gates every rescored swap out runs no model, as in check() (api.rescored_gated_out).
Chaining (RescoreParams.chain: jobs for the neighbours of what rescoring changed, which depend on
the weights) is not run here: `python bench/accuracy.py --split S --limit N --neural` runs
check() as it ships, chaining included.

--tune   grid over (ngram_weight, neural_weight, channel_weight, unigram_weight) on the given
         split (use --split dev; --grid-ngram/--grid-neural/--grid-channel/--grid-unigram set
         the values, else GRID_NG x GRID_NN at the default channel and unigram weights), pick the
         best by restore on spun records (within RESTORE_TIE of the best, the lowest WER after
         restore) subject to false/1k on clean records not above the fast tier's; prints the
         figures of every grid point.
Speed:   KB/s of check() with the neural tier = bytes / (fast check time + plan + neural scoring
         + combine), per core (the model runs on one thread); tokens sent to the model per
         rescored swap and per document; cold start = a fresh process loading the model and
         scoring one sentence.
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import COLS, Tally, fmt, machine, score  # noqa: E402
from common import load_records  # noqa: E402

GRID_NG = (0.5, 1.0)
GRID_NN = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5)
RESTORE_TIE = 0.005  # --tune: settings this close to the most restored are told apart by WER


class Recorder:
    """Decoder stand-in: decodes with the real decoder once per (sentence, rate) and caches; for
    the final pass it applies `combine` with the cached jobs when weights are set."""

    @property
    def swap_model(self):
        """As RescoringDecoder's (the swaps it does not rescore go to the swap model), in the
        passes that combine; the recording pass ([fast]) judges every swap by its posterior."""
        return self.inner.swap_model if self.weights is not None and self.rparams.model_for_the_rest else None

    def __init__(self, decoder, rparams):
        self.inner = decoder
        self.params = decoder.params
        self.channel = decoder.channel
        self.rparams = rparams
        self.cache: dict = {}
        self.jobs: dict = {}
        self.final: list = []  # (key, words, result) of the final passes of the current doc
        self.weights = None
        # final passes of documents whose probability gates every rescored swap out: their jobs
        # are not scored, their swaps dropped (as check() does: RescoringDecoder.gated_out)
        self.gated: set = set()

    def __getattr__(self, name):  # lm, and whatever else api reads off a Decoder
        return getattr(self.inner, name)

    @property
    def reads_surface(self) -> int:  # (as RescoringDecoder's)
        from unspin.neural import reads_surface

        return reads_surface(self.rparams)

    def prepare(self, units):
        return self.inner.prepare(units)

    def decode_batch(self, batch, rate=None, min_doc=1.0, with_swaps=True, log_weights=None, stats_only=False,
                     near_min=None):
        # (min_doc is not in the key: the decoder is asked for every swap and it is applied below)
        key = (tuple(map(tuple, batch.words)), tuple(map(tuple, batch.linked)), rate, with_swaps,
               None if log_weights is None else log_weights.tobytes(), stats_only,
               tuple(batch.preceding), None if batch.surface is None else repr(batch.surface))
        got = self.cache.get(key)
        # every statistic decode_batch leaves on the batch (api reads them for the detector)
        stats = ("n_spinnable", "swap_mass", "thesaurus_counts", "log_evidence", "log_clean", "evidence_pos")
        if got is None:
            # every path swap, as RescoringDecoder asks for: rescoring may lift one over the threshold
            from unspin.neural import final_lattice

            results = self.inner.decode_batch(batch, rate, 0.0, with_swaps, log_weights, stats_only,
                                              near_min=self.rparams.near_min,
                                              lattice=final_lattice(self.rparams, with_swaps and not stats_only))
            got = self.cache[key] = (results, [getattr(batch, k) for k in stats])
        results = got[0]
        for k, v in zip(stats, got[1]):
            setattr(batch, k, v)
        if not with_swaps or stats_only:  # a pass that only estimates the rate and the thesaurus mix
            return results
        thr = self.params.report_threshold * min_doc
        if self.weights is None:
            self.final.append((key, batch.words, results, batch.surface, batch.preceding, batch.doc))
            out = results
        else:
            from unspin.neural import combine

            ng, nn, ch, uni = self.weights
            plans = self.jobs.get(key) or [[] for _ in results]
            if key in self.gated:
                from unspin.neural import _without_jobs

                out = [_without_jobs(r, jobs) if jobs else r for r, jobs in zip(results, plans)]
            else:
                out = [combine(words, r, jobs, ng, nn, self.channel, self.rparams.near_bias, ch, uni) if jobs else r
                       for words, r, jobs in zip(batch.words, results, plans)]
        return [dataclasses.replace(r, swaps=[w for w in r.swaps if w.probability >= thr]) for r in out]


def table(title: str, rows: list[tuple[str, dict]]) -> None:
    print(f"\n{title}")
    head = f"{'group':34s}" + "".join(f"{c:>12s}" for c in COLS)
    print(head)
    print("-" * len(head))
    for name, fig in rows:
        print(f"{name:34s}" + "".join(f"{fmt(fig.get(c), c):>12s}" for c in COLS))


def groups_of(recs, reports) -> dict[str, Tally]:
    g: dict[str, Tally] = defaultdict(Tally)
    for rec, rep in zip(recs, reports):
        t = score(rec, rep)
        sim = rec["simulator"]
        for k in ["overall", sim] + (["spun (all simulators)"] if sim != "clean" else []):
            g[k].add(t)
    return g


def cold_start(runtime: str = "auto") -> float:
    code = ("import time; t=time.perf_counter(); from unspin.neural import NeuralLM; "
            f"lm=NeuralLM(runtime={runtime!r}).load(); "
            "lm.sequence_logprob(['the','minister','said'], [['at'],['astatine']], ['the','end']); "
            "print(time.perf_counter()-t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    try:
        return float(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        print(out.stderr, file=sys.stderr)
        return float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description="fast vs neural tier on the dev sets")
    ap.add_argument("--split", choices=["dev", "test", "unseen"], default="test")
    ap.add_argument("--limit", type=int, default=0, help="at most N records (spread over cells)")
    ap.add_argument("--tune", action="store_true", help="grid-search the weights on this split")
    ap.add_argument("--weights", default="", help="NG,NN[,CH,UNI]: the first weights given "
                    "(default: unspin.neural.RescoreParams)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runtime", default="auto", choices=["auto", "onnx", "numpy", "llama_cpp"],
                    help="the neural runtime (unspin.neural.RUNTIMES; auto: the fastest available)")
    ap.add_argument("--near", type=float, default=None,
                    help="rescore kept words with at least this n-gram swap posterior (0: path swaps only; "
                         "default: RescoreParams.near_min)")
    ap.add_argument("--near-bias", default="", metavar="B1,B2,...",
                    help="also report the figures with these RescoreParams.near_bias values (re-combined, no re-scoring)")
    ap.add_argument("--right", type=int, default=None, help="words of right context (default: RescoreParams.right)")
    ap.add_argument("--max-hyps", type=int, default=None, help="hypotheses per swap (default: RescoreParams.max_hyps)")
    ap.add_argument("--surface", type=int, default=None, help="1/0: the model reads the text as it stands or "
                    "lower-case words (default: RescoreParams.surface)")
    ap.add_argument("--context", type=int, default=None, help="words of text before each sentence "
                    "(default: RescoreParams.context)")
    ap.add_argument("--max-candidates", type=int, default=None,
                    help="the last pass's candidates per span (default: RescoreParams.max_candidates)")
    ap.add_argument("--prune-margin", type=float, default=None,
                    help="the last pass's local pruning margin, nats (default: RescoreParams.prune_margin)")
    ap.add_argument("--confident", type=float, default=None,
                    help="swaps at least this likely are not rescored (default: RescoreParams.confident)")
    ap.add_argument("--context-threshold", type=float, default=None,
                    help="n-gram swaps at least this likely are applied in contexts (default: RescoreParams)")
    ap.add_argument("--grid-channel", default="", help="--tune: these channel weights (default: RescoreParams.channel_weight)")
    ap.add_argument("--grid-unigram", default="", help="--tune: these unigram weights (default: RescoreParams.unigram_weight)")
    ap.add_argument("--grid-ngram", default="", help="--tune: these n-gram weights instead of GRID_NG")
    ap.add_argument("--grid-neural", default="", help="--tune: these neural weights instead of GRID_NN")
    ap.add_argument("--shortlist", type=int, default=None,
                    help="the last pass's shortlist per spun word (default: RescoreParams.shortlist)")
    ap.add_argument("--parallel", type=int, default=1,
                    help="model passes run at once, a thread each (default 1: the per-core figures; "
                         "unspin itself runs as many as there are cores, see UNSPIN_NEURAL_THREADS)")
    ap.add_argument("--widen", type=int, help="RescoreParams.widen (0: off)")
    ap.add_argument("--widen-margin", type=float, help="RescoreParams.widen_margin")
    ap.add_argument("--widen-ngram", type=float, help="RescoreParams.widen_ngram")
    ap.add_argument("--json", metavar="OUT")
    args = ap.parse_args()

    print("command:", " ".join([Path(sys.executable).name] + sys.argv))
    print("machine:", machine())
    from unspin import api
    from unspin.api import check, make_decoder
    from unspin.neural import NeuralLM, RescoreParams, cache_prior, job_features, plan_batch, score_jobs

    rp = RescoreParams()
    # RescoreParams fields set from the command line (None: the default)
    weights = [float(x) for x in args.weights.split(",")] if args.weights else []
    overrides = dict(zip(("ngram_weight", "neural_weight", "channel_weight", "unigram_weight"), weights))
    overrides |= {"near_min": args.near, "right": args.right, "max_hyps": args.max_hyps,
                 "surface": None if args.surface is None else bool(args.surface), "context": args.context,
                 "confident": args.confident, "context_threshold": args.context_threshold,
                 "max_candidates": args.max_candidates, "prune_margin": args.prune_margin,
                 "shortlist": args.shortlist, "widen": args.widen, "widen_margin": args.widen_margin,
                 "widen_ngram": args.widen_ngram}
    rp = dataclasses.replace(rp, **{k: v for k, v in overrides.items() if v is not None})
    recs = load_records(args.split)
    if args.limit and args.limit < len(recs):
        step = len(recs) / args.limit
        recs = [recs[int(i * step)] for i in range(args.limit)]

    t = time.perf_counter()
    lm = NeuralLM(n_threads=args.threads, runtime=args.runtime, parallel=args.parallel).load()
    print("neural runtime:", lm.runtime_loaded)
    load_s = time.perf_counter() - t
    rec_dec = Recorder(make_decoder(store_shortlist=rp.shortlist), rp)

    fast_reports, fast_s, neural_s, n_bytes, n_jobs, n_swaps, n_gated_docs = [], 0.0, 0.0, 0, 0, 0, 0
    t0 = time.perf_counter()
    for n, rec in enumerate(recs, 1):
        text = rec["spun"]
        n_bytes += len(text.encode("utf-8"))
        rec_dec.final = []
        rec_dec.weights = None
        t1 = time.perf_counter()
        rep = check(text, decoder=rec_dec)
        # check() runs no model where the document's probability gates every rescored swap out
        # (api.rescored_gated_out): the same cut, on the same statistics
        gated = api.rescored_gated_out(api._score(text, api._analyse(text, rec_dec, want_swaps=False)[3], rec_dec)[0],
                                       rec_dec.params)
        n_gated_docs += gated
        fast_s += time.perf_counter() - t1
        fast_reports.append(rep)
        t1 = time.perf_counter()
        todo = []  # the document's jobs, scored together as check() does (NeuralLM.score_jobs)
        doc = None  # (the document's word counts, for the cache prior of widened hypotheses)
        for key, sentences, results, surf, preceding, batch_doc in rec_dec.final:
            doc = doc or batch_doc
            if key in rec_dec.jobs:
                continue
            plans = plan_batch(sentences, results, rp, surf, preceding)
            rec_dec.jobs[key] = plans
            if gated:
                rec_dec.gated.add(key)
                continue
            for jobs, r in zip(plans, results):
                todo.extend(jobs)
                n_jobs += len(jobs)
                n_swaps += len(r.swaps)
        cache = cache_prior(rec_dec.inner.lm, doc, rec_dec.params.cache_lambda) if rp.widen_cache else None
        score_jobs(lm, todo, rec_dec.channel, rp, cache)
        job_features(todo, rec_dec.channel, rec_dec.inner.lm)
        neural_s += time.perf_counter() - t1
        if n % 25 == 0:
            print(f"  {n}/{len(recs)} docs, {time.perf_counter() - t0:.0f} s, "
                  f"{lm.tokens_scored / max(neural_s, 1e-9):.0f} tokens/s", file=sys.stderr)

    def run(weights):
        rec_dec.weights = weights
        t1 = time.perf_counter()
        reps = [check(r["spun"], decoder=rec_dec) for r in recs]
        return reps, time.perf_counter() - t1

    fast_g = groups_of(recs, fast_reports)
    fast_fig = {k: v.figures() for k, v in fast_g.items()}
    grid = []
    if args.tune:
        def values(flag: str, default: tuple) -> tuple:
            return tuple(float(x) for x in flag.split(",")) if flag else default

        axes = (values(args.grid_ngram, GRID_NG), values(args.grid_neural, GRID_NN),
                values(args.grid_channel, (rp.channel_weight,)), values(args.grid_unigram, (rp.unigram_weight,)))
        for ng, nn, ch, uni in itertools.product(*axes):
            reps, _ = run((ng, nn, ch, uni))
            g = {k: v.figures() for k, v in groups_of(recs, reps).items()}
            grid.append(((ng, nn, ch, uni), g))
            sp, cl = g.get("spun (all simulators)", {}), g.get("clean", {})
            print(f"  ng={ng:<5} nn={nn:<5} ch={ch:<5} uni={uni:<6} restore={sp.get('restore', 0):.4f} "
                  f"F1={sp.get('locate_f1', 0):.4f} wer_after={sp.get('wer_after', 0):.4f} "
                  f"false/1k={cl.get('false_per_1k', 0):.2f}")
        base_false = fast_fig.get("clean", {}).get("false_per_1k", 0.0)
        ok = [x for x in grid if x[1].get("clean", {}).get("false_per_1k", 0.0) <= base_false + 1e-9]
        # the most restored; within RESTORE_TIE of it, the lowest WER after restore
        top = max(x[1].get("spun (all simulators)", {}).get("restore", 0) for x in ok or grid)
        tied = [x for x in ok or grid if x[1].get("spun (all simulators)", {}).get("restore", 0) >= top - RESTORE_TIE]
        best = min(tied, key=lambda x: x[1].get("spun (all simulators)", {}).get("wer_after", 1))
        weights = best[0]
        print(f"best weights on {args.split}: ngram_weight={weights[0]}, neural_weight={weights[1]}, "
              f"channel_weight={weights[2]}, unigram_weight={weights[3]}")
    else:
        weights = (rp.ngram_weight, rp.neural_weight, rp.channel_weight, rp.unigram_weight)
    for b in (float(x) for x in args.near_bias.split(",") if x):
        rec_dec.rparams = dataclasses.replace(rp, near_bias=b)
        g = {k: v.figures() for k, v in groups_of(recs, run(weights)[0]).items()}
        sp, cl = g.get("spun (all simulators)", {}), g.get("clean", {})
        print(f"  near_bias={b:<5} restore={sp.get('restore', 0):.4f} F1={sp.get('locate_f1', 0):.4f} "
              f"P={sp.get('locate_p', 0):.4f} R={sp.get('locate_r', 0):.4f} wer_after={sp.get('wer_after', 0):.4f} "
              f"false/1k={cl.get('false_per_1k', 0):.2f}")
    rec_dec.rparams = rp
    reps, combine_s = run(weights)
    neu_fig = {k: v.figures() for k, v in groups_of(recs, reps).items()}
    # the fast tier as check(fast=True) runs it, its swaps chosen by the swap model ([fast] above is
    # the posterior gate the neural tier starts from)
    model_fig = {k: v.figures() for k, v in groups_of(recs, [check(r["spun"], fast=True) for r in recs]).items()}

    order = ["overall", "spun (all simulators)", "clean"] + sorted(
        {r["simulator"] for r in recs} - {"clean"})
    rows = []
    for k in order:
        if k in fast_fig:
            rows.append((f"{k} [fast]", fast_fig[k]))
            rows.append((f"{k} [fast+swap model]", model_fig[k]))
            rows.append((f"{k} [neural]", neu_fig[k]))
    table(f"split={args.split}, {len(recs)} docs, weights ngram={weights[0]} neural={weights[1]} "
          f"channel={weights[2]} unigram={weights[3]}", rows)

    neural_total = neural_s + combine_s  # combine_s re-runs check() over cached decodes: an upper bound
    kb = n_bytes / 1000
    docs = len(recs)
    speed = {
        "bytes": n_bytes, "docs": docs,
        "fast_check_s": fast_s, "neural_scoring_s": neural_s, "combine_check_s": combine_s,
        "fast_kb_per_s": kb / max(fast_s, 1e-9),
        "neural_kb_per_s": kb / max(fast_s + neural_s, 1e-9),
        "model_tokens": lm.tokens_scored, "model_tokens_per_s": lm.tokens_scored / max(neural_s, 1e-9),
        "swaps_on_path": n_swaps, "swaps_rescored": n_jobs,
        "tokens_per_rescored_swap": lm.tokens_scored / max(n_jobs, 1),
        "tokens_per_doc": lm.tokens_scored / max(docs, 1),
        "model_load_s": load_s, "docs_gated_out": n_gated_docs,
    }
    speed["cold_start_s"] = cold_start(args.runtime)
    speed["runtime"] = lm.runtime_loaded
    print(f"\nspeed ({args.threads} thread, {args.parallel} pass(es) at once, {lm.runtime_loaded} runtime): fast check {speed['fast_kb_per_s']:.1f} KB/s; "
          f"check + neural rescoring {speed['neural_kb_per_s']:.1f} KB/s "
          f"(neural scoring {neural_s:.1f} s of {fast_s + neural_s:.1f} s)")
    print(f"model: {lm.tokens_scored:,} tokens at {speed['model_tokens_per_s']:.0f} tokens/s; "
          f"{n_jobs:,} of {n_swaps:,} path swaps rescored; "
          f"{speed['tokens_per_rescored_swap']:.1f} tokens per rescored swap, "
          f"{speed['tokens_per_doc']:.0f} per document; {n_gated_docs} of {docs} documents gated out (no model run: "
          f"P(spun) ** doc_power under the report threshold)")
    print(f"cold start (fresh process: import, load, score one sentence): {speed['cold_start_s']:.2f} s; "
          f"load in this process {load_s:.2f} s; combine re-run {combine_s:.1f} s")
    if args.json:
        out = {"command": sys.argv, "machine": machine(), "split": args.split, "weights": weights,
               "fast": fast_fig, "fast_swap_model": model_fig, "neural": neu_fig, "speed": speed,
               "grid": [{"weights": w, "figures": g} for w, g in grid]}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=1))
        print("wrote", args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
