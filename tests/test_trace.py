"""unspin.trace: index build/add/info/trace via the API and the CLI, on small archives in tmp dirs.

Spun queries come from tests/cases/trace_docs.json (Brown/WordNet dev originals with spun copies
from the bench simulators); everything here runs in seconds.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import unspin
from unspin.cli import main
from unspin.trace import Index, IndexCorrupt
from unspin.trace.signature import surviving_tokens

CASES = json.loads((Path(__file__).parent / "cases" / "trace_docs.json").read_text(encoding="utf-8"))
DOCS = CASES["archive"]  # [{"id", "text"}]
SPUN = CASES["spun"]  # [{"source", "text", "simulator", "rate"}]
UNRELATED = CASES["unrelated"]  # [text]


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    path = tmp_path_factory.mktemp("trace") / "idx"
    idx = Index.build(path, DOCS)
    yield idx
    idx.close()


def _paras(t: str) -> list[str]:
    return [p for p in t.split("\n") if p.strip()]


def test_export():
    assert unspin.Index is Index


def test_surviving_tokens_keep_names_numbers_punctuation():
    toks = surviving_tokens("The AEC had reported 24 shots at the new Soviet site. Kennedy said so.")
    assert toks == ["the", "aec", "24", "the", "soviet", ".", "."]  # "at" is not kept: it spins to "astatine"


def test_full_copies_found_with_swaps(index):
    for q in SPUN:
        ms = index.trace(q["text"])
        assert ms and ms[0].source_id == q["source"], q["simulator"]
        m = ms[0]
        assert 0.5 < m.score <= 1 and 0.5 < m.coverage <= 1
        src = index.get(m.source_id)
        for s in m.swaps:
            assert q["text"][s.start:s.end] == s.spun
            assert src[s.source_start:s.source_end] == s.original
        assert any(s.known_synonym for s in m.swaps)


def test_astatine_swap_is_explained(tmp_path):
    src = ("The meeting at the White House ended at noon. The second administration official said that "
           "the President and his staff would travel to Ohio in March. ") * 3
    spun = src.replace(" at ", " astatine ").replace("second administration official",
                                                        "minute management standard")
    with Index.build(tmp_path / "i", [("wh", src)]) as idx:
        m = idx.trace(spun)[0]
    pairs = {(s.spun.lower(), s.original.lower()) for s in m.swaps if s.known_synonym}
    assert ("astatine", "at") in pairs
    assert ("minute", "second") in pairs or ("minute management standard", "second administration official") in pairs


def test_partial_copy(index):
    q = SPUN[0]
    half = "\n".join(_paras(q["text"])[: max(1, len(_paras(q["text"])) // 2)])
    ms = index.trace(half)
    assert ms and ms[0].source_id == q["source"]
    assert ms[0].coverage < 0.8


@pytest.mark.parametrize("i,j", [
    (0, 3),
    (4, 6),
    # the second half of SPUN[2] (wordnet-random, rate 0.5) is a list of US departments whose
    # capitalised title words were spun ("Commerce" -> "Commercialism", "Post Office" -> "PO"):
    # few surviving shingles remain, its containment is ~0.2 of the first source's
    (1, 2),
])
def test_merged_copy_finds_both(index, i, j):
    a, b = SPUN[i], SPUN[j]
    pa, pb = _paras(a["text"]), _paras(b["text"])
    text = "\n".join(pa[: len(pa) // 2 + 1] + pb[len(pb) // 2:])
    found = {m.source_id for m in index.trace(text)}
    assert {a["source"], b["source"]} <= found


def test_reordered_paragraphs(index):
    q = next(s for s in SPUN if len(_paras(s["text"])) >= 3)
    p = _paras(q["text"])
    ms = index.trace("\n".join(p[::-1]))
    assert ms and ms[0].source_id == q["source"] and ms[0].score > 0.6


def test_unrelated_queries_no_match(index):
    for text in UNRELATED:
        assert index.trace(text) == []
    assert index.trace("") == []
    assert index.trace("Short.") == []


def test_add_is_incremental_and_persistent(tmp_path):
    path = tmp_path / "i"
    Index.build(path, DOCS[:5]).close()
    with Index(path) as idx:
        segs = idx.info()["segments"]
        assert idx.add(DOCS[5:]) == len(DOCS) - 5
        info = idx.info()
        assert info["documents"] == len(DOCS) and info["segments"] == segs + 1
    with Index(path) as idx:  # reopens without rebuilding
        q = SPUN[-1]
        assert idx.trace(q["text"])[0].source_id == q["source"]
        with pytest.raises(unspin.inputs.BadInput, match="duplicate document id"):
            idx.add([DOCS[0]])
        assert len(idx) == len(DOCS)


def test_compact_merges_segments_same_answers(tmp_path):
    path = tmp_path / "i"
    with Index.build(path, DOCS[:4]) as idx:
        for d in DOCS[4:]:
            idx.add([d])
        before = {q["source"]: [(m.source_id, m.score) for m in idx.trace(q["text"])] for q in SPUN}
        assert idx.info()["segments"] == len(DOCS) - 3
    reader = Index(path)  # opened before the compaction: switches to the new segment
    reader.trace(SPUN[0]["text"])
    with Index(path) as idx:
        assert idx.compact() == len(DOCS) - 3
        assert idx.info()["segments"] == 1 and len(list(path.glob("seg-*.npy"))) == 1
        assert idx.compact() == 0
        after = {q["source"]: [(m.source_id, m.score) for m in idx.trace(q["text"])] for q in SPUN}
    assert after == before
    assert [(m.source_id, m.score) for m in reader.trace(SPUN[1]["text"])] == before[SPUN[1]["source"]]
    assert reader.info()["segments"] == 1
    reader.add([{"id": "late", "text": DOCS[0]["text"] + " Late."}])  # adds after compaction: a new segment
    reader.add([{"id": "later", "text": DOCS[1]["text"] + " Later."}])
    assert reader.info()["segments"] == 3
    big = max(reader._segments, key=lambda s: len(s[1]))[1].nbytes
    assert reader.compact(max_bytes=big - 1) == 2  # only the two small ones fit the memory budget
    assert reader.info()["segments"] == 2
    assert {"late", DOCS[0]["id"]} <= {m.source_id for m in reader.trace(DOCS[0]["text"], top=10)}
    reader.close()


def test_streaming_merge_matches_in_memory_sort(tmp_path):
    from unspin.trace.index import _merge_segments

    rng = np.random.default_rng(0)
    inputs, expect = [], []
    for k, (n, sbits, off) in enumerate([(70_000, 20, 0), (50_000, 20, 300_000), (1_000, 22, 900_000)]):
        keys = rng.integers(0, 1 << 12, n, dtype=np.uint64) << np.uint64(40)  # few distinct prefixes
        e = np.sort(keys | rng.integers(0, 1 << sbits, n, dtype=np.uint64))
        np.save(tmp_path / f"in{k}.npy", e)
        inputs.append((tmp_path / f"in{k}.npy", n, sbits, off))
        doc = (e & np.uint64((1 << sbits) - 1)) + np.uint64(off)
        expect.append(((e >> np.uint64(24)) << np.uint64(24)) | doc)
    p = tmp_path / "m.npy"
    _merge_segments(inputs, 24, p, 121_000, budget=1)  # smallest chunks: many rounds
    assert np.array_equal(np.load(p), np.sort(np.concatenate(expect)))


def _writer(path: str, docs: list, done) -> None:
    with Index(path) as idx:
        for d in docs:
            idx.add([d])
    done.set()


def test_concurrent_reader_during_add(tmp_path):
    path = tmp_path / "i"
    Index.build(path, DOCS[:3]).close()
    reader = Index(path)
    ctx = mp.get_context("spawn")
    done = ctx.Event()
    proc = ctx.Process(target=_writer, args=(str(path), DOCS[3:], done))
    proc.start()
    seen = []
    while not done.is_set():
        seen.append(reader.info()["documents"])
        reader.trace(SPUN[0]["text"])  # never fails mid-add
    proc.join(60)
    assert proc.exitcode == 0
    assert seen == sorted(seen)
    q = next(s for s in SPUN if s["source"] in {d["id"] for d in DOCS[3:]})
    assert reader.trace(q["text"])[0].source_id == q["source"]  # the reader picks up new segments
    reader.close()


def test_corrupt_or_missing_index(tmp_path):
    with pytest.raises(IndexCorrupt, match="no such index"):
        Index(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(IndexCorrupt, match="not a trace index"):
        Index(tmp_path / "empty")
    path = tmp_path / "i"
    Index.build(path, DOCS[:4]).close()
    seg = sorted(path.glob("seg-*.npy"))[0]
    seg.write_bytes(seg.read_bytes()[:100])
    with pytest.raises(IndexCorrupt, match="truncated or damaged"):
        Index(path)
    seg.unlink()
    with pytest.raises(IndexCorrupt, match="missing"):
        Index(path)
    db = path / "index.sqlite"
    db.write_bytes(b"garbage" * 100)
    for p in path.glob("index.sqlite-*"):
        p.unlink()
    with pytest.raises(IndexCorrupt):
        Index(path)


def test_old_format_refused_with_rebuild_hint(tmp_path):
    import sqlite3

    path = tmp_path / "i"
    Index.build(path, DOCS[:2]).close()
    con = sqlite3.connect(path / "index.sqlite")
    con.execute("UPDATE meta SET v = 'unspin-trace-1' WHERE k = 'format'")
    con.commit()
    con.close()
    with pytest.raises(IndexCorrupt, match="rebuild it"):
        Index(path)


def test_tokens_are_batch_independent():
    from unspin.trace.signature import batch_token_hashes, token_hashes

    texts = [d["text"] for d in DOCS[:5]] + ["", "One.", "Émile Zola met “Mr. Smith” — at 5 p.m.\u00a0B-52’s"]
    flat, counts = batch_token_hashes(texts)
    assert counts.sum() == len(flat)
    parts = np.split(flat, np.cumsum(counts)[:-1])
    for t, p in zip(texts, parts):
        assert np.array_equal(token_hashes(t), p)
    assert surviving_tokens(texts[-1]) == ["zola", "“", "mr", ".", "”", "—", "5", ".", ".", "b-52's"]  # Smith starts a "sentence"


def test_build_refuses_non_empty_dir(tmp_path):
    Index.build(tmp_path / "i", DOCS[:2]).close()
    with pytest.raises(unspin.inputs.BadInput, match="not empty"):
        Index.build(tmp_path / "i", DOCS[:2])
    Index.build(tmp_path / "i", DOCS[:3], overwrite=True).close()
    assert len(Index(tmp_path / "i")) == 3


# ------------------------------------------------------------------------------ CLI


def test_cli_build_add_info_trace(tmp_path, capsys):
    arch = tmp_path / "a.jsonl"
    arch.write_text("".join(json.dumps(d) + "\n" for d in DOCS[:6]), encoding="utf-8")
    folder = tmp_path / "txt"
    (folder / "sub").mkdir(parents=True)
    for d in DOCS[6:]:
        (folder / "sub" / f"{d['id'].replace('/', '_').replace(':', '_')}.txt").write_text(d["text"], encoding="utf-8")
    idx = tmp_path / "idx"
    assert main(["index", "build", "--out", str(idx), str(arch)]) == 0
    assert json.loads(capsys.readouterr().out)["documents"] == 6
    assert main(["index", "add", "--index", str(idx), str(folder)]) == 0
    assert json.loads(capsys.readouterr().out)["added"] == len(DOCS) - 6
    assert main(["index", "info", str(idx)]) == 0
    assert json.loads(capsys.readouterr().out)["documents"] == len(DOCS)

    q = SPUN[0]
    qf = tmp_path / "q.txt"
    qf.write_text(q["text"], encoding="utf-8")
    assert main(["trace", "--index", str(idx), str(qf), "--json", "--top", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["id"] == str(qf) and len(out["matches"]) == 1
    m = out["matches"][0]
    assert m["source_id"] == q["source"] and set(m) == {"source_id", "score", "coverage", "swaps"}
    assert set(m["swaps"][0]) == {"start", "end", "spun", "original", "source_start", "source_end", "known_synonym"}

    ql = tmp_path / "q.jsonl"
    ql.write_text(json.dumps({"id": "x", "text": q["text"]}) + "\n" + json.dumps({"id": 2, "text": UNRELATED[0]})
                  + "\nnot json\n", encoding="utf-8")
    assert main(["trace", "--index", str(idx), "--jsonl", str(ql)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["id"] for r in rows] == ["x", 2, None]
    assert rows[0]["matches"][0]["source_id"] == q["source"] and rows[1]["matches"] == [] and "error" in rows[2]

    assert main(["trace", "--index", str(idx), str(qf)]) == 0
    assert q["source"] in capsys.readouterr().out


def test_cli_parquet_input(tmp_path, capsys):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": [d["id"] for d in DOCS[:3]], "text": [d["text"] for d in DOCS[:3]]}),
                   tmp_path / "a.parquet")
    assert main(["index", "build", "--out", str(tmp_path / "idx"), str(tmp_path / "a.parquet")]) == 0
    assert json.loads(capsys.readouterr().out)["documents"] == 3


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["trace", "--index", str(tmp_path / "none"), "-"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("unspin: error:") and err.count("\n") == 1
    assert main(["index", "build", "--out", str(tmp_path / "i"), str(tmp_path / "missing.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "dup.jsonl"
    bad.write_text(json.dumps(DOCS[0]) + "\n" + json.dumps(DOCS[0]) + "\n", encoding="utf-8")
    assert main(["index", "build", "--strict", "--out", str(tmp_path / "j"), str(bad)]) == 2
    assert "duplicate document id" in capsys.readouterr().err
    assert not (tmp_path / "j").exists()  # a failed build leaves nothing behind


def _jsonl(docs) -> str:
    return "".join(json.dumps(d) + "\n" for d in docs)


def test_cli_index_skips_bad_records_and_names_them(tmp_path, capsys):
    """A bad line, a line without text, a repeated id, a gzip file cut short, a file that is
    not gzip, a .txt that is not UTF-8: each is skipped and named on stderr, the rest indexed
    exactly once; --strict stops at the first with exit 2."""
    import gzip

    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(_jsonl(DOCS[:2]) + "not json\n" + json.dumps({"id": "x"}) + "\n" + json.dumps(DOCS[0]) + "\n"
                     + _jsonl(DOCS[2:3]), encoding="utf-8")
    whole = gzip.compress(_jsonl(DOCS[3:8]).encode())
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(whole[: len(whole) * 2 // 3])
    (tmp_path / "plain.jsonl.gz").write_bytes(b'{"id": "p", "text": "not compressed"}\n')
    folder = tmp_path / "txt"
    folder.mkdir()
    (folder / "good.txt").write_text(DOCS[8]["text"], encoding="utf-8")
    (folder / "bad.txt").write_bytes(b"caf\xe9 au lait, " * 20)
    inputs = [str(mixed), str(cut), str(tmp_path / "plain.jsonl.gz"), str(folder)]
    idx = tmp_path / "idx"
    assert main(["index", "build", "--out", str(idx), *inputs]) == 0
    cap = capsys.readouterr()
    summary = json.loads(cap.out)
    from_cut = summary["added"] - 4  # DOCS[0:3] and good.txt; the cut file gives what it can
    assert 0 <= from_cut < 5
    assert summary["skipped"] == 6 and summary["documents"] == summary["added"]
    skipped = [line for line in cap.err.splitlines() if "skipped" in line]
    assert len(skipped) == 6
    for expected in (f"{mixed}:3: not JSON", f"{mixed}:4: expected an object", f"document {DOCS[0]['id']!r}: duplicate id",
                     f"{cut}: unreadable after line", "plain.jsonl.gz: unreadable", "bad.txt: invalid UTF-8"):
        assert any(expected in line for line in skipped), (expected, skipped)
    with Index(idx) as ix:
        assert len(ix) == summary["added"]

    # the same inputs again: every document is there already; nothing added, and that is fine
    assert main(["index", "add", "--index", str(idx), *inputs]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["added"] == 0 and again["documents"] == summary["documents"]
    # an interrupted add resumed: only the missing documents go in
    rest = tmp_path / "rest.jsonl"
    rest.write_text(_jsonl(DOCS), encoding="utf-8")
    assert main(["index", "add", "--index", str(idx), str(rest)]) == 0
    resumed = json.loads(capsys.readouterr().out)
    assert resumed["added"] == len(DOCS) - 3 - from_cut and resumed["documents"] == len(DOCS) + 1  # (+ good.txt)

    assert main(["index", "build", "--strict", "--out", str(tmp_path / "s"), *inputs]) == 2
    assert f"{mixed}: line 3: not JSON" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()
    assert main(["index", "build", "--strict", "--out", str(tmp_path / "s"), str(cut)]) == 2
    assert "unreadable after line" in capsys.readouterr().err  # (was an internal error: EOFError)


def test_cli_index_parquet_bad_rows_and_row_groups_are_skipped(tmp_path, capsys):
    """Parquet: a null or non-string text is a bad record (a null was dropped without a word), and
    a damaged row group costs its own rows only (the whole file failed with it)."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    texts = [d["text"] for d in DOCS[:8]]
    ids = [d["id"] for d in DOCS[:8]]
    pq.write_table(pa.table({"id": ids[:3], "text": [texts[0], None, texts[2]]}), tmp_path / "nulls.parquet")
    pq.write_table(pa.table({"id": ids[3:8], "text": texts[3:8]}), tmp_path / "groups.parquet",
                   row_group_size=1, compression="NONE")
    raw = bytearray((tmp_path / "groups.parquet").read_bytes())
    meta = pq.ParquetFile(tmp_path / "groups.parquet").metadata
    page = meta.row_group(2).column(1).data_page_offset  # the third row group's text column
    raw[page:page + 40] = b"\xff" * 40
    (tmp_path / "groups.parquet").write_bytes(bytes(raw))
    assert main(["index", "build", "--out", str(tmp_path / "i"), str(tmp_path / "nulls.parquet"),
                 str(tmp_path / "groups.parquet")]) == 0
    cap = capsys.readouterr()
    summary = json.loads(cap.out)
    assert summary["added"] == 2 + 4 and summary["skipped"] == 2
    assert "nulls.parquet:row 2: no text (null)" in cap.err
    assert "groups.parquet: row group 2 (rows 3-3) unreadable" in cap.err
    assert main(["index", "build", "--strict", "--out", str(tmp_path / "j"), str(tmp_path / "nulls.parquet")]) == 2
    assert "row 2: no text (null)" in capsys.readouterr().err


