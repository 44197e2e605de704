"""The user cache's clean-up: which entries are other versions of the same decoded model."""
from __future__ import annotations

from unspin.lm import diskcache


def test_siblings_are_other_versions_and_variants_of_the_same_format(tmp_path):
    names = ["onnx-i8-v9-m.gguf-10-ab", "onnx-i8-v10-u8-m.gguf-10-ab", "onnx-i8-v10-s8-m.gguf-10-ab",
             "onnx-i8-v10-u8-other.gguf-10-ab", "f32-v1-m.gguf-10-ab", "f32-embed-v1-m.gguf-10-ab",
             "f32-v2-m.gguf-12-cd", "wordfreq1-m.gguf-10-ab", "wordfreq2-m.gguf-10-ab"]
    for n in names:
        (tmp_path / n).mkdir()

    def siblings(target: str, fmt: str) -> list[str]:
        return sorted(p.name for p in diskcache._siblings(tmp_path / target, fmt, "/x/m.gguf"))

    # the uint8 graphs of version 10: the version-9 graphs and the int8 variant are siblings
    assert siblings("onnx-i8-v10-u8-m.gguf-10-ab", "onnx-i8-v10-u8") == [
        "onnx-i8-v10-s8-m.gguf-10-ab", "onnx-i8-v9-m.gguf-10-ab"]
    # another model file's entries, and another format sharing a prefix, are not
    assert siblings("f32-v1-m.gguf-10-ab", "f32-v1") == ["f32-v2-m.gguf-12-cd"]
    assert siblings("f32-embed-v1-m.gguf-10-ab", "f32-embed-v1") == []
    # a format whose name ends in its version number, as before
    assert siblings("wordfreq2-m.gguf-10-ab", "wordfreq2") == ["wordfreq1-m.gguf-10-ab"]
