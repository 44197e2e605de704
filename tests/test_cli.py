"""The CLI contract (README "Command line"), exercised against the real engine."""
import dataclasses
import json
from pathlib import Path
import os
import subprocess
import sys

import pytest

import unspin
from unspin.cli import format_report
from unspin.report import Alternative, Report, Scar, Swap

VERDICTS = {"spun", "clean", "undecided", "too-short", "not-english"}
FRENCH = (
    "Le président de la République a déclaré vendredi que la France continuerait à soutenir "
    "l'Ukraine aussi longtemps qu'il le faudra, malgré les difficultés budgétaires."
)


def assert_report_schema(d: dict, text: str) -> None:
    assert list(d)[:5] == ["spun_probability", "verdict", "swaps", "scars", "restored"]
    assert isinstance(d["spun_probability"], float) and 0.0 <= d["spun_probability"] <= 1.0
    assert d["verdict"] in VERDICTS
    assert isinstance(d["restored"], str)
    assert isinstance(d["swaps"], list) and isinstance(d["scars"], list)
    for s in d["swaps"]:
        assert set(s) == {"start", "end", "spun", "original", "probability", "alternatives", "thesaurus"}
        assert type(s["start"]) is int and type(s["end"]) is int and 0 <= s["start"] < s["end"] <= len(text)
        assert text[s["start"]:s["end"]] == s["spun"], s
        assert isinstance(s["original"], str) and s["original"]
        assert isinstance(s["probability"], float) and 0.0 <= s["probability"] <= 1.0
        assert isinstance(s["thesaurus"], str)
        for a in s["alternatives"]:
            assert set(a) == {"text", "probability"}
            assert isinstance(a["text"], str) and isinstance(a["probability"], float)
            assert 0.0 <= a["probability"] <= 1.0
    starts = [s["start"] for s in d["swaps"]]
    assert starts == sorted(starts)
    for sc in d["scars"]:
        assert set(sc) == {"start", "end", "kind", "found", "repaired"}
        assert text[sc["start"]:sc["end"]] == sc["found"]


