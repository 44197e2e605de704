"""The server's engine: unspin's CPU-bound calls run in a pool of worker processes (`WorkerPool`:
one pipe per worker, read by the event loop; a worker that dies is replaced).

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
import struct
import threading
import time
from collections import OrderedDict, deque
from dataclasses import asdict, is_dataclass

from unspin.report import Detection, Report

__all__ = ["Engine", "Busy", "Expired", "Result", "trace_available"]

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


def _init_worker(index_dir: str | None, processes: int = 1) -> None:
    """Load the models (one of `processes` worker processes: its model passes run on its
    share of the cores, see unspin.neural.cores_share) and open the index."""
    global _INDEX, _INDEX_ERROR
    from unspin.neural import cores_share

    _exit_with_parent()
    cores_share(processes)

    _INDEX, _INDEX_ERROR = None, None

    _set_up_long_run()  # (each tier loaded and warmed too)
    if index_dir and trace_available():
        try:
            _INDEX = _open_index(index_dir)
        except Exception as e:  # reported per request as 503, and at start by the app
            _INDEX_ERROR = f"cannot open index {index_dir}: {type(e).__name__}: {e}"


def _set_up_long_run() -> None:
    """A worker checks request after request: it sets up for that at once
    (unspin.api.set_up_long_run: the 3-gram's tables on huge pages, the channel's pair index,
    and for the n-gram tier the vocabulary's candidates and screening rows, about 100 MB)
    rather than over its first thousands.  The neural tier learns no vocabulary: its model's
    seconds a request dwarf what that saves, and it would cost 100 MB more."""
    from unspin.api import set_up_long_run

    for fast in (True, False):  # (each tier's decoder has a channel and caches of its own)
        set_up_long_run(fast, vocabulary=fast)


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


try:  # (the server extra brings it; the standard library's json otherwise)
    import orjson
except ImportError:  # pragma: no cover - exercised where orjson is missing
    orjson = None


def _dumps(obj) -> bytes:
    """A result as UTF-8 JSON.  orjson writes a 2 KB article's report in 0.05 ms where json
    takes 0.28 ms (a fortieth of checking it), and reads Report and Detection as they stand,
    their fields in the order their to_dict() writes them, without building the dicts (0.13
    ms more); tests/test_server.py holds the two equal.  (Its floats read the same, though
    small ones are written 0.00001 where json writes 1e-05.)"""
    if orjson is not None:
        return orjson.dumps(obj if isinstance(obj, (Report, Detection)) else _jsonable(obj))
    return json.dumps(_jsonable(obj), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _detect_fn():
    """unspin.detect, the function.  (Importing the submodule unspin.detect rebinds the package
    attribute to the module, so after the first call `unspin.detect` may be the module.)"""
    import unspin

    fn = unspin.detect
    return fn if callable(fn) else fn.detect


# A check that leaves its tier to the server (app.py) gets the neural one only where no request
# is in progress and none came within this many seconds (Engine.busy)
QUIET_SECONDS = 1.0
NEURAL_SHARE = 0.6  # of a request's time left, what the neural tier may spend (decoding, JSON: the rest)


def _job(op: str, text: str, fast: bool, deadline: float) -> tuple[str, bytes | str]:
    """Runs in a worker.  `deadline` is wall-clock (time.time()) so it means the same in every process."""
    if time.time() > deadline:
        return "expired", "the request waited in the queue past its time budget"
    import unspin

    if op == "check":
        # the neural tier rescores within most of the time left, most doubtful swaps first, so
        # that a long article comes back in time rather than as a 503 (RescoringDecoder.budgeted)
        result = unspin.check(text, fast=fast, budget=None if fast else NEURAL_SHARE * max(0.0, deadline - time.time()))
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
    return "ok", _dumps(result)


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


# ------------------------------------------------------------------------------ the worker pool


READ_BYTES = 1 << 16  # what the event loop reads of a reply at a time (see WorkerPool._on_reply)


class WorkerDied(Exception):
    """A worker process exited (killed, out of memory) with a job in hand."""


def _worker_main(conn, index_dir: str | None, processes: int = 1) -> None:
    """A worker process: load the models, say so, then run (function, args) messages until the
    pipe closes.  Replies are ("ok", value) or ("error", "Type: message")."""
    import pickle
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's to handle: it stops us
    _init_worker(index_dir, processes)
    conn.send_bytes(pickle.dumps(("ok", os.getpid())))
    while True:
        try:
            fn, args = pickle.loads(conn.recv_bytes())
        except (EOFError, OSError):
            return
        try:
            reply = ("ok", fn(*args))
        except Exception as e:  # reported to the caller; the worker goes on
            reply = ("error", f"{type(e).__name__}: {e}")
        conn.send_bytes(pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL))


class _Worker:
    __slots__ = ("process", "conn", "future", "inbox", "outbox")

    def __init__(self, process, conn):
        self.process = process
        self.conn = conn
        self.future: asyncio.Future | None = None  # the job in hand
        self.inbox = bytearray()  # bytes of the reply read so far
        self.outbox = bytearray()  # bytes of the job not written yet


# The frames of multiprocessing.Connection.send_bytes / recv_bytes, which the worker uses (its
# end of the pipe is blocking): a 4-byte big-endian length, or -1 and an 8-byte length.
def _frame(payload: bytes) -> bytes:
    n = len(payload)
    head = struct.pack("!i", n) if n <= 0x7FFFFFFF else struct.pack("!iQ", -1, n)
    return head + payload


def _unframe(buf: bytearray) -> bytes | None:
    """The first whole frame's payload, removed from buf; None while the frame is incomplete."""
    if len(buf) < 4:
        return None
    (n,), start = struct.unpack_from("!i", buf), 4
    if n == -1:
        if len(buf) < 12:
            return None
        (n,), start = struct.unpack_from("!Q", buf, 4), 12
    if len(buf) < start + n:
        return None
    payload = bytes(buf[start:start + n])
    del buf[:start + n]
    return payload


class WorkerPool:
    """Worker processes fed through one pipe each, read by the event loop itself.

    concurrent.futures.ProcessPoolExecutor moves every job through a queue feeder thread, a
    management thread and a result thread: the server process spent 1.9 ms of CPU per 2 KB
    check with it, 1.3 ms with this (0.4 ms for a request answered from the result cache).
    Here a job is one pickle and one write; its reply wakes the event loop (`add_reader`) and
    is one read and one unpickle.  The event loop's end of each pipe is non-blocking (the loop
    makes it so), so a reply is read as it arrives, in as many reads as it takes (a worker writes
    a reply over 16 KB in two writes, and the loop may wake between them), and a job the pipe
    cannot take at once is written the rest of the way when it drains.  Jobs wait in a deque while every
    worker is busy.  A worker that dies fails its job with `WorkerDied` and is replaced in the
    background; the others go on serving."""

    def __init__(self, workers: int, index_dir: str | None):
        self.size = workers
        self.index_dir = index_dir
        self._ctx = multiprocessing.get_context("spawn")
        self._idle: list[_Worker] = []
        self._all: list[_Worker] = []
        self._waiting: deque = deque()  # (future, fn, args) while every worker is busy
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    # -- lifecycle (start and call_sync block: for start-up, before the first request)
    def _launch(self) -> _Worker:
        parent, child = self._ctx.Pipe(duplex=True)
        proc = self._ctx.Process(target=_worker_main, args=(child, self.index_dir, self.size), daemon=True,
                                 name="unspin-engine")
        proc.start()
        child.close()
        return _Worker(proc, parent)

    @staticmethod
    def _ready(w: _Worker) -> _Worker:
        """Wait for a launched worker's models to load."""
        import pickle

        try:
            status, value = pickle.loads(w.conn.recv_bytes())
        except (EOFError, OSError):
            status, value = "error", f"exit code {w.process.join(5) or w.process.exitcode}"
        if status != "ok":
            w.conn.close()
            raise RuntimeError(f"engine worker failed to start: {value}")
        return w

    def _spawn(self) -> _Worker:
        return self._ready(self._launch())

    def start(self) -> None:
        launched = [self._launch() for _ in range(self.size)]  # (they load their models in parallel)
        for w in launched:
            self._ready(w)
            self._all.append(w)
            self._idle.append(w)

    def call_sync(self, fn, *args):
        """Run fn(*args) in one idle worker and wait for it (start-up checks only)."""
        import pickle

        w = self._idle[0]
        w.conn.send_bytes(pickle.dumps((fn, args)))
        status, value = pickle.loads(w.conn.recv_bytes())
        if status != "ok":
            raise RuntimeError(value)
        return value

    def stop(self) -> None:
        self._closed = True
        for w in self._all:
            if self._loop is not None:
                try:
                    self._loop.remove_reader(w.conn.fileno())
                    self._loop.remove_writer(w.conn.fileno())
                except (OSError, ValueError, RuntimeError):
                    pass
            if w.future is not None and not w.future.done():
                w.future.set_exception(WorkerDied("the engine stopped"))
            w.conn.close()
            if w.process.is_alive():
                w.process.terminate()
        for w in self._all:
            w.process.join(5)
        for fut, _fn, _args in self._waiting:
            if not fut.done():
                fut.set_exception(WorkerDied("the engine stopped"))
        self._waiting.clear()
        self._all, self._idle = [], []

    # -- jobs (on the event loop's thread)
    def submit(self, fn, *args) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._adopt_loop(loop)
        fut = loop.create_future()
        if self._closed:
            fut.set_exception(WorkerDied("the engine stopped"))
        elif self._idle:
            self._send(self._idle.pop(), fut, fn, args)
        else:
            self._waiting.append((fut, fn, args))
        return fut

    def _adopt_loop(self, loop) -> None:
        self._loop = loop
        for w in self._all:
            self._watch(w)

    def _watch(self, w: _Worker) -> None:
        # non-blocking under every event loop (uvloop makes it so; asyncio's would not)
        os.set_blocking(w.conn.fileno(), False)
        self._loop.add_reader(w.conn.fileno(), self._on_reply, w)

    def _send(self, w: _Worker, fut: asyncio.Future, fn, args) -> None:
        import pickle

        w.future = fut
        w.outbox += _frame(pickle.dumps((fn, args), protocol=pickle.HIGHEST_PROTOCOL))
        self._flush(w)

    def _flush(self, w: _Worker) -> None:
        """Write what the pipe takes of w's job now; the rest when it drains (add_writer)."""
        fd = w.conn.fileno()
        try:
            while w.outbox:
                n = os.write(fd, w.outbox)
                del w.outbox[:n]
        except BlockingIOError:
            self._loop.add_writer(fd, self._flush, w)
            return
        except (OSError, ValueError):
            self._lost(w)
            return
        self._loop.remove_writer(fd)

    def _next(self, w: _Worker) -> None:
        while self._waiting:
            fut, fn, args = self._waiting.popleft()
            if not fut.done():  # (a request that gave up while waiting is skipped)
                self._send(w, fut, fn, args)
                return
        w.future = None
        self._idle.append(w)

    def _on_reply(self, w: _Worker) -> None:
        import pickle

        try:
            # 64 KB at a time: os.read allocates what it is asked for, and 1 MB (an mmap and
            # its page faults each call) cost 26 us a 15 KB reply against 5 (a longer reply
            # takes more reads, each woken by the loop)
            chunk = os.read(w.conn.fileno(), READ_BYTES)
        except BlockingIOError:  # woken with nothing to read
            return
        except (OSError, ValueError):
            self._lost(w)
            return
        if not chunk:  # the worker's end closed: it exited
            self._lost(w)
            return
        w.inbox += chunk
        payload = _unframe(w.inbox)
        if payload is None:  # the rest of the reply is on its way
            return
        if w.inbox:  # a worker sends one reply per job: more bytes mean a broken pipe
            self._lost(w)
            return
        status, value = pickle.loads(payload)
        fut, w.future = w.future, None
        if fut is not None and not fut.done():
            if status == "ok":
                fut.set_result(value)
            else:
                fut.set_exception(RuntimeError(value))
        self._next(w)

    def _lost(self, w: _Worker) -> None:
        """A worker's pipe broke: fail its job, forget it, start a replacement."""
        loop = self._loop
        try:
            loop.remove_reader(w.conn.fileno())
            loop.remove_writer(w.conn.fileno())
        except (OSError, ValueError):
            pass
        w.inbox.clear()
        w.outbox.clear()
        w.conn.close()
        if w.future is not None and not w.future.done():
            w.future.set_exception(WorkerDied("a worker died; it is being replaced"))
        w.future = None
        if w in self._all:
            self._all.remove(w)
        if w in self._idle:
            self._idle.remove(w)
        w.process.join(1)
        if self._closed:
            return

        def replace():
            try:
                fresh = self._spawn()
            except Exception:  # pragma: no cover - the next death or request will retry
                return
            loop.call_soon_threadsafe(self._welcome, fresh)

        threading.Thread(target=replace, name="unspin-engine-respawn", daemon=True).start()

    def _welcome(self, w: _Worker) -> None:
        if self._closed:
            w.conn.close()
            w.process.terminate()
            return
        self._all.append(w)
        self._watch(w)
        self._next(w)



class Engine:
    def __init__(self, workers: int = 0, max_pending: int = 32, timeout: float = 20.0,
                 index_dir: str | None = None, cache_bytes: int = 32 << 20):
        self.workers = workers
        self.max_pending = max(1, max_pending)
        self.timeout = timeout
        self.index_dir = index_dir
        self.cache = _Cache(cache_bytes)
        self.pending = 0
        self._last_run = -QUIET_SECONDS  # (when run() was last called: see busy)
        self._lock = threading.Lock()
        self._pool: WorkerPool | None = None  # workers > 0
        self._thread: cf.ThreadPoolExecutor | None = None  # workers = 0
        self.trace_ready = False
        self.trace_error: str | None = None
        self.started = False

    # -- lifecycle
    def start(self) -> None:
        """Start the workers and load the models in each (blocks until they are ready)."""
        if self.workers <= 0:  # the index's sqlite connection must live in the thread that uses it
            self._thread = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="unspin-engine",
                                                 initializer=_init_worker, initargs=(self.index_dir,))
            call = lambda fn: self._thread.submit(fn).result()  # noqa: E731
            call(_ping)  # runs the initializer (model load) first
        else:
            self._pool = WorkerPool(self.workers, self.index_dir)
            self._pool.start()
            call = self._pool.call_sync
        if self.index_dir:
            if not trace_available():
                self.trace_error = "this version of unspin has no trace support (unspin.Index is missing)"
            else:
                self.trace_ready, self.trace_error = call(_index_status)
        self.started = True

    def stop(self) -> None:
        """Stop now: queued jobs are dropped and running ones abandoned (we are exiting)."""
        self.started = False
        pool, self._pool = self._pool, None
        thread, self._thread = self._thread, None
        if pool is not None:
            pool.stop()
        if thread is not None:
            thread.shutdown(wait=False, cancel_futures=True)

    # -- jobs
    def busy(self) -> bool:
        """Whether other requests are in progress (queued or running), or one came within the
        last QUIET_SECONDS: under a stream of requests the engine counts as busy even in the
        moments between them."""
        return self.pending > 0 or time.monotonic() - self._last_run < QUIET_SECONDS

    def fast_for(self, op: str, text: str) -> bool:
        """The tier for a request that leaves it to the server: the neural one (False) while the
        engine is free, or whenever its result for this text is cached (a reader who asks again
        gets the better restore at once, busy or not); else the n-gram tier (True)."""
        if not self.busy():
            return False
        return self.cache.get(self._key(op, text, False)) is None

    @staticmethod
    def _key(op: str, text: str, fast: bool) -> tuple:
        return (op, fast, hashlib.sha256(text.encode("utf-8")).digest())

    def _release(self, fut) -> None:
        with self._lock:
            self.pending -= 1
        if isinstance(fut, asyncio.Future) and not fut.cancelled():
            fut.exception()  # (retrieved: a request that gave up is not told, and asyncio need not warn)

    async def run(self, op: str, text: str, fast: bool = False) -> Result:
        self._last_run = time.monotonic()
        key = self._key(op, text, fast)
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        pool, thread = self._pool, self._thread
        if not self.started or (pool is None and thread is None):
            raise Busy("the engine is not running")
        with self._lock:
            if self.pending >= self.max_pending:
                raise Busy(f"{self.pending} requests are in progress")
            self.pending += 1
        deadline = time.time() + self.timeout
        # the slot is freed when the job really ends, not when the request gives up on it: the
        # job's own future is never cancelled (a job that waited past its deadline is skipped by
        # the worker at once, see _job)
        if pool is not None:
            fut = pool.submit(_job, op, text, fast, deadline)
            fut.add_done_callback(self._release)
            waiting = asyncio.shield(fut)
        else:
            try:
                job = thread.submit(_job, op, text, fast, deadline)
            except RuntimeError:  # shut down meanwhile
                self._release(None)
                raise Busy("the engine is stopping") from None
            job.add_done_callback(self._release)
            waiting = asyncio.wrap_future(job)
        try:
            status, body = await asyncio.wait_for(waiting, self.timeout)
        except asyncio.TimeoutError:
            raise Expired(f"the request took longer than its {self.timeout:g} s budget") from None
        except WorkerDied as e:
            raise Busy(str(e)) from None
        if status == "expired":
            raise Expired(str(body))
        result = Result(status, body)
        if status in ("ok", "not-english"):
            self.cache.put(key, result)
        return result
