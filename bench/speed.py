#!/usr/bin/env python3
"""Speed of `unspin.check`: throughput per core, peak memory, cold start.

    python bench/speed.py                  # figures and targets
    python bench/speed.py --json out.json  # also write them as JSON
    python bench/speed.py --profile        # where the time goes: top 15 functions by cumulative time

Measured, in one process on one core (n-gram tier, `check(text, fast=True)`):

* throughput on the dev set's spun texts (bench/devsets/dev.jsonl.gz, simulator != clean),
  concatenated into news-length documents (>= --doc-chars characters, paragraphs joined by "\\n"),
  up to --mb megabytes (UTF-8) of text; the engine is loaded and warmed on other text first;
* throughput on the real spun example article (../shared/examples/washington-examiner-spun.txt);
* a baseline in the same run: scar repair + tokenising + sentence split of the same documents
  (everything but the decoder), so the decoder's share is visible on any machine;
* peak RSS of this process (ru_maxrss) after all of the above;
* cold start: `unspin check` on a short text as a subprocess, wall time, median of --cold-runs;
* with --huge-mb N: `unspin check --fast --json` on ONE document of N MB (the dev set's spun
  texts joined by newlines, repeated as needed) as a subprocess: wall time, peak RSS and the
  swaps written (a huge text's memory: what grows with it, see README "Huge documents").

MB are 10^6 bytes of UTF-8 input.  Targets: >= 0.5 MB/s per core, <= 1 GB RSS, cold start <= 1.5 s.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, cpu_model, load_records, shared_dir  # noqa: E402

TARGETS = {"mb_per_s_per_core": 0.5, "peak_rss_mb": 1024.0, "cold_start_s": 1.5}
SHORT_TEXT = ("A minute management standard underscored the U. S. and Japan’s very long standing "
              "cooperative relationship, and said that conversations go on constantly.\n")


def machine() -> dict:
    model = cpu_model()
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"cores": os.cpu_count(), "usable_cores": affinity, "cpu_model": model,
            "python": platform.python_version(), "platform": platform.platform(),
            "load_avg_1_5_15": [round(x, 2) for x in load] if load else None}


def git_state() -> str:
    try:
        rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def news_docs(mb: float, doc_chars: int) -> tuple[list[str], list[str]]:
    """(documents for the measurement, a few other spun texts for warming up)."""
    texts = [r["spun"] for r in load_records("dev") if r["simulator"] != "clean"]
    warm, texts = texts[:8], texts[8:]
    docs, cur, size = [], [], 0
    budget = mb * 1e6
    for t in texts:
        cur.append(t)
        if sum(len(x) for x in cur) >= doc_chars:
            doc = "\n".join(cur)
            docs.append(doc)
            size += len(doc.encode("utf-8"))
            cur = []
            if size >= budget:
                break
    return docs, warm


def run_docs(fn, docs: list[str]) -> tuple[float, int]:
    t0 = time.perf_counter()
    n = 0
    for d in docs:
        fn(d)
        n += len(d.encode("utf-8"))
    return time.perf_counter() - t0, n


def baseline_fn(text: str):
    from unspin.scars import repair_scars
    from unspin.text import sentences, split_paragraphs, tokenize

    for _off, chunk in split_paragraphs(text):
        for _sent in sentences(tokenize(repair_scars(chunk).text)):
            pass


def unspin_command() -> list[str]:
    """The `unspin` console script beside this Python (else on PATH)."""
    exe = Path(sys.executable).with_name("unspin")
    return [str(exe)] if exe.exists() else [shutil.which("unspin") or "unspin"]


def cold_start(runs: int) -> dict:
    cmd = unspin_command()
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as fh:
        fh.write(SHORT_TEXT)
        path = fh.name
    times = []
    try:
        for _ in range(runs):
            t0 = time.perf_counter()
            proc = subprocess.run(cmd + ["check", path], capture_output=True, text=True)
            times.append(time.perf_counter() - t0)
            if proc.returncode != 0:
                raise SystemExit(f"cold start: {' '.join(cmd)} check failed ({proc.returncode}): {proc.stderr}")
    finally:
        os.unlink(path)
    return {"command": " ".join(cmd + ["check", "SHORT.txt"]), "median_s": statistics.median(times),
            "runs_s": [round(t, 3) for t in times]}


def huge_document(mb: float) -> dict:
    """`unspin check --fast --json` on one document of `mb` MB: seconds, peak RSS of the process
    (Linux: its ru_maxrss, read after it ends), swaps written."""
    cmd = unspin_command()
    paras = [r["spun"] for r in load_records("dev") if r["simulator"] != "clean"]
    parts, size, i = [], 0, 0
    while size < mb * 1e6:
        p = paras[i % len(paras)]
        parts.append(p)
        size += len(p.encode("utf-8")) + 1
        i += 1
    with tempfile.TemporaryDirectory() as tmp:
        path, out = Path(tmp) / "huge.txt", Path(tmp) / "huge.json"
        path.write_text("\n".join(parts), encoding="utf-8")
        t0 = time.perf_counter()
        with open(out, "wb") as fh:
            proc = subprocess.Popen(cmd + ["check", "--fast", "--json", str(path)], stdout=fh,
                                    stderr=subprocess.PIPE)
            _pid, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"huge document: {' '.join(cmd)} check failed: {proc.stderr.read().decode()[-2000:]}")
        with open(out, encoding="utf-8") as fh:
            swaps = len(json.load(fh)["swaps"])
    return {"mb": size / 1e6, "seconds": seconds, "peak_rss_mb": usage.ru_maxrss / 1024, "swaps": swaps,
            "command": " ".join(cmd + ["check", "--fast", "--json", "HUGE.txt"])}


def words(docs: list[str]) -> int:
    return sum(len(d.split()) for d in docs)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=float, default=1.0, help="MB of dev-set text to check (default 1)")
    ap.add_argument("--doc-chars", type=int, default=4000, help="minimum characters per news-length document")
    ap.add_argument("--cold-runs", type=int, default=5)
    ap.add_argument("--json", metavar="OUT", help="write the figures as JSON to OUT")
    ap.add_argument("--huge-mb", type=float, default=0.0,
                    help="also check one document of this many MB with the CLI (peak RSS, time); 10 takes about 80 s")
    ap.add_argument("--pinned", action="store_true",
                    help="pin the 3-gram's tables on huge pages first (NgramLM.pin_tables), as the server's and "
                         "scan's workers do at start: a long-running process's throughput")
    ap.add_argument("--long-run", action="store_true",
                    help="set up first as the server's and scan's workers do at start (unspin.api.set_up_long_run: "
                         "the tables pinned, the 3-gram's vocabulary learnt; its seconds are not counted)")
    ap.add_argument("--profile", action="store_true",
                    help="profile the dev-set run with cProfile and print the top 15 functions by cumulative time")
    args = ap.parse_args(argv)

    command = "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv if argv is not None else sys.argv[1:])])
    mach = machine()
    print(f"command : {command}")
    print(f"machine : {mach['cores']} cores ({mach['usable_cores']} usable), {mach['cpu_model']}, "
          f"Python {mach['python']}, load avg {mach['load_avg_1_5_15']}")
    import unspin

    print(f"unspin  : {unspin.__version__} at {git_state()}")

    docs, warm = news_docs(args.mb, args.doc_chars)
    t0 = time.perf_counter()
    for w in warm:  # load the channel and the prior, fill the first caches
        unspin.check(w, fast=True)
    load_s = time.perf_counter() - t0
    if args.pinned:
        from unspin.lm import fast_lm

        fast_lm().pin_tables()
    if args.long_run:
        from unspin.api import set_up_long_run

        set_up_long_run(True)

    check = lambda t: unspin.check(t, fast=True)  # noqa: E731
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
    cpu0 = time.process_time()
    dev_s, dev_bytes = run_docs(check, docs)
    dev_cpu = time.process_time() - cpu0
    if args.profile:
        prof.disable()
    base_s, _ = run_docs(baseline_fn, docs)

    example_path = shared_dir() / "examples" / "washington-examiner-spun.txt"
    example = None
    if example_path.exists():
        text = example_path.read_text("utf-8")
        ex_s, ex_bytes = run_docs(check, [text])
        example = {"bytes": ex_bytes, "words": len(text.split()), "seconds": ex_s, "mb_per_s": ex_bytes / 1e6 / ex_s}
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    cold = cold_start(args.cold_runs)
    huge = huge_document(args.huge_mb) if args.huge_mb > 0 else None

    res = {
        "command": command, "machine": mach, "unspin": unspin.__version__, "git": git_state(),
        "tier": "n-gram (check(fast=True))",
        "pinned": args.pinned, "long_run": args.long_run,
        "warmup_s": load_s,
        "dev": {"docs": len(docs), "bytes": dev_bytes, "words": words(docs), "seconds": dev_s,
                "cpu_seconds": dev_cpu, "mb_per_s": dev_bytes / 1e6 / dev_s,
                "words_per_s": words(docs) / dev_s},
        "baseline_no_decoder": {"seconds": base_s, "mb_per_s": dev_bytes / 1e6 / base_s},
        "example": example,
        "peak_rss_mb": peak_rss_mb,
        "cold_start": cold,
        "huge_document": huge,
        "targets": TARGETS,
        "profiled": args.profile,
    }

    def row(name, value, unit, target, ok):
        mark = "ok" if ok else "MISS"
        print(f"  {name:<34} {value:>10} {unit:<10} target {target:<10} {mark}")

    d = res["dev"]
    print(f"\nthroughput, 1 process, n-gram tier ({'cProfile on: slower' if args.profile else 'no profiler'}"
          f"{'; tables pinned' if args.pinned else ''}{'; set up for a long run' if args.long_run else ''}):")
    row(f"dev spun, {d['docs']} docs, {d['words']} words", f"{d['mb_per_s']:.4f}", "MB/s/core",
        f">= {TARGETS['mb_per_s_per_core']}", d["mb_per_s"] >= TARGETS["mb_per_s_per_core"])
    print(f"  {'':<34} {d['words_per_s']:>10.0f} words/s    ({d['bytes'] / 1e6:.2f} MB in {d['seconds']:.1f} s; "
          f"CPU {d['cpu_seconds']:.1f} s)")
    if example:
        row(f"example article, {example['words']} words", f"{example['mb_per_s']:.4f}", "MB/s/core",
            f">= {TARGETS['mb_per_s_per_core']}", example["mb_per_s"] >= TARGETS["mb_per_s_per_core"])
    else:
        print(f"  example article: {example_path} not found (set UNSPIN_SHARED)")
    print(f"  {'baseline: scars+tokens, no decoder':<34} {res['baseline_no_decoder']['mb_per_s']:>10.3f} MB/s/core")
    print("memory:")
    row("peak RSS (ru_maxrss)", f"{peak_rss_mb:.0f}", "MB", f"<= {TARGETS['peak_rss_mb']:.0f}",
        peak_rss_mb <= TARGETS["peak_rss_mb"])
    print("cold start:")
    row(f"unspin check SHORT (median of {len(cold['runs_s'])})", f"{cold['median_s']:.2f}", "s",
        f"<= {TARGETS['cold_start_s']}", cold["median_s"] <= TARGETS["cold_start_s"])
    print(f"  {'':<34} runs: {cold['runs_s']}")
    if huge:
        print(f"huge document ({huge['command']}):")
        print(f"  {huge['mb']:.1f} MB in one document: {huge['seconds']:.0f} s, peak RSS {huge['peak_rss_mb']:.0f} MB, "
              f"{huge['swaps']:,} swaps")

    if args.profile:
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(15)
        res["profile_top15"] = out.getvalue()
        print("\nprofile of the dev-set run, top 15 by cumulative time:")
        print(out.getvalue())

    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
