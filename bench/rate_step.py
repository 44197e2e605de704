#!/usr/bin/env python3
"""Fit DecoderParams.rate_step on the DEV split: the rate a second rate pass would estimate, as a
quadratic in the first pass's estimate.

    python bench/rate_step.py          # prints the coefficients for params.json and the fit's error

For every paragraph-sized chunk of every dev document (as check() decodes it): decode at the
prior rate, estimate the rate from the posteriors (swap mass / spinnable words, clamped), decode
again at that rate with the document's adapted thesaurus weights, estimate again.  Least squares
of the second estimate on (1, r, r^2) of the first.  check() then decodes its last pass at the
fitted step of the first estimate instead of running the second pass.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import load_records  # noqa: E402

from unspin import api  # noqa: E402
from unspin.text import word_sentences  # noqa: E402


def estimates(split: str = "dev") -> tuple[np.ndarray, np.ndarray]:
    dec = api._decoder(True)
    p = dec.params

    def clamp(mass: float, n: int) -> float:
        return min(p.rate_max, max(p.rate_min, mass / n if n else 0.0))

    first, second = [], []
    for rec in load_records(split):
        text = rec["spun"]
        if api._early_verdict(text):
            continue
        for piece in api._chunks(text, dec):
            units = word_sentences(piece.repaired.text)
            if not units:
                continue
            batch = dec.prepare([(w, linked) for _t, w, linked in units])
            dec.decode_batch(batch, None, stats_only=True)
            r1 = clamp(batch.swap_mass, batch.n_spinnable)
            dec.decode_batch(batch, r1, stats_only=True, log_weights=dec.thesaurus_weights(batch.thesaurus_counts))
            first.append(r1)
            second.append(clamp(batch.swap_mass, batch.n_spinnable))
    return np.array(first), np.array(second)


def main() -> int:
    r1, r2 = estimates()
    design = np.vstack([np.ones_like(r1), r1, r1 ** 2]).T
    coef, *_ = np.linalg.lstsq(design, r2, rcond=None)
    rms = float(np.sqrt(((design @ coef - r2) ** 2).mean()))
    rms_id = float(np.sqrt(((r1 - r2) ** 2).mean()))
    print(f"{len(r1)} dev chunks; rate_step = [{coef[0]:.4f}, {coef[1]:.4f}, {coef[2]:.4f}]")
    print(f"rms error of the step {rms:.4f}; of the first estimate as it is {rms_id:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
