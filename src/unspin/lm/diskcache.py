"""Decoded models kept between runs as memory-mapped .npy files (the 3-gram's arrays, the
neural runtime's float32 weights): a warm start maps them instead of decoding the model again.

Entries live in $UNSPIN_CACHE_DIR, else ($XDG_CACHE_HOME or ~/.cache)/unspin (UNSPIN_CACHE_DIR=off
disables it), one folder per model file and format, keyed by the file's name, size and a hash
of sixteen 64 KB samples of its content: every install of the same model shares one entry
(keyed by modification time, each reinstall left another 250 MB behind).  An entry is written to
a temporary folder and renamed into place, so a reader sees all of it or nothing; any failure to
read or write it just means decoding again.  Storing an entry removes the entries of the same
file name in other versions of its format, or of other content, that no load has read for a day.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import time
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

STALE_SECONDS = 86_400  # a sibling entry no load has read for this long is removed by store()
_SAMPLES, _SAMPLE_BYTES = 16, 1 << 16


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
    return folder / f"{fmt}-{os.path.basename(source)}-{st.st_size}-{_fingerprint(str(source), st.st_size, st.st_mtime_ns)}"


@lru_cache(maxsize=64)
def _fingerprint(path: str, size: int, mtime_ns: int) -> str:  # noqa: ARG001  (mtime: a file changed in place is read again)
    """A hash of sixteen evenly spaced 64 KB samples of a file (1 MB read, about 1 ms).  A
    model file changed only between samples would keep its entry: another model or another
    version of one differs all through (weights), and a gguf's metadata is in the first."""
    h = hashlib.blake2b(digest_size=8)
    with open(path, "rb") as fh:
        for k in range(_SAMPLES):
            fh.seek(max(0, size - _SAMPLE_BYTES) * k // (_SAMPLES - 1))
            h.update(fh.read(_SAMPLE_BYTES))
    return h.hexdigest()


def _siblings(target: Path, fmt: str, source: str | os.PathLike) -> list[Path]:
    """Other entries of the same file name in any version of the format (its name less the
    version number it ends in), whatever their size and content.  A format "name-vN-variant"
    (onnx_llama's "onnx-i8-v10-u8": uint8 weights) is of the family of "name-vN": every version
    and variant of "name" is a sibling."""
    base = re.escape(os.path.basename(source))
    versioned = re.fullmatch(r"(.+)-v\d+(?:-[a-z0-9]+)?", fmt)
    if versioned:
        family = re.escape(versioned.group(1)) + r"-v\d+(?:-[a-z0-9]+)?"
    else:
        family = re.escape(re.sub(r"\d+$", "", fmt)) + r"\d+"
    pattern = re.compile(rf"{family}-{base}-\d+-[0-9a-f]+")
    return [p for p in target.parent.iterdir() if p != target and p.is_dir() and pattern.fullmatch(p.name)]


def _prune(target: Path, fmt: str, source: str | os.PathLike) -> None:
    """Remove the siblings no load has read for STALE_SECONDS (a load touches its "done")."""
    now = time.time()
    for p in _siblings(target, fmt, source):
        try:
            used = (p / "done").stat().st_mtime if (p / "done").exists() else p.stat().st_mtime
        except OSError:
            continue
        if now - used > STALE_SECONDS:
            shutil.rmtree(p, ignore_errors=True)


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
        try:
            os.utime(target / "done")  # (in use: see _prune)
        except OSError:  # a read-only cache
            pass
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
        _prune(target, fmt, source)
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
