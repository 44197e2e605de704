"""Reading input: UTF-8 files and stdin, and every way that can go wrong."""
import io
import os
import sys

import pytest

from unspin.inputs import BadInput, decode_bytes, read_text


def test_plain_and_bom():
    assert decode_bytes("café 東京 🙂\r\n".encode()) == "café 東京 🙂\r\n"
    assert decode_bytes(b"\xef\xbb\xbfhello") == "hello"
    assert decode_bytes(b"") == ""


def test_allowed_control_characters():
    text = "a\tb\nc\rd\x0ce\n" * 100
    assert decode_bytes(text.encode()) == text
    # a few stray control characters in real text are tolerated
    assert decode_bytes(b"x" * 1000 + b"\x1b[0m") == "x" * 1000 + "\x1b[0m"


@pytest.mark.parametrize(
    "data, offset",
    [(b"abc\xffdef", 3), (b"\xc3", 0), ("é".encode() * 5 + b"\xe2\x82", 10), (b"ok\xed\xa0\x80", 2)],
)
def test_invalid_utf8_names_the_offset(data, offset):
    with pytest.raises(BadInput) as e:
        decode_bytes(data, "f.txt")
    msg = str(e.value)
    assert msg.startswith("f.txt: invalid UTF-8") and f"byte offset {offset} " in msg
    assert "\n" not in msg


def test_binary():
    with pytest.raises(BadInput, match="NUL byte at offset 8"):
        decode_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(BadInput, match="binary data"):
        decode_bytes(bytes(range(1, 9)) * 50)
    with pytest.raises(BadInput, match="NUL"):
        decode_bytes("text".encode("utf-16-le"))


TEXT = "The visit astatine noon was connected Monday. Ünïcödé “quotes” 🙂\n" * 20


@pytest.mark.parametrize("encoding, name", [
    ("utf-16", "UTF-16"), ("utf-16-le", "UTF-16"), ("utf-16-be", "UTF-16"),
    ("utf-32", "UTF-32"), ("utf-32-le", "UTF-32"), ("utf-32-be", "UTF-32"),
])
def test_utf16_and_utf32_text_is_named(encoding, name):
    """With or without a byte-order mark: said what it is and how to convert it, not 'binary'."""
    with pytest.raises(BadInput) as e:
        decode_bytes(TEXT.encode(encoding), "f.txt")
    assert str(e.value) == f"f.txt: {name} text, expected UTF-8 (convert it first, e.g. iconv -f {name} -t UTF-8)"


@pytest.mark.parametrize("data", [b"\x00" * 1000, b"abc\x00def" * 10, bytes(range(256)) * 8,
                                  b"\x00" + bytes(range(1, 200)) * 20])
def test_binary_with_nul_bytes_is_not_taken_for_utf16(data):
    with pytest.raises(BadInput, match="binary data"):
        decode_bytes(data)


def test_read_text_file(tmp_path):
    p = tmp_path / "a.txt"
    p.write_bytes("\ufeffline one\nline two — ok\n".encode())
    assert read_text(str(p)) == "line one\nline two — ok\n"
    assert read_text(p) == "line one\nline two — ok\n"


def test_read_text_errors(tmp_path):
    with pytest.raises(BadInput, match="no such file"):
        read_text(str(tmp_path / "missing.txt"))
    with pytest.raises(BadInput, match="is a directory"):
        read_text(str(tmp_path))
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine\n\xfe")
    with pytest.raises(BadInput, match=r"bad\.txt: invalid UTF-8 at byte offset 5"):
        read_text(str(bad))


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads everything")
def test_unreadable(tmp_path):
    p = tmp_path / "secret.txt"
    p.write_text("x")
    p.chmod(0)
    with pytest.raises(BadInput, match="permission denied"):
        read_text(str(p))


def test_read_stdin(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("\ufeffhé\n".encode())))
    assert read_text("-") == "hé\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"a\x00b")))
    with pytest.raises(BadInput, match="<stdin>: binary data"):
        read_text("-")


class _Endless(io.RawIOBase):
    """A stream that never ends (like /dev/zero or /dev/urandom), counting what is read."""

    def __init__(self, byte: bytes):
        self.byte, self.read_total = byte, 0

    def readable(self):
        return True

    def readinto(self, b):
        b[:] = self.byte * len(b)
        self.read_total += len(b)
        return len(b)


@pytest.mark.parametrize("byte", [b"\x00", b"\x01"])
def test_an_endless_binary_stream_is_refused_after_its_first_64_kib(byte):
    from unspin.inputs import _read_stream, sniffed_lines

    for read in (lambda s: _read_stream(s, "<stdin>"), lambda s: next(sniffed_lines(s, "<stdin>"))):
        stream = io.BufferedReader(_Endless(byte))
        with pytest.raises(BadInput, match="<stdin>: binary data"):
            read(stream)
        assert stream.raw.read_total <= 2 * 65536


def test_sniffed_lines_are_the_streams_lines():
    from unspin.inputs import sniffed_lines

    long_line = b'{"text": "' + b"word " * 30000 + b'"}\n'  # (across the 64 KiB first read)
    for data in (b"", b"a\n", b"a\nb", b"a\r\nb\r\n", long_line + b"x\n" + long_line, b"\n\n\n", b"x" * 65536,
                 b"x" * 65535 + b"\n" + b"y"):
        assert list(sniffed_lines(io.BytesIO(data), "f")) == io.BytesIO(data).readlines(), data[:20]
    with pytest.raises(BadInput, match="UTF-16 text"):
        list(sniffed_lines(io.BytesIO(TEXT.encode("utf-16")), "f"))
