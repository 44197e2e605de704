"""`unspin scan --engine ray`: the same plan, readers and task on Ray Data.

    read:   ray.data.from_items(shard plan) -> flat_map(read the shard's records)
    task:   map_batches(_TaskActor, concurrency=N)  – an actor pool, models loaded once per actor
    write:  OUT/ (a folder): Dataset.write_parquet / write_json (Ray's own distributed writers)
            + _SUCCESS;  OUT.jsonl / OUT.parquet: streamed through the driver (temp + rename)

Ray connects to the cluster named by RAY_ADDRESS, or starts a local instance with N + 1 CPUs
(N task actors of one CPU each, and room for the read tasks: without it the actors take every
CPU and the reads never run).
Order is preserved (DataContext.execution_options.preserve_order), so a single-file output has
the same rows in the same order as the local executor.  Fault tolerance is Ray's (task retries);
`--resume` does not apply to this engine: an interrupted Ray scan starts again.
"""
from __future__ import annotations

import json
import os
import shutil
import time

from unspin.scan import job as J
from unspin.scan.readers import ReadOptions
from unspin.scan.tasks import BASE_COLUMNS, arrow_schema

INPUT_COLUMNS = ("id", "file", "offset", "row", "record_id", "url", "date", "error", "text")


def _records_of_shard(item: dict, files: list[str], read: dict) -> list[dict]:
    from unspin.scan.local import input_row

    shard = json.loads(item["shard"])
    out = []
    for raw in J.shard_raws(shard, files, ReadOptions(**read)):
        row = input_row(raw, catch_all=True)
        out.append({k: row[k] for k in INPUT_COLUMNS})
    return out


class _TaskActor:
    """map_batches callable class: one task (and its models) per Ray actor."""

    def __init__(self, task: str, index: str | None, fast: bool = False):
        from unspin.neural import cores_share
        from unspin.scan.tasks import make_task

        cores_share(0)  # (an actor per CPU Ray gives it: the model's passes one at a time)
        self.task = make_task(task, index=index, fast=fast)
        self.task.setup()
        self.schema = arrow_schema(task)

    def __call__(self, batch):
        import pyarrow as pa

        rows = []
        for rec in batch.to_pylist():
            row = {k: rec.get(k) for k in BASE_COLUMNS}
            row.update((k, None) for k in self.task.columns)
            if rec.get("error") is None:
                try:
                    row.update(self.task(rec["text"]))
                except Exception as e:
                    row["error"] = f"internal error: {type(e).__name__}: {e}"
            rows.append(row)
        return pa.Table.from_pylist(rows, schema=self.schema) if self.schema is not None else pa.Table.from_pylist(rows)


def _input_schema():
    import pyarrow as pa

    return pa.schema([("id", pa.string()), ("file", pa.string()), ("offset", pa.int64()), ("row", pa.int64()),
                      ("record_id", pa.string()), ("url", pa.string()), ("date", pa.string()),
                      ("error", pa.string()), ("text", pa.string())])


def run_ray(files: list[str], job: J.Job, read: ReadOptions, task: str, index: str | None, workers: int,
            shard_bytes: int, progress: bool, fast: bool = False) -> dict:
    try:
        import ray
    except ImportError:
        from unspin.inputs import BadInput

        raise BadInput("--engine ray needs Ray: pip install 'unspin[ray]'") from None
    t0 = time.perf_counter()
    started = False
    if not ray.is_initialized():
        if os.environ.get("RAY_ADDRESS"):
            ray.init(ignore_reinit_error=True, log_to_driver=False)
        else:
            ray.init(num_cpus=max(1, workers) + 1, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
        started = True
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True
        ctx.enable_progress_bars = bool(progress)
        shards = J.plan_shards(files, read, shard_bytes)
        read_d = read.to_dict()
        ds = ray.data.from_items([{"shard": json.dumps(s)} for s in shards], override_num_blocks=max(1, len(shards)))
        ds = ds.flat_map(_records_of_shard, fn_args=(files, read_d), num_cpus=0.5)
        ds = ds.map_batches(_TaskActor, fn_constructor_args=(task, index, fast), batch_size=32, batch_format="pyarrow",
                            concurrency=max(1, workers), num_cpus=1)
        stats = J.new_stats()
        n_bytes = 0
        if job.directory:
            if os.path.isdir(job.root) and any(n for n in os.listdir(job.root)):
                shutil.rmtree(job.root)  # a Ray scan is not resumable: start again
            if job.out_format == "parquet":
                ds.write_parquet(job.root)
            else:
                ds.write_json(job.root, force_ascii=False)
            for row in _iter_dir(job.root):
                J.add_row_stats(stats, row)
            with open(os.path.join(job.root, "_SUCCESS"), "wb"):
                pass
        else:
            stats, n_bytes = _write_file(ds, job, task)
        secs = time.perf_counter() - t0
        return {"complete": True, "out": job.out, "task": task, "engine": "ray", "files": len(files),
                "shards": len(shards), **stats,
                "run": {"records": stats["records"], "bytes": n_bytes, "seconds": secs, "workers": workers,
                        "docs_per_s": stats["records"] / max(secs, 1e-9), "mb_per_s": n_bytes / 1e6 / max(secs, 1e-9)}}
    finally:
        if started:
            ray.shutdown()


def _iter_dir(root: str):
    import pyarrow.parquet as pq

    for name in sorted(os.listdir(root)):
        p = os.path.join(root, name)
        if name.endswith(".parquet"):
            yield from pq.read_table(p).to_pylist()
        elif name.endswith(".json") or name.endswith(".jsonl"):
            with open(p, "rb") as f:
                for line in f:
                    if line.strip():
                        yield json.loads(line)


def _write_file(ds, job: J.Job, task: str) -> tuple[dict, int]:
    """Stream the dataset through the driver into one file (temp + rename), in input order."""
    import gzip

    os.makedirs(job.p("tmp"), exist_ok=True)
    tmp = job.tmp_path(os.path.basename(job.out))
    stats = J.new_stats()
    n_bytes = 0
    schema = arrow_schema(task)
    try:
        if job.out_format == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            writer = None
            for batch in ds.iter_batches(batch_format="pyarrow", batch_size=1024):
                rows = batch.to_pylist()
                for r in rows:
                    J.add_row_stats(stats, r)
                t = pa.Table.from_pylist(rows, schema=schema) if schema is not None else batch
                if writer is None:
                    writer = pq.ParquetWriter(tmp, t.schema)
                writer.write_table(t)
            if writer is None:
                writer = pq.ParquetWriter(tmp, schema if schema is not None else pa.schema([]))
            writer.close()
        else:
            opener = (lambda p: gzip.open(p, "wb")) if job.out_compression == "gzip" else (lambda p: open(p, "wb"))
            with opener(tmp) as out:
                for batch in ds.iter_batches(batch_format="pyarrow", batch_size=1024):
                    for r in batch.to_pylist():
                        J.add_row_stats(stats, r)
                        line = (J.dumps(r) + "\n").encode("utf-8", "surrogatepass")
                        n_bytes += len(line)
                        out.write(line)
        os.replace(tmp, job.out)
    finally:
        shutil.rmtree(job.root, ignore_errors=True)
    return stats, n_bytes
