"""HTTP service over the library: the web page at /, the JSON API under /v1, /health, /docs.

Requests: `application/json` `{"text": "...", "fast": false}` or a raw `text/plain` UTF-8 body
(options as query parameters: `?fast=true`).  A check that does not say `fast` gets the neural
tier while the engine is free, or when its neural result for the text is cached, and the n-gram
tier while other requests are in progress: one reader at a time gets the better restore, and a
burst of requests is answered at the n-gram tier's pace (200+ a second on 2 cores) instead of
queueing behind seconds of rescoring.
Responses: the CLI's `--json` shapes (`Report.to_dict()`, `Detection.to_dict()`).  Every error is JSON `{"error": message, "code": slug}`
with a 4xx status for bad input, 503 (+ Retry-After) when saturated or over the time budget.
"""
from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Optional

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

import unspin
from unspin.inputs import BadInput, decode_bytes, load_json, utf16_or_32
from unspin.server.engine import Busy, Engine, Expired, trace_available

log = logging.getLogger("unspin.server")

__all__ = ["Settings", "create_app"]


@dataclass
class Settings:
    workers: int = 0                 # worker processes for the engine; 0 = one thread in the server process
    max_bytes: int = 256 * 1024      # request body limit (413 beyond)
    timeout: float = 20.0            # per-request time budget in seconds (503 beyond)
    max_pending: int = 32            # jobs in the pool at once (503 + Retry-After beyond)
    index_dir: Optional[str] = None  # a trace index (unspin index DIR); enables /v1/trace
    cache_mb: int = 32               # LRU cache of results (0 disables)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def _error(status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "code": code}, status_code=status, headers=headers)


# ------------------------------------------------------------------------------ schema models
# Only for the OpenAPI document: responses are the library's own JSON (Report.to_dict() etc.).


class CheckRequest(BaseModel):
    text: str = Field(..., description="the article, UTF-8 text")
    fast: Optional[bool] = Field(None, description="true: the n-gram tier only; false: the neural tier "
                                                   "(where installed); absent: the neural tier while the "
                                                   "server is free, the n-gram tier while it is busy")


class TextRequest(BaseModel):
    text: str = Field(..., description="the article, UTF-8 text")


class AlternativeOut(BaseModel):
    text: str
    probability: float


class SwapOut(BaseModel):
    start: int = Field(..., description="code-point offset into the input: text[start:end] == spun")
    end: int
    spun: str
    original: str
    probability: float
    alternatives: list[AlternativeOut]
    thesaurus: str


class ScarOut(BaseModel):
    start: int
    end: int
    kind: str
    found: str
    repaired: str


class ReportOut(BaseModel):
    spun_probability: float
    verdict: str = Field(..., description="spun | clean | undecided | too-short")
    swaps: list[SwapOut]
    scars: list[ScarOut]
    restored: str


class EvidenceOut(BaseModel):
    signal: str
    value: float
    contribution: float


class DetectionOut(BaseModel):
    spun_probability: float
    verdict: str
    evidence: list[EvidenceOut]


class ErrorOut(BaseModel):
    error: str = Field(..., description="one-line message for people")
    code: str = Field(..., description="machine-readable slug, e.g. too-large, not-utf8, empty, not-english, busy")


_ERRORS = {
    400: {"model": ErrorOut, "description": "malformed body: invalid JSON, invalid UTF-8, binary data"},
    413: {"model": ErrorOut, "description": "body larger than the limit"},
    415: {"model": ErrorOut, "description": "unsupported Content-Type"},
    422: {"model": ErrorOut, "description": "well-formed but unusable: missing/empty text, wrong types, not English"},
    503: {"model": ErrorOut, "description": "saturated or over the time budget; see Retry-After"},
}


def _body_doc(model: type[BaseModel]) -> dict:
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": model.model_json_schema()},
                "text/plain": {"schema": {"type": "string", "description": "the article as raw UTF-8"}},
            },
        }
    }


