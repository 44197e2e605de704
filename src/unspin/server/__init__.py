"""unspin's HTTP service and web page (`unspin serve`).  Needs the `server` extra (fastapi, uvicorn).

    from unspin.server import create_app, Settings
    app = create_app(Settings(workers=2))

See app.py for the endpoints and engine.py for the worker pool, queue bound and time budget.
"""
from __future__ import annotations

__all__ = ["create_app", "Settings"]


def __getattr__(name):
    if name in __all__:
        from unspin.server import app

        return getattr(app, name)
    raise AttributeError(name)
