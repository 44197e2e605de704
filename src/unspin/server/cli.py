"""`unspin serve`: the argparse sub-command (no FastAPI import until it runs)."""
from __future__ import annotations

import argparse
import os
import sys

from unspin._cores import usable_cores
from unspin.argtypes import at_least, checked


# (0 is allowed: --workers 0 runs the engine in a thread, --cache-mb 0 turns the cache off)
_whole = at_least(0)
_port = checked(int, lambda v: 0 <= v <= 65535, "a port number", "a port is 0 to 65535")
_seconds = checked(float, lambda v: 0 < v < float("inf"), "a number of seconds", "must be a positive number of seconds")


def _can_listen(host: str, port: int) -> str | None:
    """Why the service could not listen on host:port (None: it can), found before the models
    load: uvicorn said it only after, in a log line, and exited with status 3."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as e:
        return f"unknown host {host!r} ({e})"
    family, kind, proto, _name, address = infos[0]
    try:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # (as uvicorn binds)
            sock.bind(address)
    except OSError as e:
        return e.strerror or str(e)
    return None


def add_serve_command(subparsers) -> argparse.ArgumentParser:
    s = subparsers.add_parser(
        "serve",
        help="HTTP service and web page (needs the server extra)",
        description="Serve the web page at / and the JSON API (/v1/check, /v1/detect, /v1/trace, /health, /docs).",
    )
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    s.add_argument("--port", type=_port, default=8000, help="port (default 8000)")
    s.add_argument("--index", metavar="DIR", default=None, help="trace index directory: enables /v1/trace")
    s.add_argument("--workers", type=_whole, default=None,
                   help="engine worker processes (default: the CPUs this process may use; 0 = a thread in the server)")
    s.add_argument("--max-bytes", type=_whole, default=256 * 1024,
                   help="request body limit in bytes (default 262144; larger gets 413)")
    s.add_argument("--timeout", type=_seconds, default=20.0, help="per-request time budget in seconds (default 20)")
    s.add_argument("--max-pending", type=_whole, default=None,
                   help="requests in the engine at once before 503 (default 16 per worker)")
    s.add_argument("--cache-mb", type=_whole, default=32, help="result cache size in MB (default 32; 0 = off)")
    s.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])
    s.set_defaults(func=run_serve)
    return s


def run_serve(args) -> int:
    try:
        import uvicorn

        from unspin.server.app import Settings, create_app
    except ImportError as e:
        print(f"unspin: error: serve needs the server extra ({e.name} is missing): "
              "pip install 'unspin[server]'", file=sys.stderr)
        return 2
    if args.index and not os.path.isdir(args.index):
        why = "not a directory" if os.path.exists(args.index) else "no such directory"
        print(f"unspin: error: --index {args.index}: {why}", file=sys.stderr)
        return 2
    problem = _can_listen(args.host, args.port)
    if problem is not None:
        print(f"unspin: error: cannot listen on {args.host}:{args.port}: {problem}", file=sys.stderr)
        return 2
    workers = usable_cores() if args.workers is None else args.workers
    settings = Settings(
        workers=workers,
        max_bytes=args.max_bytes,
        timeout=args.timeout,
        max_pending=args.max_pending if args.max_pending is not None else 16 * max(1, workers),
        index_dir=args.index,
        cache_mb=args.cache_mb,
    )
    print(f"unspin: loading models in {max(1, workers)} worker(s), then serving on http://{args.host}:{args.port}/",
          file=sys.stderr, flush=True)
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level=args.log_level,
                access_log=args.log_level in ("info", "debug"))
    return 0
