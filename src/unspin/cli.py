"""Command line: a thin shell over `unspin.check`.  See README.md ("Command line") for the contract.

    unspin check [--fast] [--budget S] [FILE|-]   human-readable report
    unspin check --json [--fast] [FILE|-]     one JSON object (Report.to_dict())
    unspin check --jsonl [--fast] [FILE|-]    one JSON object per input line, same order
    unspin detect [--json|--jsonl] [FILE|-]   calibrated spun probability, verdict, evidence
    unspin --version

Exit codes: 0 success (JSONL error rows are data, not failures); 1 an internal error (with
--jsonl: on some record, whose row is an error row, the others being complete; set UNSPIN_DEBUG=1
for a traceback); 2 bad input or usage
(one line on stderr, no traceback); 130 interrupted.  A closed output pipe (`| head`) ends the
program quietly with 0.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from typing import BinaryIO, Iterable, Iterator, TextIO

import unspin
from unspin.argtypes import checked
from unspin.inputs import BadInput, loads_strict, open_binary, read_text, sniffed_lines
from unspin.report import Report
from unspin.server.cli import add_serve_command
from unspin.trace.cli import add_trace_commands
from unspin.scan.cli import add_scan_command

PROG = "unspin"


class _Usage(Exception):
    pass


_SECONDS = checked(float, lambda x: x >= 0 and math.isfinite(x), "a number of seconds",
                   "give a number of seconds, 0 or more")


def _budget_arg(s: str) -> float | None:
    """--budget's value: seconds (see _SECONDS), or "none" for no limit."""
    return None if s.strip().lower() == "none" else _SECONDS(s)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Find machine-spun text (thesaurus word swaps) and restore what was written.",
    )
    p.add_argument("--version", action="version", version=f"{PROG} {unspin.__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    c = sub.add_parser(
        "check",
        help="report swaps, scars, a verdict and the restored text",
        description="Check a text for spinning.  Reads FILE, or standard input when FILE is - or absent.",
    )
    c.add_argument("file", nargs="?", default="-", metavar="FILE", help="UTF-8 text file, or - for stdin (default)")
    fmt = c.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print one JSON object")
    fmt.add_argument(
        "--jsonl",
        action="store_true",
        help='input has one JSON object per line with "text" (and optional "id"); print one result per line',
    )
    c.add_argument("--fast", action="store_true", help="use the fast prior only")
    c.add_argument("--budget", type=_budget_arg, default=unspin.DEFAULT_BUDGET, metavar="SECONDS",
                   help=f"at most about this long rescoring each text with the neural tier (default: "
                        f"{unspin.DEFAULT_BUDGET:g}; none: no limit); the swaps it does not reach keep the fast "
                        "prior's decision")
    c.add_argument("--no-color", action="store_true", help="never colour the report (also: NO_COLOR=1)")
    c.add_argument("--html", action="store_true",
                   help="the input is an HTML page: check its main text (resiliparse, as unspin scan reads "
                        "pages); offsets are then into that text, which --json adds as \"text\"")
    d = sub.add_parser(
        "detect",
        help="a calibrated probability that the text is spun, its verdict and evidence",
        description="Score a text (screening first, the full decode only where needed).  Reads FILE, "
        "or standard input when FILE is - or absent.",
    )
    d.add_argument("file", nargs="?", default="-", metavar="FILE", help="UTF-8 text file, or - for stdin (default)")
    dfmt = d.add_mutually_exclusive_group()
    dfmt.add_argument("--json", action="store_true", help="print one JSON object")
    dfmt.add_argument("--jsonl", action="store_true",
                      help='input has one JSON object per line with "text" (and optional "id"); print one result per line')
    d.add_argument("--html", action="store_true", help="the input is an HTML page: score its main text")
    add_serve_command(sub)
    add_trace_commands(sub)
    add_scan_command(sub)
    return p


# ---------------------------------------------------------------------------------- output


