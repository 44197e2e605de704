"""The server's engine: unspin's CPU-bound calls run in a pool of worker processes.

* Models load once per worker, at start (`Engine.start` warms every worker up).
* The queue is bounded: at most `max_pending` jobs are submitted and not finished; beyond that
  `Engine.run` raises `Busy` at once (the app answers 503 with Retry-After) instead of letting
  latency grow without bound.
* Each job has a time budget.  A job still queued when its budget runs out is dropped by the
  worker without running; a running job cannot be interrupted (the engine is plain Python), so the
  request answers 503 and the job finishes in the background.  The body size limit bounds how long
  one job can take.
* Results are serialised to JSON in the worker (the event loop only forwards bytes) and kept in a
  small LRU cache keyed by (operation, options, sha256 of the text).
* `workers=0` runs jobs in one thread of the server process (tests, debugging).
"""
from __future__ import annotations

import asyncio
import concurrent.futures as cf
import hashlib
import json
import multiprocessing
import os
import threading
import time
from collections import OrderedDict
from dataclasses import asdict, is_dataclass

__all__ = ["Engine", "Busy", "Expired", "Result", "trace_available"]

WARMUP_TEXT = (
    "The White House declined to get ahead of conversations between the two leaders as they "
    "prepare to meet for the first time, a senior administration official said on Friday."
)


class Busy(Exception):
    """The queue is full (or the pool is being rebuilt): try again later."""


class Expired(Exception):
    """The job did not finish within its time budget."""


class Result:
    """What a worker returns: ("ok", json bytes) or (error code, message)."""

    __slots__ = ("status", "body")

    def __init__(self, status: str, body: bytes | str):
        self.status = status
        self.body = body


# ------------------------------------------------------------------------------ worker side

_INDEX = None
_INDEX_ERROR: str | None = None


def trace_available() -> bool:
    import unspin

    return hasattr(unspin, "Index")


def _open_index(path: str):
    import unspin

    return unspin.Index(path)


def _exit_with_parent() -> None:
    """In a worker process: exit as soon as the server process is gone (even after a SIGKILL)."""
    parent = multiprocessing.parent_process()
    if parent is None:  # workers=0: we are the server
        return

    def watch():
        from multiprocessing.connection import wait

        wait([parent.sentinel])
        os._exit(0)

    threading.Thread(target=watch, name="unspin-parent-watch", daemon=True).start()


def _init_worker(index_dir: str | None) -> None:
    global _INDEX, _INDEX_ERROR
    import unspin

    _exit_with_parent()

    _INDEX, _INDEX_ERROR = None, None

    unspin.check(WARMUP_TEXT)
    unspin.check(WARMUP_TEXT, fast=True)
    if index_dir and trace_available():
        try:
            _INDEX = _open_index(index_dir)
        except Exception as e:  # reported per request as 503, and at start by the app
            _INDEX_ERROR = f"cannot open index {index_dir}: {type(e).__name__}: {e}"


def _ping() -> int:
    return os.getpid()


def _index_status() -> tuple[bool, str | None]:
    return _INDEX is not None, _INDEX_ERROR


