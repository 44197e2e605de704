"""A scan job on disk: the shard plan, the manifest, atomic commits, resume, assembly.

Layout (`--out DIR/`, a folder of parts, what Spark, pyarrow.dataset and `datasets` read):

    DIR/part-f000000-00000.jsonl      one part per shard, in input order by name
    DIR/_SUCCESS                      written last, when every shard is committed
    DIR/_unspin/manifest.json         options, input fingerprints (size, mtime) and the shard plan
    DIR/_unspin/done/<shard>.json     per-shard counts (verdicts, errors), for the summary
    DIR/_unspin/chunks/<shard>/c*.jsonl   committed chunks of shards in progress
    DIR/_unspin/tmp/                  files being written (removed on resume)
    DIR/_unspin/lock                  flock held by the running scan

`--out FILE.jsonl` or `FILE.parquet` (optionally `.jsonl.gz`) uses `FILE.parts/` as above and,
when complete, assembles FILE (temp file + rename) and removes `FILE.parts/` (`--keep-parts`
keeps it).

Exactly once, by construction rather than by re-reading the output:
  * the plan is deterministic and frozen in the manifest at the first run; a resume with other
    inputs (size or mtime changed) or other options is refused;
  * a shard's records are cut into deterministic chunks (every `chunk_records` records or
    `chunk_bytes` raw bytes, whichever first); a chunk is written to tmp/, fsynced and renamed
    into chunks/<shard>/ – the rename is the commit;
  * a finished shard's chunks are merged into its part (temp + rename: the shard's commit),
    then its chunks are deleted; a part that exists means the shard is done, whatever is left
    in chunks/ for it is stale and ignored;
  * a resume skips done shards, and within a shard skips committed chunks (read, not parsed);
  * a single-file output is assembled from the parts with a temp file and a rename.
  A SIGKILL at any instant leaves only complete chunk files, complete parts and temp files.
"""
from __future__ import annotations

import contextlib
import fcntl
import gzip
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from unspin.inputs import BadInput
from unspin.scan import readers
from unspin.scan.readers import RecordError, ReadOptions

MANIFEST_VERSION = 1
DEFAULT_SHARD_BYTES = 64 << 20  # the largest shard auto_shard_bytes plans
MIN_AUTO_SHARD_BYTES = 1 << 20
AUTO_SHARDS = 32
DEFAULT_CHUNK_RECORDS = 256
DEFAULT_CHUNK_BYTES = 1 << 20
FILES_PER_SHARD = 256


# ----------------------------------------------------------------------------------- plan


def _fingerprint(path: str) -> list:
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns]


