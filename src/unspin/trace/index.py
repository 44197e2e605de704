"""The trace index: a persistent archive of originals, searchable with spun copies.

On disk, a directory:

    index.sqlite        SQLite in WAL mode: meta (format, parameters), docs (n, id, compressed text:
                        zstd level 1 when the zstandard module is present at build time, else zlib),
                        segments (the published LSH segment files, with their sizes)
    seg-<name>.npy      one immutable segment per flush, memory-mapped: sorted uint64 entries, each
                        an LSH band key's top bits over the segment-local document number (the low
                        segments.doc_bits bits: 20 for a flush of at most 2**20 documents, more for
                        a compacted segment; local 0 is document segments.first_doc)

`compact()` (`unspin index compact`, and the end of `unspin index build`) merges all segments into
one: a query looks each key up once per segment, so the LSH stage costs O(segments * log n).

Adding writes new segment files first and then, in one SQLite transaction, the documents and the
segment rows.  Readers see a consistent snapshot: a segment is visible only once its documents
are committed, published segment files never change, and SQLite's WAL mode lets readers run
while one writer adds (a second writer waits for the lock, then fails clearly after a timeout).
A reader notices commits by other processes (`PRAGMA data_version`) and picks up new segments
before its next query.

Search: the query's surviving-token shingles (see signature.py) are cut into windows, each window's
MinHash bands are looked up in every segment (numpy binary search), documents are ranked by band
hits, the best few by exact shingle containment, and the survivors are verified by alignment
(align.py).  A match is reported only when the alignment explains enough of the query; the
threshold is calibrated on unrelated queries (bench/trace/bench.py).
"""
from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
import zlib
from dataclasses import asdict, dataclass, field
from difflib import SequenceMatcher
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from unspin.inputs import BadInput
from unspin.trace import signature as sig

FORMAT = "unspin-trace-2"  # 2: byte-level tokens (signature.py), flat token-hash MinHash, codec
OLD_FORMATS = {"unspin-trace-1": "an earlier unspin (0.1 development builds)"}
DB_NAME = "index.sqlite"
DEFAULTS = {"num_perm": 64, "bands": 32, "rows": 2, "seed": 20240601, "shingle": sig.SHINGLE,
            "block": sig.BLOCK}
SIG_BATCH = 1_000  # documents tokenised per numpy batch
FLUSH_DOCS = 250_000  # documents per segment (and per transaction) while adding
DOC_BITS = 20  # low bits of a flushed segment's entries: the segment-local document number
MAX_DOC_BITS = 28  # a compacted segment holds at most 2**28 documents (keys keep >= 36 bits)
MERGE_BUDGET = 256 << 20  # bytes of chunks held by a compaction's streaming merge
_DOC_MASK = np.uint64((1 << DOC_BITS) - 1)
BUCKET_CAP = 5_000  # posting lists longer than this (shingles common to many documents) are skipped
MAX_CANDIDATES = 12  # documents checked by exact shingle containment
# ... or, when the LSH evidence is weak (the best candidate shares at most WEAK_HITS band keys:
# short or heavily spun queries, whose few surviving shingles tie with chance hits), WIDE_CANDIDATES
WEAK_HITS = 3
WIDE_CANDIDATES = 48
# Verified by alignment: candidates holding at least CONTAIN_FLOOR of the query's shingles and at
# least CONTAIN_RATIO of the best candidate's share.  On the benchmark queries (100k archive) every
# true source in the candidate list holds >= 0.118 (second sources of merged copies: >= 0.15 of the
# best), while half of the candidates of unrelated queries hold < 0.064.
CONTAIN_FLOOR = 0.08
CONTAIN_RATIO = 0.15
# Once a candidate explains STRONG_SCORE of the query, the others are verified only when they
# hold at least STRONG_RATIO of its containment (near-duplicates of the source).
STRONG_SCORE = 0.7
STRONG_RATIO = 0.5
# Second round (merged copies): paragraphs whose words the best match aligns less than
# REQUERY_COVERED of are searched again when they hold >= REQUERY_WORDS words; REQUERY_VERIFY of
# the new candidates are aligned.
REQUERY_COVERED = 0.25
REQUERY_WORDS = 30
REQUERY_VERIFY = 3
# Calibrated on unrelated queries against a 1M-document archive (bench/trace/bench.py): see README.
MIN_SCORE = 0.25  # share of query words aligned (identical-anchored or explained by the channel)
MIN_WORDS = 12  # and at least this many aligned query words


