"""Decoded models kept between runs as memory-mapped .npy files (the 3-gram's arrays, the
neural runtime's float32 weights): a warm start maps them instead of decoding the model again.

Entries live in $UNSPIN_CACHE_DIR, else ($XDG_CACHE_HOME or ~/.cache)/unspin (UNSPIN_CACHE_DIR=off
disables it), one folder per model file and format, keyed by the file's name, size and
modification time.  An entry is written to a temporary folder and renamed into place, so a
reader sees all of it or nothing; any failure to read or write it just means decoding again.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable

import numpy as np


def cache_dir() -> Path | None:
    """Where decoded models are kept between runs (None: caching is off)."""
    env = os.environ.get("UNSPIN_CACHE_DIR")
    if env:
        return None if env.lower() in ("off", "0", "none") else Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "unspin"


def entry(source: str | os.PathLike, fmt: str) -> Path | None:
    """The cache folder for model file `source` decoded in format `fmt` (None: caching off)."""
    folder = cache_dir()
    if folder is None:
        return None
    st = os.stat(source)
    return folder / f"{fmt}-{os.path.basename(source)}-{st.st_size}-{st.st_mtime_ns}"


def is_cached(source: str | os.PathLike, fmt: str) -> bool:
    try:
        target = entry(source, fmt)
    except OSError:
        return False
    return target is not None and (target / "done").exists()


_RAW_SUFFIXES = (".onnx", ".bin")


def _raw(name: str) -> bool:
    """A name ending in .onnx or .bin (a model file, say) is kept as raw bytes."""
    return name.endswith(_RAW_SUFFIXES)


def load(source: str | os.PathLike, fmt: str, names: list[str]) -> dict[str, np.ndarray | str] | None:
    """The cached arrays `names` (read-only memory maps; a name ending in .txt is text, one
    in .onnx or .bin a raw file, given as its path), or None."""
    try:
        target = entry(source, fmt)
        if target is None or not (target / "done").exists():
            return None
        out: dict[str, np.ndarray | str] = {}
        for name in names:
            if name.endswith(".txt"):
                out[name] = (target / name).read_text(encoding="utf-8")
            elif _raw(name):
                if not (target / name).is_file():
                    return None
                out[name] = str(target / name)
            else:
                out[name] = np.load(target / f"{name}.npy", mmap_mode="r").view(np.ndarray)
        return out
    except (OSError, ValueError):
        return None


def store(source: str | os.PathLike, fmt: str, values: dict[str, np.ndarray | str | bytes]) -> None:
    """Write an entry (best effort: an unwritable cache is not an error)."""
    try:
        target = entry(source, fmt)
        if target is None:
            return
        tmp = target.parent / f"{target.name}.tmp-{os.getpid()}"
        tmp.mkdir(parents=True, exist_ok=True)
        for name, value in values.items():
            if name.endswith(".txt"):
                (tmp / name).write_text(value, encoding="utf-8")
            elif _raw(name):
                (tmp / name).write_bytes(value)
            else:
                np.save(tmp / f"{name}.npy", value)
        (tmp / "done").write_text("ok\n")
        try:
            os.rename(tmp, target)  # atomic: readers see all of it or nothing
        except OSError:  # another process won the race
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError:
        pass


def discard(source: str | os.PathLike, fmt: str) -> None:
    """Remove an entry (a damaged one, say) so that the next store() writes it afresh."""
    try:
        target = entry(source, fmt)
        if target is not None:
            shutil.rmtree(target, ignore_errors=True)
    except OSError:
        pass


def cached(source: str | os.PathLike, fmt: str, names: list[str],
           build: Callable[[], dict[str, np.ndarray | str | bytes]]) -> dict[str, np.ndarray | str | bytes]:
    """load(), else build() and store() it."""
    got = load(source, fmt, names)
    if got is None:
        got = build()
        store(source, fmt, got)
    return got
