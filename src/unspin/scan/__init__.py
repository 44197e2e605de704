"""unspin.scan: run detect / check / trace over collections, resumably, on all cores, on Ray.

    from unspin.scan import scan
    summary = scan(["crawl/*.warc.gz"], "out/", task="detect", workers=8)   # folder of parts
    summary = scan(["docs.jsonl"], "out.parquet", task="check", resume=True)  # single file

Shape (after datatrove): readers (readers.py) -> task (tasks.py) -> writers with atomic
shard commits and a manifest (job.py), run by an executor: local processes (local.py) or Ray
Data (ray_engine.py).  Spark users call `unspin.spark` on their own DataFrames.
"""
from __future__ import annotations

import json
import os
import shutil

from unspin._cores import usable_cores
from unspin.inputs import BadInput
from unspin.scan import job as J
from unspin.scan.job import read_output
from unspin.scan.readers import ReadOptions, expand_inputs
from unspin.scan.tasks import arrow_schema, check_task_spec

__all__ = ["scan", "read_output", "iter_records", "ReadOptions"]


def iter_records(inputs: list[str], read: ReadOptions | None = None, shard_bytes: int = J.DEFAULT_SHARD_BYTES):
    """Every input record as a row without results: id, file, offset, row, record_id, url, date,
    error, text – the same records, ids and sources a scan reports (for Spark and tests)."""
    from unspin.scan.local import input_row

    read = read or ReadOptions()
    files = expand_inputs(inputs)
    for shard in J.plan_shards(files, read, shard_bytes):
        for raw in J.shard_raws(shard, files, read):
            yield input_row(raw)


def scan(inputs: list[str], out: str, *, task: str = "detect", index: str | None = None,
         read: ReadOptions | None = None, workers: int | None = None, resume: bool = False,
         engine: str = "local", chunk_records: int = J.DEFAULT_CHUNK_RECORDS,
         chunk_bytes: int = J.DEFAULT_CHUNK_BYTES, shard_bytes: int | None = None,
         parts_format: str = "jsonl", keep_parts: bool = False, progress: bool = True,
         fast: bool = False) -> dict:
    """Scan `inputs` into `out`; returns the summary (also written to <parts>/_unspin/summary.json).
    shard_bytes None: J.auto_shard_bytes of the inputs.  fast: the check task on the n-gram tier
    only (detect always is)."""
    read = read or ReadOptions()
    workers = usable_cores() if workers is None else workers
    try:
        check_task_spec(task, index)
    except (ValueError, ImportError, AttributeError) as e:
        raise BadInput(str(e)) from None
    job = J.Job.for_output(out, parts_format)
    if any(os.path.isfile(i) and os.path.abspath(i) == os.path.abspath(out) for i in inputs):
        raise BadInput(f"{out}: is also an input; write the output elsewhere")
    if job.complete:
        if not resume:
            raise BadInput(f"{out}: exists (a finished scan); remove it to scan again")
        return {"complete": True, "already_complete": True, "out": out}
    files = expand_inputs(inputs)
    if shard_bytes is None:
        shard_bytes = J.auto_shard_bytes(files)
    if engine == "ray":
        from unspin.scan.ray_engine import run_ray

        return run_ray(files, job, read, task, index, workers, shard_bytes, progress, fast)
    shards = J.plan_shards(files, read, shard_bytes)
    manifest = {"version": J.MANIFEST_VERSION, "task": task, "index": index and os.path.abspath(index),
                "read": read.to_dict(), "out_format": job.out_format,
                "inputs": [[f, *J._fingerprint(f)] for f in files], "chunk_records": chunk_records,
                "chunk_bytes": chunk_bytes, "shard_bytes": shard_bytes, "shards": shards}
    if fast:  # (only when set: a manifest of an older version, without the key, still resumes)
        manifest["fast"] = True
    try:
        os.makedirs(job.meta, exist_ok=True)  # (and job.root, which holds it)
    except OSError as e:
        raise BadInput(f"{out}: cannot create the scan's folder {job.root} ({e.strerror or e})") from None
    with job.lock():
        manifest = job.create_or_resume(manifest, resume)
        shards = manifest["shards"]
        job.clean_tmp()
        from unspin.scan.local import run_local

        run = run_local(job, files, read.to_dict(), shards, task, index, chunk_records, chunk_bytes,
                        workers, progress, bool(manifest.get("fast")))
        keys = [s["key"] for s in shards]
        missing = [k for k in keys if not job.is_done(k)]
        if missing:
            raise RuntimeError(f"{len(missing)} shard(s) not committed (first: {missing[0]}); run again with --resume")
        total = J.new_stats()
        for k in keys:
            J.merge_stats(total, J.shard_stats(job, k))
        summary = {"complete": True, "out": out, "task": task, "files": len(files), "shards": len(shards),
                   **total, "run": {**run, "workers": workers,
                                    "docs_per_s": run["records"] / max(run["seconds"], 1e-9),
                                    "mb_per_s": run["bytes"] / 1e6 / max(run["seconds"], 1e-9)}}
        J.atomic_write_bytes(job, job.p("summary.json"), json.dumps(summary, indent=1).encode())
        if not job.directory:
            J.assemble(job, keys, arrow_schema(task) if job.out_format == "parquet" else None)
        J.atomic_write_bytes(job, os.path.join(job.root, "_SUCCESS"), b"")
    if not job.directory and not keep_parts:
        shutil.rmtree(job.root, ignore_errors=True)
    return summary


def format_summary(s: dict) -> str:
    if s.get("already_complete"):
        return f"{s['out']}: already complete, nothing to do"
    run = s["run"]
    verdicts = ", ".join(f"{k} {v}" for k, v in sorted(s["verdicts"].items(), key=lambda kv: -kv[1])) or "none"
    return (f"{s['out']}: {s['records']} records from {s['files']} file(s) in {s['shards']} shard(s); "
            f"verdicts: {verdicts}; errors: {s['errors']}\n"
            f"this run: {run['records']} records, {run['bytes'] / 1e6:.1f} MB in {run['seconds']:.1f} s "
            f"({run['docs_per_s']:.1f} docs/s, {run['mb_per_s']:.3f} MB/s) with {run['workers']} worker(s)")
