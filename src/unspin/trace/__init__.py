"""Trace: find the source of a spun copy in an archive of originals and align every swap.

    idx = Index.build("archive.idx", [("a1", text1), ("a2", text2)])   # or Index("archive.idx")
    idx.add([{"id": "a3", "text": text3}])                               # incremental
    for m in idx.trace(suspect):                                         # best first, [] = no source
        print(m.source_id, m.score, m.coverage, [(s.spun, s.original) for s in m.swaps])

See index.py (storage, search), signature.py (what survives spinning), align.py (verification).
"""
from unspin.trace.index import Index, IndexCorrupt, Match, TraceSwap

__all__ = ["Index", "IndexCorrupt", "Match", "TraceSwap"]