class IndexCorrupt(BadInput):
    """The directory is not a readable trace index (missing, truncated or foreign files)."""


class _SegmentGone(IndexCorrupt):
    """A listed segment file is missing (a concurrent compaction may have replaced it)."""


@dataclass(frozen=True)
class TraceSwap:
    start: int  # offsets into the query text
    end: int
    spun: str
    original: str
    source_start: int  # offsets into the source text
    source_end: int
    known_synonym: bool


@dataclass
class Match:
    source_id: str
    score: float  # share of query words aligned to this source (identical or explained)
    coverage: float  # share of source words covered by the alignment
    swaps: list[TraceSwap] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


# ------------------------------------------------------------------------------------ helpers


def _connect(path: Path, create: bool = False) -> sqlite3.Connection:
    if not create and not path.exists():
        raise IndexCorrupt(f"{path.parent}: not a trace index (no {DB_NAME})")
    try:
        con = sqlite3.connect(str(path), timeout=30.0, isolation_level=None, check_same_thread=False)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.DatabaseError as e:
        raise IndexCorrupt(f"{path}: not a readable trace index ({e})") from None
    return con


def _codec(name: str):
    """(compress, decompress) for a stored-text codec."""
    if name == "zlib":
        return (lambda b: zlib.compress(b, 1)), zlib.decompress
    if name == "zstd":
        try:
            import zstandard
        except ImportError:
            raise IndexCorrupt("this index stores its texts with zstd: pip install zstandard") from None
        c, d = zstandard.ZstdCompressor(level=1), zstandard.ZstdDecompressor()
        return c.compress, d.decompress
    raise IndexCorrupt(f"unknown text codec {name!r} (written by a newer unspin?)")


def _default_codec() -> str:
    try:
        import zstandard  # noqa: F401
    except ImportError:
        return "zlib"
    return "zstd"


def _iter_docs(docs) -> Iterator[tuple[str, str]]:
    for d in docs:
        if isinstance(d, dict):
            did, text = d.get("id"), d.get("text")
        else:
            did, text = d
        if not isinstance(text, str):
            raise BadInput(f"document {did!r}: text must be a string")
        if did is None:
            raise BadInput("every document needs an id")
        yield str(did), text


_WORD_RE = None


def word_spans(text: str) -> list[tuple[int, int]]:
    """Word token spans, as unspin.text.tokenize's words (fast path without Token objects)."""
    global _WORD_RE
    if _WORD_RE is None:
        import regex

        _WORD_RE = regex.compile(r"[\p{L}\p{M}\p{N}]+(?:['’\-][\p{L}\p{M}\p{N}]+)*")
    return [m.span() for m in _WORD_RE.finditer(text)]


def _paragraphs(spans: list[tuple[int, int]], text: str) -> list[tuple[int, int]]:
    out, start = [], 0
    for i in range(1, len(spans)):
        if "\n" in text[spans[i - 1][1]:spans[i][0]]:
            out.append((start, i))
            start = i
    if spans:
        out.append((start, len(spans)))
    return out


def _npy_data_offset(path: Path) -> int:
    with open(path, "rb") as fh:
        major, _ = np.lib.format.read_magic(fh)
        if major == 1:
            np.lib.format.read_array_header_1_0(fh)
        else:
            np.lib.format.read_array_header_2_0(fh)
        return fh.tell()


