"""`unspin index build|add|info` and `unspin trace`: registered by `add_trace_commands(sub)`.

    unspin index build --out DIR INPUT...    JSONL ("id", "text"), .txt files or folders of them, Parquet
    unspin index add --index DIR INPUT...    incremental: new segments, no rebuild
    unspin index compact DIR                 merge the segments into one (build does this at its end)
    unspin index info DIR                    JSON: documents, segments, size on disk, parameters
    unspin trace --index DIR [FILE|-] [--json|--jsonl] [--top K]

Errors (a missing or corrupt index, an input that does not exist) raise BadInput: one line, exit 2.
`index build|add` skip a bad record (and a document whose id the index holds), naming it on
stderr and counting it in the summary; with --strict it is such an error.  A failed build
removes what it wrote.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Callable, Iterator

from unspin.inputs import BadInput, decode_bytes, load_json, loads_strict, read_text, sniffed_lines


# ------------------------------------------------------------------------------ readers


OnBad = Callable[[str, str], None]  # (where: "file:line" or a file, why) for a record that is skipped


def _why(e: BadInput, *where: str) -> str:
    """A BadInput's message without the place it starts with ("FILE: line N: "): on_bad is
    told the place apart."""
    msg, head = str(e), ": ".join(where) + ": "
    return msg[len(head):] if msg.startswith(head) else msg


def _jsonl_line(path: Path, n: int, raw: bytes) -> tuple[str, str]:
    try:
        obj = load_json(raw)
    except ValueError as e:
        raise BadInput(f"{path}: line {n}: not JSON ({e})") from None
    return _jsonl_doc(path, n, obj)


def _jsonl_doc(path: Path, n: int, obj) -> tuple[str, str]:
    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
        raise BadInput(f'{path}: line {n}: expected an object with a string "text"')
    did = obj.get("id")
    return (f"{path.name}:{n}" if did is None else did if isinstance(did, str) else json.dumps(did)), obj["text"]


_JSONL_GROUP = 512  # lines parsed by one json.loads call (a bad group is re-read line by line)


_CODECS = {".gz": "gzip", ".bz2": "bzip2", ".xz": "xz"}  # (by name: a .jsonl.gz that is not gzip is an error)


def _jsonl_docs(path: Path, on_bad: OnBad | None = None) -> Iterator[tuple[str, str]]:
    from unspin.scan.readers import open_stream, stream_error

    try:
        fh = open_stream(str(path), _CODECS.get(path.suffix, ""))
    except OSError as e:
        raise BadInput(f"{path}: cannot read ({e.strerror or e})") from None
    n = 0
    with fh:
        group: list[tuple[int, bytes]] = []
        try:
            for n, raw in enumerate(fh, 1):
                if n == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                if not raw.strip():
                    continue
                group.append((n, raw))
                if len(group) >= _JSONL_GROUP:
                    yield from _jsonl_group(path, group, on_bad)
                    group = []
            problem = stream_error(fh)  # (a compressed file cut short reads as far as it goes)
        except OSError as e:  # not what its name says, corrupt, or a read error
            problem = e
        if problem is None:
            yield from _jsonl_group(path, group, on_bad)
            return
        # what follows cannot be read: the lines before are kept
        why = f"unreadable after line {n} ({problem})" if n else f"unreadable ({problem})"
        if on_bad is None:
            raise BadInput(f"{path}: {why}")
        yield from _jsonl_group(path, _complete_lines(group), on_bad)
        on_bad(str(path), why)


def _complete_lines(group: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    """The lines of a group read before a file turned unreadable, without a last line that the
    break cut short (one without its newline)."""
    return group[:-1] if group and not group[-1][1].endswith(b"\n") else group


def _jsonl_group(path: Path, group: list[tuple[int, bytes]], on_bad: OnBad | None = None) -> Iterator[tuple[str, str]]:
    """Parse a group of non-blank lines with one json.loads (the scanner's per-call overhead is
    most of the cost for short documents); on any error, line by line for the exact message
    (which on_bad gets, the line skipped; without it the error is raised)."""
    if not group:
        return
    try:
        objs = load_json(b"[" + b",".join(raw for _, raw in group) + b"]")
        if len(objs) != len(group):  # a line held two values ("1, 2"): not one JSON value per line
            raise ValueError
        docs = [_jsonl_doc(path, n, obj) for (n, _), obj in zip(group, objs)]
    except (ValueError, BadInput):
        for n, raw in group:
            try:
                doc = _jsonl_line(path, n, raw)
            except BadInput as e:
                if on_bad is None:
                    raise
                on_bad(f"{path}:{n}", _why(e, str(path), f"line {n}"))
                continue
            yield doc
        return
    yield from docs


def _parquet_docs(path: Path, on_bad: OnBad | None = None) -> Iterator[tuple[str, str]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise BadInput(f"{path}: reading Parquet needs pyarrow (pip install 'unspin[trace]')") from None
    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises several types for a bad file
        raise BadInput(f"{path}: not a readable Parquet file ({e})") from None
    names = pf.schema_arrow.names
    if "text" not in names:
        raise BadInput(f"{path}: no 'text' column (columns: {', '.join(names)})")
    cols = ["text"] + (["id"] if "id" in names else [])
    row = 0
    for group in range(pf.num_row_groups):
        size = pf.metadata.row_group(group).num_rows
        try:
            table = pf.read_row_group(group, columns=cols)
        except Exception as e:  # a damaged row group: its rows are lost, not the file's others
            why = f"row group {group} (rows {row + 1}-{row + size}) unreadable ({str(e).strip().splitlines()[0]})"
            if on_bad is None:
                raise BadInput(f"{path}: {why}") from None
            on_bad(str(path), why)
            row += size
            continue
        texts = table.column("text").to_pylist()
        ids = table.column("id").to_pylist() if "id" in cols else [None] * len(texts)
        for did, text in zip(ids, texts):
            row += 1
            if not isinstance(text, str):
                why = "no text (null)" if text is None else f'"text" is a {type(text).__name__}, not a string'
                if on_bad is None:
                    raise BadInput(f"{path}: row {row}: {why}")
                on_bad(f"{path}:row {row}", why)
                continue
            yield (f"{path.name}:{row}" if did is None else str(did)), text


def read_documents(inputs: list[str], on_bad: OnBad | None = None) -> Iterator[tuple[str, str]]:
    """(id, text) from JSONL files (.gz, .bz2, .xz too), Parquet files, .txt and .html files and
    folders of them (id = path relative to the folder; a page's text is its main text).  A bad
    record (a line that is not a JSON object with a string "text", a Parquet row without a
    string text or a damaged row group, a .txt file that is not UTF-8 text, a file that cannot
    be read to its end) raises BadInput, or with on_bad is reported to it and skipped.  An
    input that does not exist or has an unknown type raises either way."""
    for inp in inputs:
        p = Path(inp)
        if not p.exists():
            raise BadInput(f"{inp}: no such file or directory")
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.suffix.lower() in _PAGE_SUFFIXES and f.is_file())
            if not files:
                raise BadInput(f"{inp}: no .txt or .html files in this folder")
            for f in files:
                doc = _text_file(f, f.relative_to(p).as_posix(), on_bad)
                if doc is not None:
                    yield doc
        elif p.suffix == ".parquet":
            try:
                yield from _parquet_docs(p, on_bad)
            except BadInput as e:
                if on_bad is None or "needs pyarrow" in str(e):
                    raise
                on_bad(str(p), _why(e, str(p)))
        elif p.suffix in (".jsonl", ".json") or p.name.endswith(tuple(".jsonl" + ext for ext in _CODECS)):
            yield from _jsonl_docs(p, on_bad)
        elif p.suffix.lower() in _PAGE_SUFFIXES:
            doc = _text_file(p, p.name, on_bad)
            if doc is not None:
                yield doc
        else:
            raise BadInput(f"{inp}: unknown input type (expected .jsonl, .jsonl.gz/.bz2/.xz, .parquet, .txt, "
                           ".html or a folder)")


_PAGE_SUFFIXES = (".txt", ".html", ".htm")  # one document a file (.html: its main text)


def _text_file(path: Path, doc_id: str, on_bad: OnBad | None) -> tuple[str, str] | None:
    """A .txt file's text, or an .html page's main text (resiliparse, as `unspin scan` and
    `unspin check --html` read pages: a publisher's archive is pages)."""
    try:
        if path.suffix.lower() in (".html", ".htm"):
            from unspin.scan.readers import page_text

            return doc_id, page_text(path)
        return doc_id, read_text(str(path))
    except BadInput as e:
        if on_bad is None:
            raise
        on_bad(str(path), _why(e, str(path)))
        return None


# ------------------------------------------------------------------------------ commands


def add_trace_commands(sub) -> None:
    """Register `index` and `trace` on an argparse subparsers object."""
    ix = sub.add_parser("index", help="build, extend or describe a trace index of originals",
                        description="Persistent index of original documents for `unspin trace`.")
    isub = ix.add_subparsers(dest="index_command", metavar="ACTION")
    b = isub.add_parser("build", help="create an index from documents")
    b.add_argument("--out", required=True, metavar="DIR", help="index directory (created)")
    b.add_argument("--force", action="store_true", help="replace an existing index in DIR")
    b.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="JSONL (id, text; .gz/.bz2/.xz too), .parquet, .txt, .html or a folder of them")
    a = isub.add_parser("add", help="add documents to an index (no rebuild)")
    a.add_argument("--index", required=True, metavar="DIR")
    a.add_argument("inputs", nargs="+", metavar="INPUT")
    for p in (b, a):
        p.add_argument("--strict", action="store_true",
                       help="stop at the first bad record or duplicate id (exit 2) instead of skipping it "
                            "with a message on stderr")
        p.epilog = ("A bad record (a JSONL line that is not an object with a string \"text\", a Parquet row "
                    "without a string text or a damaged row group, a .txt file that is not UTF-8 text, the "
                    "unreadable rest of a damaged file) and a document whose id "
                    "the index already holds are skipped, each named on stderr, and counted in the summary "
                    "as \"skipped\"; adding the same input again adds only what is missing.")
    c = isub.add_parser("compact", help="merge an index's segments into one (faster queries after many adds)")
    c.add_argument("dir", metavar="DIR")
    i = isub.add_parser("info", help="print an index's size and parameters as JSON")
    i.add_argument("dir", metavar="DIR")
    ix.set_defaults(func=_index_cmd)

    t = sub.add_parser("trace", help="find the sources of a (spun) text in an index",
                       description="Find the sources of FILE (or stdin) in an index and align every swap.")
    t.add_argument("--index", required=True, metavar="DIR")
    t.add_argument("file", nargs="?", default="-", metavar="FILE")
    fmt = t.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print one JSON object")
    fmt.add_argument("--jsonl", action="store_true", help='input: one {"id", "text"} per line; output: one result per line')
    t.add_argument("--top", type=int, default=5, metavar="K", help="at most K matches per input (default 5)")
    t.set_defaults(func=_trace_cmd)


def _progress(n: int) -> None:
    if sys.stderr.isatty():
        print(f"\r{n} documents", end="", file=sys.stderr, flush=True)


class _Skipped:
    """Records skipped by `index build|add`: each named on stderr (the first SHOWN of them, then
    a count), their number in the summary."""

    SHOWN = 20

    def __init__(self):
        self.count = 0
        self.duplicates = 0

    def __call__(self, where: str, why: str) -> None:
        self.count += 1
        if self.count <= self.SHOWN:
            back = "\r" if sys.stderr.isatty() else ""  # (over the progress count on a terminal)
            print(f"{back}unspin: skipped {where}: {why}", file=sys.stderr, flush=True)

    def duplicate(self, doc_id: str, why: str) -> None:
        self.duplicates += 1
        self(f"document {doc_id!r}", f"duplicate id, {why}")

    def close(self) -> None:
        if self.count > self.SHOWN:
            print(f"unspin: skipped {self.count} records in all ({self.count - self.SHOWN} more than shown)",
                  file=sys.stderr, flush=True)


def _add(idx, args) -> tuple[int, int]:
    """Add args.inputs to idx: (added, skipped)."""
    skipped = _Skipped()
    on_bad = None if args.strict else skipped
    on_dup = None if args.strict else skipped.duplicate
    try:
        n = idx.add(read_documents(args.inputs, on_bad), progress=_progress, on_duplicate=on_dup)
    finally:
        skipped.close()
    if n == 0 and skipped.count and not skipped.duplicates:
        # (only duplicates: the input is in the index already, say from an earlier run: done)
        raise BadInput(f"nothing added: every record was bad ({skipped.count} skipped)")
    return n, skipped.count


def _index_cmd(args) -> int:
    from unspin.trace import Index

    if args.index_command == "build":
        out = Path(args.out)
        fresh = not out.exists()
        idx = Index.build(out, overwrite=args.force)
        try:
            n, skipped = _add(idx, args)
            idx.compact()  # one segment: a query looks each key up once per segment
        except BaseException:
            # a build that failed leaves no half-built index behind (which would block the
            # next attempt without --force)
            idx.close()
            _remove_index_files(out, remove_dir=fresh)
            raise
        print(json.dumps({"added": n, "skipped": skipped, **idx.info()}))
    elif args.index_command == "compact":
        idx = Index(args.dir)
        merged = idx.compact()
        print(json.dumps({"merged_segments": merged, **idx.info()}))
    elif args.index_command == "add":
        idx = Index(args.index)
        n, skipped = _add(idx, args)
        print(json.dumps({"added": n, "skipped": skipped, **idx.info()}))
    elif args.index_command == "info":
        print(json.dumps(Index(args.dir).info()))
    else:
        raise BadInput("index: an action is required (build, add, compact or info)")
    return 0


def _remove_index_files(folder: Path, remove_dir: bool) -> None:
    from unspin.trace.index import remove_index_files

    remove_index_files(folder)
    if remove_dir:
        try:
            folder.rmdir()
        except OSError:  # something else was put there meanwhile
            pass


def _out():
    out = sys.stdout
    try:
        out.reconfigure(encoding="utf-8")  # type: ignore[union-attr]
    except (AttributeError, ValueError):
        pass
    return out


def _format(rid, matches) -> str:
    lines = [f"{rid}: " + (f"{len(matches)} source(s)" if matches else "no source found")]
    for m in matches:
        lines.append(f"  {m.source_id}  score {m.score:.3f}  coverage {m.coverage:.3f}  swaps {len(m.swaps)}")
        for s in m.swaps:
            mark = "" if s.known_synonym else "  (not a known synonym)"
            lines.append(f"    {s.start}-{s.end}  {s.spun!r} <- {s.original!r}{mark}")
    return "\n".join(lines) + "\n"


def _trace_cmd(args) -> int:
    from unspin.trace import Index

    if args.top < 1:
        raise BadInput("--top must be at least 1")
    idx = Index(args.index)
    out = _out()
    if args.jsonl:
        if args.file == "-":
            lines = sniffed_lines(sys.stdin.buffer, "<stdin>") if hasattr(sys.stdin, "buffer") else (
                l.encode() for l in sys.stdin)
        else:
            if os.path.isdir(args.file):
                raise BadInput(f"{args.file}: is a directory, expected a JSONL file")
            try:
                lines = sniffed_lines(open(args.file, "rb"), args.file)
            except OSError as e:
                raise BadInput(f"{args.file}: cannot read ({e.strerror or e})") from None
        for n, raw in enumerate(lines, 1):
            raw = raw.rstrip(b"\r\n")
            if n == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                obj = loads_strict(decode_bytes(raw, f"line {n}"))
                if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                    raise ValueError('expected an object with a string "text"')
            except (ValueError, BadInput) as e:
                out.write(json.dumps({"id": None, "error": f"line {n}: {e}"}, ensure_ascii=False) + "\n")
                continue
            ms = idx.trace(obj["text"], top=args.top)
            out.write(json.dumps({"id": obj.get("id"), "matches": [m.to_dict() for m in ms]}, ensure_ascii=False) + "\n")
            out.flush()
        return 0
    text = read_text(args.file)
    ms = idx.trace(text, top=args.top)
    if args.json:
        out.write(json.dumps({"id": args.file, "matches": [m.to_dict() for m in ms]}, ensure_ascii=False) + "\n")
    else:
        out.write(_format(args.file, ms))
    return 0
