"""HTTP API: shapes (same as the CLI's --json), options, every kind of bad input, limits, saturation."""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

import httpx  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

import unspin  # noqa: E402
from unspin.server import engine as engine_mod  # noqa: E402
from unspin.server.app import Settings, create_app  # noqa: E402

ENGLISH = (
    "The White House declined to get ahead of conversations between the president and the prime "
    "minister about defense spending, as the two leaders prepare to meet for the first time."
)
FRENCH = (
    "Le président a rencontré le premier ministre pour discuter de la coopération entre les deux pays "
    "et des questions de défense, selon un communiqué publié vendredi par le gouvernement."
)


@pytest.fixture(scope="module")
def client():
    app = create_app(Settings(workers=0, max_bytes=64 * 1024, timeout=30))
    with TestClient(app) as c:
        yield c


def _err(r, status, code=None):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error", "code"} and body["error"], body
    if code is not None:
        assert body["code"] == code, body
    return body


# ------------------------------------------------------------------------------ happy paths


def test_health(client):
    r = client.get("/health")
    assert r.status_code == 200
    h = r.json()
    assert h["status"] == "ok" and h["version"] == unspin.__version__
    assert h["trace"] is False
    assert h["limits"]["max_bytes"] == 64 * 1024


def test_check_json_is_the_cli_shape(client, spun_text, run_cli, tmp_path):
    r = client.post("/v1/check", json={"text": spun_text})
    assert r.status_code == 200
    got = r.json()
    assert got == unspin.check(spun_text).to_dict()
    f = tmp_path / "a.txt"
    f.write_text(spun_text, "utf-8")
    rc, out, _err_ = run_cli(["check", "--json", str(f)])
    assert rc == 0 and json.loads(out) == got
    for s in got["swaps"]:
        assert spun_text[s["start"]:s["end"]] == s["spun"]


def test_check_raw_text_plain(client, spun_text):
    r = client.post("/v1/check", content=spun_text.encode("utf-8"), headers={"content-type": "text/plain; charset=utf-8"})
    assert r.status_code == 200
    assert r.json() == unspin.check(spun_text).to_dict()


def test_check_raw_text_bom_and_no_content_type(client):
    r = client.post("/v1/check", content=b"\xef\xbb\xbf" + ENGLISH.encode())
    assert r.status_code == 200
    assert r.json()["restored"].startswith("The White House")


def test_fast_option_json_and_query(client):
    a = client.post("/v1/check", json={"text": ENGLISH, "fast": True})
    b = client.post("/v1/check?fast=true", content=ENGLISH.encode(), headers={"content-type": "text/plain"})
    assert a.status_code == b.status_code == 200
    assert a.json() == b.json() == unspin.check(ENGLISH, fast=True).to_dict()


def test_detect_shape(client, spun_text):
    r = client.post("/v1/detect", json={"text": spun_text})
    assert r.status_code == 200
    d = r.json()
    assert d == engine_mod._detect_fn()(spun_text).to_dict()
    assert set(d) == {"spun_probability", "verdict", "evidence"}


def test_short_text_is_an_answer_not_an_error(client):
    r = client.post("/v1/check", json={"text": "Hello there."})
    assert r.status_code == 200 and r.json()["verdict"] == "too-short"


def test_unicode_offsets_are_code_points(client):
    text = "🙂 " + ENGLISH
    got = client.post("/v1/check", json={"text": text}).json()
    for s in got["swaps"]:
        assert text[s["start"]:s["end"]] == s["spun"]


def test_openapi_and_docs(client):
    spec = client.get("/openapi.json").json()
    for path in ("/v1/check", "/v1/detect", "/v1/trace"):
        content = spec["paths"][path]["post"]["requestBody"]["content"]
        assert {"application/json", "text/plain"} <= set(content)
    assert "ReportOut" in json.dumps(spec)
    docs = client.get("/docs")
    assert docs.status_code == 200 and "cdn" not in docs.text.lower()  # offline docs
    for url in ("/static-offline-docs/swagger-ui-bundle.js", "/static-offline-docs/swagger-ui.css"):
        assert client.get(url).status_code == 200