def auto_shard_bytes(files: list[str]) -> int:
    """The shard size for inputs of this total size: about AUTO_SHARDS shards (so that every
    worker of a machine has work, a 5 MB file included), none under 1 MB or over 64 MB.  From
    the inputs alone, never from the worker count, so that a resume with other -j plans alike."""
    total = sum(os.path.getsize(f) for f in files)
    return max(MIN_AUTO_SHARD_BYTES, min(DEFAULT_SHARD_BYTES, total // AUTO_SHARDS))


def plan_shards(files: list[str], opts: ReadOptions, shard_bytes: int = DEFAULT_SHARD_BYTES) -> list[dict]:
    """Deterministic shards: byte ranges of uncompressed line files, row-group ranges of Parquet,
    whole compressed/WARC/block files, groups of one-document-per-file files."""
    shards: list[dict] = []
    group: list[int] = []
    group_bytes = 0

    def flush_group():
        nonlocal group, group_bytes
        if group:
            f0 = group[0]
            shards.append({"key": f"f{f0:06d}-00000", "files": list(group), "kind": "files"})
            group, group_bytes = [], 0

    for i, path in enumerate(files):
        fmt = readers.format_of(path, opts.format)
        comp = readers.compression_of(path)
        size = os.path.getsize(path)
        per_file = fmt == "html" or (fmt == "txt" and opts.txt_docs == "file")
        if per_file:
            group.append(i)
            group_bytes += size
            if len(group) >= FILES_PER_SHARD or group_bytes >= shard_bytes:
                flush_group()
            continue
        flush_group()
        base = {"files": [i], "fmt": fmt, "compression": comp}
        if fmt == "parquet":
            try:
                groups = readers.parquet_row_groups(path)
            except RecordError:
                groups = []
            if not groups:  # unreadable or empty: one shard, which yields the error row if any
                shards.append({**base, "key": f"f{i:06d}-00000", "kind": "rows", "row_groups": [0, None]})
                continue
            # row-group ranges of about shard_bytes (by compressed size on disk)
            n = len(groups)
            per = max(1, round(n * shard_bytes / max(size, 1)))
            for j, g0 in enumerate(range(0, n, per)):
                shards.append({**base, "key": f"f{i:06d}-{j:05d}", "kind": "rows", "row_groups": [g0, min(n, g0 + per)]})
        elif not comp and (fmt == "jsonl" or (fmt == "txt" and opts.txt_docs == "lines")) and size > shard_bytes:
            for j, start in enumerate(range(0, size, shard_bytes)):
                shards.append({**base, "key": f"f{i:06d}-{j:05d}", "kind": "range",
                               "byte_range": [start, min(size, start + shard_bytes)]})
        else:
            shards.append({**base, "key": f"f{i:06d}-00000", "kind": "stream"})
    flush_group()
    return shards


def shard_raws(shard: dict, files: list[str], opts: ReadOptions) -> Iterator[readers.Raw]:
    if shard["kind"] == "files":
        for i in shard["files"]:
            path = files[i]
            fmt = readers.format_of(path, opts.format)
            try:
                comp = readers.compression_of(path)
            except BadInput as e:
                yield readers._broken({"file": path, "offset": None}, str(e))
                continue
            yield from readers.iter_raws(path, fmt, comp, opts)
        return
    path = files[shard["files"][0]]
    yield from readers.iter_raws(path, shard["fmt"], shard["compression"], opts,
                                 byte_range=tuple(shard["byte_range"]) if shard["kind"] == "range" else None,
                                 row_groups=tuple(shard["row_groups"]) if shard["kind"] == "rows" else None)


def chunked(raws: Iterable[readers.Raw], max_records: int, max_bytes: int) -> Iterator[list[readers.Raw]]:
    """Deterministic chunks: close at max_records records or max_bytes raw bytes."""
    chunk: list[readers.Raw] = []
    size = 0
    for raw in raws:
        chunk.append(raw)
        size += raw.size
        if len(chunk) >= max_records or size >= max_bytes:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


# ------------------------------------------------------------------------------ the job dir


def output_kind(out: str) -> tuple[str, str, bool]:
    """(format, compression, is_directory) of an --out argument."""
    low = out.lower()
    comp = ""
    if low.endswith(".gz"):
        comp, low = "gzip", low[:-3]
    if low.endswith(".parquet") or low.endswith(".pq"):
        if comp:
            raise BadInput(f"{out}: Parquet output is compressed inside; drop the .gz")
        return "parquet", "", False
    if low.endswith(".jsonl") or low.endswith(".ndjson") or low.endswith(".json"):
        return "jsonl", comp, False
    if out.endswith(os.sep) or os.path.isdir(out) or not os.path.splitext(low)[1]:
        return "", "", True
    raise BadInput(f"{out}: output must end in .jsonl, .jsonl.gz or .parquet, or be a folder (end it with /)")


@dataclass
class Job:
    out: str
    out_format: str          # jsonl | parquet (part format)
    out_compression: str     # "" | gzip (single-file JSONL only)
    directory: bool
    root: str                # folder holding the parts
    meta: str = field(init=False)
    _lock_fd: int | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        self.meta = os.path.join(self.root, "_unspin")

    @classmethod
    def for_output(cls, out: str, parts_format: str = "jsonl") -> "Job":
        fmt, comp, is_dir = output_kind(out)
        if is_dir:
            return cls(out, fmt or parts_format, "", True, out.rstrip(os.sep) or out)
        return cls(out, fmt, comp, False, out + ".parts")

    # paths
    def p(self, *names) -> str:
        return os.path.join(self.meta, *names)

    @property
    def ext(self) -> str:
        return ".parquet" if self.out_format == "parquet" else ".jsonl"

    def part_path(self, key: str) -> str:
        return os.path.join(self.root, f"part-{key}{self.ext}")

    def chunk_dir(self, key: str) -> str:
        return self.p("chunks", key)

    def chunk_path(self, key: str, n: int) -> str:
        return os.path.join(self.chunk_dir(key), f"c{n:07d}.jsonl")

    def tmp_path(self, name: str) -> str:
        return self.p("tmp", f"{name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")

    def is_done(self, key: str) -> bool:
        return os.path.exists(self.part_path(key))

    @property
    def complete(self) -> bool:
        if os.path.exists(os.path.join(self.root, "_SUCCESS")):
            return True
        return not self.directory and os.path.exists(self.out) and not os.path.exists(self.root)

    # manifest
    def create_or_resume(self, manifest: dict, resume: bool) -> dict:
        mpath = self.p("manifest.json")
        if os.path.exists(mpath):
            if not resume:
                raise BadInput(f"{self.root}: an unfinished scan is there; add --resume to continue it "
                               f"(or remove the folder to start again)")
            with open(mpath, encoding="utf-8") as f:
                old = json.load(f)
            for k in ("version", "task", "fast", "index", "read", "inputs", "out_format", "chunk_records",
                      "chunk_bytes", "shard_bytes"):
                if old.get(k) != manifest.get(k):
                    what = "input files changed (size or mtime)" if k == "inputs" else f"{k} differs"
                    raise BadInput(f"{self.root}: cannot resume: {what} since the scan started "
                                   f"(was {json.dumps(old.get(k))[:200]})")
            return old
        if not self.directory and os.path.exists(self.out) and not resume:
            raise BadInput(f"{self.out}: exists (remove it, or --resume to confirm a finished scan)")
        if self.directory and os.path.isdir(self.root) and any(
                n for n in os.listdir(self.root) if n != "_unspin"):
            raise BadInput(f"{self.root}: folder exists and is not empty")
        for d in ("tmp", "chunks", "done"):
            os.makedirs(self.p(d), exist_ok=True)
        atomic_write_bytes(self, mpath, json.dumps(manifest, indent=1).encode())
        return manifest

    @contextlib.contextmanager
    def lock(self):
        os.makedirs(self.meta, exist_ok=True)
        fd = os.open(self.p("lock"), os.O_CREAT | os.O_RDWR, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise BadInput(f"{self.root}: another scan is running on this output") from None
            self._lock_fd = fd
            yield
        finally:
            self._lock_fd = None
            os.close(fd)

    def forget_lock(self) -> None:
        """In a forked worker: close its copy of the lock's descriptor.  A flock belongs to the
        open file, which fork shares, so a worker would otherwise hold the lock as long as it
        lives: killed with the scan (SIGKILL to the process group) but still inside an fsync of
        a chunk, it kept a --resume started at once out ("another scan is running").  The
        lock then lives exactly as long as the scan's own process."""
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def clean_tmp(self) -> None:
        d = self.p("tmp")
        os.makedirs(d, exist_ok=True)
        for n in os.listdir(d):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(d, n))
        for key in os.listdir(self.p("chunks")) if os.path.isdir(self.p("chunks")) else []:
            if self.is_done(key):
                shutil.rmtree(self.chunk_dir(key), ignore_errors=True)


def _fsync_dir(path: str) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(job: Job, dest: str, data: bytes) -> None:
    tmp = job.tmp_path(os.path.basename(dest))
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, dest)
    _fsync_dir(os.path.dirname(dest))


def dumps(row: dict) -> str:
    try:
        return json.dumps(row, ensure_ascii=False)
    except (UnicodeEncodeError, ValueError):
        return json.dumps(row, ensure_ascii=True)


def commit_chunk(job: Job, key: str, n: int, rows: list[dict]) -> None:
    os.makedirs(job.chunk_dir(key), exist_ok=True)
    data = "".join(dumps(r) + "\n" for r in rows).encode("utf-8", "surrogatepass")
    atomic_write_bytes(job, job.chunk_path(key, n), data)


def _iter_jsonl(path: str) -> Iterator[dict]:
    with open(path, "rb") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def new_stats() -> dict:
    return {"records": 0, "errors": 0, "verdicts": {}}


def add_row_stats(stats: dict, row: dict) -> None:
    stats["records"] += 1
    if row.get("error") is not None:
        stats["errors"] += 1
    else:
        v = str(row.get("verdict"))
        stats["verdicts"][v] = stats["verdicts"].get(v, 0) + 1


def merge_stats(into: dict, s: dict) -> dict:
    into["records"] += s["records"]
    into["errors"] += s["errors"]
    for k, v in s["verdicts"].items():
        into["verdicts"][k] = into["verdicts"].get(k, 0) + v
    return into


def commit_shard(job: Job, key: str, n_chunks: int, schema) -> dict:
    """Merge the shard's committed chunks into its part (temp + rename), then drop the chunks."""
    stats = new_stats()
    chunk_files = [job.chunk_path(key, i) for i in range(n_chunks)]
    for c in chunk_files:
        if not os.path.exists(c):
            raise RuntimeError(f"shard {key}: chunk {c} is missing")
    dest = job.part_path(key)
    tmp = job.tmp_path(os.path.basename(dest))
    if job.out_format == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        writer = None
        try:
            for c in chunk_files:
                rows = list(_iter_jsonl(c))
                for r in rows:
                    add_row_stats(stats, r)
                table = pa.Table.from_pylist(rows, schema=schema) if schema is not None else pa.Table.from_pylist(rows)
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema)
                if rows:
                    writer.write_table(table)
            if writer is None:
                writer = pq.ParquetWriter(tmp, schema if schema is not None else pa.schema([]))
        finally:
            if writer is not None:
                writer.close()
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
    else:
        with open(tmp, "wb") as out:
            for c in chunk_files:
                with open(c, "rb") as f:
                    for line in f:
                        if line.strip():
                            add_row_stats(stats, json.loads(line))
                            out.write(line)
            out.flush()
            os.fsync(out.fileno())
    atomic_write_bytes(job, job.p("done", key + ".json"), json.dumps(stats).encode())
    os.replace(tmp, dest)  # the shard's commit
    _fsync_dir(job.root)
    shutil.rmtree(job.chunk_dir(key), ignore_errors=True)
    return stats


