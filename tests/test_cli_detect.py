"""`unspin detect`: same I/O rules as `check` (JSON, JSONL order and ids, exit codes)."""
import io
import json
from pathlib import Path

import unspin
from unspin.cli import main

DEMO = Path(unspin.__file__).parent / "data" / "demo" / "demo.txt"


def run(argv, stdin: bytes = b"", monkeypatch=None, capsys=None):
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"))
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def test_detect_json_matches_library_and_check(monkeypatch, capsys):
    rc, out, err = run(["detect", "--json", str(DEMO)], monkeypatch=monkeypatch, capsys=capsys)
    assert rc == 0, err
    d = json.loads(out)
    assert set(d) == {"spun_probability", "verdict", "evidence"}
    assert 0.0 <= d["spun_probability"] <= 1.0
    text = DEMO.read_text(encoding="utf-8")
    # check and detect agree on the probability
    assert d["spun_probability"] == unspin.check(text).spun_probability
    assert d["verdict"] == "spun"
    assert all({"signal", "value", "contribution"} == set(e) for e in d["evidence"])


def test_detect_jsonl_keeps_order_ids_and_errors(monkeypatch, capsys):
    lines = [
        json.dumps({"id": "a", "text": DEMO.read_text(encoding="utf-8")}),
        "not json",
        json.dumps({"id": 7, "text": ""}),
        json.dumps({"text": "Bonjour, je suis très content de vous voir aujourd'hui à Paris avec mes amis."}),
    ]
    rc, out, err = run(["detect", "--jsonl"], ("\n".join(lines) + "\n").encode(), monkeypatch, capsys)
    assert rc == 0, err
    rows = [json.loads(x) for x in out.splitlines()]
    assert len(rows) == 4
    assert rows[0]["id"] == "a" and rows[0]["verdict"] == "spun"
    assert rows[1]["id"] is None and "not JSON" in rows[1]["error"]
    assert rows[2]["id"] == 7 and rows[2]["verdict"] == "too-short"
    assert rows[3]["verdict"] == "not-english"


def test_jsonl_line_nested_too_deep_is_an_error_row(monkeypatch, capsys):
    """json.loads raises RecursionError, not ValueError, past a few thousand levels: an error
    row all the same, and the lines after it are read (check and detect)."""
    lines = ['{"id": 1, "x": ' + "[" * 20000 + "]" * 20000 + "}", json.dumps({"id": 2, "text": "Hello there."})]
    for command in ("check", "detect"):
        rc, out, err = run([command, "--jsonl", "--fast"] if command == "check" else [command, "--jsonl"],
                           ("\n".join(lines) + "\n").encode(), monkeypatch, capsys)
        rows = [json.loads(x) for x in out.splitlines()]
        assert rc == 0 and len(rows) == 2, err
        assert rows[0]["id"] is None and rows[0]["error"].startswith("line 1: not JSON (maximum recursion depth")
        assert rows[1]["id"] == 2 and rows[1]["verdict"] == "too-short"


def test_jsonl_non_standard_numbers_are_error_rows(monkeypatch, capsys):
    """NaN, Infinity and numbers beyond a float are not JSON: echoed as ids they made output
    lines other JSON readers refuse ({"id": NaN, ...})."""
    lines = ['{"id": NaN, "text": "Hello there."}', '{"id": -Infinity, "text": "x"}', '{"id": 1e999, "text": "y"}',
             '{"id": 2.5, "text": "Hello there."}']
    rc, out, err = run(["check", "--jsonl", "--fast"], ("\n".join(lines) + "\n").encode(), monkeypatch, capsys)
    def no_constant(name):
        raise AssertionError(f"output holds {name}")

    rows = [json.loads(x, parse_constant=no_constant) for x in out.splitlines()]  # (strict JSON)
    assert rc == 0 and len(rows) == 4, err
    assert [r.get("error") for r in rows[:3]] == ["line 1: not JSON (NaN is not valid JSON)",
                                                  "line 2: not JSON (-Infinity is not valid JSON)",
                                                  "line 3: not JSON (number 1e999 is out of range)"]
    assert rows[3]["id"] == 2.5 and rows[3]["verdict"] == "too-short"


def test_detect_bad_input_exit_2(tmp_path, monkeypatch, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"caf\xe9 au lait")
    rc, out, err = run(["detect", str(bad)], monkeypatch=monkeypatch, capsys=capsys)
    assert rc == 2 and "UTF-8" in err and out == ""


def test_detect_human_report(monkeypatch, capsys):
    rc, out, err = run(["detect", str(DEMO)], monkeypatch=monkeypatch, capsys=capsys)
    assert rc == 0 and out.startswith("verdict: spun")
