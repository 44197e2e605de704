"""unspin scan: readers, outputs, errors as rows, shards, exactly-once resume, the real engine."""
from __future__ import annotations

import gzip
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pa = pytest.importorskip("pyarrow")
import pyarrow.parquet as pq  # noqa: E402

from unspin.cli import main  # noqa: E402
from unspin.inputs import BadInput  # noqa: E402
from unspin.scan import ReadOptions, iter_records, read_output, scan  # noqa: E402
from unspin.scan import job as J  # noqa: E402

SENT = "The committee met on Tuesday to discuss the budget for the coming year and the new school."


def rows_of(out) -> list[dict]:
    return list(read_output(str(out)))


def write_jsonl(path: Path, n: int, start: int = 0, extra: bytes = b"") -> None:
    with open(path, "wb") as f:
        for i in range(start, start + n):
            f.write((json.dumps({"id": f"d{i}", "text": f"{SENT} Record {i}."}) + "\n").encode())
        f.write(extra)


def warc_record(kind: str, uri: str, body: bytes, ctype: str = "text/html; charset=utf-8") -> bytes:
    if kind == "response":
        block = f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
        wctype = "application/http; msgtype=response"
    else:
        block, wctype = body, "text/plain"
    head = (f"WARC/1.0\r\nWARC-Type: {kind}\r\nWARC-Target-URI: {uri}\r\nWARC-Date: 2024-05-01T12:00:00Z\r\n"
            f"WARC-Record-ID: <urn:uuid:{abs(hash((kind, uri))):032x}>\r\nContent-Type: {wctype}\r\n"
            f"Content-Length: {len(block)}\r\n\r\n").encode()
    return head + block + b"\r\n\r\n"


HTML = (b"<html><head><title>t</title></head><body><nav>Home | About</nav><article><p>" + SENT.encode() +
        b"</p><p>Second paragraph of the article with more words in it.</p></article></body></html>")