# ------------------------------------------------------------------------------ request parsing


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            n = int(declared)
        except ValueError:
            raise ApiError(400, "bad-request", "Content-Length is not a number") from None
        if n > limit:
            raise ApiError(413, "too-large", f"request body is {n} bytes; the limit is {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "too-large", f"request body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _flag(value, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off", ""):
        return value.lower() in ("1", "true", "yes", "on")
    raise ApiError(422, "bad-option", f'"{name}" must be true or false')


def _check_text(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ApiError(422, "bad-text", f'"text" has a lone surrogate at index {e.start} (invalid Unicode)') from None
    try:
        decode_bytes(text.encode("utf-8"), '"text"')  # NUL or mostly control characters
    except BadInput as e:
        raise ApiError(400, "binary", str(e)) from None
    if not text.strip():
        raise ApiError(422, "empty", "the text is empty: paste an article")
    return text


async def _parse(request: Request, limit: int, options: tuple[str, ...]) -> tuple[str, dict]:
    ctype = (request.headers.get("content-type") or "text/plain").split(";")[0].strip().lower()
    body = await _read_body(request, limit)
    opts: dict = {}
    if ctype == "application/json" or ctype.endswith("+json"):
        # (UTF-16 and UTF-32 open with a byte-order mark or hold NUL bytes; without the mark
        # they may even decode as UTF-8)
        utf = utf16_or_32(body) if b"\x00" in body or body.startswith((b"\xff\xfe", b"\xfe\xff")) else None
        if utf:
            raise ApiError(400, "not-utf8", f"body is {utf} text, expected UTF-8")
        try:
            raw = body.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise ApiError(400, "not-utf8", f"body is not UTF-8 (byte offset {e.start}: {e.reason})") from None
        if not raw.strip():
            raise ApiError(422, "empty", 'empty body: send {"text": "..."}')
        try:
            obj = load_json(raw)
        except ValueError as e:
            raise ApiError(400, "bad-json", f"body is not valid JSON ({e})") from None
        if not isinstance(obj, dict):
            raise ApiError(422, "bad-json", f'expected a JSON object like {{"text": "..."}}, got {type(obj).__name__}')
        unknown = sorted(set(obj) - {"text", *options})
        if unknown:
            allowed = ", ".join(f'"{k}"' for k in ("text", *options))
            raise ApiError(422, "unknown-field", f"unknown field(s) {', '.join(map(repr, unknown))}; allowed: {allowed}")
        if "text" not in obj:
            raise ApiError(422, "missing-text", 'missing "text"')
        text = obj["text"]
        if not isinstance(text, str):
            raise ApiError(422, "bad-text", f'"text" must be a string, not {type(text).__name__}')
        for k in options:
            if k in obj:
                opts[k] = _flag(obj[k], k)
    elif ctype == "text/plain":
        charset = request.headers.get("content-type", "").lower().partition("charset=")[2].split(";")[0].strip(' "')
        if charset and charset.replace("-", "") not in ("utf8", "usascii", "ascii"):
            raise ApiError(415, "bad-charset", f"charset {charset} is not supported; send UTF-8")
        try:
            text = decode_bytes(body, "body")
        except BadInput as e:
            code = "binary" if "binary" in str(e) else "not-utf8"
            raise ApiError(400, code, str(e)) from None
    else:
        raise ApiError(415, "unsupported-media-type",
                       f"Content-Type {ctype} is not supported; send application/json or text/plain")
    for k in options:
        if k in request.query_params and k not in opts:
            opts[k] = _flag(request.query_params[k], k)
    return _check_text(text), opts


# ------------------------------------------------------------------------------ app

STATIC = resources.files("unspin.server") / "static"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    engine = Engine(
        workers=settings.workers,
        max_pending=settings.max_pending,
        timeout=settings.timeout,
        index_dir=settings.index_dir,
        cache_bytes=settings.cache_mb << 20,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        engine.start()  # models load here, once, before the first request is accepted
        if settings.index_dir and engine.trace_error:
            log.warning("unspin serve: /v1/trace is unavailable: %s", engine.trace_error)
        try:
            yield
        finally:
            engine.stop()

    try:  # /docs and /redoc from assets shipped in a package, not a CDN (works offline)
        from fastapi_offline import FastAPIOffline as make_app
    except ImportError:  # pragma: no cover - the server extra brings it
        make_app = FastAPI
    app = make_app(
        title="unspin",
        version=unspin.__version__,
        description="Find machine-spun text (thesaurus word swaps) and restore what was written. "
        "Send JSON `{\"text\": \"...\"}` or a raw `text/plain` UTF-8 body.",
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.settings = settings

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError):
        return _error(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException):
        code = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        return _error(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError):
        return _error(422, "bad-request", "; ".join(str(e.get("msg")) for e in exc.errors()))

    @app.exception_handler(Exception)
    async def _internal(_request: Request, exc: Exception):  # a bug, never user input
        log.exception("internal error")
        return _error(500, "internal", f"internal error: {type(exc).__name__}")

    async def _run(op: str, text: str, fast: bool = False) -> Response:
        try:
            result = await engine.run(op, text, fast)
        except Busy as e:
            return _error(503, "busy", f"the server is busy ({e}); retry shortly", {"Retry-After": "1"})
        except Expired as e:
            return _error(503, "timeout", f"{e}; send a shorter text or retry later", {"Retry-After": "2"})
        if result.status == "ok":
            return Response(result.body, media_type="application/json")
        if result.status == "not-english":
            return _error(422, "not-english", str(result.body))
        if result.status == "no-index":
            return _error(503, "no-index", str(result.body))
        return _error(500, "internal", str(result.body))

    @app.post("/v1/check", summary="Swaps, scars, verdict and restored text",
              response_model=None, responses={200: {"model": ReportOut}, **_ERRORS},
              openapi_extra=_body_doc(CheckRequest))
    async def check(request: Request) -> Response:
        """`unspin check --json`: every swap with its alternatives, the scars, a verdict and the restored text."""
        text, opts = await _parse(request, settings.max_bytes, ("fast",))
        fast = opts.get("fast")
        if fast is None:  # (the client leaves it to the server: see the module's docstring)
            fast = engine.fast_for("check", text)
        return await _run("check", text, fast)

    @app.post("/v1/detect", summary="Document verdict with its evidence",
              response_model=None, responses={200: {"model": DetectionOut}, **_ERRORS},
              openapi_extra=_body_doc(TextRequest))
    async def detect(request: Request) -> Response:
        """`unspin.detect`: the spun probability, the verdict and the signals behind it."""
        text, _ = await _parse(request, settings.max_bytes, ())
        return await _run("detect", text)

    @app.post("/v1/trace", summary="Matched source with aligned swaps (needs --index)",
              response_model=None, responses={**_ERRORS, 501: {"model": ErrorOut, "description": "no index configured"}},
              openapi_extra=_body_doc(TextRequest))
    async def trace(request: Request) -> Response:
        """`unspin trace`: the indexed document this text was spun from, with the swaps aligned to it."""
        if not trace_available():
            return _error(501, "trace-unavailable",
                          "trace is not available in this version of unspin (unspin.Index is missing)")
        if not settings.index_dir:
            return _error(501, "no-index", "no index is configured: start the server with unspin serve --index DIR")
        if not engine.trace_ready:
            return _error(501, "no-index", engine.trace_error or "the index could not be loaded")
        text, _ = await _parse(request, settings.max_bytes, ())
        return await _run("trace", text)

    @app.get("/health", summary="Liveness, limits and features")
    async def health() -> dict:
        return {
            "status": "ok" if engine.started else "starting",
            "version": unspin.__version__,
            "workers": engine.workers,
            "pending": engine.pending,
            "trace": bool(settings.index_dir and engine.trace_ready),
            "limits": {"max_bytes": settings.max_bytes, "timeout_s": settings.timeout,
                       "max_pending": engine.max_pending},
        }

    @app.get("/", include_in_schema=False)
    async def index() -> Response:
        return FileResponse(str(STATIC / "index.html"), media_type="text/html; charset=utf-8")

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    return app
