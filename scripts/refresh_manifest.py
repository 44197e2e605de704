#!/usr/bin/env python3
"""Re-hash src/unspin/data/ into MANIFEST.json without rebuilding (keeps the recorded inputs).

Use after adding or changing a shipped file that needs no rebuild (e.g. data/params.json from
bench/tune.py).  `python scripts/refresh_manifest.py`; tests/test_manifest.py checks the result.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_artefacts import DATA, write_manifest  # noqa: E402

if __name__ == "__main__":
    write_manifest({})
    print(f"wrote {DATA / 'MANIFEST.json'}")
