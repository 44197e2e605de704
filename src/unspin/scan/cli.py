"""`unspin scan`: registered by `add_scan_command(sub)` (see unspin.scan for the design).

    unspin scan INPUT... --out OUT [--task detect|check|trace|stats|MODULE:FUNC] [--index DIR]
                [--format auto|txt|jsonl|parquet|html|warc] [--text-field F] [--id-field F]
                [--txt-docs file|blocks|lines] [--workers N] [--resume] [--engine local|ray]
                [--quiet] [--json]

Exit codes: 0 done (error rows are data), 1 internal error or a crashed worker (run again with
--resume), 2 bad input or usage, 130 interrupted (resumable with --resume).
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from unspin.argtypes import at_least
from unspin.scan.readers import FORMATS, TXT_DOCS


def _size(s: str) -> int:
    s = s.strip().upper()
    mult = 1
    for suffix, m in (("KB", 1 << 10), ("MB", 1 << 20), ("GB", 1 << 30), ("K", 1 << 10), ("M", 1 << 20),
                      ("G", 1 << 30), ("B", 1)):
        if s.endswith(suffix):
            s, mult = s[: -len(suffix)], m
            break
    try:
        v = int(float(s) * mult)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {s!r} (e.g. 64MB)") from None
    if v <= 0:
        raise argparse.ArgumentTypeError("size must be positive")
    return v


def add_scan_command(sub) -> None:
    from unspin.scan import job as J

    s = sub.add_parser(
        "scan",
        help="run detect/check/trace over files, folders, globs (txt, JSONL, Parquet, HTML, WARC), resumably",
        description=(
            "Scan collections: one output row per input record (id, file, offset/row/record_id, url, date, "
            "error, verdict, spun_probability, and the task's fields).  OUT ending in .jsonl, .jsonl.gz or "
            ".parquet is one file, assembled at the end; OUT ending in / is a folder of part-*.jsonl|parquet "
            "files plus _SUCCESS.  Killed at any moment, a re-run with --resume completes it with every "
            "record exactly once."),
    )
    s.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders or globs (.gz/.zst/.bz2/.xz read transparently)")
    s.add_argument("--out", "-o", required=True, metavar="OUT", help="OUT.jsonl, OUT.jsonl.gz, OUT.parquet or DIR/")
    s.add_argument("--task", default="detect",
                   help="detect (default), check, trace (needs --index), stats (no model), or MODULE:FUNCTION")
    s.add_argument("--index", metavar="DIR", help="trace index (unspin index build)")
    s.add_argument("--format", default="auto", choices=FORMATS, help="input format (default: by extension)")
    s.add_argument("--text-field", default="text", metavar="F", help="JSONL key / Parquet column of the text")
    s.add_argument("--id-field", default="id", metavar="F", help="JSONL key / Parquet column of the id")
    s.add_argument("--txt-docs", default="file", choices=TXT_DOCS,
                   help="plain text: one document per file (default), per blank-line block, or per line")
    s.add_argument("--workers", "-j", type=at_least(0), default=None, metavar="N",
                   help="worker processes (default: the cores this process may use; 0 = in this process)")
    s.add_argument("--resume", action="store_true", help="continue an interrupted scan of the same inputs")
    s.add_argument("--engine", default="local", choices=("local", "ray"),
                   help="local processes (default) or Ray Data (pip install 'unspin[ray]')")
    s.add_argument("--parts-format", default="jsonl", choices=("jsonl", "parquet"),
                   help="part format when OUT is a folder")
    s.add_argument("--keep-parts", action="store_true", help="keep OUT.parts/ after assembling a single file")
    s.add_argument("--shard-size", type=_size, default=None, metavar="SIZE",
                   help="split uncompressed JSONL/line files and Parquet into shards of about SIZE "
                        "(default: about 32 shards of the inputs, 1MB to 64MB each)")
    s.add_argument("--fast", action="store_true",
                   help="--task check on the n-gram tier only, as unspin check --fast (detect always is)")
    s.add_argument("--chunk-records", type=at_least(1), default=J.DEFAULT_CHUNK_RECORDS, metavar="N",
                   help="commit every N records (256): the work a kill can lose per worker")
    s.add_argument("--chunk-size", type=_size, default=J.DEFAULT_CHUNK_BYTES, metavar="SIZE",
                   help="... or every SIZE of input text (1MB), whichever comes first")
    s.add_argument("--quiet", "-q", action="store_true", help="no progress bar (for logs); the summary stays")
    s.add_argument("--json", action="store_true", help="print the summary as one JSON object on stdout")
    s.set_defaults(func=run_scan_command)


def run_scan_command(args) -> int:
    from unspin.scan import ReadOptions, format_summary, scan

    read = ReadOptions(format=args.format, text_field=args.text_field, id_field=args.id_field,
                       txt_docs=args.txt_docs)
    show_bar = not args.quiet and sys.stderr.isatty() or bool(os.environ.get("UNSPIN_PROGRESS"))
    summary = scan(args.inputs, args.out, task=args.task, index=args.index, read=read, workers=args.workers,
                   resume=args.resume, engine=args.engine, chunk_records=args.chunk_records,
                   chunk_bytes=args.chunk_size, shard_bytes=args.shard_size, parts_format=args.parts_format,
                   fast=args.fast,
                   keep_parts=args.keep_parts, progress=show_bar)
    if args.json:
        print(json.dumps(summary))
    print(f"unspin scan: {format_summary(summary)}", file=sys.stderr)
    return 0
