"""Readers: files -> records, lazily parsed, with where each record came from.

Every reader yields `Raw(meta, size, parse)` in file order: `meta` says where the record is
(`file`, and `offset` – a byte offset in the *decompressed* stream – or `row`, or the WARC
`record_id`, `url` and `date`), `size` is its raw size in bytes (used to cut deterministic
chunks without parsing), and `parse()` returns `(id, text)` or raises `RecordError` with the
reason.  Parsing is lazy so that a shard can step over records it does not own cheaply.

A file that breaks in the middle (truncated gzip/zstd/WARC, unreadable Parquet footer or row
group) yields one last record whose `parse()` raises the reason: it becomes an error row and
the scan goes on with the next file.  The records wholly before a compressed file's cut are
read first (open_stream), and the one the cut splits is an error row of its own.

Formats (`--format auto` picks by extension after .gz/.zst/.bz2/.xz; compression is found by
magic bytes):
  txt      .txt and anything else; documents per file (default), per blank-line block, or per line
  jsonl    .jsonl .ndjson .json: one object per line, `--text-field` (text), `--id-field` (id);
           blank lines are skipped (they are not records)
  parquet  .parquet: pyarrow, `--text-field` / `--id-field` columns, one shard per row-group range
  html     .html .htm: one document per file, main text by resiliparse (main_content=True)
  warc     .warc .wet (+ .gz): `response` records with an HTML payload (main text extracted) and
           `conversion` records (WET text); other record types and non-HTML responses are skipped
"""
from __future__ import annotations

import glob
import gzip
import io
import json
import os
import re
import zlib
from dataclasses import dataclass
from typing import Callable, Iterator

from unspin.inputs import BadInput, decode_bytes, load_json

FORMATS = ("auto", "txt", "jsonl", "parquet", "html", "warc")
TXT_DOCS = ("file", "blocks", "lines")
_EXT = {
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
    ".parquet": "parquet", ".pq": "parquet",
    ".html": "html", ".htm": "html", ".xhtml": "html",
    ".warc": "warc", ".wet": "warc", ".arc": "warc",
    ".txt": "txt", ".text": "txt",
}
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_BZIP2_MAGIC = b"BZh"
_XZ_MAGIC = b"\xfd7zXZ\x00"
_COMPRESSED_EXTS = (".gz", ".zst", ".zstd", ".bz2", ".xz")


class RecordError(Exception):
    """A record that cannot be processed; str() is the reason written to the error row.

    `id` is the record's id when it was found before the failure."""

    def __init__(self, reason: str, id: str | None = None):
        super().__init__(reason)
        self.id = id


@dataclass
class Raw:
    meta: dict
    size: int
    parse: Callable[[], tuple[str, str]]


@dataclass(frozen=True)
class ReadOptions:
    format: str = "auto"
    text_field: str = "text"
    id_field: str = "id"
    txt_docs: str = "file"

    def to_dict(self) -> dict:
        return {"format": self.format, "text_field": self.text_field, "id_field": self.id_field,
                "txt_docs": self.txt_docs}


# ------------------------------------------------------------------------- inputs and formats


def expand_inputs(inputs: list[str]) -> list[str]:
    """Files, folders (recursively, hidden files skipped) and globs -> sorted unique file list."""
    files: list[str] = []
    for item in inputs:
        if os.path.isdir(item):
            for root, dirs, names in os.walk(item):
                dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
                # (regular files only: a FIFO, socket or device in a folder holds no records)
                files.extend(p for p in (os.path.join(root, n) for n in sorted(names) if not n.startswith((".", "_")))
                             if os.path.isfile(p))
        elif os.path.exists(item):
            if not os.path.isfile(item):  # (/dev/zero would be read without end; a pipe cannot be read twice)
                raise BadInput(f"{item}: not a regular file (a device, pipe or socket); scan reads files, "
                               f"folders and globs: write the data to a file first")
            files.append(item)
        else:
            hits = sorted(glob.glob(item, recursive=True))
            hits = [h for h in hits if os.path.isfile(h)]
            if not hits:
                raise BadInput(f"{item}: no such file, folder or matching glob")
            files.extend(hits)
    seen, out = set(), []
    for f in files:
        f = os.path.normpath(f)
        if f not in seen:
            seen.add(f)
            out.append(f)
    if not out:
        raise BadInput("no input files")
    return out


