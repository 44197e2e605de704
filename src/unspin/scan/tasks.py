"""Tasks: what a scan does to each record's text, and the output rows' columns.

A task is built once per worker process (`make_task(spec, index=...)`, models loaded by
`setup()`), then called on texts.  `task(text) -> dict` of result columns.

Built-in tasks:
  detect   verdict, spun_probability, evidence          (unspin.detect)
  check    verdict, spun_probability, swaps, scars, restored   (unspin.check)
  trace    matches (unspin.Index(--index).trace); verdict/spun_probability are null
  stats    words, chars, sha1 – no model: reader/IO throughput and dry runs
  MODULE:FUNCTION   any importable `f(text) -> dict` (its keys become columns)

Every output row, whatever the task, starts with the same columns:
  id, file, offset, row, record_id, url, date, error, verdict, spun_probability
(`offset` is a byte offset in the decompressed file, `row` a Parquet row number, `record_id`,
`url`, `date` come from WARC headers; absent ones are null).  A row with `error` set has null
results.
"""
from __future__ import annotations

import hashlib
import importlib
from typing import Callable

BASE_COLUMNS = ("id", "file", "offset", "row", "record_id", "url", "date", "error", "verdict",
                "spun_probability")
TASKS = ("detect", "check", "trace", "stats")


class Task:
    name = ""
    columns: tuple[str, ...] = ()

    def setup(self) -> None:
        pass

    def __call__(self, text: str) -> dict:  # pragma: no cover - interface
        raise NotImplementedError


class DetectTask(Task):
    name = "detect"
    columns = ("evidence",)

    def setup(self):
        from unspin.api import set_up_long_run

        set_up_long_run(True)  # (a worker screens text after text: see there; it loads and warms the tier too)

    def __call__(self, text):
        import unspin

        d = unspin.detect(text).to_dict()
        return {"verdict": d["verdict"], "spun_probability": d["spun_probability"], "evidence": d["evidence"]}


class CheckTask(Task):
    name = "check"
    columns = ("swaps", "scars", "restored")

    def __init__(self, fast: bool = False):
        self.fast = fast

    def setup(self):
        from unspin.api import set_up_long_run

        set_up_long_run(self.fast)  # (a worker checks text after text: see there; it loads and warms the tier too)

    def __call__(self, text):
        import unspin

        # (the neural tier with the command line's default budget: one huge record cannot hold
        # a worker for hours)
        budget = {} if self.fast else {"budget": unspin.DEFAULT_BUDGET}
        return unspin.check(text, fast=self.fast, **budget).to_dict()


class TraceTask(Task):
    name = "trace"
    columns = ("matches",)

    def __init__(self, index_dir: str | None, top: int = 5):
        if not index_dir:
            raise ValueError("--task trace needs --index DIR")
        self.index_dir, self.top, self.index = index_dir, top, None

    def setup(self):
        import unspin

        if not hasattr(unspin, "Index"):  # pragma: no cover - depends on the install
            raise RuntimeError("this unspin has no trace index (unspin.Index)")
        opener = getattr(unspin.Index, "open", unspin.Index)  # Index(dir) opens; .open if it exists
        self.index = opener(self.index_dir)

    def __call__(self, text):
        if self.index is None:
            self.setup()
        return {"verdict": None, "spun_probability": None,
                "matches": [m.to_dict() for m in self.index.trace(text, top=self.top)]}


class StatsTask(Task):
    name = "stats"
    columns = ("words", "chars", "sha1")

    def __call__(self, text):
        return {"verdict": None, "spun_probability": None, "words": len(text.split()), "chars": len(text),
                "sha1": hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()}


class FunctionTask(Task):
    def __init__(self, spec: str):
        mod, _, fn = spec.partition(":")
        self.name = spec
        self.fn: Callable[[str], dict] = getattr(importlib.import_module(mod), fn)

    def __call__(self, text):
        out = self.fn(text)
        if not isinstance(out, dict):
            raise TypeError(f"{self.name} returned {type(out).__name__}, expected a dict")
        return out


def make_task(spec: str, index: str | None = None, fast: bool = False) -> Task:
    if spec == "detect":
        return DetectTask()
    if spec == "check":
        return CheckTask(fast=fast)
    if spec == "trace":
        return TraceTask(index)
    if spec == "stats":
        return StatsTask()
    if ":" in spec:
        return FunctionTask(spec)
    raise ValueError(f"unknown task {spec!r} (expected one of {', '.join(TASKS)} or MODULE:FUNCTION)")


def check_task_spec(spec: str, index: str | None) -> None:
    """Fail early, in the parent, on a task that cannot be built (bad name, missing --index)."""
    t = make_task(spec, index=index)
    if isinstance(t, TraceTask):
        import os

        if not os.path.isdir(index):
            raise ValueError(f"--index {index}: no such index directory")


# ------------------------------------------------------------------------------- Parquet


def arrow_schema(task: str):
    """The Parquet schema of a built-in task's rows (None for MODULE:FUNCTION: inferred)."""
    import pyarrow as pa

    base = [("id", pa.string()), ("file", pa.string()), ("offset", pa.int64()), ("row", pa.int64()),
            ("record_id", pa.string()), ("url", pa.string()), ("date", pa.string()), ("error", pa.string()),
            ("verdict", pa.string()), ("spun_probability", pa.float64())]
    alt = pa.struct([("text", pa.string()), ("probability", pa.float64())])
    extra = {
        "detect": [("evidence", pa.list_(pa.struct([("signal", pa.string()), ("value", pa.float64()),
                                                    ("contribution", pa.float64())])))],
        "check": [("swaps", pa.list_(pa.struct([("start", pa.int64()), ("end", pa.int64()), ("spun", pa.string()),
                                                ("original", pa.string()), ("probability", pa.float64()),
                                                ("alternatives", pa.list_(alt)), ("thesaurus", pa.string())]))),
                  ("scars", pa.list_(pa.struct([("start", pa.int64()), ("end", pa.int64()), ("kind", pa.string()),
                                                ("found", pa.string()), ("repaired", pa.string())]))),
                  ("restored", pa.string())],
        "trace": [("matches", pa.list_(pa.struct([
            ("source_id", pa.string()), ("score", pa.float64()), ("coverage", pa.float64()),
            ("swaps", pa.list_(pa.struct([("start", pa.int64()), ("end", pa.int64()), ("spun", pa.string()),
                                          ("original", pa.string()), ("source_start", pa.int64()),
                                          ("source_end", pa.int64()), ("known_synonym", pa.bool_())])))])))],
        "stats": [("words", pa.int64()), ("chars", pa.int64()), ("sha1", pa.string())],
    }
    if task not in extra:
        return None
    return pa.schema(base + extra[task])