@pytest.fixture
def corpus(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    write_jsonl(d / "a.jsonl", 5, extra=b"not json\n\n" + b'{"id": "bad-utf8", "text": "caf\xe9"}\n' +
                b'{"id": "no-text"}\n')
    with gzip.open(d / "b.jsonl.gz", "wb") as f:
        for i in range(3):
            f.write((json.dumps({"id": f"g{i}", "text": SENT}) + "\n").encode())
    (d / "c.txt").write_text(f"{SENT}\n\nSecond block here.\n\n\n   \nThird.\n")
    (d / "page.html").write_bytes(HTML)
    (d / "empty.html").write_bytes(b"<html><body></body></html>")
    w = (warc_record("response", "http://ex.com/1", HTML) +
         warc_record("response", "http://ex.com/img", b"\x89PNG...", ctype="image/png") +
         warc_record("conversion", "http://ex.com/2", SENT.encode()))
    (d / "crawl.warc.gz").write_bytes(gzip.compress(w))
    t = pa.table({"doc": [f"p{i}" for i in range(10)], "body": [f"{SENT} {i}" for i in range(9)] + [None]})
    pq.write_table(t, d / "t.parquet", row_group_size=3)
    return d


def test_jsonl_record_nested_too_deep_is_an_error_row(tmp_path):
    f = tmp_path / "deep.jsonl"
    f.write_text('{"id": "deep", "x": ' + "[" * 20000 + "]" * 20000 + "}\n" + json.dumps({"id": "ok", "text": SENT}) + "\n")
    out = tmp_path / "out.jsonl"
    scan([str(f)], str(out), task="stats", workers=1, progress=False)
    rows = rows_of(out)
    assert len(rows) == 2 and sum(1 for r in rows if r["error"] and r["error"].startswith("not JSON")) == 1
    assert [r for r in rows if r["id"] == "ok"][0]["error"] is None


def _http_record(uri: str, head: str, body: bytes) -> bytes:
    block = f"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n{head}\r\n".encode() + body
    return (f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: {uri}\r\nWARC-Record-ID: <urn:uuid:{uri[-8:]}>\r\n"
            f"Content-Type: application/http; msgtype=response\r\nContent-Length: {len(block)}\r\n\r\n").encode() \
        + block + b"\r\n\r\n"


def test_warc_bodies_are_dechunked_and_decompressed_and_truncation_is_an_error(tmp_path):
    """As wget and others store them: chunked and gzip/deflate bodies read as the page; a body
    that is not what its Content-Encoding says, an unknown coding, and a record the file ends
    inside are error rows, not lost and not garbage text."""
    import zlib

    page = HTML
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(page[i:i + 50]), page[i:i + 50]) for i in range(0, len(page), 50)) + b"0\r\n\r\n"
    raw_deflate = zlib.compressobj(wbits=-15)
    records = [
        _http_record("http://ex.com/plain0001", "", page),
        _http_record("http://ex.com/chunked1", "Transfer-Encoding: chunked\r\n", chunked),
        _http_record("http://ex.com/gzipped1", "Content-Encoding: gzip\r\n", gzip.compress(page)),
        _http_record("http://ex.com/deflate1", "Content-Encoding: deflate\r\n", zlib.compress(page)),
        _http_record("http://ex.com/rawdefl1", "Content-Encoding: deflate\r\n", raw_deflate.compress(page) + raw_deflate.flush()),
        _http_record("http://ex.com/both0001", "Transfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n",
                     b"%x\r\n%s\r\n0\r\n\r\n" % (len(gzip.compress(page)), gzip.compress(page))),
        _http_record("http://ex.com/badgzip1", "Content-Encoding: gzip\r\n", page),
        _http_record("http://ex.com/unknown1", "Content-Encoding: compress\r\n", page),
    ]
    whole = b"".join(records) + _http_record("http://ex.com/truncat1", "", page * 3)[:-400]
    f = tmp_path / "w.warc"
    f.write_bytes(whole)
    out = tmp_path / "out.jsonl"
    scan([str(f)], str(out), task="stats", workers=1, progress=False)
    rows = {r["url"].rsplit("/", 1)[1]: r for r in rows_of(out)}
    assert len(rows) == 9
    words = rows["plain0001"]["words"]
    for name in ("chunked1", "gzipped1", "deflate1", "rawdefl1", "both0001"):
        assert rows[name]["error"] is None and rows[name]["words"] == words, (name, rows[name])
    assert rows["badgzip1"]["error"].startswith("Content-Encoding gzip: corrupt body")
    assert rows["unknown1"]["error"] == "Content-Encoding 'compress' is not supported"
    assert rows["truncat1"]["error"].startswith("truncated WARC record (")


def test_warc_cut_inside_a_record_without_text_is_an_error_row(tmp_path):
    """A record with no text (an image) is skipped, but a file that ends inside one (in a crawl,
    where most records are not HTML, the likeliest place) gives an error row: it used to pass
    silently, the truncation unseen."""
    image = _http_record("http://ex.com/image001", "", b"\x89PNG" + b"x" * 3000).replace(
        b"Content-Type: text/html", b"Content-Type: image/png")
    f = tmp_path / "w.warc"
    f.write_bytes(_http_record("http://ex.com/plain0001", "", HTML) + image + image[:-2000])
    out = tmp_path / "out.jsonl"
    scan([str(f)], str(out), task="stats", workers=1, progress=False)
    rows = rows_of(out)
    assert len(rows) == 2  # the page, and the cut image; the whole image has no row
    assert rows[0]["error"] is None and rows[0]["url"].endswith("plain0001")
    assert rows[1]["url"].endswith("image001") and rows[1]["error"].startswith("truncated WARC record (")


