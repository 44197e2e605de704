"""The local executor: N worker processes over the shard plan, progress, summary.

Each worker builds the task once (models loaded once per process), then runs whole shards:
records -> deterministic chunks -> task -> committed chunk files -> the shard's part.  Workers
die with the parent (PR_SET_PDEATHSIG), so a SIGKILL of the scan leaves no orphan writing.
"""
from __future__ import annotations

import concurrent.futures as cf
import ctypes
import multiprocessing as mp
import os
import queue
import signal
import sys
import time

from unspin.scan import job as J
from unspin.scan.readers import ReadOptions, RecordError
from unspin.scan.tasks import BASE_COLUMNS, make_task

_W: dict = {}


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: workers check getppid() between chunks
        pass


def default_id(meta: dict) -> str:
    if meta.get("record_id"):
        return meta["record_id"]
    if meta.get("row") is not None:
        return f"{meta['file']}#{meta['row']}"
    if meta.get("offset") is not None:
        return f"{meta['file']}:{meta['offset']}"
    return meta.get("file") or ""


def input_row(raw, catch_all: bool = False) -> dict:
    """A record as read, without results: its source fields, id, text or error."""
    from unspin.scan.readers import RecordError

    row = {k: raw.meta.get(k) for k in ("file", "offset", "row", "record_id", "url", "date")}
    try:
        rid, text = raw.parse()
        row.update(id=rid, text=text, error=None)
    except RecordError as e:
        row.update(id=e.id or default_id(raw.meta), text=None, error=str(e))
    except Exception as e:
        if not catch_all:
            raise
        row.update(id=default_id(raw.meta), text=None, error=f"read error: {type(e).__name__}: {e}")
    return row


def make_row(raw, task) -> dict:
    meta = raw.meta
    row = {k: None for k in BASE_COLUMNS}
    row.update((k, None) for k in task.columns)  # error rows have the same columns, null
    for k in ("file", "offset", "row", "record_id", "url", "date"):
        row[k] = meta.get(k)
    try:
        rid, text = raw.parse()
    except RecordError as e:
        row["id"] = e.id or default_id(meta)
        row["error"] = str(e)
        return row
    except Exception as e:  # a reader bug must not sink the scan either
        row["id"] = default_id(meta)
        row["error"] = f"read error: {type(e).__name__}: {e}"
        return row
    row["id"] = rid
    try:
        result = task(text)
    except Exception as e:
        row["error"] = f"internal error: {type(e).__name__}: {e}"
        return row
    row.update(result)
    return row


def init_worker(job: J.Job, files: list[str], read: dict, task_spec: str, index: str | None,
                chunk_records: int, chunk_bytes: int, progress, parent: int | None = None,
                fast: bool = False, processes: int = 1) -> None:
    if parent is not None:
        from unspin.neural import cores_share

        job.forget_lock()  # (the scan's process holds it; a worker must not outlive it holding it)
        _die_with_parent()
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles ^C
        cores_share(processes)  # (before the model loads: each worker's passes on its share of the cores)
    task = make_task(task_spec, index=index, fast=fast)
    task.setup()
    _W.update(job=job, files=files, opts=ReadOptions(**read), task=task, chunk_records=chunk_records,
              chunk_bytes=chunk_bytes, progress=progress, parent=parent)


def run_shard(shard: dict) -> dict:
    """Process one shard (skipping committed chunks) and commit it.  Returns its stats and the
    work done in this run."""
    job: J.Job = _W["job"]
    key = shard["key"]
    t0 = time.perf_counter()
    done_records = done_bytes = 0
    if job.is_done(key):
        return {"key": key, "stats": J.shard_stats(job, key), "records": 0, "bytes": 0, "seconds": 0.0}
    progress = _W["progress"]
    last = time.perf_counter()
    pend_r = pend_b = 0
    n_chunks = 0
    raws = J.shard_raws(shard, _W["files"], _W["opts"])
    for n, chunk in enumerate(J.chunked(raws, _W["chunk_records"], _W["chunk_bytes"])):
        n_chunks = n + 1
        if os.path.exists(job.chunk_path(key, n)):
            continue  # committed by an earlier run
        if _W["parent"] is not None and os.getppid() != _W["parent"]:
            os._exit(1)
        rows = []
        for raw in chunk:
            rows.append(make_row(raw, _W["task"]))
            pend_r += 1
            pend_b += raw.size
            if progress is not None and time.perf_counter() - last > 0.25:
                progress.put((pend_r, pend_b))
                done_records, done_bytes = done_records + pend_r, done_bytes + pend_b
                pend_r = pend_b = 0
                last = time.perf_counter()
        J.commit_chunk(job, key, n, rows)
    if progress is not None and (pend_r or pend_b):
        progress.put((pend_r, pend_b))
    done_records, done_bytes = done_records + pend_r, done_bytes + pend_b
    from unspin.scan.tasks import arrow_schema

    schema = arrow_schema(_W["task"].name) if job.out_format == "parquet" else None
    stats = J.commit_shard(job, key, n_chunks, schema)
    return {"key": key, "stats": stats, "records": done_records, "bytes": done_bytes,
            "seconds": time.perf_counter() - t0}


