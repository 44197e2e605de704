"""Trace benchmark (slow: minutes to an hour; run it on purpose, not in CI).

    python bench/trace/bench.py gen   --docs 1000000          # archive + queries into bench/.cache/trace/
    python bench/trace/bench.py build --docs 10000            # `unspin index build` (timed, RSS, size)
    python bench/trace/bench.py query --docs 10000            # recall/precision/false matches, latency
    python bench/trace/bench.py peer  --docs 100000           # datasketch MinHashLSH on word 5-grams
    python bench/trace/bench.py all   --sizes 10000,100000,1000000 --peer-docs 100000

Archive (deterministic): the originals of the frozen *test* split (Brown test-file chunks and
WordNet-example documents), every other Brown test-file chunk, and generated distractors that
share vocabulary and whole sentences with them: runs of real Brown sentences from test files,
recombined, and documents of WordNet definitions (never the example sentences, which feed the
unrelated queries).  Queries: the test split's 1,200 spun records (5 simulators x rates
0.1/0.3/0.5 x function words off/on) as full copies, plus partial copies (the first or last half
of the paragraphs), merged copies (half of one + half of another) and copies with shuffled
paragraphs; unrelated queries are spun and clean *dev* records (Brown dev files never feed the
archive).  Results go to bench/out/trace-<docs>.json.
"""
from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "devsets"))
from common import CACHE, REPO, load_records, machine  # noqa: E402

OUT = CACHE / "trace"
RESULTS = REPO / "bench" / "out"
SEED = "unspin-trace-bench-v1"
PY = sys.executable


# ----------------------------------------------------------------------------------- gen