def test_cli_index_out_that_cannot_be_a_folder(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    docs = tmp_path / "d.jsonl"
    docs.write_text(_jsonl(DOCS[:2]), encoding="utf-8")
    assert main(["index", "build", "--out", str(tmp_path / "afile"), str(docs)]) == 2
    assert "exists and is not a folder" in capsys.readouterr().err  # (was an internal error)
    assert main(["index", "build", "--out", str(tmp_path / "afile" / "sub"), str(docs)]) == 2
    assert "cannot create the index folder" in capsys.readouterr().err


def test_cli_index_reads_bz2_and_xz_jsonl(tmp_path, capsys):
    import bz2
    import lzma

    (tmp_path / "a.jsonl.bz2").write_bytes(bz2.compress(_jsonl(DOCS[:3]).encode()))
    (tmp_path / "b.jsonl.xz").write_bytes(lzma.compress(_jsonl(DOCS[3:6]).encode()))
    cut = lzma.compress(_jsonl(DOCS[6:]).encode())
    (tmp_path / "c.jsonl.xz").write_bytes(cut[: len(cut) // 2])
    assert main(["index", "build", "--out", str(tmp_path / "i"), *(str(tmp_path / n) for n in
                                                                    ("a.jsonl.bz2", "b.jsonl.xz", "c.jsonl.xz"))]) == 0
    cap = capsys.readouterr()
    summary = json.loads(cap.out)
    assert summary["added"] >= 6 and summary["skipped"] == 1 and "c.jsonl.xz: unreadable" in cap.err


def test_cli_index_of_html_pages_finds_their_spun_copies(tmp_path, capsys):
    """A publisher's archive is pages: a folder of .html files is indexed by their main text
    (navigation and scripts left out), and a spun copy of an article finds its page."""
    pytest.importorskip("resiliparse")
    import html as html_mod

    q = SPUN[0]
    src = next(d for d in DOCS if d["id"] == q["source"])
    site = tmp_path / "site"
    (site / "2024").mkdir(parents=True)
    paras = "".join(f"<p>{html_mod.escape(t)}</p>" for t in src["text"].split("\n") if t.strip())
    (site / "2024" / "article.html").write_text(
        f"<!doctype html><html><head><title>News</title><script>track();</script></head><body>"
        f"<nav><a href='/'>Home</a> | <a href='/about'>About</a></nav><article>{paras}</article>"
        f"<footer>Copyright the publisher</footer></body></html>", encoding="utf-8")
    other = next(d for d in DOCS if d["id"] != q["source"])
    (site / "other.htm").write_text(f"<html><body><p>{html_mod.escape(other['text'])}</p></body></html>", encoding="utf-8")
    (site / "blank.html").write_text("<html><body></body></html>", encoding="utf-8")
    idx = tmp_path / "idx"
    assert main(["index", "build", "--out", str(idx), str(site)]) == 0
    cap = capsys.readouterr()
    assert json.loads(cap.out)["added"] == 2 and "blank.html" in cap.err
    qf = tmp_path / "q.txt"
    qf.write_text(q["text"], encoding="utf-8")
    assert main(["trace", "--index", str(idx), str(qf), "--json", "--top", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["matches"][0]["source_id"] == "2024/article.html"


def test_cli_index_of_only_bad_records_fails(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("nope\n[1, 2]\n", encoding="utf-8")
    assert main(["index", "build", "--out", str(tmp_path / "i"), str(bad)]) == 2
    err = capsys.readouterr().err
    assert "nothing added: every record was bad (2 skipped)" in err
    assert not (tmp_path / "i").exists()


def test_add_can_skip_duplicate_ids(tmp_path):
    seen = []
    with Index.build(tmp_path / "i", DOCS[:3]) as ix:
        n = ix.add(DOCS[1:5] + DOCS[4:5], on_duplicate=lambda did, why: seen.append((did, why)))
        assert n == 2 and len(ix) == 5
    assert seen == [(DOCS[1]["id"], "already in the index"), (DOCS[2]["id"], "already in the index"),
                    (DOCS[4]["id"], "repeated in the input")]


def test_cli_subprocess_stdin(tmp_path):
    Index.build(tmp_path / "i", DOCS).close()
    q = SPUN[3]
    p = subprocess.run([sys.executable, "-m", "unspin.cli", "trace", "--index", str(tmp_path / "i"), "--json"],
                       input=q["text"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["matches"][0]["source_id"] == q["source"]