def shard_stats(job: Job, key: str) -> dict:
    try:
        with open(job.p("done", key + ".json"), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):  # written just before the part; recount from the part
        stats = new_stats()
        for row in iter_part_rows(job.part_path(key)):
            add_row_stats(stats, row)
        return stats


def iter_part_rows(path: str) -> Iterator[dict]:
    if path.endswith(".parquet"):
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(path)
        for b in pf.iter_batches(batch_size=1024):
            yield from b.to_pylist()
    else:
        yield from _iter_jsonl(path)


def read_output(out: str) -> Iterator[dict]:
    """Rows of a finished scan output: a .jsonl(.gz)/.parquet file or a folder of parts."""
    if os.path.isdir(out):
        for name in sorted(os.listdir(out)):
            if name.startswith("part-"):
                yield from iter_part_rows(os.path.join(out, name))
        return
    if out.endswith(".gz"):
        with gzip.open(out, "rt", encoding="utf-8") as f:
            for line in f:
                yield json.loads(line)
        return
    yield from iter_part_rows(out)


def assemble(job: Job, keys: list[str], schema) -> None:
    """Single-file output from the parts, in plan order (temp file + rename)."""
    tmp = job.tmp_path(os.path.basename(job.out))
    parts = [job.part_path(k) for k in keys]
    if job.out_format == "parquet":
        import pyarrow.parquet as pq

        writer = None
        try:
            for p in parts:
                pf = pq.ParquetFile(p)
                if writer is None:
                    writer = pq.ParquetWriter(tmp, pf.schema_arrow if schema is None else schema)
                for g in range(pf.metadata.num_row_groups):
                    writer.write_table(pf.read_row_group(g))
            if writer is None:
                import pyarrow as pa

                writer = pq.ParquetWriter(tmp, schema if schema is not None else pa.schema([]))
        finally:
            if writer is not None:
                writer.close()
    else:
        opener = (lambda p: gzip.open(p, "wb", compresslevel=6)) if job.out_compression == "gzip" else (
            lambda p: open(p, "wb"))
        with opener(tmp) as out:
            for p in parts:
                with open(p, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 20)
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.makedirs(os.path.dirname(os.path.abspath(job.out)), exist_ok=True)
    os.replace(tmp, job.out)
    _fsync_dir(os.path.dirname(os.path.abspath(job.out)))


def now() -> float:
    return time.perf_counter()