def _glosses() -> list[str]:
    out = []
    for pos in ("noun", "verb", "adj", "adv"):
        with open(f"/usr/share/wordnet/data.{pos}", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("  ") or " | " not in line:
                    continue
                gloss = line.split(" | ", 1)[1]
                for part in gloss.split(";"):
                    part = part.strip()
                    if not part or '"' in part or len(part.split()) < 4:
                        continue  # quoted parts are the example sentences: kept out of the archive
                    out.append(part[0].upper() + part[1:] + ("" if part[-1] in ".?!" else "."))
    return out


def gen(n_docs: int) -> None:
    from build import chunk_brown, detok_sentence, ensure_brown, read_brown, split_of
    from spinners import render_clean

    OUT.mkdir(parents=True, exist_ok=True)
    test = load_records("test")
    dev = load_records("dev")
    real: dict[str, str] = {}
    for r in test:
        real.setdefault(r["source"], r["original"])
    files = read_brown(ensure_brown())
    for d in chunk_brown(files)["test"]:
        real.setdefault(d["source"], render_clean(d["toks"]))
    # sentence pool: Brown test files only (runs of consecutive sentences keep them natural),
    # without the sentences of the queried sources, so that the true source of a query is unique
    import re

    def key(t: str) -> str:
        return re.sub(r"[^a-z0-9]", "", t.lower())

    queried = "|".join(key(r["original"]) for r in test)
    runs: list[list[str]] = []
    for fd in files:
        if split_of(fd["file"]) != "test":
            continue
        rng = random.Random(f"{SEED}|{fd['file']}")
        sents = [render_clean(detok_sentence(s, rng.random() < 0.6)) for s in fd["sents"]]
        run: list[str] = []
        for s in sents:
            k = key(s)
            if len(k) >= 20 and k in queried:
                if len(run) >= 2:
                    runs.append(run)
                run = []
            else:
                run.append(s)
        if len(run) >= 2:
            runs.append(run)
    gl = _glosses()
    rng = random.Random(SEED)
    path = OUT / f"archive-{n_docs}.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        n = 0
        for sid, text in real.items():
            fh.write(json.dumps({"id": sid, "text": text}, ensure_ascii=False) + "\n")
            n += 1
        while n < n_docs:
            kind = rng.random()
            sents: list[str] = []
            target = rng.randint(120, 400)
            words = 0
            while words < target:
                if kind < 0.6 or (kind < 0.8 and rng.random() < 0.5):
                    f = rng.choice(runs)
                    a = rng.randrange(len(f))
                    piece = f[a:a + rng.randint(2, 5)]
                else:
                    piece = [rng.choice(gl) for _ in range(rng.randint(2, 5))]
                sents.extend(piece)
                words += sum(len(s.split()) for s in piece)
            out, para = [], 0
            for s in sents:
                if out:
                    para += 1
                    out.append("\n" if para % rng.randint(2, 5) == 0 else " ")
                out.append(s)
            fh.write(json.dumps({"id": f"gen-{n:07d}", "text": "".join(out)}, ensure_ascii=False) + "\n")
            n += 1
    print(f"archive: {path} ({n} documents, {len(real)} real, {path.stat().st_size / 1e6:.0f} MB)")
    # queries
    rng = random.Random(SEED + "|queries")
    spun = [r for r in test if r["simulator"] != "clean"]
    queries = []

    def paras(t: str) -> list[str]:
        return [p for p in t.split("\n") if p.strip()]

    def half(t: str, first: bool) -> str:
        """About half of the words, cut at a paragraph or else a sentence boundary."""
        cuts = [m.end() for m in re.finditer(r"(?<=[.!?”\"])\s+", t)]
        if not cuts:
            return t
        mid = len(t) // 2
        c = min(cuts, key=lambda x: abs(x - mid) - (1e-3 if t[x - 1] == "\n" else 0))
        return t[:c].rstrip() if first else t[c:]

    for r in spun:
        queries.append({"id": f"full/{r['id']}", "kind": "full", "text": r["spun"], "sources": [r["source"]]})
    for r in rng.sample(spun, 300):
        queries.append({"id": f"partial/{r['id']}", "kind": "partial", "text": half(r["spun"], rng.random() < 0.5),
                        "sources": [r["source"]]})
    for k in range(300):
        a, b = rng.sample(spun, 2)
        if a["source"] == b["source"]:
            continue
        text = half(a["spun"], True) + "\n" + half(b["spun"], False)
        queries.append({"id": f"merged/{a['id']}+{b['id']}", "kind": "merged", "text": text,
                        "sources": [a["source"], b["source"]]})
    for r in rng.sample(spun, 300):
        p = paras(r["spun"])
        if len(p) < 3:
            continue
        q = p[:]
        while q == p:
            rng.shuffle(q)
        queries.append({"id": f"reordered/{r['id']}", "kind": "reordered", "text": "\n".join(q), "sources": [r["source"]]})
    for r in dev:
        if r["simulator"] == "clean" or r["rate"] >= 0.3:
            queries.append({"id": f"unrelated/{r['id']}", "kind": "unrelated", "text": r["spun"], "sources": []})
    with open(OUT / "queries.jsonl", "w", encoding="utf-8") as fh:
        for q in queries:
            fh.write(json.dumps(q, ensure_ascii=False) + "\n")
    from collections import Counter

    print("queries:", dict(Counter(q["kind"] for q in queries)))


def _archive(n: int) -> Path:
    """archive-<n>.jsonl: the first n lines of the largest generated archive."""
    p = OUT / f"archive-{n}.jsonl"
    if p.exists():
        return p
    big = sorted(OUT.glob("archive-*.jsonl"), key=lambda x: int(x.stem.split("-")[1]))
    big = [b for b in big if int(b.stem.split("-")[1]) >= n]
    if not big:
        raise SystemExit(f"run `bench.py gen --docs {n}` (or larger) first")
    with open(big[0], encoding="utf-8") as src, open(p, "w", encoding="utf-8") as dst:
        for i, line in enumerate(src):
            if i >= n:
                break
            dst.write(line)
    return p


# ----------------------------------------------------------------------------------- build


def build(n: int) -> dict:
    arch = _archive(n)
    idx = OUT / f"idx-{n}"
    cmd = [str(Path(PY).parent / "unspin"), "index", "build", "--force", "--out", str(idx), str(arch)]
    t = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode:
        raise SystemExit(p.stderr)
    info = json.loads(p.stdout)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    res = {"docs": n, "command": " ".join(cmd[1:]).replace(str(REPO) + "/", ""), "wall_s": round(wall, 1),
           "cpu_s": round(cpu, 1), "docs_per_s_wall": round(n / wall), "docs_per_cpu_s": round(n / cpu),
           "bytes_on_disk": info["bytes_on_disk"], "archive_bytes": arch.stat().st_size,
           "band_keys": info["band_keys"], "build_max_rss_mb": round(after.ru_maxrss / 1024)}
    print(json.dumps(res))
    return res


# ----------------------------------------------------------------------------------- query


def _load_queries(limit: int | None = None) -> list[dict]:
    with open(OUT / "queries.jsonl", encoding="utf-8") as fh:
        qs = [json.loads(line) for line in fh]
    return qs


def evaluate(rows: list[dict], key: str = "top") -> dict:
    from collections import defaultdict

    by = defaultdict(list)
    for r in rows:
        by[r["kind"]].append(r)
    out = {}
    copies = [r for r in rows if r["kind"] != "unrelated"]
    unrel = by["unrelated"]
    answered = [r for r in rows if r[key] is not None]
    out["recall_at_1"] = round(sum(r[key] in r["sources"] for r in copies) / len(copies), 4)
    out["precision_top"] = round(sum(r[key] in r["sources"] for r in answered) / max(1, len(answered)), 4)
    out["false_match_rate"] = round(sum(r[key] is not None for r in unrel) / max(1, len(unrel)), 4)
    out["by_kind_recall_at_1"] = {k: round(sum(r[key] in r["sources"] for r in v) / len(v), 4)
                                  for k, v in sorted(by.items()) if k != "unrelated"}
    return out


def _lat(xs: list[float]) -> dict:
    xs = sorted(xs)
    return {"p50_ms": round(xs[len(xs) // 2] * 1e3, 2), "p99_ms": round(xs[int(len(xs) * 0.99)] * 1e3, 2),
            "mean_ms": round(sum(xs) / len(xs) * 1e3, 2)}


def query(n: int) -> dict:
    from unspin.trace import Index
    from unspin.trace.index import MIN_SCORE

    qs = _load_queries()
    t0 = time.perf_counter()
    idx = Index(OUT / f"idx-{n}")
    open_s = time.perf_counter() - t0
    idx.trace(qs[0]["text"])  # load the channel table once (not a query cost)
    lsh_cpu = [0.0]
    candidates = idx.candidates

    def timed_candidates(*a, **k):  # the LSH stage's share of the query CPU (for the projection)
        c = time.process_time()
        try:
            return candidates(*a, **k)
        finally:
            lsh_cpu[0] += time.process_time() - c

    idx.candidates = timed_candidates
    rows, lat, cpu = [], [], []
    for q in qs:
        t, c = time.perf_counter(), time.process_time()
        ms = idx.trace(q["text"], top=5, min_score=0.0)
        lat.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        top = ms[0] if ms else None
        rows.append({"id": q["id"], "kind": q["kind"], "sources": q["sources"],
                     "raw_top": top.source_id if top else None, "raw_score": top.score if top else 0.0,
                     "top": top.source_id if top and top.score >= MIN_SCORE else None,
                     "both": sorted(m.source_id for m in ms if m.score >= MIN_SCORE)})
    unrel = sorted(r["raw_score"] for r in rows if r["kind"] == "unrelated")
    copy_scores = sorted(r["raw_score"] for r in rows if r["kind"] not in ("unrelated", "merged"))
    res = {"docs": n, "queries": len(qs), "open_s": round(open_s, 3), **evaluate(rows), **_lat(lat),
           **{f"cpu_{k}": v for k, v in _lat(cpu).items()},
           "lsh_cpu_mean_ms": round(lsh_cpu[0] / len(qs) * 1e3, 2), "segments": len(idx._segments),
           "requeries": idx.requeries,
           "merged_both_found": round(sum(set(r["sources"]) <= set(r["both"]) for r in rows if r["kind"] == "merged")
                                      / max(1, sum(r["kind"] == "merged" for r in rows)), 4),
           "min_score": MIN_SCORE,
           "unrelated_top_score_max": unrel[-1], "unrelated_top_score_p99": unrel[int(len(unrel) * 0.99)],
           "copy_score_min": copy_scores[0], "copy_score_p1": copy_scores[int(len(copy_scores) * 0.01)],
           "query_max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
    res["misses"] = [r["id"] for r in rows if r["kind"] != "unrelated" and r["top"] not in r["sources"]][:20]
    res["false_matches"] = [r["id"] for r in rows if r["kind"] == "unrelated" and r["top"]][:20]
    print(json.dumps(res))
    return res


# ----------------------------------------------------------------------------------- peer


def peer(n: int, threshold: float = 0.3, num_perm: int = 128) -> dict:
    """datasketch MinHashLSH over plain word 5-gram shingles, no alignment: top = best estimated
    Jaccard among LSH candidates; no candidate = no match."""
    import re

    import numpy as np
    from datasketch import MinHash, MinHashLSH

    word = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")

    def shingle(text: str) -> list[bytes]:
        w = [x.lower() for x in word.findall(text)]
        return [" ".join(w[i:i + 5]).encode() for i in range(max(1, len(w) - 4))]

    proto = MinHash(num_perm=num_perm, seed=1)
    perm, scheme = proto.permutations, proto.scheme
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    sigs = {}
    t, c0 = time.perf_counter(), time.process_time()
    with open(_archive(n), encoding="utf-8") as fh:
        with lsh.insertion_session() as sess:
            for line in fh:
                d = json.loads(line)
                m = MinHash(num_perm=num_perm, seed=1, permutations=perm, scheme=scheme)
                m.update_batch(shingle(d["text"]))
                sess.insert(d["id"], m, check_duplication=False)
                sigs[d["id"]] = m.hashvalues
    build_s = time.perf_counter() - t
    build_cpu = time.process_time() - c0
    rows, lat, cpu = [], [], []
    for q in _load_queries():
        t, c0 = time.perf_counter(), time.process_time()
        m = MinHash(num_perm=num_perm, seed=1, permutations=perm, scheme=scheme)
        m.update_batch(shingle(q["text"]))
        cands = lsh.query(m)
        top = max(cands, key=lambda c: (np.mean(sigs[c] == m.hashvalues), c)) if cands else None
        lat.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c0)
        rows.append({"kind": q["kind"], "sources": q["sources"], "top": top})
    res = {"peer": f"datasketch MinHashLSH(threshold={threshold}, num_perm={num_perm}) on word 5-grams",
           "docs": n, "build_s": round(build_s, 1), "docs_per_s": round(n / build_s),
           "docs_per_cpu_s": round(n / build_cpu), **evaluate(rows), **_lat(lat),
           **{f"cpu_{k}": v for k, v in _lat(cpu).items()},
           "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
    print(json.dumps(res))
    return res


# ----------------------------------------------------------------------------------- projection


def project(runs: list[dict], target: int = 100_000_000) -> dict:
    """On paper: 100M documents from the growth measured between the two largest runs.

    Disk and band keys grow linearly (marginal bytes per document between the two largest sizes);
    build CPU is linear (fixed-size flush segments; the final compaction is one sort, n log n,
    counted at the measured rate).  Query CPU: the verification part does not depend on the
    archive size beyond the candidates it brings, so it is extrapolated per decade (log-linear)
    from the two largest runs; the LSH stage is a binary search per query key per segment, so it
    is projected from its measured cost at the largest size times the growth of log2(entries),
    for one compacted segment (what `index build` / `index compact` leave) and, for comparison,
    for the 400 segments of 250k documents an index has before compaction."""
    from unspin.trace.index import FLUSH_DOCS

    import math

    runs = sorted(runs, key=lambda r: r["build"]["docs"])
    a, b = runs[-2], runs[-1]
    na, nb = a["build"]["docs"], b["build"]["docs"]
    per_doc = (b["build"]["bytes_on_disk"] - a["build"]["bytes_on_disk"]) / (nb - na)
    keys_per_doc = b["build"]["band_keys"] / nb
    decades = math.log10(target / nb)

    def lat(key: str) -> float:
        qa, qb = a["query"][key], b["query"][key]
        return round(qb + (qb - qa) / math.log10(nb / na) * decades, 1)

    out = {"docs": target, "from": [na, nb],
           "disk_gb": round((b["build"]["bytes_on_disk"] + per_doc * (target - nb)) / 1e9),
           "disk_bytes_per_doc_marginal": round(per_doc),
           "band_keys": round(keys_per_doc * target), "band_table_gb": round(keys_per_doc * target * 8 / 1e9, 1),
           "build_cpu_hours": round(target / b["build"]["docs_per_cpu_s"] / 3600, 1),
           "query_cpu_p50_ms_loglinear": lat("cpu_p50_ms"), "query_cpu_p99_ms_loglinear": lat("cpu_p99_ms")}
    lsh, segs = b["query"].get("lsh_cpu_mean_ms"), b["query"].get("segments")
    if lsh and segs:
        per_seg = lsh / segs
        depth = lambda docs: math.log2(max(2.0, keys_per_doc * docs))  # noqa: E731
        one = per_seg * depth(target) / depth(nb / segs)
        tiers = math.ceil(target / FLUSH_DOCS)
        ten = tiers * per_seg * depth(FLUSH_DOCS) / depth(nb / segs)
        out.update({"lsh_cpu_mean_ms_measured": lsh, "segments_measured": segs,
                    "lsh_cpu_mean_ms_one_segment": round(one, 1),
                    "uncompacted_segments": tiers,
                    "lsh_cpu_mean_ms_uncompacted": round(ten, 1),
                    "query_cpu_mean_ms_one_segment": round(b["query"]["cpu_mean_ms"] - lsh + one, 1),
                    "query_cpu_mean_ms_uncompacted": round(b["query"]["cpu_mean_ms"] - lsh + ten, 1),
                    "note": "CPU only, band table resident in RAM (page cache); see bench/trace/README.md"})
    return out




# ----------------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("step", choices=["gen", "build", "query", "peer", "all", "project"])
    ap.add_argument("--docs", type=int, default=10_000)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--peer-docs", type=int, default=100_000)
    args = ap.parse_args()
    if args.step == "gen":
        gen(args.docs)
        return 0
    if args.step == "project":  # from the per-step results in bench/out
        runs = []
        for n in [int(s) for s in args.sizes.split(",")]:
            runs.append({"build": json.loads((RESULTS / f"trace-build-{n}.json").read_text()),
                         "query": json.loads((RESULTS / f"trace-query-{n}.json").read_text())})
        res = project(runs)
        print(json.dumps(res, indent=1))
        (RESULTS / "trace-projection.json").write_text(json.dumps(res, indent=1))
        return 0
    if args.step in ("build", "query", "peer"):
        res = {"build": build, "query": query, "peer": peer}[args.step](args.docs)
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"trace-{args.step}-{args.docs}.json").write_text(json.dumps(res, indent=1))
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    if not (OUT / f"archive-{max(sizes)}.jsonl").exists():
        gen(max(sizes))
    report = {"machine": machine(), "command": " ".join(sys.argv), "runs": []}
    for n in sizes:
        b = build(n)
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"trace-build-{n}.json").write_text(json.dumps(b, indent=1))
        q = subprocess.run([PY, __file__, "query", "--docs", str(n)], capture_output=True, text=True, check=True)
        qr = json.loads(q.stdout.strip().splitlines()[-1])
        (RESULTS / f"trace-query-{n}.json").write_text(json.dumps(qr, indent=1))
        report["runs"].append({"build": b, "query": qr})
        print(json.dumps(report["runs"][-1]), flush=True)
    if len(report["runs"]) >= 2:
        report["projection"] = project(report["runs"])
    p = subprocess.run([PY, __file__, "peer", "--docs", str(args.peer_docs)], capture_output=True, text=True, check=True)
    report["peer"] = json.loads(p.stdout.strip().splitlines()[-1])
    (RESULTS / f"trace-peer-{args.peer_docs}.json").write_text(json.dumps(report["peer"], indent=1))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "trace.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