def test_page_and_assets(client):
    r = client.get("/")
    assert r.status_code == 200 and 'id="text"' in r.text
    for asset in ("/static/app.js", "/static/app.css"):
        assert client.get(asset).status_code == 200
    assert "http" not in client.get("/").text.replace("http-equiv", "")  # no CDN


def test_trace_without_index_is_501(client):
    _err(client.post("/v1/trace", json={"text": ENGLISH}), 501)


# ------------------------------------------------------------------------------ bad input

BAD = [
    # (id, kwargs for client.post, status, code)
    ("empty-json-body", dict(content=b"", headers={"content-type": "application/json"}), 422, "empty"),
    ("empty-text", dict(json={"text": ""}), 422, "empty"),
    ("whitespace-text", dict(json={"text": " \n\t "}), 422, "empty"),
    ("empty-raw", dict(content=b"", headers={"content-type": "text/plain"}), 422, "empty"),
    ("raw-not-utf8", dict(content=b"caf\xe9 au lait " * 5, headers={"content-type": "text/plain"}), 400, "not-utf8"),
    ("json-not-utf8", dict(content=b'{"text": "caf\xe9"}', headers={"content-type": "application/json"}), 400, "not-utf8"),
    ("json-utf16-bom", dict(content=('{"text": "%s"}' % ENGLISH).encode("utf-16"),
                            headers={"content-type": "application/json"}), 400, "not-utf8"),
    ("json-utf16-no-bom", dict(content=('{"text": "%s"}' % ENGLISH).encode("utf-16-le"),
                               headers={"content-type": "application/json"}), 400, "not-utf8"),
    ("raw-nul", dict(content=b"abc\x00def", headers={"content-type": "text/plain"}), 400, "binary"),
    ("raw-controls", dict(content=bytes(range(1, 9)) * 20, headers={"content-type": "text/plain"}), 400, "binary"),
    ("json-nul-in-text", dict(json={"text": "abc\u0000def " + ENGLISH}), 400, "binary"),
    ("bad-json", dict(content=b'{"text": "abc"', headers={"content-type": "application/json"}), 400, "bad-json"),
    ("json-array", dict(json=["text"]), 422, "bad-json"),
    ("json-nested-too-deep", dict(content=b'{"text": "abc", "x": ' + b"[" * 20000 + b"]" * 20000 + b"}",
                                  headers={"content-type": "application/json"}), 400, "bad-json"),
    ("json-string", dict(json="just a string"), 422, "bad-json"),
    ("json-null", dict(content=b"null", headers={"content-type": "application/json"}), 422, "bad-json"),
    ("missing-text", dict(json={"fast": True}), 422, "missing-text"),
    ("text-number", dict(json={"text": 42}), 422, "bad-text"),
    ("text-null", dict(json={"text": None}), 422, "bad-text"),
    ("text-list", dict(json={"text": ["a", "b"]}), 422, "bad-text"),
    ("lone-surrogate", dict(content=b'{"text": "abc \\ud800 def"}', headers={"content-type": "application/json"}), 422, "bad-text"),
    ("fast-not-bool", dict(json={"text": ENGLISH, "fast": "maybe"}), 422, "bad-option"),
    ("fast-query-not-bool", dict(params={"fast": "2"}, content=ENGLISH.encode(), headers={"content-type": "text/plain"}), 422, "bad-option"),
    ("unknown-field", dict(json={"text": ENGLISH, "fats": True}), 422, "unknown-field"),
    ("form-urlencoded", dict(content=b"text=hello", headers={"content-type": "application/x-www-form-urlencoded"}), 415, None),
    ("multipart", dict(files={"file": ("a.txt", b"hello")}), 415, None),
    ("latin1-charset", dict(content=b"caf\xe9", headers={"content-type": "text/plain; charset=latin-1"}), 415, "bad-charset"),
    ("not-english-french", dict(json={"text": FRENCH}), 422, "not-english"),
    ("not-english-chinese", dict(json={"text": "总统与首相会面讨论了两国之间的合作和国防问题。" * 5}), 422, "not-english"),
    ("oversize-json", dict(json={"text": "word " * 20000}), 413, "too-large"),
    ("oversize-raw", dict(content=b"word " * 20000, headers={"content-type": "text/plain"}), 413, "too-large"),
]


