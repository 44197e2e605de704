"""Benchmarks of `unspin scan`: engine throughput per core vs the single-process baseline, machinery
scaling 1 vs 2 workers (fake CPU-bound task), peak RSS streaming a >= 2 GB input, SIGKILL torture.

    python bench/scan.py detect   [--docs 40]          # real engine: baseline loop vs scan -j1, -j2
    python bench/scan.py scaling  [--records 4000]     # fake task (bench/scan.py:busy), -j1 vs -j2
    python bench/scan.py rss      [--gb 2.0]           # stats task over a generated >= 2 GB JSONL, -j2
    python bench/scan.py torture  [--records 50000 --kills 20]
    python bench/scan.py estimate --words-per-s-core R # Common Crawl snapshot, on paper

Every run prints the command, the machine (cores, CPU model, load) and its figures as JSON.
Work files go to bench/.cache/scan/ (removed after each run except the generated inputs).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
CACHE = BENCH / ".cache" / "scan"
sys.path.insert(0, str(BENCH))
from common import cpu_model  # noqa: E402


def busy(text: str) -> dict:
    """Fake task: a deterministic function of the text costing ~ROUNDS sha256 per record (CPU-bound)."""
    h = text.encode("utf-8", "surrogatepass")
    for _ in range(int(os.environ.get("UNSPIN_BUSY_ROUNDS", "2000"))):
        h = hashlib.sha256(h).digest()
    return {"verdict": "clean" if h[0] < 128 else "spun", "spun_probability": h[1] / 255}


def machine() -> dict:
    return {"cores": os.cpu_count(), "cpu": cpu_model(), "loadavg": os.getloadavg(), "python": platform.python_version()}


def report(name: str, figures: dict) -> None:
    print(json.dumps({"bench": name, "command": " ".join([sys.executable, *sys.argv]), "machine": machine(),
                      **figures}, indent=1))


def docs_from_devset(n: int) -> list[str]:
    from common import load_records

    recs = load_records("dev")
    texts = [r.get("spun") or r.get("text") for r in recs]
    return [t for t in texts if isinstance(t, str) and len(t.split()) >= 50][:n]


def write_jsonl(path: Path, texts) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for i, t in enumerate(texts):
            f.write(json.dumps({"id": f"r{i}", "text": t}) + "\n")


def run_scan(args: list[str], env=None) -> tuple[dict, float]:
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "unspin.cli", "scan", *args, "-q", "--json"], capture_output=True,
                       text=True, env={**os.environ, **(env or {})})
    if p.returncode != 0:
        raise SystemExit(p.stderr)
    return json.loads(p.stdout), time.perf_counter() - t0


# ------------------------------------------------------------------------------ detect


def bench_detect(a) -> None:
    import unspin

    CACHE.mkdir(parents=True, exist_ok=True)
    texts = docs_from_devset(a.docs)
    words = sum(len(t.split()) for t in texts)
    src = CACHE / "detect.jsonl"
    write_jsonl(src, texts)
    unspin.detect(texts[0])  # warm: the baseline excludes model loading, as scan's workers do
    t0 = time.perf_counter()
    for t in texts:
        unspin.detect(t)
    base = time.perf_counter() - t0
    out: dict = {"docs": len(texts), "words": words,
                 "baseline_single_process": {"seconds": round(base, 2), "words_per_s": round(words / base)}}
    for j in (1, 2):
        o = CACHE / f"detect-j{j}.jsonl"
        o.unlink(missing_ok=True)
        s, wall = run_scan([str(src), "--out", str(o), "--task", "detect", "-j", str(j), "--shard-size",
                            str(max(1, src.stat().st_size // 4)), "--chunk-records", "8"])
        r = s["run"]
        out[f"scan_j{j}"] = {"seconds_in_scan": round(r["seconds"], 2), "wall_with_startup": round(wall, 2),
                             "words_per_s": round(words / r["seconds"]),
                             "words_per_s_per_core": round(words / r["seconds"] / j),
                             "per_core_vs_baseline": round(words / r["seconds"] / j / (words / base), 3)}
        o.unlink(missing_ok=True)
    report("scan-detect", out)


# ------------------------------------------------------------------------------ scaling


def bench_scaling(a) -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    src = CACHE / "scaling.jsonl"
    write_jsonl(src, (f"Record number {i} with a few words of text in it." for i in range(a.records)))
    env = {"PYTHONPATH": str(BENCH), "UNSPIN_BUSY_ROUNDS": str(a.rounds)}
    out: dict = {"records": a.records, "rounds": a.rounds}
    for j in (1, 2):
        o = CACHE / f"scaling-j{j}.jsonl"
        o.unlink(missing_ok=True)
        s, wall = run_scan([str(src), "--out", str(o), "--task", "scan:busy", "-j", str(j),
                            "--shard-size", str(max(1, src.stat().st_size // 8))], env)
        out[f"j{j}"] = {"seconds": round(s["run"]["seconds"], 2), "docs_per_s": round(s["run"]["docs_per_s"], 1)}
        o.unlink(missing_ok=True)
    out["speedup_2_vs_1"] = round(out["j2"]["docs_per_s"] / out["j1"]["docs_per_s"], 3)
    report("scan-scaling", out)


# ------------------------------------------------------------------------------ RSS


def _tree_rss(pid: int) -> int:
    """Sum of RSS (bytes) of pid and its descendants."""
    total = 0
    children = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            pass
        stack.extend(children.get(p, []))
    return total


def bench_rss(a) -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    src = CACHE / "big.jsonl"
    target = int(a.gb * 1e9)
    if not src.exists() or src.stat().st_size < target:
        texts = docs_from_devset(200)
        rng = random.Random(1)
        with open(src, "w", encoding="utf-8") as f:
            n = size = 0
            while size < target:
                line = json.dumps({"id": f"r{n}", "text": rng.choice(texts)}) + "\n"
                f.write(line)
                size += len(line.encode())
                n += 1
    o = CACHE / "big-out/"
    shutil.rmtree(o, ignore_errors=True)
    cmd = [sys.executable, "-m", "unspin.cli", "scan", str(src), "--out", str(o), "--task", "stats", "-j", "2",
           "-q", "--json"]
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    while p.poll() is None:
        peak = max(peak, _tree_rss(p.pid))
        time.sleep(0.5)
    out_s, err = p.communicate()
    if p.returncode:
        raise SystemExit(err)
    s = json.loads(out_s)
    report("scan-rss", {"input_bytes": src.stat().st_size, "records": s["records"], "task": "stats", "workers": 2,
                        "seconds": round(time.perf_counter() - t0, 1), "mb_per_s": round(s["run"]["mb_per_s"], 1),
                        "peak_rss_tree_mb": round(peak / 2**20, 1)})
    shutil.rmtree(o, ignore_errors=True)


# ------------------------------------------------------------------------------ torture


def bench_torture(a) -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    d = CACHE / "torture-in"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir()
    import gzip

    half = a.records // 2
    write_jsonl(d / "a.jsonl", (f"Plain record {i}." for i in range(half)))
    with gzip.open(d / "b.jsonl.gz", "wt", encoding="utf-8") as f:
        for i in range(half, a.records):
            f.write(json.dumps({"id": f"r{i}", "text": f"Compressed record {i}."}) + "\n")
    o = CACHE / "torture.jsonl"
    o.unlink(missing_ok=True)
    shutil.rmtree(str(o) + ".parts", ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": str(BENCH), "UNSPIN_BUSY_ROUNDS": str(a.rounds)}
    base = [sys.executable, "-m", "unspin.cli", "scan", str(d), "--out", str(o), "--task", "scan:busy", "-j", "2",
            "--shard-size", "200KB", "--chunk-records", "100", "-q"]
    rng = random.Random(a.seed)
    kills, runs, t0 = 0, 0, time.perf_counter()
    modes = {"group": 0, "main-only": 0}
    p = subprocess.Popen(base, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    runs += 1
    while kills < a.kills:
        time.sleep(rng.uniform(0.3, a.max_interval))
        if p.poll() is not None:
            break
        if rng.random() < 0.5:  # the whole process group at once
            os.killpg(p.pid, signal.SIGKILL)
            modes["group"] += 1
        else:  # the main process only: its workers must die with it (PR_SET_PDEATHSIG)
            os.kill(p.pid, signal.SIGKILL)
            modes["main-only"] += 1
        p.wait()
        kills += 1
        p = subprocess.Popen(base + ["--resume"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
        runs += 1
    rc = p.wait()
    from unspin.scan import read_output

    ids = [r["id"] for r in read_output(str(o))]
    want = {f"r{i}" for i in range(a.records)}
    got = set(ids)
    report("scan-torture", {"records": a.records, "sigkills": kills, "kill_modes": modes, "runs": runs,
                            "final_exit_code": rc, "rows": len(ids), "lost": len(want - got),
                            "duplicated": len(ids) - len(got), "unexpected": len(got - want),
                            "seconds": round(time.perf_counter() - t0, 1)})
    shutil.rmtree(d, ignore_errors=True)
    o.unlink(missing_ok=True)


# ------------------------------------------------------------------------------ estimate


def bench_estimate(a) -> None:
    # Assumptions (stated, not measured here): one monthly Common Crawl snapshot holds ~2.7e9 pages;
    # its WET text averages ~500 words per page (~45% of pages are English; unspin's not-english
    # verdict is cheap, so the English share is what costs).
    pages, words_per_page, english = 2.7e9, 500, 0.45
    rate = a.words_per_s_core
    all_words = pages * words_per_page
    report("scan-estimate", {
        "assumptions": {"pages": pages, "words_per_page": words_per_page, "english_share": english},
        "measured_words_per_s_per_core": rate,
        "core_hours_all_text": round(all_words / rate / 3600),
        "core_hours_english_only": round(all_words * english / rate / 3600),
        "days_on_1000_cores_english_only": round(all_words * english / rate / 3600 / 1000 / 24, 1)})


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("detect")
    s.add_argument("--docs", type=int, default=40)
    s = sub.add_parser("scaling")
    s.add_argument("--records", type=int, default=4000)
    s.add_argument("--rounds", type=int, default=2000)
    s = sub.add_parser("rss")
    s.add_argument("--gb", type=float, default=2.0)
    s = sub.add_parser("torture")
    s.add_argument("--records", type=int, default=50000)
    s.add_argument("--kills", type=int, default=20)
    s.add_argument("--rounds", type=int, default=3000)
    s.add_argument("--max-interval", type=float, default=2.5)
    s.add_argument("--seed", type=int, default=11)
    s = sub.add_parser("estimate")
    s.add_argument("--words-per-s-core", type=float, required=True)
    a = p.parse_args()
    {"detect": bench_detect, "scaling": bench_scaling, "rss": bench_rss, "torture": bench_torture,
     "estimate": bench_estimate}[a.cmd](a)


if __name__ == "__main__":
    main()
