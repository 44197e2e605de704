#!/usr/bin/env python
"""Load test of `unspin serve` on loopback: 2 KB documents to POST /v1/check, with oversize and
malformed requests mixed in.  Bounded: every load generator runs for --seconds and stops by itself
(and is killed 60 s after that if it has not); only 127.0.0.1 is ever targeted.

    python bench/load.py                         # all three scenarios below, 20 s each
    python bench/load.py --seconds 30 --concurrency 16 --scenario cached

Scenarios (a fresh server each):
  distinct --cache-mb 0, a different document every request: 2 KB pieces of the spun texts of
           bench/devsets (dev, test, unseen), each sent once or twice, so the engine's per-word
           caches meet new words as a stream of distinct articles makes them (wrk + bench/load/rotate.lua)
  engine   --cache-mb 0, the same 2 KB article every request: the engine's cost once its caches hold
           the document's words (no result cache)
  cached   the default 32 MB result cache: the same article over and over (HTTP + cache path)

Needs `hey` (Debian: apt-get install hey) and, for distinct, `wrk` (apt-get install wrk; the
scenario is skipped with a message without it).  Good traffic: hey -c C -z Ts with one 2 KB JSON
body, or wrk -t 2 -c C -d Ts rotating through those pieces.
Bad traffic, concurrently, each by its own hey at a fixed rate: a 300 KB body (expects 413),
malformed JSON (400), invalid UTF-8 text/plain (400).  Prints the machine, the commands, a
single-process in-process baseline (unspin.check docs/s on the same document), and per scenario:
req/s, latency percentiles and status counts of the good traffic, whether every bad request got
its 4xx, the CPU time per request of the server process and of its engine workers, and the
workers' memory (Linux).  --json writes all of it to a file.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT.parent / "shared" / "examples" / "washington-examiner-spun.txt"
HOST = "127.0.0.1"
sys.path.insert(0, str(ROOT / "bench"))
from common import cpu_model, load_records  # noqa: E402
ROTATE_LUA = ROOT / "bench" / "load" / "rotate.lua"


def machine() -> dict:
    return {"cores": os.cpu_count(), "cpu": cpu_model(), "python": platform.python_version(),
            "loadavg_before": [round(x, 2) for x in os.getloadavg()]}


def document(size: int = 2048) -> str:
    if EXAMPLE.exists():
        text = EXAMPLE.read_text("utf-8")
    else:
        text = (ROOT / "src" / "unspin" / "data" / "demo" / "demo.txt").read_text("utf-8")
    while len(text.encode()) < size:
        text += "\n" + text
    cut = text.encode()[:size].decode("utf-8", "ignore")
    return cut[: cut.rfind(" ")] if " " in cut else cut


def distinct_documents(size: int = 2048) -> list[str]:
    """The spun texts of the dev, test and unseen sets, one after another, cut into pieces of at
    most `size` bytes at line or word ends: thousands of distinct documents of about `size` bytes."""
    stream = "\n\n".join(r["spun"] for split in ("dev", "test", "unseen") for r in load_records(split)
                          if r["simulator"] != "clean")
    out, at = [], 0
    while at < len(stream):
        cut = stream[at:at + size].encode()[:size].decode("utf-8", "ignore")  # (whole characters)
        if at + len(cut) < len(stream):
            end = max(cut.rfind("\n"), cut.rfind(" "))
            cut = cut[:end] if end > size // 4 else cut
        at += len(cut)
        if len(cut.strip().encode()) >= size // 2:
            out.append(cut.strip())
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start_server(port: int, extra: list[str]) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "unspin.cli", "serve", "--host", HOST, "--port", str(port), *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    import urllib.request

    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read().decode(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/health", timeout=2) as r:
                if json.load(r).get("status") == "ok":
                    return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("server did not become ready in 120 s")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()


def hey(url: str, body: Path, ctype: str, seconds: int, concurrency: int, qps: float | None, out: Path):
    cmd = ["hey", "-z", f"{seconds}s", "-c", str(concurrency), "-m", "POST", "-T", ctype, "-D", str(body),
           "-t", "30", "-o", "csv"]
    if qps:
        cmd += ["-q", str(qps)]
    cmd.append(url)
    f = open(out, "w")
    return cmd, subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT), f


def wrk(url: str, bodies: Path, seconds: int, concurrency: int, out: Path):
    cmd = ["wrk", "-t", "2", "-c", str(concurrency), "-d", f"{seconds}s", "--timeout", "30s",
           "-s", str(ROTATE_LUA), url, "--", str(bodies)]
    f = open(out, "w")
    return cmd, subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT), f


def read_wrk(path: Path) -> dict:
    """The JSON line rotate.lua prints, as an entry like read_csv's."""
    lines = [ln for ln in path.read_text().splitlines() if ln.startswith("{")]
    if not lines:
        raise SystemExit(f"wrk printed no result: {path.read_text()[-2000:]}")
    r = json.loads(lines[-1])
    errors = r["connect_errors"] + r["read_errors"] + r["write_errors"] + r["timeouts"]
    ok = r["requests"] - r["non_2xx"] - errors
    return {"requests": r["requests"], "req_per_s": round(r["requests"] / (r["duration_us"] / 1e6), 1),
            "status": {"2xx": ok, "non-2xx": r["non_2xx"], "socket errors/timeouts": errors},
            "p50_ms": round(r["p50_us"] / 1000, 1), "p90_ms": round(r["p90_us"] / 1000, 1),
            "p99_ms": round(r["p99_us"] / 1000, 1), "max_ms": round(r["max_us"] / 1000, 1),
            "mean_ms": round(r["mean_us"] / 1000, 1), "expected_status": 200,
            "unexpected": r["non_2xx"] + errors}