def _merge_segments(inputs: list[tuple[Path, int, int, int]], bits: int, path: Path, total: int,
                    budget: int = MERGE_BUDGET) -> None:
    """Merge sorted segment files (path, entries, their doc bits, doc offset) into one sorted .npy
    file whose entries keep `bits` low bits for the document, reading and writing in chunks (plain
    file I/O: bounded memory, no mapped pages).

    Re-packed entries keep the order of their key prefix (entry >> bits) within each input, so each
    round takes from every input the entries whose prefix is below the smallest prefix at which
    some unfinished input's chunk ends, sorts them and appends them."""
    nb = np.uint64(bits)
    fhs = [open(p, "rb") for p, _, _, _ in inputs]
    try:
        base = [_npy_data_offset(p) for p, _, _, _ in inputs]
        sizes = [n for _, n, _, _ in inputs]
        pos = [0] * len(inputs)
        step = max(1 << 14, budget // (8 * 4 * max(1, len(inputs))))
        w = 0
        with open(path, "wb") as out:
            np.lib.format.write_array_header_1_0(out, {"descr": "<u8", "fortran_order": False, "shape": (total,)})
            while True:
                live = [i for i in range(len(inputs)) if pos[i] < sizes[i]]
                if not live:
                    break
                chunks = {}
                for i in live:
                    _, _, sbits, off = inputs[i]
                    fhs[i].seek(base[i] + 8 * pos[i])
                    part = np.fromfile(fhs[i], dtype="<u8", count=min(step, sizes[i] - pos[i]))
                    doc = (part & np.uint64((1 << sbits) - 1)) + np.uint64(off)
                    chunks[i] = (part >> nb, doc)
                ends = [chunks[i][0][-1] for i in live if pos[i] + step < sizes[i]]
                bound = min(ends) if ends else None
                taken = []
                for i in live:
                    prefix, doc = chunks[i]
                    k = len(prefix) if bound is None else int(np.searchsorted(prefix, bound, "left"))
                    if k:
                        taken.append((prefix[:k] << nb) | doc[:k])
                        pos[i] += k
                if not taken:  # every unfinished chunk is one prefix: read bigger chunks
                    step *= 2
                    continue
                merged = np.concatenate(taken)
                merged.sort()
                merged.tofile(out)
                w += len(merged)
            out.flush()
            os.fsync(out.fileno())
    finally:
        for fh in fhs:
            fh.close()
    if w != total:
        raise IndexCorrupt(f"{path.parent}: segment merge wrote {w} of {total} entries")


# ------------------------------------------------------------------------------------ index


def remove_index_files(folder: Path) -> None:
    """Remove an index's files from a folder (its database and segments; nothing else)."""
    for p in folder.iterdir():
        if p.name.startswith(DB_NAME) or p.name.startswith("seg-"):
            p.unlink(missing_ok=True)


class Index:
    """A persistent trace index.  `Index.build(dir, docs)`, `Index(dir)` (open), `.add(docs)`,
    `.trace(text)`.  Documents are `(id, text)` pairs or dicts with "id" and "text"."""

    def __init__(self, path, *, _create: bool = False):
        self.path = Path(path)
        if not _create:
            if not self.path.exists():
                raise IndexCorrupt(f"{self.path}: no such index directory")
            if not self.path.is_dir():
                raise IndexCorrupt(f"{self.path}: not a directory")
        self._con = _connect(self.path / DB_NAME, create=_create)
        self._segments: list[tuple[str, np.ndarray, int, int]] = []  # (name, entries, first doc, doc bits)
        self._data_version = None
        self.requeries = 0  # second-round searches (merged copies), for the benchmark
        if not _create:
            self._load_meta()
            self._refresh(force=True)

    # -------------------------------------------------------------------- lifecycle
    @classmethod
    def build(cls, path, docs: Iterable = (), *, overwrite: bool = False, **params) -> "Index":
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise BadInput(f"{path}: exists and is not a folder")
        if path.exists() and any(path.iterdir()):
            if not overwrite:
                raise BadInput(f"{path}: exists and is not empty (pass overwrite=True / --force)")
            remove_index_files(path)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise BadInput(f"{path}: cannot create the index folder ({e.strerror or e})") from None
        meta = dict(DEFAULTS, codec=_default_codec())
        meta.update({k: v for k, v in params.items() if v is not None})
        if meta["num_perm"] < meta["bands"] * meta["rows"]:
            raise ValueError("num_perm must be >= bands * rows")
        self = cls(path, _create=True)
        con = self._con
        con.execute("BEGIN IMMEDIATE")
        con.execute("CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)")
        con.execute("CREATE TABLE docs (n INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, text BLOB NOT NULL)")
        con.execute("CREATE TABLE segments (name TEXT PRIMARY KEY, n_keys INTEGER NOT NULL, "
                    "n_docs INTEGER NOT NULL, first_doc INTEGER NOT NULL, doc_bits INTEGER NOT NULL, "
                    "created REAL NOT NULL)")
        con.executemany("INSERT INTO meta VALUES (?, ?)",
                        [("format", FORMAT)] + [(k, json.dumps(v)) for k, v in meta.items()])
        con.execute("COMMIT")
        self._load_meta()
        self._refresh(force=True)
        self.add(docs)
        self.compact()
        return self

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
        self._segments = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _load_meta(self) -> None:
        try:
            rows = dict(self._con.execute("SELECT k, v FROM meta").fetchall())
        except sqlite3.DatabaseError as e:
            raise IndexCorrupt(f"{self.path}: not a readable trace index ({e})") from None
        if rows.get("format") in OLD_FORMATS:
            raise IndexCorrupt(f"{self.path}: index format {rows['format']!r} was written by "
                               f"{OLD_FORMATS[rows['format']]}; this unspin reads {FORMAT}: rebuild it "
                               f"with `unspin index build --force --out DIR INPUT...`")
        if rows.get("format") != FORMAT:
            raise IndexCorrupt(f"{self.path}: unknown index format {rows.get('format')!r} (expected {FORMAT})")
        try:
            self.params = {k: json.loads(v) for k, v in rows.items() if k != "format"}
            self.num_perm, self.bands, self.rows = self.params["num_perm"], self.params["bands"], self.params["rows"]
            self.seed, self.block = self.params["seed"], self.params["block"]
            self._compress, self._decompress = _codec(self.params.get("codec", "zlib"))
        except (KeyError, ValueError) as e:
            raise IndexCorrupt(f"{self.path}: damaged index metadata ({e})") from None

    def _refresh(self, force: bool = False) -> None:
        """Pick up segments committed by other processes since the last query."""
        for attempt in range(3):
            try:
                dv = self._con.execute("PRAGMA data_version").fetchone()[0]
                if not force and dv == self._data_version:
                    return
                self._con.execute("BEGIN")
                try:
                    rows = self._con.execute("SELECT name, n_keys, first_doc, doc_bits FROM segments "
                                             "ORDER BY created, name").fetchall()
                finally:
                    self._con.execute("COMMIT")
            except sqlite3.DatabaseError as e:
                if "doc_bits" in str(e):  # format 2 before segments.doc_bits (development builds)
                    raise IndexCorrupt(f"{self.path}: built by an earlier development version of "
                                       f"{FORMAT}: rebuild it with `unspin index build --force "
                                       f"--out DIR INPUT...`") from None
                raise IndexCorrupt(f"{self.path}: not a readable trace index ({e})") from None
            have = {seg[0]: seg[1] for seg in self._segments}
            try:
                self._segments = [(name, have[name] if name in have else self._open_segment(name, n_keys),
                                   first, bits) for name, n_keys, first, bits in rows]
            except _SegmentGone:
                if attempt == 2:
                    raise IndexCorrupt(f"{self.path}: segment file missing") from None
                force = True  # compacted meanwhile: read the segment list again
                continue
            self._data_version = dv
            return

    def _open_segment(self, name: str, n_keys: int) -> np.ndarray:
        try:
            e = np.load(self.path / f"seg-{name}.npy", mmap_mode="r")
        except FileNotFoundError as e:
            raise _SegmentGone(f"{self.path}: segment file missing ({Path(e.filename).name})") from None
        except (ValueError, OSError) as e:
            raise IndexCorrupt(f"{self.path}: segment {name} is truncated or damaged ({e})") from None
        if e.shape != (n_keys,) or e.dtype != np.uint64:
            raise IndexCorrupt(f"{self.path}: segment {name} is truncated or damaged "
                               f"(expected {n_keys} entries, found {e.shape[0] if e.ndim else 0})")
        return e.view(np.ndarray)

    # -------------------------------------------------------------------- adding
    def _shingles(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(flat shingle hashes, per-text offsets) of a batch of texts."""
        parts, counts = [], []
        for s in range(0, len(texts), SIG_BATCH):
            h, c = sig.batch_token_hashes(texts[s:s + SIG_BATCH])
            parts.append(h)
            counts.append(c)
        if not parts:
            return np.zeros(0, np.uint64), np.zeros(1, np.int64)
        return sig.shingle_hashes(np.concatenate(parts), np.concatenate(counts), self.params["shingle"])

    def _signatures(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(band keys (n_windows * bands,), doc position per key) for a batch of texts."""
        sh, off = self._shingles(texts)
        dig, owner = sig.window_digests(sh, off, self.num_perm, self.seed, self.block)
        keys = sig.band_keys(dig, self.bands, self.rows)
        return keys.reshape(-1), np.repeat(owner, self.bands)

    def add(self, docs: Iterable, *, flush_docs: int = FLUSH_DOCS, progress=None,
            on_duplicate: Callable[[str, str], None] | None = None) -> int:
        """Add documents (no rebuild).  Returns how many were added.  A duplicate id (one the
        index holds, or repeated in `docs`) raises BadInput (documents of earlier flushes of
        this call stay added; the failing flush is rolled back), or with on_duplicate(id, why)
        the document is reported to it and skipped, which makes adding the same input again
        (say, after an interrupted run) add only what is missing."""
        flush_docs = max(1, min(flush_docs, 1 << DOC_BITS))
        total = 0
        batch: list[tuple[str, str]] = []
        for d in _iter_docs(docs):
            batch.append(d)
            if len(batch) >= flush_docs:
                total += self._flush(batch, progress, total, on_duplicate)
                batch = []
        if batch:
            total += self._flush(batch, progress, total, on_duplicate)
        if total:
            try:  # fold the write-ahead log into the database file (skipped while readers hold it)
                self._con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                pass
        return total

    def _flush(self, batch: list[tuple[str, str]], progress, done: int,
               on_duplicate: Callable[[str, str], None] | None = None) -> int:
        parts, rows = [], []
        name = f"{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}"
        con = self._con
        con.execute("BEGIN IMMEDIATE")  # the writer lock: doc numbers are ours until COMMIT
        files: list[Path] = []
        try:
            if on_duplicate is not None:
                batch = self._new_ids_only(batch, on_duplicate)
                if not batch:
                    con.execute("COMMIT")
                    return 0
            first = (con.execute("SELECT coalesce(max(n), 0) FROM docs").fetchone()[0]) + 1
            step = 20_000
            comp = self._compress
            for s in range(0, len(batch), step):
                part = batch[s:s + step]
                k, pos = self._signatures([t for _, t in part])
                parts.append((k & ~_DOC_MASK) | (pos + s).astype(np.uint64))
                rows.extend((first + s + i, did, comp(t.encode("utf-8", "surrogatepass")))
                            for i, (did, t) in enumerate(part))
                if progress:
                    progress(done + s + len(part))
            entries = np.concatenate(parts) if parts else np.zeros(0, np.uint64)
            entries.sort()
            p = self.path / f"seg-{name}.npy"
            with open(p, "wb") as fh:
                files.append(p)
                np.save(fh, entries)
                fh.flush()
                os.fsync(fh.fileno())
            try:
                con.executemany("INSERT INTO docs (n, id, text) VALUES (?, ?, ?)", rows)
            except sqlite3.IntegrityError:
                seen: set[str] = set()
                dup = None
                for _, did, _ in rows:
                    if did in seen or con.execute("SELECT 1 FROM docs WHERE id = ?", (did,)).fetchone():
                        dup = did
                        break
                    seen.add(did)
                raise BadInput(f"duplicate document id {dup!r} (nothing of this batch was added)") from None
            con.execute("INSERT INTO segments VALUES (?, ?, ?, ?, ?, ?)",
                        (name, len(entries), len(batch), first, DOC_BITS, time.time()))
            con.execute("COMMIT")
        except BaseException:
            _undo(con, files)
            raise
        self._refresh(force=True)
        return len(batch)

    def _new_ids_only(self, batch: list[tuple[str, str]], on_duplicate: Callable[[str, str], None]) -> list[tuple[str, str]]:
        """The documents of batch whose id neither the index (inside the caller's transaction)
        nor an earlier document of the batch has; the others go to on_duplicate."""
        ids = [did for did, _ in batch]
        held: set[str] = set()
        step = 500  # (SQLite's limit on bound parameters is 999 in older builds)
        for i in range(0, len(ids), step):
            chunk = ids[i:i + step]
            held.update(r[0] for r in self._con.execute(
                f"SELECT id FROM docs WHERE id IN ({','.join('?' * len(chunk))})", chunk))
        seen: set[str] = set()
        keep = []
        for did, text in batch:
            if did in held:
                on_duplicate(did, "already in the index")
            elif did in seen:
                on_duplicate(did, "repeated in the input")
            else:
                seen.add(did)
                keep.append((did, text))
        return keep

    def compact(self, max_bytes: int | None = None) -> int:
        """Merge segments into one (fewer lookups per query): all of them, or the smallest ones
        whose merged table fits `max_bytes` of disk.  A streaming merge of the sorted segment files
        (bounded memory).  Holds the writer lock while it runs; readers keep their memory-mapped
        segments and switch at their next query.  Returns the number of segments merged (0 when
        there was nothing to do)."""
        con = self._con
        con.execute("BEGIN IMMEDIATE")
        files: list[Path] = []
        try:
            rows, size = [], 0
            for row in con.execute("SELECT name, n_keys, n_docs, first_doc, doc_bits FROM segments "
                                   "ORDER BY n_keys, first_doc").fetchall():
                span = max([r[3] + r[2] for r in rows + [row]]) - min(r[3] for r in rows + [row])
                if (max_bytes is not None and (size + row[1]) * 8 > max_bytes) or \
                        int(span - 1).bit_length() > MAX_DOC_BITS:
                    break
                rows.append(row)
                size += row[1]
            rows.sort(key=lambda r: r[3])
            if len(rows) < 2:
                con.execute("COMMIT")
                return 0
            first = rows[0][3]
            span = max(f + n for _, _, n, f, _ in rows) - first
            bits = max(DOC_BITS, int(span - 1).bit_length())
            total = sum(r[1] for r in rows)
            name = f"{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}"
            p = self.path / f"seg-{name}.npy"
            files.append(p)
            for r in rows:
                self._open_segment(r[0], r[1])  # checks each file before merging it
            _merge_segments([(self.path / f"seg-{r[0]}.npy", r[1], r[4], r[3] - first) for r in rows],
                            bits, p, total)
            con.executemany("DELETE FROM segments WHERE name = ?", [(r[0],) for r in rows])
            con.execute("INSERT INTO segments VALUES (?, ?, ?, ?, ?, ?)",
                        (name, total, sum(r[2] for r in rows), first, bits, time.time()))
            con.execute("COMMIT")
        except BaseException:
            _undo(con, files)
            raise
        self._segments = []  # drop our maps of the old files before they go
        for old in rows:
            (self.path / f"seg-{old[0]}.npy").unlink(missing_ok=True)
        self._refresh(force=True)
        return len(rows)

    # -------------------------------------------------------------------- reading
    def __len__(self) -> int:
        return int(self._con.execute("SELECT count(*) FROM docs").fetchone()[0])

    def get(self, doc_id: str) -> str | None:
        row = self._con.execute("SELECT text FROM docs WHERE id = ?", (doc_id,)).fetchone()
        return self._decompress(row[0]).decode("utf-8", "surrogatepass") if row else None

    def _fetch(self, nums: list[int]) -> dict[int, tuple[str, str]]:
        q = ",".join("?" * len(nums))
        out = {}
        for n, did, blob in self._con.execute(f"SELECT n, id, text FROM docs WHERE n IN ({q})", nums):
            out[n] = (did, self._decompress(blob).decode("utf-8", "surrogatepass"))
        return out

    def info(self) -> dict:
        self._refresh()
        size = sum(p.stat().st_size for p in self.path.iterdir() if p.is_file())
        segs = self._con.execute("SELECT name, n_keys, n_docs FROM segments ORDER BY created, name").fetchall()
        return {"path": str(self.path), "format": FORMAT, "documents": len(self),
                "segments": len(segs), "band_keys": int(sum(s[1] for s in segs)),
                "bytes_on_disk": size, "params": self.params}

    def candidates(self, text: str, _shingles: np.ndarray | None = None, limit: int | None = None
                   ) -> list[tuple[int, int]]:
        """(doc number, band hits) for a query, best first (LSH stage only; the best `limit`)."""
        self._refresh()
        sh = self._shingles([text])[0] if _shingles is None else _shingles
        if not len(sh):
            return []
        dig, _ = sig.window_digests(sh, np.array([0, len(sh)]), self.num_perm, self.seed, self.block,
                                    stride=max(1, self.block // 2))
        qk = np.unique(sig.band_keys(dig, self.bands, self.rows).reshape(-1) & ~_DOC_MASK)
        pairs = []
        for _, entries, first, bits in self._segments:
            b = np.uint64(bits)
            mask = np.uint64((1 << bits) - 1)
            lo_key = np.unique((qk >> b) << b) if bits != DOC_BITS else qk
            lo = np.searchsorted(entries, lo_key, "left")
            hi = np.searchsorted(entries, lo_key | mask, "right")
            size = hi - lo
            ok = (size > 0) & (size <= BUCKET_CAP)
            if not ok.any():
                continue
            size = size[ok]
            at = sig._ranges(lo[ok], size)
            docs = (entries[at] & mask).astype(np.int64) + first
            key = np.repeat(np.flatnonzero(ok), size)
            pairs.append((key << 40) | docs)  # a document counts once per key
        if not pairs:
            return []
        docs = np.unique(np.concatenate(pairs)) & ((1 << 40) - 1)
        nums, counts = np.unique(docs, return_counts=True)
        if limit is not None and len(nums) > limit:
            keep = np.argpartition(-counts, limit - 1)[:limit]
            cut = counts[keep].min()  # ties at the cut are kept so that the order is deterministic
            keep = np.flatnonzero(counts >= cut)
            nums, counts = nums[keep], counts[keep]
        order = np.lexsort((nums, -counts))[:limit]
        return [(int(nums[i]), int(counts[i])) for i in order]

    def _best_candidates(self, text: str, qsh: np.ndarray) -> list[tuple[int, int]]:
        cands = self.candidates(text, qsh, WIDE_CANDIDATES)
        if cands and cands[0][1] > WEAK_HITS:
            cands = cands[:MAX_CANDIDATES]
        return cands

    def _contained(self, qsh: np.ndarray, nums: list[int], fetched: dict) -> list[tuple[float, int]]:
        """(share of the query's distinct shingles found in the candidate, doc number), best first."""
        nums = [n for n in nums if n in fetched]
        if not nums or not len(qsh):
            return []
        qset = np.unique(qsh)
        ssh, soff = self._shingles([fetched[n][1] for n in nums])
        owner = np.repeat(np.arange(len(nums)), np.diff(soff))
        hit = np.isin(ssh, qset)
        # distinct query shingles per candidate: unique (candidate, shingle) pairs
        pairs = np.unique(np.stack([owner[hit].astype(np.uint64), ssh[hit]], axis=1), axis=0)
        found = np.bincount(pairs[:, 0].astype(np.int64), minlength=len(nums)) if len(pairs) else np.zeros(len(nums))
        out = [(int(found[i]) / len(qset), n) for i, n in enumerate(nums)]
        out.sort(reverse=True)
        return out

    def trace(self, text: str, top: int = 5, *, min_score: float = MIN_SCORE) -> list[Match]:
        """Sources of `text` in the archive, best first ([] when there is none).

        Candidates come from the LSH stage, are ranked by shingle containment and verified by
        alignment.  When the best real match (score >= MIN_SCORE) leaves paragraphs of the query
        unexplained (a copy that merges sources), those paragraphs are searched again on their own:
        inside the whole query their shingles are outvoted by the first source's."""
        from unspin.scars import repair_scars
        from unspin.trace.align import align_words

        rep = repair_scars(text)
        rtext = rep.text
        qsh = self._shingles([rtext])[0]
        cands = self._best_candidates(rtext, qsh)
        if not cands:
            return []
        fetched = self._fetch([n for n, _ in cands])
        contain = self._contained(qsh, [n for n, _ in cands], fetched)
        if not contain:
            return []
        q_spans = word_spans(rtext)
        q_words = [rtext[a:b].lower().replace("’", "'") for a, b in q_spans]
        paras = _paragraphs(q_spans, rtext)
        aligned: dict[int, object] = {}

        def verify(ranked: list[tuple[float, int]], limit: int) -> None:
            best = ranked[0][0] if ranked else 0.0
            ratio = CONTAIN_RATIO
            for c, n in ranked[:limit]:
                if c < max(CONTAIN_FLOOR, ratio * best):
                    break
                if n in aligned:
                    continue
                src = fetched[n][1]
                s_words = [src[a:b].lower().replace("’", "'") for a, b in word_spans(src)]
                sm = SequenceMatcher(None, autojunk=False)
                sm.set_seq2(s_words)
                al = aligned[n] = align_words(q_words, s_words, paras, sm)
                if al.score >= STRONG_SCORE:
                    # the copy is explained: only near-duplicates of this source remain of interest
                    ratio = max(ratio, STRONG_RATIO * c / max(best, 1e-9))

        verify(contain, max(top, 2) + 2)
        real = [al for al in aligned.values() if al.score >= MIN_SCORE and al.matched_query_words >= MIN_WORDS]
        if real and len(paras) > 1:
            first = max(real, key=lambda al: al.score)
            rest = [(pa, pb) for (pa, pb), cov in zip(paras, first.paragraph_covered)
                    if cov < REQUERY_COVERED * (pb - pa)]
            if sum(pb - pa for pa, pb in rest) >= REQUERY_WORDS:
                sub = "\n".join(rtext[q_spans[pa][0]:q_spans[pb - 1][1]] for pa, pb in rest)
                ssh = self._shingles([sub])[0]
                more = [n for n, _ in self._best_candidates(sub, ssh)]
                if any(n not in aligned for n in more):
                    self.requeries += 1
                    fetched.update(self._fetch([n for n in more if n not in fetched]))
                    # ranked with the documents already aligned, so that the containment ratio
                    # compares new candidates with the best source of these paragraphs
                    verify(self._contained(ssh, more, fetched), REQUERY_VERIFY)
        to_in = rep.to_input
        matches = []
        for n, al in aligned.items():
            if al.score < min_score or al.matched_query_words < MIN_WORDS:
                continue
            did, src = fetched[n]
            s_spans = word_spans(src)
            swaps = []
            for s in al.swaps:
                qa, qb = to_in[q_spans[s.q_start][0]], to_in[q_spans[s.q_end - 1][1]]
                sa, sb = s_spans[s.s_start][0], s_spans[s.s_end - 1][1]
                swaps.append(TraceSwap(qa, qb, text[qa:qb], src[sa:sb], sa, sb, s.known))
            swaps.sort(key=lambda s: (s.start, s.source_start))
            matches.append(Match(did, round(al.score, 4), round(al.coverage, 4), swaps))
        matches.sort(key=lambda m: (-m.score, -m.coverage, m.source_id))
        return matches[:top]


def _undo(con: sqlite3.Connection, files) -> None:
    """Roll back an unfinished add or compaction and remove the files it wrote."""
    try:
        con.execute("ROLLBACK")
    except sqlite3.Error:
        pass
    for p in files:
        p.unlink(missing_ok=True)