def _utf8_stdout() -> TextIO:
    out = sys.stdout
    try:
        if (getattr(out, "encoding", "") or "").lower().replace("-", "") != "utf8":
            out.reconfigure(encoding="utf-8")  # type: ignore[union-attr]
    except (AttributeError, ValueError):
        pass
    return out


def _dumps(obj) -> str:
    line = json.dumps(obj, ensure_ascii=False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from "\ud800" escapes in the input
        line = json.dumps(obj, ensure_ascii=True)
    return line


def _write_report_json(out: TextIO, report, text: str | None = None) -> None:
    """`_dumps(report.to_dict())` (plus "text": the input, if given) and a newline, written a
    piece at a time: a huge text's report, hundreds of thousands of swaps, is not built again
    as one dict and one string (which took twice the memory of the report itself)."""
    _write_json_head(out, report.spun_probability, report.verdict)
    _write_json_items(out, report.swaps, first=True)
    _write_json_tail(out, report, text)


def _write_json_head(out: TextIO, probability: float, verdict: str) -> None:
    out.write(f'{{"spun_probability": {_dumps(probability)}, "verdict": {_dumps(verdict)}, "swaps": [')


def _write_json_items(out: TextIO, items, first: bool) -> None:
    """Swaps or scars, each as its to_dict(), comma-separated (after earlier ones unless first)."""
    for i in range(0, len(items), 1000):
        out.write(("" if first and not i else ", ") + ", ".join(_dumps(x.to_dict()) for x in items[i:i + 1000]))


def _write_json_tail(out: TextIO, report, text: str | None) -> None:
    out.write('], "scars": [')
    _write_json_items(out, report.scars, first=True)
    out.write(f'], "restored": {_dumps(report.restored)}')
    if text is not None:
        out.write(f', "text": {_dumps(text)}')
    out.write("}\n")


# Above this many characters check --json writes the swaps as they are judged (check's
# on_swaps) rather than holding the report's: a 100 MB spun text has about 1.8 million.
STREAM_JSON_CHARS = 1_000_000


def _check_json(out: TextIO, text: str, args) -> None:
    """check --json: one JSON object; for a huge text its swaps are written as they come."""
    started = False

    def on_swaps(probability: float, verdict: str, swaps) -> None:
        nonlocal started
        if not started:
            _write_json_head(out, probability, verdict)
        _write_json_items(out, swaps, first=not started)
        started = True

    streaming = {"on_swaps": on_swaps} if len(text) > STREAM_JSON_CHARS else {}
    report = unspin.check(text, fast=args.fast, **_budget(args), **streaming)
    if not started:
        _write_json_head(out, report.spun_probability, report.verdict)
    _write_json_items(out, report.swaps, first=not started)
    _write_json_tail(out, report, text if args.html else None)


def _use_colour(args, out: TextIO) -> bool:
    if args.no_color or os.environ.get("NO_COLOR", "") != "":
        return False
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False


def _line_col(text: str, offset: int, line_starts: list[int]) -> str:
    import bisect

    i = bisect.bisect_right(line_starts, offset) - 1
    return f"{i + 1}:{offset - line_starts[i] + 1}"


def format_report(report: Report, text: str, colour: bool = False) -> str:
    """The human-readable report (what `unspin check FILE` prints)."""
    red, green, dim, bold, reset = (
        ("\x1b[31m", "\x1b[32m", "\x1b[2m", "\x1b[1m", "\x1b[0m") if colour else ("",) * 5
    )
    starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
    out = [f"{bold}Verdict: {report.verdict}{reset} (spun probability {report.spun_probability:.2f})"]
    out.append("")
    out.append(f"Swaps ({len(report.swaps)}):" if report.swaps else "Swaps: none")
    for s in report.swaps:
        extra = f"p={s.probability:.2f}"
        if s.alternatives:
            extra += "; alternatives: " + ", ".join(f"{a.text} {a.probability:.2f}" for a in s.alternatives)
        where = _line_col(text, s.start, starts)
        src = f"  {dim}[{s.thesaurus}]{reset}" if s.thesaurus else ""
        out.append(f"  {where:>8}  {red}{s.spun}{reset} -> {green}{s.original}{reset} ({extra}){src}")
    out.append("")
    out.append(f"Scars ({len(report.scars)}):" if report.scars else "Scars: none")
    for sc in report.scars:
        where = _line_col(text, sc.start, starts)
        out.append(f"  {where:>8}  {json.dumps(sc.found, ensure_ascii=False)} -> "
                   f"{json.dumps(sc.repaired, ensure_ascii=False)}  {dim}{sc.kind}{reset}")
    out.append("")
    out.append("Restored text:")
    out.append(report.restored.rstrip("\n"))
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------- JSONL


def _open_binary(path: str) -> BinaryIO:
    return open_binary(path, "a JSONL file")


def _write_rows(out: TextIO, rows: Iterable[dict]) -> None:
    for row in rows:
        out.write(_dumps(row) + "\n")
        out.flush()


def _jsonl_rows(lines: Iterable[bytes], fast: bool, errors: list[str], run=None) -> Iterator[dict]:
    """One output row per input line: {"id": ..., **report} or {"id": ..., "error": "..."}.

    Blank lines give an error row too, so that output line N always answers input line N."""
    for n, raw in enumerate(lines, 1):
        if n == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        raw = raw.rstrip(b"\r\n")
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            yield {"id": None, "error": f"line {n}: invalid UTF-8 at byte offset {e.start} of the line"}
            continue
        if not line.strip():
            yield {"id": None, "error": f"line {n}: blank line"}
            continue
        try:
            obj = loads_strict(line)
        except ValueError as e:
            yield {"id": None, "error": f"line {n}: not JSON ({e})"}
            continue
        if not isinstance(obj, dict):
            yield {"id": None, "error": f"line {n}: expected a JSON object, got {type(obj).__name__}"}
            continue
        rid = obj.get("id")
        if "text" not in obj:
            yield {"id": rid, "error": f'line {n}: missing "text"'}
            continue
        text = obj["text"]
        if not isinstance(text, str):
            yield {"id": rid, "error": f'line {n}: "text" must be a string, not {_json_type(text)}'}
            continue
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:
            yield {"id": rid, "error": f'line {n}: "text" has a lone surrogate at index {e.start} (invalid Unicode)'}
            continue
        try:
            report = run(text) if run is not None else unspin.check(text, fast=fast)
        except Exception as e:  # keep going: one record must not sink a batch
            msg = f"line {n}: internal error: {type(e).__name__}: {e}"
            errors.append(msg)
            yield {"id": rid, "error": msg}
            continue
        yield {"id": rid, **report.to_dict()}


def _json_type(v) -> str:
    return {type(None): "null", bool: "boolean", int: "number", float: "number", list: "array", dict: "object"}.get(
        type(v), type(v).__name__
    )


# ---------------------------------------------------------------------------------- main


def _budget(args) -> dict:
    """check()'s budget argument (none: no limit, or a caller without the option)."""
    budget = getattr(args, "budget", None)
    return {} if budget is None or getattr(args, "fast", False) else {"budget": budget}


def _jsonl(args, out: TextIO, run=None) -> int:
    errors: list[str] = []
    fast = getattr(args, "fast", False)
    budget = _budget(args)
    if run is None and budget:
        def run(text: str):
            return unspin.check(text, fast=fast, **budget)
    if args.file == "-":
        stream = getattr(sys.stdin, "buffer", None)
        if stream is None:  # stdin replaced by a text stream (embedding, tests)
            _write_rows(out, _jsonl_rows((ln.encode("utf-8", "surrogateescape") for ln in sys.stdin), fast, errors, run))
        else:
            _write_rows(out, _jsonl_rows(sniffed_lines(stream, "<stdin>"), fast, errors, run))
    else:
        with _open_binary(args.file) as f:
            _write_rows(out, _jsonl_rows(sniffed_lines(f, args.file), fast, errors, run))
    if errors:
        print(f"{PROG}: {len(errors)} record(s) failed with an internal error; first: {errors[0]}", file=sys.stderr)
        return 1
    return 0


_LOOKS_LIKE_HTML = re.compile(r"\A\s*(?:<!doctype\s+html|<html[\s>])|</(?:p|div|body|span|td|li)>", re.IGNORECASE)


def _input_text(args) -> str:
    """The text to check: the file (or stdin) as UTF-8 text, or with --html the main text of the
    page in it.  Without --html, a page is checked as it stands, markup and all: a note on
    stderr says so (its tags would be read as words: "<title>" -> "mr")."""
    if args.html:
        if args.jsonl:
            raise BadInput("--html reads one page (FILE or stdin); for many pages: unspin scan --format html|warc")
        from unspin.scan.readers import page_text

        return page_text(args.file)
    text = read_text(args.file)
    if len(_LOOKS_LIKE_HTML.findall(text[:200_000])) >= 3 or _LOOKS_LIKE_HTML.match(text):
        name = "<stdin>" if args.file == "-" else args.file
        print(f"{PROG}: note: {name} looks like HTML; its markup is read as text (--html checks the page's text)",
              file=sys.stderr)
    return text


def _detect(args) -> int:
    out = _utf8_stdout()
    if args.jsonl and not args.html:
        return _jsonl(args, out, run=unspin.detect)
    text = _input_text(args)
    _short_input(text)
    det = unspin.detect(text)
    if args.json:
        out.write(_dumps(det.to_dict()) + "\n")
    else:
        out.write(f"verdict: {det.verdict} (spun probability {det.spun_probability:.3f})\n")
        for e in det.evidence:
            out.write(f"  {e.signal:20} {e.value:10.3f}   {e.contribution:+.2f} log-odds\n")
    out.flush()
    return 0


# A one-shot check of at most this many characters runs the kernels as plain Python: loading
# numba and the kernels' machine code costs about a second, more than plain Python spends on a
# paragraph (measured: the two break even near 1,500 characters).  See unspin._jit.
PYTHON_KERNELS_MAX_CHARS = 1000


def _short_input(text: str) -> None:
    if len(text) > PYTHON_KERNELS_MAX_CHARS or "UNSPIN_JIT" in os.environ:
        return
    from unspin import _jit
    from unspin.lm.trie import default_path, is_cached

    if is_cached(default_path()):  # (decoding the 3-gram itself needs the compiled code)
        _jit.prefer_python()


def _check(args) -> int:
    out = _utf8_stdout()
    if args.jsonl and not args.html:
        return _jsonl(args, out)

    text = _input_text(args)
    _short_input(text)
    if args.json:
        _check_json(out, text, args)
    else:
        report = unspin.check(text, fast=args.fast, **_budget(args))
        out.write(format_report(report, text, colour=_use_colour(args, out)))
    out.flush()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse: --help/--version exit 0, usage errors exit 2
        return int(e.code or 0)
    try:
        if args.command == "check":
            return _check(args)
        if args.command == "detect":
            return _detect(args)
        if getattr(args, "func", None) is not None:  # sub-commands that bring their own runner
            return args.func(args)
        parser.print_usage(sys.stderr)
        print(f"{PROG}: error: a command is required (try: {PROG} check FILE)", file=sys.stderr)
        return 2
    except BadInput as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # `unspin check --jsonl big | head`: the reader is gone; leave quietly.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return 0
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug or a broken install (e.g. missing data files): say so in one line
        if os.environ.get("UNSPIN_DEBUG"):
            raise
        print(f"{PROG}: internal error: {type(e).__name__}: {e} (set UNSPIN_DEBUG=1 for a traceback)",
              file=sys.stderr)
        return 1


def _entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    _entry()