def read_csv(path: Path) -> tuple[list[float], dict[str, int]]:
    lat, codes = [], {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            try:
                t = float(row["response-time"])
            except (KeyError, TypeError, ValueError):
                continue
            code = row.get("status-code") or "error"
            codes[code] = codes.get(code, 0) + 1
            lat.append(t)
    return lat, codes


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def baseline(texts: list[str], seconds: float = 5.0, fast: bool = True) -> dict:
    """unspin.check in this process, cycling through `texts` (one text: the same one again)."""
    import unspin

    unspin.check(texts[-1], fast=fast)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        unspin.check(texts[n % len(texts)], fast=fast)
        n += 1
    dt = time.perf_counter() - t0
    return {"docs_per_s_one_process": round(n / dt, 2), "ms_per_doc": round(1000 * dt / n, 1)}


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux /proc; None elsewhere or once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _children_cpu() -> float:
    """User + system CPU time of this process's children that have been waited for."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def memory_mb(pid: int) -> dict | None:
    """Peak and current resident memory of a process, and its private part now (Linux /proc;
    None elsewhere or once it is gone): the rest is file-backed, the model files and tables
    the workers map and share."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    kb = {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in status.splitlines() if ":" in line)
          if k in ("VmHWM", "VmRSS", "RssAnon")}
    if len(kb) < 3:
        return None
    return {"peak": kb["VmHWM"] // 1024, "now": kb["VmRSS"] // 1024, "private": kb["RssAnon"] // 1024}


def engine_workers(pid: int) -> list[int]:
    """The server's engine worker processes (its children that run multiprocessing's spawn)."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text().rsplit(")", 1)[1].split()
            cmd = (d / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[1]) == pid and b"spawn_main" in cmd:
            out.append(int(d.name))
    return out


def scenario(name: str, server_args: list[str], args, work: Path, good: Path, bad: list[tuple],
             rotate: Path | None = None) -> dict:
    """Run the good traffic (hey with `good`, or wrk through the bodies in `rotate`) and the bad
    traffic against a fresh server."""
    port = free_port()
    base = f"http://{HOST}:{port}"
    proc = start_server(port, server_args)
    try:
        # warm the HTTP path and (when on) the cache
        import urllib.request

        req = urllib.request.Request(base + "/v1/check", data=good.read_bytes(),
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=60).read()
        # CPU per request, server process and engine workers apart: steadier than req/s on a busy
        # machine, and it says where the time goes
        workers = engine_workers(proc.pid)
        cpu0 = {pid: cpu_seconds(pid) for pid in [proc.pid, *workers]}
        gen0 = _children_cpu()
        runs = []
        if rotate is not None:
            gcmd, gp, gf = wrk(base + "/v1/check", rotate, args.seconds, args.concurrency, work / f"{name}-good.csv")
        else:
            gcmd, gp, gf = hey(base + "/v1/check", good, "application/json", args.seconds, args.concurrency,
                               None, work / f"{name}-good.csv")
        runs.append(("good", gcmd, gp, gf, 200))
        for label, path, ctype, expect, qps in bad:
            cmd, p, f = hey(base + "/v1/check", path, ctype, args.seconds, 1, qps, work / f"{name}-{label}.csv")
            runs.append((label, cmd, p, f, expect))
        for _label, _cmd, p, f, _e in runs:
            try:
                p.wait(args.seconds + 60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            f.close()
        cpu1 = {pid: cpu_seconds(pid) for pid in cpu0}
        generators = _children_cpu() - gen0  # (the load generators: this process's waited children)
        memory = [m for m in map(memory_mb, workers) if m is not None]
        result = {"server": "unspin serve " + " ".join(server_args), "commands": {}}
        for label, cmd, _p, _f, expect in runs:
            result["commands"][label] = " ".join(cmd)
            if label == "good" and rotate is not None:
                result[label] = read_wrk(work / f"{name}-{label}.csv")
                continue
            lat, codes = read_csv(work / f"{name}-{label}.csv")
            entry = {
                "requests": len(lat),
                "req_per_s": round(len(lat) / args.seconds, 1),
                "status": codes,
                "p50_ms": round(1000 * pct(lat, 50), 1),
                "p90_ms": round(1000 * pct(lat, 90), 1),
                "p99_ms": round(1000 * pct(lat, 99), 1),
                "max_ms": round(1000 * max(lat), 1) if lat else None,
                "mean_ms": round(1000 * statistics.fmean(lat), 1) if lat else None,
                "expected_status": expect,
                "unexpected": sum(v for k, v in codes.items() if k != str(expect)),
            }
            result[label] = entry
        n_all = sum(result[label]["requests"] for label, *_rest in runs)
        if n_all and None not in cpu0.values() and None not in cpu1.values():
            result["cpu_ms_per_request"] = {
                "server": round(1000 * (cpu1[proc.pid] - cpu0[proc.pid]) / n_all, 2),
                "workers": round(1000 * sum(cpu1[w] - cpu0[w] for w in workers) / n_all, 2),
                "worker_processes": len(workers),
                "load_generators": round(1000 * generators / n_all, 2)}
        if memory:
            result["worker_memory_mb"] = {k: max(m[k] for m in memory) for k in ("peak", "now", "private")}
        return result
    finally:
        stop_server(proc)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=20, help="duration of each scenario (default 20, max 300)")
    ap.add_argument("--concurrency", type=int, default=8, help="concurrent good connections (default 8)")
    ap.add_argument("--workers", type=int, default=None, help="server engine workers (default: CPUs)")
    ap.add_argument("--scenario", choices=["distinct", "engine", "cached", "all", "both"], default="all",
                    help="all: the three scenarios (both: engine and cached only)")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--tier", choices=["fast", "default"], default="fast",
                    help="fast: the n-gram tier ({'fast': true} in every request; default); default: "
                         "what the server picks when asked nothing (the neural tier where installed while it is "
                         "free, the n-gram tier while it is busy: under this load, nearly always the n-gram one)")
    args = ap.parse_args()
    args.seconds = max(1, min(args.seconds, 300))
    if not shutil.which("hey"):
        print("bench/load.py needs hey: apt-get install hey", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="unspin-load-"))
    doc = document()
    good = work / "good.json"
    body = {"text": doc, "fast": True} if args.tier == "fast" else {"text": doc}
    good.write_text(json.dumps(body, ensure_ascii=False), "utf-8")
    big = work / "oversize.json"
    big.write_text(json.dumps({"text": "word " * 60000}), "utf-8")  # 300 KB > the 256 KiB default limit
    broken = work / "malformed.json"
    broken.write_text('{"text": "unterminated', "utf-8")
    latin1 = work / "latin1.txt"
    latin1.write_bytes(doc.encode("utf-8").replace(b"the", b"th\xe9"))
    bad = [("oversize", big, "application/json", 413, 2),
           ("malformed", broken, "application/json", 400, 5),
           ("not-utf8", latin1, "text/plain", 400, 5)]

    report = {"machine": machine(), "document_bytes": len(doc.encode()), "seconds": args.seconds,
              "concurrency": args.concurrency, "tier": args.tier, "command": " ".join([Path(sys.executable).name, *sys.argv])}
    print(f"machine: {report['machine']}", flush=True)
    names = {"all": ["distinct", "engine", "cached"], "both": ["engine", "cached"]}.get(args.scenario, [args.scenario])
    rotate = None
    if "distinct" in names:
        if not shutil.which("wrk"):
            print("distinct scenario skipped: needs wrk (apt-get install wrk)", file=sys.stderr)
            names.remove("distinct")
        else:
            pieces = distinct_documents()
            rotate = work / "distinct.jsonl"
            with open(rotate, "w", encoding="utf-8") as f:
                for piece in pieces:
                    row = {"text": piece, "fast": True} if args.tier == "fast" else {"text": piece}
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
            report["distinct_documents"] = {"count": len(pieces),
                                            "mean_bytes": round(sum(len(x.encode()) for x in pieces) / len(pieces))}
            print(f"distinct documents: {report['distinct_documents']}", flush=True)
    report["baseline"] = baseline([doc], fast=args.tier == "fast")
    print(f"baseline (unspin.check in one process, same document): {report['baseline']}", flush=True)
    if rotate is not None:
        report["baseline_distinct"] = baseline(pieces, fast=args.tier == "fast")
        print(f"baseline (unspin.check in one process, the distinct documents in turn): {report['baseline_distinct']}",
              flush=True)
    workers = [] if args.workers is None else ["--workers", str(args.workers)]
    plan = {"distinct": [*workers, "--cache-mb", "0"], "engine": [*workers, "--cache-mb", "0"], "cached": [*workers]}
    for name in names:
        what = "distinct 2 KB documents" if name == "distinct" else "one 2 KB document"
        print(f"\n== {name}: {args.seconds} s, {args.concurrency} connections of {what} + bad traffic", flush=True)
        r = scenario(name, plan[name], args, work, good, bad, rotate if name == "distinct" else None)
        report[name] = r
        print(f"server: {r['server']}")
        for label in ("good", "oversize", "malformed", "not-utf8"):
            e = r[label]
            print(f"  {label:9} {e['requests']:6d} req  {e['req_per_s']:7.1f} req/s  p50 {e['p50_ms']:7.1f} ms  "
                  f"p99 {e['p99_ms']:7.1f} ms  status {e['status']}  unexpected {e['unexpected']}")
        print(f"  good: {r['commands']['good']}")
        if "cpu_ms_per_request" in r:
            c = r["cpu_ms_per_request"]
            print(f"  CPU per request (all traffic): server process {c['server']} ms, "
                  f"{c['worker_processes']} engine workers {c['workers']} ms, load generators {c['load_generators']} ms")
        if "worker_memory_mb" in r:
            m = r["worker_memory_mb"]
            print(f"  engine worker memory (the largest): peak {m['peak']} MB resident, at the end {m['now']} MB, "
                  f"{m['private']} MB of it private")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