@pytest.mark.parametrize("kwargs,status,code", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_check(client, kwargs, status, code):
    _err(client.post("/v1/check", **kwargs), status, code)


@pytest.mark.parametrize("kwargs,status,code",
                         [b[1:] for b in BAD if b[0] not in ("fast-not-bool", "fast-query-not-bool")],
                         ids=[b[0] for b in BAD if b[0] not in ("fast-not-bool", "fast-query-not-bool")])
def test_bad_input_detect(client, kwargs, status, code):
    if kwargs.get("json") == {"fast": True}:  # detect has no "fast": the unknown field is reported first
        status, code = 422, "unknown-field"
    _err(client.post("/v1/detect", **kwargs), status, code)


def test_oversize_streamed_without_content_length(client):
    def gen():
        for _ in range(100):
            yield b"word " * 200  # 100 KB in chunks, no Content-Length

    _err(client.post("/v1/check", content=gen(), headers={"content-type": "text/plain"}), 413, "too-large")


def test_routing_errors_are_json(client):
    _err(client.get("/v1/check"), 405, "method-not-allowed")
    _err(client.get("/nope"), 404, "not-found")


def test_never_a_500_for_user_input(client):
    bodies = [b"{", b"}", b"[]", b'{"text":', b'{"text": {}}', b'{"text": "\\udfff"}', b"\xff\xfe\x00t",
              b'{"text": "' + b"a" * 1000 + b'"}', b'{"text": "x", "text": 3}', "¿".encode() * 50,
              b"\x1b[31m red \x1b[0m" * 3, b'{"text": "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15"}',
              "  ".join(["Ünïcödé"] * 30).encode(), b"<html><body>" + ENGLISH.encode() + b"</body></html>"]
    for body in bodies:
        for ctype in ("application/json", "text/plain", None):
            headers = {"content-type": ctype} if ctype else {}
            for path in ("/v1/check", "/v1/detect"):
                r = client.post(path, content=body, headers=headers)
                assert r.status_code < 500, (path, ctype, body[:40], r.status_code, r.text)


# ------------------------------------------------------------------------------ limits: queue and time budget


def _slow_job(op, text, fast, deadline):
    time.sleep(float(text.split()[0]))
    return "ok", b'{"slept": true}'


def _async_run(app, coro_fn):
    async def main():
        app.state.engine.start()
        try:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
                return await coro_fn(c)
        finally:
            app.state.engine.stop()

    return asyncio.run(main())


def test_saturated_queue_gets_503_with_retry_after(monkeypatch):
    monkeypatch.setattr(engine_mod, "_job", _slow_job)
    app = create_app(Settings(workers=0, max_pending=1, timeout=10, cache_mb=0))

    async def scenario(c):
        first = asyncio.create_task(c.post("/v1/check", content=b"0.8 seconds", headers={"content-type": "text/plain"}))
        await asyncio.sleep(0.2)
        second = await c.post("/v1/check", content=b"0.0 seconds", headers={"content-type": "text/plain"})
        return await first, second

    first, second = _async_run(app, scenario)
    assert first.status_code == 200
    _err(second, 503, "busy")
    assert second.headers["retry-after"] == "1"


def _tier_app(monkeypatch, cache_mb: int):
    """An app whose jobs sleep the seconds their text starts with and answer which tier they
    were asked for; the engine counts as busy for 0.3 s after a request."""
    def job(op, text, fast, deadline):
        time.sleep(float(text.split()[0]))
        return "ok", json.dumps({"fast": fast}).encode()

    monkeypatch.setattr(engine_mod, "_job", job)
    monkeypatch.setattr(engine_mod, "QUIET_SECONDS", 0.3)
    return create_app(Settings(workers=0, max_pending=8, timeout=10, cache_mb=cache_mb))


def test_check_without_fast_gets_the_neural_tier_when_free_and_the_fast_one_when_busy(monkeypatch):
    """A check that leaves `fast` to the server: the neural tier (fast=False) when no other
    request is in progress, the n-gram tier (fast=True) while one is; an explicit value always
    holds.  (A burst of default requests is then answered at the n-gram tier's pace.)"""
    app = _tier_app(monkeypatch, cache_mb=0)
    plain = {"content-type": "text/plain"}

    async def scenario(c):
        alone = await c.post("/v1/check", json={"text": "0.0 seconds alone"})
        soon = await c.post("/v1/check", json={"text": "0.0 seconds soon after"})
        await asyncio.sleep(0.4)
        first = asyncio.create_task(c.post("/v1/check", content=b"0.8 seconds first", headers=plain))
        await asyncio.sleep(0.4)
        busy = await c.post("/v1/check", json={"text": "0.0 seconds while busy"})
        asked = await c.post("/v1/check?fast=false", content=b"0.0 seconds asked", headers=plain)
        return alone, soon, await first, busy, asked

    got = tuple(r.json()["fast"] for r in _async_run(app, scenario))
    assert got == (False, True, False, True, False)


def test_check_without_fast_gets_a_cached_neural_result_while_busy(monkeypatch):
    """While the engine is busy, a default check whose text the neural tier has answered
    already gets that answer (from the cache) rather than the n-gram tier's."""
    app = _tier_app(monkeypatch, cache_mb=1)
    plain = {"content-type": "text/plain"}

    async def scenario(c):
        neural = await c.post("/v1/check", json={"text": "0.0 seconds read twice"})
        await asyncio.sleep(0.4)
        first = asyncio.create_task(c.post("/v1/check", content=b"0.8 seconds first", headers=plain))
        await asyncio.sleep(0.4)
        again = await c.post("/v1/check", json={"text": "0.0 seconds read twice"})
        other = await c.post("/v1/check", json={"text": "0.0 seconds never read"})
        return neural, again, other, await first

    got = tuple(r.json()["fast"] for r in _async_run(app, scenario))
    assert got == (False, False, True, False)


def test_time_budget_gets_503(monkeypatch):
    monkeypatch.setattr(engine_mod, "_job", _slow_job)
    app = create_app(Settings(workers=0, timeout=0.3, cache_mb=0))

    async def scenario(c):
        return await c.post("/v1/check", content=b"1.0 seconds", headers={"content-type": "text/plain"})

    r = _async_run(app, scenario)
    _err(r, 503, "timeout")
    assert "retry-after" in r.headers


def test_job_expired_in_queue_is_skipped():
    status, _ = engine_mod._job("check", ENGLISH, False, time.time() - 1)
    assert status == "expired"


def test_process_pool_and_cache(spun_text):
    app = create_app(Settings(workers=1, timeout=60))
    with TestClient(app) as c:
        assert c.get("/health").json()["workers"] == 1
        a = c.post("/v1/check", json={"text": spun_text})
        assert a.status_code == 200 and a.json() == unspin.check(spun_text).to_dict()
        assert len(app.state.engine.cache.items) == 1
        b = c.post("/v1/check", content=spun_text.encode(), headers={"content-type": "text/plain"})
        assert b.content == a.content
        _err(c.post("/v1/check", json={"text": FRENCH}), 422, "not-english")


@contextlib.contextmanager
def _one_worker_app():
    """A server with one engine worker process and no result cache: (client, app, pool, worker)."""
    app = create_app(Settings(workers=1, timeout=60, cache_mb=0))
    with TestClient(app) as c:
        pool = app.state.engine._pool
        (worker,) = pool._all
        yield c, app, pool, worker


def test_worker_killed_mid_job_is_a_503_then_replaced(spun_text):
    """A worker that dies (SIGKILL: out of memory, say) fails its job as 503 "busy"; the pool
    replaces it and later requests are answered; jobs wait while every worker is busy."""
    import os
    import signal

    with _one_worker_app() as (c, app, pool, worker):
        victim = worker.process.pid

        async def scenario():
            fut = pool.submit(time.sleep, 30)
            queued = pool.submit(os.getpid)  # waits: the only worker is busy
            await asyncio.sleep(0.3)
            os.kill(victim, signal.SIGKILL)
            with pytest.raises(engine_mod.WorkerDied):
                await fut
            return await asyncio.wait_for(queued, 120)  # runs on the replacement

        replacement_pid = c.portal.call(scenario)
        assert replacement_pid != victim
        r = c.post("/v1/check", json={"text": spun_text, "fast": True})
        assert r.status_code == 200 and r.json() == unspin.check(spun_text, fast=True).to_dict()
        assert app.state.engine.pending == 0


def test_pool_moves_replies_and_jobs_larger_than_the_pipe():
    """The event loop's ends of the pipes are non-blocking: a reply or a job bigger than the pipe
    holds moves in many reads and writes, and no worker is taken for dead meanwhile (a reply over
    16 KB, which a worker writes in two writes, used to fail its request as 503 under load)."""
    with _one_worker_app() as (c, _app, pool, worker):
        pid = worker.process.pid

        async def scenario():
            big_reply = await asyncio.wait_for(pool.submit(bytes, 8_000_000), 60)
            big_job = await asyncio.wait_for(pool.submit(len, b"x" * 8_000_000), 60)
            queued = await asyncio.wait_for(
                asyncio.gather(*(pool.submit(bytes, 20_000 + i) for i in range(20))), 60)
            return len(big_reply), big_job, [len(r) for r in queued]

        assert c.portal.call(scenario) == (8_000_000, 8_000_000, [20_000 + i for i in range(20)])
        assert [w.process.pid for w in pool._all] == [pid]
        assert not worker.inbox and not worker.outbox


# ------------------------------------------------------------------------------ command line


def test_serve_help_and_bad_index(run_cli, tmp_path):
    rc, out, _ = run_cli(["serve", "--help"])
    assert rc == 0 and "--index" in out and "--port" in out
    rc, _, err = run_cli(["serve", "--index", str(tmp_path / "missing")])
    assert rc == 2 and "no such directory" in err
    (tmp_path / "afile").write_text("x")
    rc, _, err = run_cli(["serve", "--index", str(tmp_path / "afile")])
    assert rc == 2 and "not a directory" in err


@pytest.mark.parametrize("args, says", [
    (["--port", "99999"], "a port is 0 to 65535"),  # (uvicorn hung)
    (["--port", "-5"], "a port is 0 to 65535"),  # (uvicorn's log line, exit 3)
    (["--port", "http"], "not a port number"),
    (["--timeout", "-1"], "must be a positive number of seconds"),
    (["--timeout", "nan"], "must be a positive number of seconds"),
])
def test_serve_bad_options_are_usage_errors(run_cli, args, says):
    rc, _, err = run_cli(["serve", *args])
    assert rc == 2 and says in err


def test_serve_says_when_it_cannot_listen_before_loading_models(run_cli):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        t0 = time.perf_counter()
        rc, _, err = run_cli(["serve", "--port", str(port)])
        assert rc == 2 and f"cannot listen on 127.0.0.1:{port}: Address already in use" in err
        assert "loading models" not in err and time.perf_counter() - t0 < 10
    rc, _, err = run_cli(["serve", "--host", "no.such.host.invalid"])
    assert rc == 2 and "unknown host" in err


# ------------------------------------------------------------------------------ trace (with an index)

ORIGINAL = (
    "The White House declined to get ahead of conversations between President Donald Trump and Japanese "
    "Prime Minister Shigeru Ishiba about Japan's defense spending as the two leaders prepare to meet for "
    "the first time for their bilateral talks. Negotiations regarding a new deal between the United States "
    "and Japan are poised to begin next month, with Trump using the threat of tariffs when the agreement "
    "is reviewed in 2026. A second administration official underscored the very long standing cooperative "
    "relationship and said that there are conversations that go on constantly about military facilities."
)
SPUN = (ORIGINAL.replace("defense spending", "defence investing").replace("threat", "dangers")
        .replace("second administration official", "minute management standard").replace("new deal", "fresh deal"))


def test_trace_with_an_index(tmp_path):
    pytest.importorskip("unspin.trace")
    if not hasattr(unspin, "Index"):
        pytest.skip("unspin.Index is not available")
    idx_dir = tmp_path / "idx"
    unspin.Index.build(idx_dir, [("source-1", ORIGINAL), ("other", FRENCH + " " + ENGLISH)]).close()
    with TestClient(create_app(Settings(workers=0, index_dir=str(idx_dir)))) as c:
        assert c.get("/health").json()["trace"] is True
        r = c.post("/v1/trace", json={"text": SPUN})
        assert r.status_code == 200, r.text
        matches = r.json()["matches"]
        assert matches and matches[0]["source_id"] == "source-1"
        pairs = {(s["spun"], s["original"]) for s in matches[0]["swaps"]}
        assert ("dangers", "threat") in pairs
        for s in matches[0]["swaps"]:
            assert SPUN[s["start"]:s["end"]] == s["spun"]
        _err(c.post("/v1/trace", json={"text": ""}), 422, "empty")
        unrelated = ("Heavy rain fell across the northern valleys overnight, and farmers said the harvest "
                     "would be late this year because the fields were still flooded on Tuesday morning.")
        assert c.post("/v1/trace", json={"text": unrelated}).json() == {"matches": []}


def test_trace_with_a_broken_index_is_501(tmp_path):
    if not hasattr(unspin, "Index"):
        pytest.skip("unspin.Index is not available")
    (tmp_path / "junk.txt").write_text("not an index")
    with TestClient(create_app(Settings(workers=0, index_dir=str(tmp_path)))) as c:
        assert c.get("/health").json()["trace"] is False
        body = _err(c.post("/v1/trace", json={"text": SPUN}), 501, "no-index")
        assert "index" in body["error"]


def test_utf16_json_body_is_named(client):
    for body in (('{"text": "%s"}' % ENGLISH).encode("utf-16"), ('{"text": "%s"}' % ENGLISH).encode("utf-16-be")):
        r = client.post("/v1/check", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json()["error"] == "body is UTF-16 text, expected UTF-8"


def test_response_json_is_the_report_whichever_encoder(monkeypatch, spun_text):
    """The workers write results with orjson where it is installed (straight from the Report
    and Detection dataclasses) and with json otherwise: the same JSON either way."""
    report = unspin.check(spun_text, fast=True)
    assert report.swaps and report.scars and any(s.alternatives for s in report.swaps)
    small = unspin.Report(0.00001, "clean", [], [], "x")  # (orjson writes 0.00001, json 1e-05)
    detection = engine_mod._detect_fn()(spun_text)
    encoders = [engine_mod.orjson] if engine_mod.orjson is not None else []
    for encoder in encoders + [None]:
        monkeypatch.setattr(engine_mod, "orjson", encoder)
        for result in (report, small, detection, {"matches": []}):
            want = result if isinstance(result, dict) else result.to_dict()
            assert json.loads(engine_mod._dumps(result)) == want


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="CPU affinity is Linux's")
def test_default_workers_are_the_usable_cores():
    """`unspin serve` and `unspin scan` start a worker per CPU this process may use (a
    container's CPU set, taskset), not per CPU of the machine."""
    probe = ("import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
             "from unspin._cores import usable_cores; from unspin.neural import default_parallel; "
             "print(usable_cores(), default_parallel(), os.cpu_count() >= 1)")
    env = {k: v for k, v in os.environ.items() if k != "UNSPIN_NEURAL_THREADS"}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "1", "True"]