def compression_of(path: str) -> str:
    try:
        with open(path, "rb") as f:
            head = f.read(6)
    except OSError as e:
        raise BadInput(f"{path}: cannot read ({e.strerror or e})") from None
    if head.startswith(_GZIP_MAGIC):
        return "gzip"
    if head.startswith(_ZSTD_MAGIC):
        return "zstd"
    if head.startswith(_BZIP2_MAGIC) and head[3:4] in (b"1", b"2", b"3", b"4", b"5", b"6", b"7", b"8", b"9"):
        return "bzip2"  # ("BZh" and the block size digit)
    if head.startswith(_XZ_MAGIC):
        return "xz"
    return ""


def format_of(path: str, requested: str = "auto") -> str:
    if requested != "auto":
        return requested
    name = path.lower()
    for ext in _COMPRESSED_EXTS:
        if name.endswith(ext):
            name = name[: -len(ext)]
    base, ext = os.path.splitext(name)
    if ext in _COMPRESSED_EXTS:
        base, ext = os.path.splitext(base)
    if ext == ".wet" or base.endswith(".warc") or base.endswith(".wet"):
        return "warc"
    return _EXT.get(ext, "txt")


class _UpToTheCut(io.RawIOBase):
    """A compressed stream read up to where the file ends early: every byte decoded before the
    cut is handed out, the cut then reads as the end of the stream and `error` holds its
    EOFError, for the caller to report (stream_error).  Read straight, a buffered read that met
    the cut lost all it had read in the same call: up to a block of fastwarc's or of a line
    reader, records that were whole in the file (a gzipped WARC of 40 short records cut in the
    middle gave no record at all, only the error).  A codec's own error for corrupt data
    (zlib.error, lzma.LZMAError) is raised as OSError, which every reader reports."""

    def __init__(self, inner):  # (GzipFile, BZ2File, LZMAFile, _ZstdFrames: read1, seek, tell)
        self._inner = inner
        self.error: EOFError | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:  # (fastwarc asks where it is; the inner streams emulate seeking)
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._inner.seek(offset, whence)

    def tell(self) -> int:
        return self._inner.tell()

    def readinto(self, buf) -> int:
        if self.error is not None:
            return 0
        try:
            data = self._inner.read1(len(buf))  # (what one chunk of the file decodes to)
        except EOFError as e:
            self.error = e
            return 0
        except OSError:
            raise
        except Exception as e:  # (zlib.error, lzma.LZMAError, zstandard.ZstdError: corrupt data)
            raise OSError(f"corrupt compressed data ({type(e).__name__}: {e})") from None
        buf[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self._inner.close()
        super().close()


class _ZstdFrames:
    """A zstd file decoded frame after frame, with the read1 / tell / forward seek that
    _UpToTheCut reads through; a file that ends inside a frame raises EOFError, as gzip does
    (zstandard's stream reader took it for a complete file: a .jsonl.zst cut in the middle
    gave no record and no error)."""

    def __init__(self, fh):
        import zstandard

        self._zstd = zstandard
        self._fh = fh
        self._d = zstandard.ZstdDecompressor().decompressobj()
        self._in_frame = False  # bytes of the current frame were fed and it has not ended
        self._pending = memoryview(b"")
        self._pos = 0

    def read1(self, size: int) -> bytes:
        while not len(self._pending):
            chunk = self._fh.read(1 << 17)
            if not chunk:
                if self._in_frame:
                    raise EOFError("zstd stream ended inside a frame")
                return b""
            self._pending = memoryview(self._decode(chunk))
        data = bytes(self._pending[:size])
        self._pending = self._pending[len(data):]
        self._pos += len(data)
        return data

    def _decode(self, data: bytes) -> bytes:
        out = []
        while data:
            if self._d.eof:  # (a frame ended: the next one starts in its unused data)
                self._d = self._zstd.ZstdDecompressor().decompressobj()
            out.append(self._d.decompress(data))
            self._in_frame = not self._d.eof
            data = self._d.unused_data if self._d.eof else b""
        return b"".join(out)

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        target = offset if whence == io.SEEK_SET else self._pos + offset if whence == io.SEEK_CUR else -1
        if target < self._pos:
            raise io.UnsupportedOperation("a zstd stream seeks forward only")
        while self._pos < target and self.read1(min(target - self._pos, 1 << 20)):
            pass
        return self._pos

    def close(self) -> None:
        self._fh.close()


def stream_error(stream) -> EOFError | None:
    """The cut an open_stream stream met (a compressed file that ends early), if any."""
    return getattr(getattr(stream, "raw", None), "error", None)


def open_stream(path: str, compression: str):
    """A binary stream of the decompressed bytes.  A gzip, zstd, bzip2 or xz file cut short
    reads as far as it goes; stream_error() then says so."""
    f = open(path, "rb")
    if compression == "gzip":
        return io.BufferedReader(_UpToTheCut(gzip.GzipFile(fileobj=f, mode="rb")), 1 << 16)
    if compression == "bzip2":  # (Wikipedia and other dumps)
        import bz2

        return io.BufferedReader(_UpToTheCut(bz2.BZ2File(f, "rb")), 1 << 16)
    if compression == "xz":
        import lzma

        return io.BufferedReader(_UpToTheCut(lzma.LZMAFile(f, "rb")), 1 << 16)
    if compression == "zstd":
        return io.BufferedReader(_UpToTheCut(_ZstdFrames(f)), 1 << 20)
    return f


def _reason(e: BaseException) -> str:
    if isinstance(e, EOFError):
        return f"truncated compressed stream ({e})"
    msg = str(e) or type(e).__name__
    return f"{type(e).__name__}: {msg}" if not isinstance(e, (RecordError, BadInput)) else msg


def _broken(meta: dict, reason: str) -> Raw:
    def fail():
        raise RecordError(reason)

    return Raw(meta, 0, fail)


# ------------------------------------------------------------------------------ line framing


def _lines(stream, start: int = 0, end: int | None = None) -> Iterator[tuple[int, bytes]]:
    """(offset, line) for the lines that *start* in [start, end) of a seekable or plain stream."""
    pos = start
    if start > 0:
        stream.seek(start - 1)
        prev = stream.read(1)
        if prev != b"\n":  # we are inside a line owned by the previous range: skip it
            pos = start + len(stream.readline())
    while end is None or pos < end:
        line = stream.readline()
        if not line:
            return
        yield pos, line
        pos += len(line)


def _decode(data: bytes, where: str) -> str:
    try:
        return decode_bytes(data, where)
    except BadInput as e:
        raise RecordError(str(e)) from None


def _jsonl_raws(path: str, stream, opts: ReadOptions, start=0, end=None) -> Iterator[Raw]:
    tf, idf = opts.text_field, opts.id_field

    def parser(off: int, line: bytes):
        def parse():
            raw = line[3:] if off == 0 and line.startswith(b"\xef\xbb\xbf") else line
            try:
                s = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise RecordError(f"invalid UTF-8 at byte {e.start} of the line") from None
            try:
                obj = load_json(s)
            except ValueError as e:
                raise RecordError(f"not JSON ({e})") from None
            if not isinstance(obj, dict):
                raise RecordError(f"expected a JSON object, got {type(obj).__name__}")
            rid = obj.get(idf)
            rid = f"{path}:{off}" if rid is None else (rid if isinstance(rid, str) else json.dumps(rid))
            if tf not in obj:
                raise RecordError(f'missing "{tf}"', rid)
            text = obj[tf]
            if not isinstance(text, str):
                raise RecordError(f'"{tf}" is not a string', rid)
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as e:
                raise RecordError(f'"{tf}" has a lone surrogate at index {e.start}', rid) from None
            return rid, text

        return parse

    yield from _line_raws(path, stream, start, end, parser)


def _txt_line_raws(path: str, stream, start=0, end=None) -> Iterator[Raw]:
    def parser(off, line):
        return lambda: (f"{path}:{off}", _decode(line.rstrip(b"\r\n"), f"{path}:{off}"))

    yield from _line_raws(path, stream, start, end, parser)


def _line_raws(path: str, stream, start, end, parser) -> Iterator[Raw]:
    """One record per non-blank line in [start, end); a read failure ends the file with an error row."""
    try:
        for off, line in _lines(stream, start, end):
            if not line.strip():
                continue
            yield Raw({"file": path, "offset": off}, len(line), parser(off, line))
    except (OSError, EOFError, ValueError) as e:
        yield _broken({"file": path, "offset": None}, f"read failed: {_reason(e)}")


def _txt_block_raws(path: str, stream) -> Iterator[Raw]:
    def parser(off, data):
        return lambda: (f"{path}:{off}", _decode(data, f"{path}:{off}").strip())

    block: list[bytes] = []
    bstart = 0
    try:
        for off, line in _lines(stream):
            if line.strip():
                if not block:
                    bstart = off
                block.append(line)
            elif block:
                data = b"".join(block)
                yield Raw({"file": path, "offset": bstart}, len(data), parser(bstart, data))
                block = []
        if block:
            data = b"".join(block)
            yield Raw({"file": path, "offset": bstart}, len(data), parser(bstart, data))
    except (OSError, EOFError, ValueError) as e:
        yield _broken({"file": path, "offset": None}, f"read failed: {_reason(e)}")


def _whole(path: str, compression: str) -> bytes:
    try:
        with open_stream(path, compression) as s:
            data = s.read()
            cut = stream_error(s)
    except (OSError, EOFError, ValueError) as e:
        raise RecordError(f"read failed: {_reason(e)}") from None
    if cut is not None:
        raise RecordError(f"read failed: {_reason(cut)}")
    return data


def _txt_file_raw(path: str, compression: str) -> Raw:
    return Raw({"file": path, "offset": 0}, os.path.getsize(path),
               lambda: (path, _decode(_whole(path, compression), path)))


# ----------------------------------------------------------------------------------- HTML


# Past this nesting depth of container tags a page's text is extracted whole, without
# resiliparse's main-content pass, whose time grows with the square of the depth (10,000 nested
# divs: 2.3 s; 20,000: 16 s; 100,000 stalled a scan).  Browsers stop nesting at 512.
MAX_MAIN_CONTENT_DEPTH = 512
_CONTAINER_TAG = re.compile(rb"<(/?)(?:div|span|section|article|table|tbody|tr|td|th|ul|ol|li|p|a|b|i|u|em|strong|"
                            rb"font|blockquote|center|form|nav|header|footer|main|aside|figure|dl|dd|dt)[\s>/]", re.I)


def nesting_depth(data: bytes) -> int:
    """The deepest nesting of container tags in an HTML page, as its opening and closing tags
    count it (unclosed tags count as open)."""
    if data.count(b"<") <= MAX_MAIN_CONTENT_DEPTH:  # (it cannot be deeper than its tags)
        return 0
    depth = top = 0
    for close in _CONTAINER_TAG.findall(data):
        if close:
            depth = depth - 1 if depth else 0
        else:
            depth += 1
            top = depth if depth > top else top
    return top


def html_to_text(data: bytes, where: str = "") -> str:
    """Main text of an HTML page (resiliparse; encoding sniffed from the bytes and meta tags);
    a page nested deeper than MAX_MAIN_CONTENT_DEPTH gives all its text."""
    try:
        from resiliparse.extract.html2text import extract_plain_text
        from resiliparse.parse.encoding import bytes_to_str, detect_encoding
        from resiliparse.parse.html import HTMLTree
    except ImportError:  # pragma: no cover - optional dependency
        raise RecordError("HTML input needs resiliparse: pip install 'unspin[scan]'") from None
    if not data.strip():
        raise RecordError("empty HTML document")
    if b"\x00" in data[:65536]:
        raise RecordError("binary data (NUL byte), not HTML")
    try:
        html = bytes_to_str(data, detect_encoding(data))
        main = nesting_depth(data) <= MAX_MAIN_CONTENT_DEPTH
        text = extract_plain_text(HTMLTree.parse(html), main_content=main)
    except Exception as e:  # resiliparse is lenient; anything left is a broken page
        raise RecordError(f"HTML could not be parsed: {_reason(e)}") from None
    if not text.strip():
        raise RecordError("no main text found in the HTML")
    return text


def page_text(path_or_dash: str | os.PathLike) -> str:
    """The main text of the HTML page in a file (or stdin for "-"), or BadInput saying why not
    (for `unspin check --html` and `unspin index build`, which read one page a file)."""
    from unspin.inputs import read_bytes

    data, name = read_bytes(path_or_dash)
    try:
        return html_to_text(data, name)
    except RecordError as e:
        raise BadInput(f"{name}: {e}") from None


def _html_file_raw(path: str, compression: str) -> Raw:
    return Raw({"file": path, "offset": 0}, os.path.getsize(path),
               lambda: (path, html_to_text(_whole(path, compression), path)))


# ----------------------------------------------------------------------------------- WARC


def _warc_raws(path: str, stream) -> Iterator[Raw]:
    try:
        from fastwarc.warc import ArchiveIterator, WarcRecordType
    except ImportError:  # pragma: no cover - optional dependency
        yield _broken({"file": path, "offset": None}, "WARC input needs fastwarc: pip install 'unspin[scan]'")
        return

    def parser(meta, kind, payload, ctype, short, encodings):
        def parse():
            rid = meta["record_id"] or f"{path}:{meta['offset']}"
            if short:
                raise RecordError(f"truncated WARC record ({short})", rid)
            if kind == "conversion":
                return rid, _decode(payload, rid)
            return rid, html_to_text(_http_decoded(payload, *encodings, rid), rid)

        return parse

    try:
        it = ArchiveIterator(stream, record_types=WarcRecordType.response | WarcRecordType.conversion,
                             parse_http=True)
        for rec in it:
            kind = "conversion" if rec.record_type == WarcRecordType.conversion else "response"
            meta = {"file": path, "offset": rec.stream_pos, "record_id": rec.record_id,
                    "url": rec.headers.get("WARC-Target-URI"), "date": rec.headers.get("WARC-Date")}
            ctype = ""
            if kind == "response":
                ctype = (rec.http_headers.get("Content-Type", "") if rec.http_headers is not None else "").lower()
                if "html" not in ctype:
                    # no text to read (an image, a PDF): skipped, unless the file ends inside
                    # it, which is said in an error row (in a crawl most records are not
                    # HTML, so a file cut short mostly ends in one; it used to pass silently)
                    got = rec.reader.consume() if hasattr(rec.reader, "consume") else None
                    if not isinstance(got, int):
                        got = len(rec.reader.read())
                    if got < rec.content_length:
                        yield Raw(meta, 0, parser(meta, kind, b"", ctype, f"{got} of {rec.content_length} bytes",
                                                  ("", "")))
                    continue
            payload = rec.reader.read()
            short = ""
            # (a response's content_length is its payload's, after the HTTP headers: fastwarc
            # neither de-chunks nor decompresses it, so fewer bytes mean the file ended)
            if len(payload) < rec.content_length:
                short = f"{len(payload)} of {rec.content_length} bytes"
            encodings = ("", "")
            if kind == "response" and rec.http_headers is not None:
                encodings = (rec.http_headers.get("Transfer-Encoding", "").lower(),
                             rec.http_headers.get("Content-Encoding", "").lower())
            yield Raw(meta, len(payload), parser(meta, kind, payload, ctype, short, encodings))
    except (OSError, EOFError, ValueError) as e:
        yield _broken({"file": path, "offset": None}, f"read failed: {_reason(e)}")
    except BaseException as e:  # noqa: B036
        # fastwarc (Rust) turns an error it does not expect into a pyo3 PanicException, a
        # BaseException: it would kill the worker, and the scan with it
        if type(e).__name__ != "PanicException":
            raise
        yield _broken({"file": path, "offset": None}, f"read failed: WARC reader error ({str(e).splitlines()[0][:200]})")


def _http_decoded(payload: bytes, transfer: str, content: str, rid: str) -> bytes:
    """An HTTP response body as the server meant it: de-chunked (Transfer-Encoding: chunked) and
    decompressed (Content-Encoding gzip, deflate, br), as crawlers such as wget store it in WARC
    files (Common Crawl stores it decoded already)."""
    if "chunked" in transfer:
        payload = _dechunked(payload, rid)
    for coding in reversed([c.strip() for c in content.split(",") if c.strip() not in ("", "identity")]):
        try:
            if coding in ("gzip", "x-gzip"):
                payload = zlib.decompress(payload, 16 + zlib.MAX_WBITS)
            elif coding == "deflate":  # (zlib-wrapped as the RFC says, or raw as some servers send)
                try:
                    payload = zlib.decompress(payload)
                except zlib.error:
                    payload = zlib.decompress(payload, -zlib.MAX_WBITS)
            elif coding == "br":
                try:
                    import brotli
                except ImportError:
                    raise RecordError("Content-Encoding br: needs the brotli package (pip install brotli)", rid) from None
                payload = brotli.decompress(payload)
            else:
                raise RecordError(f"Content-Encoding {coding!r} is not supported", rid)
        except RecordError:
            raise
        except Exception as e:  # (zlib.error, EOFError, brotli.error, ...)
            raise RecordError(f"Content-Encoding {coding}: corrupt body ({_reason(e)})", rid) from None
    return payload


def _dechunked(payload: bytes, rid: str) -> bytes:
    """A chunked body's data (chunk extensions and trailers dropped)."""
    out, at = [], 0
    while True:
        eol = payload.find(b"\r\n", at)
        if eol < 0:
            raise RecordError("Transfer-Encoding chunked: a chunk size line is cut off", rid)
        try:
            size = int(payload[at:eol].split(b";", 1)[0].strip() or b"x", 16)
        except ValueError:
            raise RecordError(f"Transfer-Encoding chunked: bad chunk size {payload[at:eol][:20]!r}", rid) from None
        if size == 0:
            return b"".join(out)
        start = eol + 2
        if start + size > len(payload):
            raise RecordError("Transfer-Encoding chunked: the body ends inside a chunk", rid)
        out.append(payload[start:start + size])
        at = start + size + 2  # (past the chunk's CRLF)


# -------------------------------------------------------------------------------- Parquet


def parquet_row_groups(path: str) -> list[int]:
    """Rows per row group, or raise RecordError (unreadable footer, truncated file)."""
    import pyarrow.parquet as pq

    try:
        md = pq.ParquetFile(path).metadata
        return [md.row_group(i).num_rows for i in range(md.num_row_groups)]
    except Exception as e:
        raise RecordError(f"Parquet file unreadable: {_reason(e)}") from None


def _parquet_raws(path: str, opts: ReadOptions, rg_start: int = 0, rg_end: int | None = None) -> Iterator[Raw]:
    import pyarrow.parquet as pq

    try:
        groups = parquet_row_groups(path)
        pf = pq.ParquetFile(path)
    except RecordError as e:
        if rg_start == 0:
            yield _broken({"file": path, "row": None}, str(e))
        return
    names = pf.schema_arrow.names
    if opts.text_field not in names:
        if rg_start == 0:
            yield _broken({"file": path, "row": None},
                          f'no column "{opts.text_field}" (columns: {", ".join(names)})')
        return
    cols = [opts.text_field] + ([opts.id_field] if opts.id_field in names and opts.id_field != opts.text_field else [])
    rg_end = len(groups) if rg_end is None else rg_end
    row0 = sum(groups[:rg_start])
    for g in range(rg_start, rg_end):
        try:
            t = pf.read_row_group(g, columns=cols)
            texts = t.column(opts.text_field).to_pylist()
            ids = t.column(opts.id_field).to_pylist() if len(cols) > 1 else [None] * len(texts)
        except Exception as e:
            yield _broken({"file": path, "row": row0}, f"Parquet row group {g} unreadable: {_reason(e)}")
            row0 += groups[g]
            continue
        for i, (text, rid) in enumerate(zip(texts, ids)):
            row = row0 + i
            rid = f"{path}#{row}" if rid is None else (rid if isinstance(rid, str) else json.dumps(rid, default=str))

            def parse(text=text, rid=rid):
                if not isinstance(text, str):
                    raise RecordError(f'"{opts.text_field}" is not a string', rid)
                return rid, text

            yield Raw({"file": path, "row": row}, len(text) if isinstance(text, str) else 0, parse)
        row0 += groups[g]


# ----------------------------------------------------------------------------- dispatch


def iter_raws(path: str, fmt: str, compression: str, opts: ReadOptions,
              byte_range: tuple[int, int] | None = None,
              row_groups: tuple[int, int] | None = None) -> Iterator[Raw]:
    """Every record of one file (or of one byte range / row-group range of it), in order."""
    if fmt == "parquet":
        yield from _parquet_raws(path, opts, *(row_groups or (0, None)))
        return
    if fmt == "html":
        yield _html_file_raw(path, compression)
        return
    if fmt == "txt" and opts.txt_docs == "file":
        yield _txt_file_raw(path, compression)
        return
    try:
        stream = open_stream(path, compression)
    except OSError as e:
        yield _broken({"file": path, "offset": None}, f"cannot open: {_reason(e)}")
        return
    with stream:
        start, end = byte_range or (0, None)
        if fmt == "jsonl":
            yield from _jsonl_raws(path, stream, opts, start, end)
        elif fmt == "warc":
            yield from _warc_raws(path, stream)
        elif opts.txt_docs == "lines":
            yield from _txt_line_raws(path, stream, start, end)
        else:
            yield from _txt_block_raws(path, stream)
        cut = stream_error(stream)
        if cut is not None:  # (the records before the cut were read: this row says where it is)
            yield _broken({"file": path, "offset": None}, f"read failed: {_reason(cut)}")