@pytest.fixture(scope="module")
def spun_json(spun_text, tmp_path_factory):
    p = tmp_path_factory.mktemp("cli") / "spun.txt"
    p.write_text(spun_text, encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "unspin.cli", "check", "--json", str(p)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    return json.loads(out.stdout)


# ----------------------------------------------------------------------------- --json


def test_json_schema_on_spun_article(spun_json, spun_text):
    assert_report_schema(spun_json, spun_text)
    assert spun_json["swaps"], "the spun example must yield swaps"
    assert spun_json["scars"], "the spun example carries scars"
    assert spun_json["verdict"] in {"spun", "undecided"}
    assert "U. S." not in spun_json["restored"]


def test_json_equals_library(spun_text, run_cli, tmp_path):
    p = tmp_path / "t.txt"
    p.write_text(spun_text[:600], encoding="utf-8")
    rc, out, err = run_cli(["check", "--json", str(p)])
    assert rc == 0 and err == ""
    assert out.endswith("\n") and out.count("\n") == 1
    assert json.loads(out) == json.loads(json.dumps(unspin.check(spun_text[:600]).to_dict()))


def test_report_json_is_written_piece_by_piece_as_one_object(spun_text):
    """check --json writes the report a piece at a time (a huge text's report is not built again
    as one dict and one string): the bytes are those of one json.dumps of Report.to_dict()."""
    import io

    from unspin import cli

    report = unspin.check(spun_text, fast=True)
    assert len(report.swaps) > 1 and len(report.scars) > 1
    many = dataclasses.replace(report, swaps=report.swaps * 1200)  # (past one write's 1,000 swaps)
    for r, text in ((report, None), (report, spun_text), (many, None), (unspin.check("", fast=True), None)):
        buf = io.StringIO()
        cli._write_report_json(buf, r, text)
        want = r.to_dict() if text is None else {**r.to_dict(), "text": text}
        assert buf.getvalue() == json.dumps(want, ensure_ascii=False) + "\n"


def test_huge_text_json_swaps_are_written_as_they_come(monkeypatch, spun_text):
    """Past STREAM_JSON_CHARS check --json writes the swaps as check() judges them (on_swaps)
    instead of holding the report's: the same bytes as one json.dumps of the whole report."""
    import io
    from types import SimpleNamespace

    from unspin import api, cli
    from unspin import text as text_mod

    text = spun_text + "\n\n" + spun_text.upper() + "\n\n" + spun_text
    monkeypatch.setattr(api, "split_paragraphs", lambda t: text_mod.split_paragraphs(t, 800))
    monkeypatch.setattr(api, "EMIT_HELD", 2)
    report = unspin.check(text, fast=True)
    assert len(report.swaps) > 4
    writes = []
    monkeypatch.setattr(cli, "STREAM_JSON_CHARS", 100)
    monkeypatch.setattr(cli, "_write_json_items", lambda out, items, first, _w=cli._write_json_items:
                        (writes.append(len(items)), _w(out, items, first))[1])
    for html in (False, True):
        buf = io.StringIO()
        cli._check_json(buf, text, SimpleNamespace(fast=True, html=html, budget=None))
        want = report.to_dict() if not html else {**report.to_dict(), "text": text}
        assert buf.getvalue() == json.dumps(want, ensure_ascii=False) + "\n"
    assert sum(1 for n in writes if n) > 4, writes


@pytest.mark.parametrize("stdin", [b"", b"   \n\t \r\n", b"\xef\xbb\xbf"])
def test_empty_input_is_too_short(run_cli, stdin):
    rc, out, err = run_cli(["check", "--json"], stdin)
    assert rc == 0, err
    d = json.loads(out)
    assert d["verdict"] == "too-short" and d["swaps"] == [] and d["scars"] == []
    rc, out, _ = run_cli(["check", "-"], stdin)
    assert rc == 0 and "too-short" in out


def test_non_english(run_cli, tmp_path):
    p = tmp_path / "fr.txt"
    p.write_text(FRENCH + "\n", encoding="utf-8")
    rc, out, _ = run_cli(["check", "--json", str(p)])
    assert rc == 0
    d = json.loads(out)
    assert d["verdict"] == "not-english" and d["swaps"] == []
    rc, out, _ = run_cli(["check", "--json"], "国务院总理周五表示，中国将继续扩大对外开放，欢迎外国企业来华投资。".encode())
    assert json.loads(out)["verdict"] == "not-english"


def test_non_ascii_offsets(spun_text, run_cli):
    # emoji (astral), CJK, combining marks and NBSP before and inside the spun paragraph
    # The demo's spun Gettysburg Address: heavily spun, so the engine reports swaps in it.
    demo = (Path(unspin.__file__).parent / "data" / "demo" / "demo.txt").read_text(encoding="utf-8")
    para = "\n".join(demo.strip().split("\n")[-3:])
    text = "🙂👍🏽 東京 e\u0301te\u0301 — x\u00a0y\n" + para.replace("engaged", "engaged 🙂") + "\nfin 👋\n"
    rc, out, err = run_cli(["check", "--json"], text.encode())
    assert rc == 0, err
    d = json.loads(out)
    assert_report_schema(d, text)
    assert d["swaps"], "expected the engine to find swaps in this paragraph"
    assert "🙂👍🏽 東京 e\u0301te\u0301" in d["restored"]


def test_fast_flag_is_passed_through(run_cli, check_tiers, tmp_path):
    seen = check_tiers
    p = tmp_path / "t.txt"
    p.write_text("The cat sat on the mat and looked at the dog for a long while.\n")
    assert run_cli(["check", "--json", "--fast", str(p)])[0] == 0
    assert run_cli(["check", "--json", str(p)])[0] == 0
    assert run_cli(["check", "--jsonl", "--fast"], b'{"text": "a b c"}\n')[0] == 0
    assert seen == [True, False, True]


def test_budget_is_passed_through_and_checked(run_cli, check_tiers, tmp_path):
    seen = check_tiers
    p = tmp_path / "t.txt"
    p.write_text("The cat sat on the mat and looked at the dog for a long while.\n")
    assert run_cli(["check", "--json", "--budget", "2.5", str(p)])[0] == 0
    assert run_cli(["check", "--jsonl", "--budget", "0"], b'{"text": "a b c"}\n')[0] == 0
    assert run_cli(["check", "--json", str(p)])[0] == 0  # the default: a huge text cannot take hours
    assert run_cli(["check", "--json", "--budget", "None", str(p)])[0] == 0
    assert run_cli(["check", "--json", "--fast", "--budget", "3", str(p)])[0] == 0  # (no neural tier to budget)
    assert seen.budgets == [2.5, 0.0, unspin.DEFAULT_BUDGET, None, None]
    for bad in ("-1", "soon", "nan", "inf"):
        rc, out, err = run_cli(["check", "--budget", bad, str(p)])
        assert rc == 2 and out == "" and "--budget" in err, (bad, err)


# ----------------------------------------------------------------------------- bad input


def test_invalid_utf8_file_and_stdin(run_cli, tmp_path):
    p = tmp_path / "bad.txt"
    p.write_bytes(b"Hello \xe9t\xe9 world\n")
    rc, out, err = run_cli(["check", str(p)])
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and "invalid UTF-8 at byte offset 6" in err and "bad.txt" in err
    rc, out, err = run_cli(["check", "--json"], b"abc\xff")
    assert rc == 2 and out == "" and "<stdin>" in err and "byte offset 3" in err


def test_binary_missing_directory(run_cli, tmp_path):
    png = tmp_path / "x.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    for args, needle in [
        (["check", str(png)], "binary data"),
        (["check", "--json", str(tmp_path / "nope.txt")], "no such file"),
        (["check", str(tmp_path)], "is a directory"),
        (["check", "--jsonl", str(tmp_path)], "is a directory"),
        (["check", "--jsonl", str(tmp_path / "nope.jsonl")], "no such file"),
    ]:
        rc, out, err = run_cli(args)
        assert rc == 2, args
        assert out == "" and needle in err and err.startswith("unspin: error: ") and err.count("\n") == 1


