"""Reading user input: files or stdin as UTF-8 text, with clear errors for everything else.

`read_text(path_or_dash)` and `decode_bytes(data)` raise `BadInput(message)` for:
  * a missing or unreadable file, or a directory;
  * invalid UTF-8 (the message names the byte offset and the offending bytes);
  * binary data: a NUL byte, or more than 10% control characters (other than tab, newline,
    carriage return and form feed) in the first 64 KiB;
  * UTF-16 or UTF-32 text (a byte-order mark, or NUL bytes in text that decodes as it): named,
    with how to convert it.
A stream's first 64 KiB are judged before the rest is read (`check_head`, `sniffed_lines`), so an
endless binary one (/dev/zero) is refused at once.  A leading UTF-8 byte-order mark is removed.
Line endings are kept as they are.
"""
from __future__ import annotations

import json
import os
import sys
from typing import BinaryIO, Iterator

__all__ = ["BadInput", "read_text", "decode_bytes", "check_head", "sniffed_lines", "utf16_or_32",
           "load_json", "loads_strict", "MAX_CONTROL_SHARE"]

MAX_CONTROL_SHARE = 0.10
_SNIFF = 65536
_ALLOWED_CONTROLS = frozenset(b"\t\n\r\x0c")
_CONTROL_BYTES = bytes(b for b in range(32) if b not in _ALLOWED_CONTROLS) + b"\x7f"
_DELETE_ALL = bytes(range(256))


class BadInput(ValueError):
    """Input that unspin cannot read as text.  str(exc) is a one-line message for users."""


def check_head(head: bytes, source: str = "input") -> None:
    """Raise BadInput if the start of an input is binary (or UTF-16/32) rather than UTF-8 text:
    read before the rest, so that an endless binary stream (/dev/zero) is refused at once
    instead of being read into memory without end."""
    _check_not_binary(head[3:] if head.startswith(b"\xef\xbb\xbf") else head, source)


def _check_not_binary(data: bytes, source: str) -> None:
    """BadInput for a NUL byte anywhere (named UTF-16/32 where it is that) or too many control
    bytes in the first 64 KiB."""
    nul = data.find(b"\x00")
    if nul >= 0:
        utf = utf16_or_32(data)
        if utf:  # (text in another Unicode encoding: say which, and how to convert it)
            raise BadInput(f"{source}: {utf} text, expected UTF-8 (convert it first, e.g. iconv -f {utf} -t UTF-8)")
        raise BadInput(f"{source}: binary data (NUL byte at offset {nul}), expected UTF-8 text")
    head = data[:_SNIFF]
    if head:
        # count control bytes without a Python loop: delete them and compare lengths
        n_ctrl = len(head) - len(head.translate(None, _CONTROL_BYTES))
        if n_ctrl > MAX_CONTROL_SHARE * len(head):
            raise BadInput(
                f"{source}: binary data ({n_ctrl} control bytes in the first {len(head)}), expected UTF-8 text"
            )


def decode_bytes(data: bytes, source: str = "input") -> str:
    """Decode UTF-8 bytes (BOM stripped) or raise BadInput naming `source`."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    _check_not_binary(data, source)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        bad = data[e.start:e.end].hex(" ")
        raise BadInput(f"{source}: invalid UTF-8 at byte offset {e.start} (bytes {bad}): {e.reason}") from None


def utf16_or_32(data: bytes) -> str | None:
    """"UTF-16" or "UTF-32" when data holding a NUL byte is text in that encoding: its byte-order
    mark, or none and the NUL bytes of Latin-script text in it (the high bytes of most code
    units: UTF-16's every other byte, UTF-32's two of four) with the first 64 KiB decoding as it
    to mostly printable text; else None."""
    if data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "UTF-32"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "UTF-16"
    head = data[: len(data[:_SNIFF]) // 4 * 4]
    if len(head) < 32:
        return None
    nul_share = [head[i::4].count(0) / (len(head) // 4) for i in range(4)]
    for name, nul_at in (("UTF-32", ((2, 3), (0, 1))), ("UTF-16", ((1, 3), (0, 2)))):
        for order, where in zip(("le", "be"), nul_at):
            if min(nul_share[i] for i in where) < 0.6:
                continue
            try:
                text = head.decode(f"{name}-{order}")
            except UnicodeDecodeError:
                continue
            if sum(c.isprintable() or c in "\t\n\r" for c in text) >= 0.95 * len(text):
                return name
    return None


def _read_stream(stream: BinaryIO, name: str) -> bytes:
    chunks = [stream.read(_SNIFF)]
    check_head(chunks[0], name)
    while chunks[-1]:
        b = stream.read(1 << 20)
        if not b:
            break
        chunks.append(b)
    return b"".join(chunks)


def read_bytes(path_or_dash: str | os.PathLike = "-") -> tuple[bytes, str]:
    """Return (bytes, display name).  "-" means standard input."""
    if str(path_or_dash) == "-":
        stream = getattr(sys.stdin, "buffer", None)
        if stream is None:  # stdin replaced by a text stream (tests, embedding)
            text = sys.stdin.read() if sys.stdin is not None else ""
            return text.encode("utf-8", "surrogateescape"), "<stdin>"
        return _read_stream(stream, "<stdin>"), "<stdin>"
    path = os.fspath(path_or_dash)
    with open_binary(path, "a text file") as f:
        try:
            return _read_stream(f, path), path
        except OSError as e:
            raise BadInput(f"{path}: cannot read ({e.strerror or e})") from None


def sniffed_lines(stream: BinaryIO, name: str) -> Iterator[bytes]:
    """The stream's lines (newlines kept), after check_head on its first 64 KiB: a binary stream
    is refused before any line is read (a NUL stream has no line end to stop at)."""
    head = stream.read(_SNIFF)
    check_head(head, name)
    *complete, tail = head.split(b"\n")
    for line in complete:
        yield line + b"\n"
    rest = stream.readline()
    if tail or rest:
        yield tail + rest
    if rest.endswith(b"\n"):
        yield from stream


def _no_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _finite(number: str) -> float:
    value = float(number)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"number {number[:30]} is out of range")
    return value


def load_json(text: str | bytes, **kwargs):
    """json.loads, whose every failure is a ValueError: a value nested too deeply raises
    RecursionError in it, which a reader catching ValueError (a 400, an error row) missed."""
    try:
        return json.loads(text, **kwargs)
    except RecursionError as e:
        raise ValueError(str(e)) from None


def loads_strict(text: str | bytes):
    """load_json as the JSON standard has it: NaN, Infinity and numbers too large for a float
    are errors (Python's parser takes them, and an echoed id would make output lines that other
    JSON readers refuse)."""
    return load_json(text, parse_constant=_no_constant, parse_float=_finite)


def open_binary(path: str, expected: str = "a file"):
    """Open a user's file for reading bytes; every way that can fail becomes one BadInput line."""
    if os.path.isdir(path):
        raise BadInput(f"{path}: is a directory, expected {expected}")
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file") from None
    except PermissionError:
        raise BadInput(f"{path}: permission denied") from None
    except IsADirectoryError:
        raise BadInput(f"{path}: is a directory, expected {expected}") from None
    except OSError as e:
        raise BadInput(f"{path}: cannot read ({e.strerror or e})") from None


def read_text(path_or_dash: str | os.PathLike = "-") -> str:
    """Read a file (or stdin for "-") as UTF-8 text; raise BadInput otherwise."""
    data, name = read_bytes(path_or_dash)
    return decode_bytes(data, name)