def _jsonable(obj):
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if is_dataclass(obj) and not isinstance(obj, type):
        return asdict(obj)
    if isinstance(obj, (list, tuple)):
        return [_jsonable(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    return obj


def _dumps(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _detect_fn():
    """unspin.detect, the function.  (Importing the submodule unspin.detect rebinds the package
    attribute to the module, so after the first call `unspin.detect` may be the module.)"""
    import unspin

    fn = unspin.detect
    return fn if callable(fn) else fn.detect


def _job(op: str, text: str, fast: bool, deadline: float) -> tuple[str, bytes | str]:
    """Runs in a worker.  `deadline` is wall-clock (time.time()) so it means the same in every process."""
    if time.time() > deadline:
        return "expired", "the request waited in the queue past its time budget"
    import unspin

    if op == "check":
        result = unspin.check(text, fast=fast)
    elif op == "detect":
        result = _detect_fn()(text)
    elif op == "trace":
        if _INDEX is None:
            return "no-index", _INDEX_ERROR or "no index is loaded"
        result = {"matches": _INDEX.trace(text)}  # the shape of `unspin trace --json`, less the id
    else:  # pragma: no cover - the app only sends the three above
        raise ValueError(op)
    verdict = getattr(result, "verdict", None)
    if verdict == "not-english":
        return "not-english", "the text does not look like English; unspin only handles English"
    return "ok", _dumps(_jsonable(result))


# ------------------------------------------------------------------------------ server side


class _Cache:
    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.size = 0
        self.items: OrderedDict[tuple, Result] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key):
        if self.max_bytes <= 0:
            return None
        with self.lock:
            r = self.items.get(key)
            if r is not None:
                self.items.move_to_end(key)
            return r

    def put(self, key, result: Result) -> None:
        n = len(result.body)
        if self.max_bytes <= 0 or n > self.max_bytes // 4:
            return
        with self.lock:
            old = self.items.pop(key, None)
            if old is not None:
                self.size -= len(old.body)
            self.items[key] = result
            self.size += n
            while self.size > self.max_bytes:
                _k, ev = self.items.popitem(last=False)
                self.size -= len(ev.body)


class Engine:
    def __init__(self, workers: int = 0, max_pending: int = 32, timeout: float = 20.0,
                 index_dir: str | None = None, cache_bytes: int = 32 << 20):
        self.workers = workers
        self.max_pending = max(1, max_pending)
        self.timeout = timeout
        self.index_dir = index_dir
        self.cache = _Cache(cache_bytes)
        self.pending = 0
        self._lock = threading.Lock()
        self._pool: cf.Executor | None = None
        self.trace_ready = False
        self.trace_error: str | None = None
        self.started = False

    # -- lifecycle
    def _new_pool(self) -> cf.Executor:
        if self.workers <= 0:  # the index's sqlite connection must live in the thread that uses it
            return cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="unspin-engine",
                                         initializer=_init_worker, initargs=(self.index_dir,))
        return cf.ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.index_dir,),
        )

    def start(self) -> None:
        """Create the pool and load the models in every worker (blocks until they are ready)."""
        self._pool = self._new_pool()
        n = max(1, self.workers)
        # one ping per worker spawns all of them; each runs the initializer (model load) first
        futs = [self._pool.submit(_ping) for _ in range(n)]
        for f in futs:
            f.result()
        if self.index_dir:
            if not trace_available():
                self.trace_error = "this version of unspin has no trace support (unspin.Index is missing)"
            else:
                ok, err = self._pool.submit(_index_status).result()
                self.trace_ready, self.trace_error = ok, err
        self.started = True

    def stop(self) -> None:
        """Stop the pool now: queued jobs are cancelled and running ones abandoned (we are exiting)."""
        pool, self._pool = self._pool, None
        self.started = False
        if pool is None:
            return
        procs = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(5)

    # -- jobs
    def _release(self, _fut) -> None:
        with self._lock:
            self.pending -= 1

    async def run(self, op: str, text: str, fast: bool = False) -> Result:
        key = (op, fast, hashlib.sha256(text.encode("utf-8")).digest())
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        pool = self._pool
        if pool is None:
            raise Busy("the engine is not running")
        with self._lock:
            if self.pending >= self.max_pending:
                raise Busy(f"{self.pending} requests are in progress")
            self.pending += 1
        try:
            fut = pool.submit(_job, op, text, fast, time.time() + self.timeout)
        except (RuntimeError, cf.BrokenExecutor) as e:
            with self._lock:
                self.pending -= 1
            self._rebuild(pool)
            raise Busy(f"the engine is restarting ({type(e).__name__})") from None
        # the slot is freed when the job really ends, not when the request gives up on it
        fut.add_done_callback(self._release)
        try:
            status, body = await asyncio.wait_for(asyncio.wrap_future(fut), self.timeout)
        except asyncio.TimeoutError:
            fut.cancel()
            raise Expired(f"the request took longer than its {self.timeout:g} s budget") from None
        except cf.BrokenExecutor:
            self._rebuild(pool)
            raise Busy("a worker died; the engine is restarting") from None
        if status == "expired":
            raise Expired(str(body))
        result = Result(status, body)
        if status in ("ok", "not-english"):
            self.cache.put(key, result)
        return result

    def _rebuild(self, broken: cf.Executor) -> None:
        """Replace a broken pool (a worker was killed, e.g. out of memory) in the background."""
        with self._lock:
            if self._pool is not broken:
                return
            self._pool = None

        def rebuild():
            try:
                broken.shutdown(wait=False, cancel_futures=True)
            except Exception:
                pass
            self.start()

        threading.Thread(target=rebuild, name="unspin-engine-rebuild", daemon=True).start()