class _Bar:
    """Progress: documents, docs/s and MB/s (tqdm when available and wanted)."""

    def __init__(self, enabled: bool, total_shards: int, done_shards: int):
        self.bar = None
        self.records = self.bytes = 0
        self.t0 = time.perf_counter()
        self.total, self.done = total_shards, done_shards
        if enabled:
            try:
                from tqdm import tqdm

                self.bar = tqdm(unit=" docs", desc=self._desc(), file=sys.stderr, dynamic_ncols=True,
                                mininterval=0.5)
            except ImportError:
                self.bar = None

    def _desc(self):
        return f"scan [{self.done}/{self.total} shards]"

    def update(self, n: int, b: int):
        self.records += n
        self.bytes += b
        if self.bar is not None:
            self.bar.update(n)
            dt = max(1e-9, time.perf_counter() - self.t0)
            self.bar.set_postfix_str(f"{self.bytes / dt / 1e6:.2f} MB/s", refresh=False)

    def shard_done(self):
        self.done += 1
        if self.bar is not None:
            self.bar.set_description_str(self._desc(), refresh=False)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def run_local(job: J.Job, files, read: dict, shards: list[dict], task: str, index, chunk_records: int,
              chunk_bytes: int, workers: int, progress: bool, fast: bool = False) -> dict:
    pending = [s for s in shards if not job.is_done(s["key"])]
    bar = _Bar(progress, len(shards), len(shards) - len(pending))
    run = {"records": 0, "bytes": 0}
    t0 = time.perf_counter()
    try:
        if workers <= 0 or not pending:  # in-process (debugging; nothing to do)
            init_worker(job, files, read, task, index, chunk_records, chunk_bytes, None, fast=fast)
            for s in pending:
                r = run_shard(s)
                bar.update(r["records"], r["bytes"])
                bar.shard_done()
                run["records"] += r["records"]
                run["bytes"] += r["bytes"]
        else:
            ctx = mp.get_context("fork")
            q = ctx.Queue()
            processes = min(workers, len(pending))
            if task in ("check", "detect") and processes > 1:
                # the n-gram tier set up once, here (api.set_up_long_run: the 3-gram's tables
                # pinned on huge pages, the vocabulary learnt): the forked workers share it
                # instead of each copying 134 MB of tables and learning the vocabulary on its
                # own (the neural tier, whose runtime starts threads, is only ever loaded in
                # the workers)
                from unspin.api import set_up_long_run

                set_up_long_run(True)
            with cf.ProcessPoolExecutor(max_workers=processes, mp_context=ctx,
                                        initializer=init_worker,
                                        initargs=(job, files, read, task, index, chunk_records, chunk_bytes, q,
                                                  os.getpid(), fast, processes)) as ex:
                futs = {ex.submit(run_shard, s) for s in pending}
                while futs:
                    done, futs = cf.wait(futs, timeout=0.25, return_when=cf.FIRST_COMPLETED)
                    _drain(q, bar, run)
                    for f in done:
                        f.result()  # a worker crash (BrokenProcessPool) stops the scan; --resume
                        bar.shard_done()
                _drain(q, bar, run)
    finally:
        bar.close()
    run["seconds"] = time.perf_counter() - t0
    return run


def _drain(q, bar, run) -> None:
    while True:
        try:
            n, b = q.get_nowait()
        except queue.Empty:
            return
        bar.update(n, b)
        run["records"] += n
        run["bytes"] += b