@pytest.mark.parametrize(
    "args", [[], ["check", "--json", "--jsonl"], ["check", "--bogus"], ["frobnicate"], ["check", "a", "b"]]
)
def test_usage_errors_exit_2(run_cli, args):
    rc, out, err = run_cli(args)
    assert rc == 2 and out == "" and "usage:" in err


def test_version(run_cli):
    rc, out, _ = run_cli(["--version"])
    assert rc == 0 and out.strip() == f"unspin {unspin.__version__}"


def test_subprocess_errors_have_no_traceback(tmp_path):
    p = tmp_path / "bad.txt"
    p.write_bytes(b"\x00\x01\x02")
    r = subprocess.run([sys.executable, "-m", "unspin.cli", "check", str(p)], capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "binary data" in r.stderr


# ----------------------------------------------------------------------------- JSONL


def test_jsonl_good_bad_blank_lines(run_cli):
    lines = [
        json.dumps({"id": "a", "text": "The quick brown fox jumps over the lazy dog by the river."}),
        "",
        "not json at all",
        json.dumps({"id": 7}),
        json.dumps({"id": [1, 2], "text": 42}),
        json.dumps({"text": FRENCH}),
        "[1, 2, 3]",
        json.dumps({"text": "   ", "id": None, "extra": {"k": 1}}),
        json.dumps({"text": "caf\u00e9 \ud83d\ude42 ok", "id": 3.5}, ensure_ascii=True),
        json.dumps({"id": "surrogate", "text": "x"}).replace('"x"', '"\\ud800"'),
        "   ",
        json.dumps({"id": "last", "text": "It was a dark and stormy night; the rain fell in torrents."}),
    ]
    data = ("\n".join(lines) + "\n").encode()
    data = data.replace(b"not json at all", b"not json \xff\xfe")  # invalid UTF-8 inside a line
    rc, out, err = run_cli(["check", "--jsonl"], data)
    assert rc == 0, err
    rows = [json.loads(x) for x in out.splitlines()]
    assert len(rows) == len(lines)  # line N in = line N out: nothing lost or duplicated
    for row in rows:
        assert list(row)[0] == "id"
    ids = [r["id"] for r in rows]
    assert ids == ["a", None, None, 7, [1, 2], None, None, None, 3.5, "surrogate", None, "last"]
    errors = {i + 1: r["error"] for i, r in enumerate(rows) if "error" in r}
    assert set(errors) == {2, 3, 4, 5, 7, 10, 11}
    assert "blank" in errors[2] and "blank" in errors[11]
    assert "UTF-8" in errors[3]
    assert '"text"' in errors[4] and "missing" in errors[4]
    assert "string" in errors[5]
    assert "object" in errors[7]
    assert "surrogate" in errors[10]
    for i, err_msg in errors.items():
        assert err_msg.startswith(f"line {i}: ")
        assert set(rows[i - 1]) == {"id", "error"}
    assert rows[5]["verdict"] == "not-english"
    assert rows[7]["verdict"] == "too-short"
    for i in (0, 8, 11):
        text = json.loads(lines[i])["text"]
        assert_report_schema({k: v for k, v in rows[i].items() if k != "id"}, text)


def test_jsonl_crlf_bom_and_no_final_newline(run_cli, tmp_path):
    p = tmp_path / "in.jsonl"
    p.write_bytes(b'\xef\xbb\xbf{"id": 1, "text": "one two three"}\r\n{"id": 2, "text": "four five"}')
    rc, out, err = run_cli(["check", "--jsonl", str(p)])
    assert rc == 0, err
    rows = [json.loads(x) for x in out.splitlines()]
    assert [r["id"] for r in rows] == [1, 2] and all("error" not in r for r in rows)


def test_jsonl_internal_error_keeps_going(run_cli, monkeypatch):
    real = unspin.check

    def flaky(text, fast=False, budget=None):
        if "boom" in text:
            raise RuntimeError("kaboom")
        return real(text, fast=fast)

    monkeypatch.setattr(unspin, "check", flaky)
    data = b'{"id": 1, "text": "boom"}\n{"id": 2, "text": "fine words here"}\n'
    rc, out, err = run_cli(["check", "--jsonl"], data)
    rows = [json.loads(x) for x in out.splitlines()]
    assert rc == 1 and "internal error" in err
    assert rows[0] == {"id": 1, "error": "line 1: internal error: RuntimeError: kaboom"}
    assert rows[1]["id"] == 2 and "verdict" in rows[1]


def test_jsonl_broken_pipe_is_quiet(tmp_path):
    p = tmp_path / "big.jsonl"
    with p.open("w") as f:
        for i in range(400):
            f.write(json.dumps({"id": i, "text": "We will meet at noon and talk about the deal."}) + "\n")
    cmd = f'"{sys.executable}" -m unspin.cli check --jsonl "{p}" | head -n 2'
    r = subprocess.run(["bash", "-c", "set -o pipefail; " + cmd], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert [json.loads(x)["id"] for x in r.stdout.splitlines()] == [0, 1]


# ----------------------------------------------------------------------------- human output


def test_human_report(spun_text, run_cli, tmp_path, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    p = tmp_path / "spun.txt"
    p.write_text(spun_text, encoding="utf-8")
    rc, out, err = run_cli(["check", str(p)])
    assert rc == 0 and err == ""
    assert "\x1b[" not in out  # not a tty: no colour
    assert out.startswith("Verdict: ")
    assert " -> " in out and "(p=" in out
    assert "Scars (" in out and "spaced-abbreviation" in out
    assert "Restored text:" in out


def test_format_report_and_colour():
    text = "We met astatine noon.\nSecond line astatine."
    rep = Report(
        0.91, "spun",
        [Swap(7, 15, "astatine", "at", 0.93, [Alternative("in", 0.05), Alternative("on", 0.01)], "wordnet"),
         Swap(34, 42, "astatine", "at", 0.5, [], "")],
        [Scar(0, 2, "space-before-punctuation", " ,", ",")],
        "We met at noon.\nSecond line at.",
    )
    plain = format_report(rep, text)
    assert "astatine -> at (p=0.93; alternatives: in 0.05, on 0.01)" in plain
    assert "astatine -> at (p=0.50)" in plain
    assert "1:8" in plain and "2:13" in plain  # line:column of each swap
    assert "\x1b[" not in plain
    coloured = format_report(rep, text, colour=True)
    assert "\x1b[31mastatine\x1b[0m -> \x1b[32mat\x1b[0m" in coloured


def test_no_color_env(monkeypatch):
    from unspin.cli import _parser, _use_colour

    class Tty:
        def isatty(self):
            return True

    args = _parser().parse_args(["check"])
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert _use_colour(args, Tty())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not _use_colour(args, Tty())
    monkeypatch.delenv("NO_COLOR")
    assert not _use_colour(_parser().parse_args(["check", "--no-color"]), Tty())


def test_console_script_installed():
    exe = os.path.join(os.path.dirname(sys.executable), "unspin")
    if not os.path.exists(exe):
        pytest.skip("console script not installed in this environment")
    r = subprocess.run([exe, "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == f"unspin {unspin.__version__}"


def test_internal_error_is_one_line(run_cli, monkeypatch, tmp_path):
    def broken(text, fast=False, budget=None):
        raise FileNotFoundError("data/channel/keys.txt")

    monkeypatch.setattr(unspin, "check", broken)
    p = tmp_path / "t.txt"
    p.write_text("some text")
    monkeypatch.delenv("UNSPIN_DEBUG", raising=False)
    rc, out, err = run_cli(["check", str(p)])
    assert rc == 1 and out == "" and err.count("\n") == 1
    assert err.startswith("unspin: internal error: FileNotFoundError")
    monkeypatch.setenv("UNSPIN_DEBUG", "1")
    with pytest.raises(FileNotFoundError):
        run_cli(["check", str(p)])


def test_short_input_runs_plain_python_kernels_with_the_same_result(tmp_path):
    """A one-shot check of a paragraph skips numba (about a second of loading) and runs the
    kernels as plain Python; the report is the same as the compiled kernels'."""
    from unspin.lm import fast_lm

    fast_lm()  # the decoded 3-gram is in the suite's cache, as after any first run
    text = ("A minute management standard underscored the U. S. and Japan’s very long standing "
            "cooperative relationship, and said that conversations go on constantly. The national "
            "added that the dangers of tariffs were discussed astatine length.\n")
    path = tmp_path / "short.txt"
    path.write_text(text, encoding="utf-8")
    probe = ("import sys, runpy; sys.argv = ['unspin', 'check', '--json', sys.argv[1]]; "
             "from unspin.cli import main; code = main(); "
             "print('numba' in sys.modules, file=sys.stderr); sys.exit(code)")
    runs = {}
    for mode in ("auto", "1", "0"):
        env = dict(os.environ)
        env.pop("UNSPIN_JIT", None)
        if mode != "auto":
            env["UNSPIN_JIT"] = mode
        proc = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True, env=env,
                              timeout=600)
        assert proc.returncode == 0, proc.stderr
        runs[mode] = (json.loads(proc.stdout), proc.stderr.strip().splitlines()[-1])
    assert runs["auto"][1] == "False" and runs["0"][1] == "False" and runs["1"][1] == "True"
    assert runs["auto"][0] == runs["1"][0] == runs["0"][0]
    assert_report_schema(runs["auto"][0], text)
    assert runs["auto"][0]["swaps"]  # the comparison covered real swaps


PAGE = ("<!DOCTYPE html><html><head><title>Harbour news</title><script>var x = 1;</script></head><body>"
        "<nav>Home | About</nav><article><p>The visit astatine noon was connected Monday, and the leader said "
        "the fresh strategy would ameliorate the metropolis.</p><p>Officials additionally said that the "
        "programme would price more than anticipated.</p></article></body></html>")


def test_check_html_page_reads_its_main_text(run_cli, tmp_path):
    """--html: the page's main text is checked (resiliparse), the JSON carries it so the offsets
    resolve; without --html the markup is read as text, with a note on stderr (tags were taken
    for words: "<title>" -> "mr")."""
    pytest.importorskip("resiliparse")
    page = tmp_path / "p.html"
    page.write_text(PAGE, encoding="utf-8")
    rc, out, err = run_cli(["check", "--fast", "--html", "--json", str(page)])
    assert rc == 0 and err == ""
    d = json.loads(out)
    assert "astatine" in d["text"] and "<" not in d["text"] and "var x" not in d["text"]
    assert {s["spun"] for s in d["swaps"]} >= {"astatine", "connected"}
    assert all(d["text"][s["start"]:s["end"]] == s["spun"] for s in d["swaps"])
    rc, out, err = run_cli(["check", "--fast", "--json", str(page)])
    assert rc == 0 and "looks like HTML" in err and "text" not in json.loads(out)
    rc, out, err = run_cli(["detect", "--html", "--json", str(page)])
    assert rc == 0 and json.loads(out)["spun_probability"] > 0.5
    rc, _, err = run_cli(["check", "--html", "--jsonl", str(page)])
    assert rc == 2 and "unspin scan" in err
    rc, _, err = run_cli(["check", "--html", "-"], stdin=b"  \n")
    assert rc == 2 and "empty HTML document" in err
    rc, _, err = run_cli(["check", "--fast", "-"], stdin=b"A plain text that mentions <p> once.\n")
    assert rc == 0 and "looks like HTML" not in err