def test_gzip_cut_short_keeps_every_record_before_the_cut(tmp_path):
    """A .gz or .zst file that ends early: the records wholly before the cut are scanned, then one
    error row says where the file broke.  A buffered read that met the cut used to lose what it had
    read: a gzipped WARC of 200 pages cut in the middle gave no page at all."""
    pages = b"".join(_http_record(f"http://ex.com/p{i:07d}", "", HTML.replace(b"</body>", b"<p>%d</p></body>" % i))
                     for i in range(200))
    whole = gzip.compress(pages)
    (tmp_path / "w.warc.gz").write_bytes(whole[: len(whole) // 2])
    lines = "".join(json.dumps({"id": i, "text": f"{SENT} {i}"}) + "\n" for i in range(3000)).encode()
    whole = gzip.compress(lines)
    (tmp_path / "d.jsonl.gz").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "t.txt.gz").write_bytes(gzip.compress(lines)[:2000])
    import lzma

    (tmp_path / "d.jsonl.xz").write_bytes(lzma.compress(lines)[: len(lzma.compress(lines)) // 2])
    names = ["w.warc.gz", "d.jsonl.gz", "t.txt.gz", "d.jsonl.xz"]
    try:
        import zstandard
    except ImportError:  # pragma: no cover - an optional dependency
        pass
    else:
        # frames of 20,000 bytes, as a writer flushing as it goes makes them: the cut ends inside
        # one (zstandard's reader took that for the end: no record and no error)
        c = zstandard.ZstdCompressor()
        frames = b"".join(c.compress(lines[i:i + 20_000]) for i in range(0, len(lines), 20_000))
        (tmp_path / "d.jsonl.zst").write_bytes(frames[: len(frames) // 2])
        names.append("d.jsonl.zst")
    for name in names:
        out = tmp_path / f"{name}.out.jsonl"
        scan([str(tmp_path / name)], str(out), task="stats", workers=1, progress=False)
        rows = rows_of(out)
        cut = [r for r in rows if r["error"] and "truncated compressed stream" in r["error"]]  # (one)
        assert len(cut) == 1 and cut[0] is rows[-1], name
        good = [r for r in rows if r["error"] is None]
        if name == "t.txt.gz":  # one document per file: the part before the cut is not a document
            assert rows == cut
        else:
            assert len(good) > (40 if name == "w.warc.gz" else 1000), (name, len(good))
            assert len(rows) <= len(good) + 2  # (at most the record the cut split, and the cut itself)


def test_deeply_nested_html_gives_its_text_without_the_main_content_pass():
    """resiliparse's main-content pass takes time growing with the square of the nesting depth
    (100,000 nested divs stalled a scan): past MAX_MAIN_CONTENT_DEPTH the whole text is taken."""
    from unspin.scan.readers import MAX_MAIN_CONTENT_DEPTH, html_to_text, nesting_depth

    for n in (10, MAX_MAIN_CONTENT_DEPTH + 1, 100_000):
        page = b"<html><body>" + b"<div>" * n + SENT.encode() + b"</div>" * n + b"</body></html>"
        assert nesting_depth(page) == (n if page.count(b"<") > MAX_MAIN_CONTENT_DEPTH else 0)
        assert html_to_text(page).split() == SENT.split()
    unclosed = b"<p>" * 2000 + SENT.encode()
    assert nesting_depth(unclosed) == 2000 and html_to_text(unclosed).split() == SENT.split()
    flat = b"".join(b"<p>%d</p>" % i for i in range(2000))  # (many tags, no depth)
    assert nesting_depth(flat) == 1


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this platform")
def test_scan_refuses_a_pipe_or_device_and_skips_one_in_a_folder(tmp_path):
    """/dev/zero was read without end; a pipe cannot be read twice (resume, shards)."""
    from unspin.inputs import BadInput
    from unspin.scan.readers import expand_inputs

    os.mkfifo(tmp_path / "pipe")
    for item in (str(tmp_path / "pipe"), "/dev/zero"):
        if os.path.exists(item):
            with pytest.raises(BadInput, match="not a regular file"):
                expand_inputs([item])
    (tmp_path / "a.jsonl").write_text(json.dumps({"id": "a", "text": SENT}) + "\n")
    assert expand_inputs([str(tmp_path)]) == [str(tmp_path / "a.jsonl")]


def test_scan_output_that_is_an_input_or_cannot_be_created_is_a_clear_error(tmp_path):
    from unspin.inputs import BadInput

    src = tmp_path / "a.jsonl"
    src.write_text(json.dumps({"id": "a", "text": SENT}) + "\n")
    with pytest.raises(BadInput, match="is also an input"):
        scan([str(src)], str(src), task="stats", workers=1, progress=False)
    assert src.read_text().startswith('{"id": "a"')  # (untouched)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for out in (blocker / "out.jsonl", str(blocker / "dir") + "/"):
        with pytest.raises(BadInput, match="cannot create the scan's folder"):
            scan([str(src)], str(out), task="stats", workers=1, progress=False)


def test_every_format_one_row_per_record(corpus, tmp_path):
    out = tmp_path / "out.jsonl"
    s = scan([str(corpus)], str(out), task="stats", workers=2, progress=False, read=ReadOptions(txt_docs="blocks"))
    rows = rows_of(out)
    by_id = {r["id"]: r for r in rows}
    assert len(by_id) == len(rows) == s["records"]
    # jsonl: 5 good, blank line skipped, 3 error rows
    assert all(by_id[f"d{i}"]["error"] is None and by_id[f"d{i}"]["words"] == len(f"{SENT} Record {i}.".split())
               for i in range(5))
    assert any(r["error"] == "invalid UTF-8 at byte 31 of the line" for r in rows)  # id unreadable: file:offset
    assert by_id["no-text"]["error"] == 'missing "text"'
    assert any(r["error"] and r["error"].startswith("not JSON") for r in rows)
    assert by_id["d1"]["offset"] == len(json.dumps({"id": "d0", "text": f"{SENT} Record 0."})) + 1
    # gz jsonl
    assert {f"g{i}" for i in range(3)} <= set(by_id)
    # txt blocks: 3 blocks, offsets of their first bytes
    txt = [r for r in rows if r["file"].endswith("c.txt")]
    assert [r["offset"] for r in txt] == [0, len(SENT) + 2, len(SENT) + 2 + len("Second block here.\n\n\n   \n")]
    # html: main text, and an error row for a page without text
    page = [r for r in rows if r["file"].endswith("page.html")][0]
    assert page["error"] is None and page["words"] >= len(SENT.split())
    assert "no main text" in [r for r in rows if r["file"].endswith("empty.html")][0]["error"]
    # warc: response (html) + conversion; the png response is skipped; URI, date, record id kept
    warc = [r for r in rows if r["file"].endswith("crawl.warc.gz")]
    assert [r["url"] for r in warc] == ["http://ex.com/1", "http://ex.com/2"]
    assert all(r["date"] == "2024-05-01T12:00:00Z" and r["record_id"].startswith("<urn:uuid:") for r in warc)
    assert warc[1]["words"] == len(SENT.split())
    # parquet: text/id columns selectable (here: defaults miss -> one error row for the file)
    pqrows = [r for r in rows if r["file"].endswith("t.parquet")]
    assert len(pqrows) == 1 and 'no column "text"' in pqrows[0]["error"]
    assert s["errors"] == 5


def test_parquet_columns_row_groups_and_shards(corpus, tmp_path):
    out = tmp_path / "o.parquet"
    scan([str(corpus / "t.parquet")], str(out), task="stats", workers=1, progress=False, shard_bytes=64,
         read=ReadOptions(text_field="body", id_field="doc"))
    t = pq.read_table(out)
    rows = t.to_pylist()
    assert [r["id"] for r in rows] == [f"p{i}" for i in range(10)]
    assert [r["row"] for r in rows] == list(range(10))
    assert rows[-1]["error"] == '"body" is not a string' and rows[0]["sha1"]
    assert t.schema.field("spun_probability").type == pa.float64()


def test_broken_ends_become_error_rows(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    data = b"".join((json.dumps({"id": f"x{i}", "text": SENT * 20}) + "\n").encode() for i in range(200))
    gz = gzip.compress(data)
    (d / "trunc.jsonl.gz").write_bytes(gz[: len(gz) - 200])
    w = gzip.compress(b"".join(warc_record("conversion", f"http://e/{i}", (SENT * 30).encode()) for i in range(30)))
    (d / "trunc.warc.gz").write_bytes(w[: len(w) * 2 // 3])
    buf = io.BytesIO()
    pq.write_table(pa.table({"text": [SENT] * 50}), buf, row_group_size=10)
    (d / "trunc.parquet").write_bytes(buf.getvalue()[:-100])
    (d / "bad.txt").write_bytes(b"caf\xe9 au lait")
    out = tmp_path / "o.jsonl"
    s = scan([str(d)], str(out), task="stats", workers=2, progress=False)
    rows = rows_of(out)
    errs = {r["file"].rsplit("/", 1)[-1]: r["error"] for r in rows if r["error"]}
    assert "truncated compressed stream" in errs["trunc.jsonl.gz"]
    assert "truncated compressed stream" in errs["trunc.warc.gz"]
    assert "Parquet file unreadable" in errs["trunc.parquet"]
    assert "invalid UTF-8" in errs["bad.txt"]
    good = [r for r in rows if r["file"].endswith("trunc.jsonl.gz") and not r["error"]]
    # the record the cut splits is an error row of its own, before the cut's (jsonl, warc)
    assert 0 < len(good) < 200 and s["errors"] == 6
    split = [r["error"] for r in rows if r["error"] and "truncated compressed stream" not in r["error"]
             and r["file"].endswith((".jsonl.gz", ".warc.gz"))]
    assert len(split) == 2 and any(e.startswith("not JSON") for e in split) and any(
        e.startswith("truncated WARC record") for e in split), split


def test_zstd_and_lines(tmp_path):
    zstd = pytest.importorskip("zstandard")
    p = tmp_path / "l.txt.zst"
    p.write_bytes(zstd.ZstdCompressor().compress(b"one line\n\ntwo line\nthree\n"))
    out = tmp_path / "o.jsonl"
    scan([str(p)], str(out), task="stats", workers=0, progress=False, read=ReadOptions(txt_docs="lines"))
    assert [(r["offset"], r["words"]) for r in rows_of(out)] == [(0, 2), (10, 2), (19, 1)]


def test_byte_range_shards_equal_one_shard(tmp_path):
    src = tmp_path / "big.jsonl"
    write_jsonl(src, 400)
    one, many = tmp_path / "one.jsonl", tmp_path / "many.jsonl"
    scan([str(src)], str(one), task="stats", workers=1, progress=False)
    s = scan([str(src)], str(many), task="stats", workers=2, progress=False, shard_bytes=997, chunk_records=7)
    assert s["shards"] > 20
    assert one.read_bytes() == many.read_bytes()


def test_folder_output_parts_and_success(tmp_path):
    src = tmp_path / "x.jsonl"
    write_jsonl(src, 50)
    out = tmp_path / "out/"
    s = scan([str(src)], str(out), task="stats", workers=2, progress=False, shard_bytes=1000, parts_format="parquet")
    names = sorted(os.listdir(out))
    assert "_SUCCESS" in names and "_unspin" in names
    parts = [n for n in names if n.startswith("part-")]
    assert len(parts) == s["shards"] > 1 and all(n.endswith(".parquet") for n in parts)
    import pyarrow.dataset as ds

    assert ds.dataset(str(out), format="parquet").count_rows() == 50  # _-prefixed entries ignored
    assert [r["id"] for r in rows_of(out)] == [f"d{i}" for i in range(50)]


def test_refusals(tmp_path):
    src = tmp_path / "x.jsonl"
    write_jsonl(src, 5)
    out = tmp_path / "o.jsonl"
    scan([str(src)], str(out), task="stats", workers=0, progress=False)
    with pytest.raises(BadInput, match="exists"):
        scan([str(src)], str(out), task="stats", workers=0, progress=False)
    assert scan([str(src)], str(out), task="stats", workers=0, progress=False, resume=True)["already_complete"]
    # an unfinished scan: the manifest freezes inputs and options
    out2 = tmp_path / "p.jsonl"
    job = J.Job.for_output(str(out2))
    os.makedirs(job.p("tmp"))
    J.atomic_write_bytes(job, job.p("manifest.json"), b"{}")
    with pytest.raises(BadInput, match="--resume"):
        scan([str(src)], str(out2), task="stats", workers=0, progress=False)
    with pytest.raises(BadInput, match="cannot resume"):
        scan([str(src)], str(out2), task="stats", workers=0, progress=False, resume=True)
    with pytest.raises(BadInput, match="no such file"):
        scan([str(tmp_path / "nope*.jsonl")], str(tmp_path / "q.jsonl"), workers=0, progress=False)
    with pytest.raises(BadInput, match="index"):
        scan([str(src)], str(tmp_path / "r.jsonl"), task="trace", workers=0, progress=False)
    with pytest.raises(BadInput, match="unknown task"):
        scan([str(src)], str(tmp_path / "r.jsonl"), task="nope", workers=0, progress=False)


def test_resume_after_crash_states(tmp_path):
    """Every state a SIGKILL can leave (temp files, committed chunks, a part whose chunks were not yet
    deleted, a done-marker without its part) resumes to the exact output of a clean run."""
    src = tmp_path / "x.jsonl"
    write_jsonl(src, 300)
    clean = tmp_path / "clean.jsonl"
    scan([str(src)], str(clean), task="stats", workers=0, progress=False, shard_bytes=4000, chunk_records=5)
    out = tmp_path / "o.jsonl"
    args = dict(task="stats", workers=0, progress=False, shard_bytes=4000, chunk_records=5, keep_parts=True)
    scan([str(src)], str(out), **args)
    job = J.Job.for_output(str(out))
    shards = json.load(open(job.p("manifest.json")))["shards"]
    os.unlink(out)
    os.unlink(os.path.join(job.root, "_SUCCESS"))
    # shard 0: part gone, chunks 0..2 committed; shard 1: part present + stale chunks; shard 2: marker only
    k0, k1, k2 = (s["key"] for s in shards[:3])
    rows0 = list(J.iter_part_rows(job.part_path(k0)))
    os.unlink(job.part_path(k0))
    for n in range(3):
        J.commit_chunk(job, k0, n, rows0[5 * n: 5 * n + 5])
    J.commit_chunk(job, k1, 0, [{"id": "stale"}])
    os.unlink(job.part_path(k2))
    Path(job.p("tmp", "junk.123.tmp")).write_text("half a line")
    scan([str(src)], str(out), resume=True, **args)
    assert out.read_bytes() == clean.read_bytes()
    assert not os.listdir(job.p("tmp")) and not os.path.exists(job.chunk_dir(k1))


def _run_cli(args, **kw):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "unspin.cli", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True, **kw)


@pytest.mark.parametrize("forget", [True, False])
def test_a_forked_worker_does_not_keep_the_scan_lock(tmp_path, forget):
    """A worker forked under the scan's lock shares its open file, and so the flock: one that
    outlives the scan (killed with it, still finishing an fsync) kept a --resume out.  Workers
    close their copy (Job.forget_lock; local.init_worker), so the lock goes with the scan."""
    job = J.Job.for_output(str(tmp_path / "o.jsonl"))
    r, w = os.pipe()
    ready_r, ready_w = os.pipe()
    with job.lock():
        pid = os.fork()
        if pid == 0:  # the "worker": still alive after the scan's process has let go
            try:
                if forget:
                    job.forget_lock()
                os.write(ready_w, b"r")
                os.read(r, 1)
            finally:
                os._exit(0)
        os.read(ready_r, 1)
    try:
        if forget:
            with job.lock():
                pass
        else:
            with pytest.raises(BadInput, match="another scan is running"):
                with job.lock():
                    pass
    finally:
        os.write(w, b"x")
        os.waitpid(pid, 0)
        for fd in (r, w, ready_r, ready_w):
            os.close(fd)


def test_sigkill_resume_exactly_once(tmp_path):
    """Random SIGKILLs of the whole process group, each followed by --resume: every record once."""
    d = tmp_path / "in"
    d.mkdir()
    write_jsonl(d / "a.jsonl", 6000)
    with gzip.open(d / "b.jsonl.gz", "wb") as f:
        for i in range(3000):
            f.write((json.dumps({"id": f"z{i}", "text": SENT}) + "\n").encode())
    out = tmp_path / "o.jsonl"
    common = [str(d), "--out", str(out), "--task", "stats", "-j", "2", "--shard-size", "100KB",
              "--chunk-records", "50", "-q"]
    rng = random.Random(7)
    kills = 0
    p = _run_cli(["scan", *common])
    for _ in range(6):
        # Early and short: on an idle machine the whole scan takes only a couple of seconds.
        time.sleep(rng.uniform(0.1, 0.7))
        if p.poll() is not None:
            break
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        kills += 1
        p = _run_cli(["scan", *common, "--resume"])
    assert p.wait(timeout=120) == 0, p.stderr.read().decode()
    ids = [r["id"] for r in rows_of(out)]
    assert len(ids) == len(set(ids)) == 9000
    assert kills >= 1


def test_cli_scan_json_summary(tmp_path, capsys):
    src = tmp_path / "x.jsonl"
    write_jsonl(src, 4)
    code = main(["scan", str(src), "--out", str(tmp_path / "o.jsonl"), "--task", "stats", "-j", "1", "-q", "--json"])
    assert code == 0
    s = json.loads(capsys.readouterr().out)
    assert s["records"] == 4 and s["errors"] == 0
    assert main(["scan", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "p.jsonl")]) == 2


def test_iter_records_match_scan_sources(corpus, tmp_path):
    out = tmp_path / "o.jsonl"
    scan([str(corpus)], str(out), task="stats", workers=0, progress=False)
    keys = ("id", "file", "offset", "row", "record_id", "url", "date")
    assert [tuple(r[k] for k in keys) for r in iter_records([str(corpus)])] == [
        tuple(r[k] for k in keys) for r in rows_of(out)]


def test_real_engine_detect_and_check(tmp_path):
    """The real engine on a small input, 2 workers: rows equal calling the library directly."""
    import unspin

    demo = Path(unspin.__file__).parent / "data" / "demo" / "demo.txt"
    paras = [p for p in demo.read_text().split("\n\n") if len(p.split()) > 20][:3]
    src = tmp_path / "d.jsonl"
    src.write_text("".join(json.dumps({"id": f"p{i}", "text": t}) + "\n" for i, t in enumerate(paras)))
    out = tmp_path / "o.jsonl"
    s = scan([str(src)], str(out), task="detect", workers=2, progress=False, shard_bytes=200)
    assert s["shards"] >= 2
    rows = rows_of(out)
    for r, t in zip(rows, paras):
        d = unspin.detect(t).to_dict()
        assert (r["verdict"], r["spun_probability"], r["evidence"]) == (d["verdict"], d["spun_probability"],
                                                                        d["evidence"])
    out2 = tmp_path / "c.jsonl"
    scan([str(src)], str(out2), task="check", workers=1, progress=False)
    r = rows_of(out2)[0]
    assert r["restored"] == unspin.check(paras[0]).restored and isinstance(r["swaps"], list)


def test_fast_checks_on_the_ngram_tier_and_is_part_of_the_job(tmp_path, check_tiers):
    """--fast reaches the check task (n-gram tier), and a resume may not switch tiers half-way
    through a scan."""
    calls = check_tiers
    src = tmp_path / "d.jsonl"
    write_jsonl(src, 4)
    out = tmp_path / "fast/"
    scan([str(src)], str(out), task="check", workers=0, progress=False, fast=True)
    assert len(rows_of(out)) == 4 and calls and all(calls)
    assert json.loads((out / "_unspin" / "manifest.json").read_text())["fast"] is True
    calls.clear()
    scan([str(src)], str(tmp_path / "slow.jsonl"), task="check", workers=0, progress=False)
    assert calls and not any(calls)
    (out / "_SUCCESS").unlink()  # (as if it had been interrupted)
    with pytest.raises(BadInput, match="fast differs"):
        scan([str(src)], str(out), task="check", workers=0, progress=False, resume=True)


def test_default_shards_give_every_worker_work(tmp_path):
    """Without --shard-size, a few MB of JSONL is cut into several shards (a fixed 64 MB shard
    left all but one worker idle), from the input size alone (a resume with another -j plans
    alike), between 1 MB and 64 MB each."""
    assert J.auto_shard_bytes([]) == J.MIN_AUTO_SHARD_BYTES
    src = tmp_path / "d.jsonl"
    write_jsonl(src, 40_000)  # about 4.4 MB
    size = src.stat().st_size
    assert J.auto_shard_bytes([str(src)]) == J.MIN_AUTO_SHARD_BYTES
    s = scan([str(src)], str(tmp_path / "o/"), task="stats", workers=2, progress=False)
    assert s["shards"] == -(-size // J.MIN_AUTO_SHARD_BYTES) >= 4
    assert len(rows_of(tmp_path / "o/")) == 40_000


def test_trace_task(tmp_path):
    import unspin

    if not hasattr(unspin, "Index"):
        pytest.skip("no unspin.Index in this build")
    src_text = ("The mayor said on Monday that the second administration official would resign after the "
                "report on the city budget was published by the council in the spring.")
    idx = tmp_path / "idx"
    unspin.Index.build(idx, [("orig-1", src_text), ("other", "Completely unrelated words about gardens " * 5)]).close()
    q = tmp_path / "q.jsonl"
    q.write_text(json.dumps({"id": "q", "text": src_text.replace("second", "minute")}) + "\n")
    out = tmp_path / "o.jsonl"
    scan([str(q)], str(out), task="trace", index=str(idx), workers=1, progress=False)
    r = rows_of(out)[0]
    assert r["error"] is None and r["matches"] and r["matches"][0]["source_id"] == "orig-1"


def test_spark_check_task_takes_the_tier():
    """unspin.spark.scan_dataframe(..., fast=True) builds its check task on the n-gram tier (the
    tasks are cached per worker by spec, index and tier; pyspark is only needed to run them)."""
    from unspin import spark

    fast, default = spark._task("check", None, True), spark._task("check", None)
    assert fast.fast and not default.fast and fast is spark._task("check", None, True)


def test_bzip2_and_xz_inputs_are_read(tmp_path):
    """Dumps come as .bz2 (Wikipedia) or .xz: read like .gz, by magic bytes, the format from the
    name under the compression's extension (they were one 'binary data' error row each)."""
    import bz2
    import lzma

    lines = "".join(json.dumps({"id": f"r{i}", "text": f"{SENT} {i}"}) + "\n" for i in range(30)).encode()
    (tmp_path / "a.jsonl.bz2").write_bytes(bz2.compress(lines))
    (tmp_path / "b.jsonl.xz").write_bytes(lzma.compress(lines))
    (tmp_path / "c.warc.xz").write_bytes(lzma.compress(_http_record("http://ex.com/page0001", "", HTML)))
    out = tmp_path / "o.jsonl"
    scan([str(tmp_path)], str(out), task="stats", workers=1, progress=False)
    rows = rows_of(out)
    assert len(rows) == 61 and all(r["error"] is None for r in rows)
    assert sum(r["file"].endswith(".bz2") for r in rows) == 30 and any(r["url"] for r in rows)
    # corrupt data inside an .xz: lzma's own error (not an OSError) stopped the scan
    many = "".join(json.dumps({"id": f"m{i}", "text": f"{SENT} {i}"}) + "\n" for i in range(5000)).encode()
    bad = bytearray(lzma.compress(many))
    bad[len(bad) // 2: len(bad) // 2 + 50] = b"\0" * 50
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "c.jsonl.xz").write_bytes(bytes(bad))
    out = tmp_path / "o2.jsonl"
    scan([str(tmp_path / "bad")], str(out), task="stats", workers=1, progress=False)
    rows = rows_of(out)
    assert rows[-1]["error"].startswith("read failed") and "corrupt compressed data" in rows[-1]["error"]
    assert sum(r["error"] is None for r in rows) > 1000


@pytest.mark.parametrize("args, says", [
    (["--workers", "-1"], "must be at least 0"),  # (ran in-process, "with -1 worker(s)")
    (["--chunk-records", "0"], "must be at least 1"),  # (a chunk a record, silently)
    (["--chunk-records", "many"], "not a whole number"),
])
def test_cli_scan_bad_counts_are_usage_errors(tmp_path, capsys, args, says):
    (tmp_path / "a.txt").write_text(SENT)
    assert main(["scan", str(tmp_path / "a.txt"), "--out", str(tmp_path / "o.jsonl"), *args]) == 2
    assert says in capsys.readouterr().err
    assert not (tmp_path / "o.jsonl").exists()


def test_check_task_gives_the_neural_tier_the_default_budget(check_tiers):
    """scan --task check runs record after record: without --fast each record gets the command
    line's default budget (one huge record cannot hold a worker for hours); --fast none."""
    import unspin
    from unspin.scan.tasks import make_task

    text = "The committee met on Tuesday to discuss the budget for next year and the year after."
    for fast in (False, True):
        row = make_task("check", fast=fast)(text)
        assert set(row) >= {"verdict", "spun_probability", "swaps", "restored"}
    assert list(check_tiers) == [False, True]
    assert check_tiers.budgets == [unspin.DEFAULT_BUDGET, None]
