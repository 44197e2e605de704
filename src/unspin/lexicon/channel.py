"""The run-time channel table: spun surface form -> candidate originals with per-thesaurus costs.

The table (data/channel.npz, built by scripts/build_artefacts.py) stores, for every pair, the
cost -ln P_t(spun | original) quantised to QUANT nats, for each column t of THESAURI: a thesaurus
under a spinner that picks one of the original's senses and then one of its terms uniformly, or
(the "-first" columns) under one that always takes the first synonym of the first sense.  A
spinner seen in the wild is a mixture of such spinners: `Channel.candidates` mixes them with
weights learned on dev data (see `ChannelWeights`, bench/channel_em.py).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from bisect import bisect_left
from importlib import resources
from pathlib import Path

import numpy as np

# Columns of the table: a thesaurus under a spinner that picks a sense and a term uniformly, the
# symmetric closure ("reverse"), and WordNet / MyThes under a rank-aware spinner that takes the
# first synonym of the first sense ("-first"; reported as the thesaurus itself).
THESAURI = ("wordnet", "mythes", "moby", "reverse", "wordnet-first", "mythes-first")
REPORTED = {"wordnet-first": "wordnet", "mythes-first": "mythes"}
_DIGIT = re.compile(r"\d")


def _rows_without_digits(keys: list[str]) -> dict[str, int]:
    """{key: its row} for the keys without a digit (a few hundred have one), found by one scan
    of the joined keys rather than a regex call per key (0.06 s against 0.25 s)."""
    rows = dict(zip(keys, range(len(keys))))
    joined = "\n".join(keys)
    for m in _DIGIT.finditer(joined):
        start = joined.rfind("\n", 0, m.start()) + 1
        end = joined.find("\n", m.start())
        rows.pop(joined[start:end if end >= 0 else len(joined)], None)
    return rows


QUANT = 0.1  # nats per step of the stored costs
ABSENT = 255  # stored cost meaning "this thesaurus does not explain the pair"


@dataclass(frozen=True)
class ChannelWeights:
    """Mixture weight of each thesaurus in P(spun | original), learned on dev data."""

    wordnet: float = 0.3
    mythes: float = 0.3
    moby: float = 0.2
    reverse: float = 0.1
    wordnet_first: float = 0.05
    mythes_first: float = 0.05

    def as_array(self) -> np.ndarray:
        return np.array([getattr(self, t.replace("-", "_")) for t in THESAURI], dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Candidate:
    original: str  # lower case, words joined by single spaces
    log_channel: float  # ln P(spun | original), mixture over thesauri
    thesaurus: str  # the thesaurus that explains the pair best


class Channel:
    """Read-only view of data/channel/: keys.txt (sorted spun forms), originals.txt, and three
    memory-mapped arrays: offsets (per key), cand_orig (index into originals), cand_cost."""

    def __init__(self, path=None, weights: ChannelWeights | None = None):
        folder = Path(path) if path is not None else Path(str(resources.files("unspin") / "data" / "channel"))
        self._keys = (folder / "keys.txt").read_text(encoding="utf-8").split("\n")
        self._originals = (folder / "originals.txt").read_text(encoding="utf-8").split("\n")
        self._offsets = np.load(folder / "offsets.npy", mmap_mode="r")
        self._cand_orig = np.load(folder / "cand_orig.npy", mmap_mode="r")
        self._cand_cost = np.load(folder / "cand_cost.npy", mmap_mode="r")
        if len(self._offsets) != len(self._keys) + 1 or self._cand_cost.shape[1:] != (len(THESAURI),):
            raise ValueError(f"corrupt channel table in {folder}")
        w = (weights or ChannelWeights()).as_array()
        self._log_w = np.log(np.maximum(w, 1e-12))
        self._cache: dict[str, tuple[Candidate, ...]] = {}
        self._index_cache: dict[str, int] = {}
        self._pair_index: np.ndarray | None = None
        self._key_rows: dict[str, int] | None = None  # key -> row, once a run has looked up many
        self._lookups = 0
        self._first_words: frozenset[str] | None = None
        self._folder = folder
        self._prefixes: frozenset[str] | None = None
        self._orig_ids: tuple[str, np.ndarray] | None = None

    # After this many look-ups of strings not seen before, a dict of the keys (those without a
    # digit: see _find) is built, about 0.2 s, and answers every look-up from then on with one
    # probe, where _find's bisection of 531,000 strings costs about 6 µs for a miss (most probed
    # phrases) and 2-3 µs for a hit, and the cache of answers no longer grows: a short text
    # never pays for the dict, a long run pays once.
    KEY_DICT_AFTER = 20_000

    def _index(self, spun: str) -> int:
        if self._key_rows is not None:
            return self._key_rows.get(spun, -1)
        got = self._index_cache.get(spun)
        if got is None:
            got = self._find(spun)
            if len(self._index_cache) < 500_000:
                self._index_cache[spun] = got
        return got

    def _find(self, spun: str) -> int:
        if _DIGIT.search(spun):
            # A form with a digit ("50", "1 kings") is never undone: WordNet lists "50" under
            # "fifty", but the 3-gram prior, trained on speech transcripts, spells numbers out
            # and would "restore" every "50 percent" to "fifty percent" (on dev, digits made
            # about 3% of the false swaps in spun documents, and no gold swap of dev or test;
            # tune --limit 600: false swaps 1.88 -> 1.74 per 1k clean words, F1 .764 -> .765).
            return -1
        self._lookups += 1
        if self._lookups > self.KEY_DICT_AFTER:
            self.build_key_rows()
            return self._key_rows.get(spun, -1)
        i = bisect_left(self._keys, spun)
        return i if i < len(self._keys) and self._keys[i] == spun else -1

    def build_key_rows(self) -> None:
        """The dict of keys that answers every look-up once a run has made KEY_DICT_AFTER (0.2 s,
        once): a process set up for a long run builds it at its start (Decoder.set_up_long_run)
        rather than in the middle of whatever text it is reading then."""
        if self._key_rows is None:
            self._key_rows = _rows_without_digits(self._keys)
            self._index_cache = {}  # (answered by the dict from now on)

    @property
    def max_phrase_words(self) -> int:
        return 4

    @property
    def phrase_first_words(self) -> frozenset[str]:
        """First words of multi-word keys: phrases are looked up only where one starts (the
        one-word members of key_prefixes)."""
        if self._first_words is None:
            self._first_words = frozenset(p for p in self.key_prefixes if " " not in p)
        return self._first_words

    def __contains__(self, spun: str) -> bool:
        return self._index(spun) >= 0

    @property
    def key_prefixes(self) -> frozenset[str]:
        """The proper word prefixes of multi-word keys ("in", "in accord" of "in accord
        circumstances"): the decoder stops growing a phrase that is neither one nor a key."""
        if self._prefixes is None:
            shipped = self._folder / "prefixes.txt"
            if shipped.exists():
                self._prefixes = frozenset(shipped.read_text(encoding="utf-8").split("\n"))
            else:
                self._prefixes = frozenset(key_prefixes(self._keys))
        return self._prefixes

    def key_index(self, spun: str) -> int:
        """Row of a spun form in the tables (-1: not a key)."""
        return self._index(spun)

    @property
    def pair_index(self) -> np.ndarray | None:
        """The word pairs that open a multi-word key ("in accord" of "in accord circumstances"),
        as a bit set of their hashes (see `pairs_in_index`), once `build_pair_index` has run
        (None before)."""
        return self._pair_index

    # Bits of the pair index: 2**23 (1 MB) for the 254,000 pairs that open a key, so that about 3%
    # of the pairs that open none pass for one (their phrase is then looked up, and found to be
    # no key).  One read per pair: the sorted hashes it replaces took a binary search of 2 MB,
    # whose last steps missed the CPU's caches in a check (distinct 2 KB spun pieces: 0.34 ms
    # of a check's 9 for 335 pairs; 0.1 ms with the caches warm).
    PAIR_BITS = 23

    def build_pair_index(self) -> None:
        """Build `pair_index` (0.2 s and 1 MB: a process that decodes a lot calls it, see
        decode.Decoder._prepare).  Its hashes are str hashes, so it is built in the process
        that reads it."""
        if self._pair_index is not None:
            return
        heads = [k.split(" ", 2)[:2] for k in self._keys if " " in k]
        at = _pair_hashes([h[0] for h in heads], [h[1] for h in heads]) >> np.uint64(64 - self.PAIR_BITS)
        bits = np.zeros(1 << self.PAIR_BITS, np.bool_)
        bits[at] = True
        self._pair_index = np.packbits(bits, bitorder="little")  # (bit j of byte i: hash bits i * 8 + j)

    def pairs_in_index(self, first: list[str], second: list[str]) -> np.ndarray:
        """Per pair (first[i], second[i]), whether it may open a multi-word key: False means it
        does not; True that it does or that its hash's bit is shared with one that does (the
        decoder then looks the phrase up as before).  The decoder tests a document's word pairs
        at once instead of making each pair's string and looking it up (most open no key)."""
        at = _pair_hashes(first, second) >> np.uint64(64 - self.PAIR_BITS)
        return (self._pair_index[at >> np.uint64(3)] >> (at & np.uint64(7)).astype(np.uint8)) & 1 == 1

    @property
    def originals(self) -> list[str]:
        return self._originals

    @property
    def tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(offsets, cand_orig, cand_cost): key k's candidates are rows offsets[k]:offsets[k+1]."""
        return self._offsets, self._cand_orig, self._cand_cost

    @property
    def log_weights(self) -> np.ndarray:
        return self._log_w

    def original_ids(self, vocab: dict[str, int], vocab_digest: str) -> np.ndarray:
        """Each original's words as ids of `vocab` (int32 [originals, 4], -1 padded): the shipped
        table when it was built for this vocabulary, else computed now (about half a second)."""
        if self._orig_ids is None or self._orig_ids[0] != vocab_digest:
            table = None
            digest_file = self._folder / "lm_vocab.sha256"
            if digest_file.exists() and digest_file.read_text(encoding="utf-8").strip() == vocab_digest:
                table = np.load(self._folder / "orig_lm_ids.npy")
            if table is None or len(table) != len(self._originals):
                table = lm_ids_for(self._originals, vocab)
            self._orig_ids = (vocab_digest, table)
        return self._orig_ids[1]

    def components(self, spun: str) -> list[tuple[str, np.ndarray]]:
        """Per-thesaurus ln P_t(spun | original) for every candidate (-inf where t lacks the pair):
        what the mixture weights are learned from."""
        k = self._index(spun)
        if k < 0:
            return []
        a, b = int(self._offsets[k]), int(self._offsets[k + 1])
        cost = np.asarray(self._cand_cost[a:b])
        logp = np.where(cost == ABSENT, -np.inf, -cost.astype(np.float64) * QUANT)
        return [(self._originals[o], row) for o, row in zip(self._cand_orig[a:b].tolist(), logp)]

    def candidates(self, spun: str) -> tuple[Candidate, ...]:
        """Originals that could have been spun into `spun` (lower case, space-joined)."""
        got = self._cache.get(spun)
        if got is not None:
            return got
        k = self._index(spun)
        if k < 0:
            got = ()
        else:
            a, b = int(self._offsets[k]), int(self._offsets[k + 1])
            costs = self._cand_cost[a:b].astype(np.float64)
            logp = np.where(self._cand_cost[a:b] == ABSENT, -np.inf, -costs * QUANT) + self._log_w
            best_t = logp.argmax(axis=1)
            mx = logp.max(axis=1)
            mix = mx + np.log(np.exp(logp - mx[:, None]).sum(axis=1))
            got = tuple(
                Candidate(self._originals[o], float(m), reported_thesaurus(t))
                for o, m, t in zip(self._cand_orig[a:b].tolist(), mix.tolist(), best_t.tolist())
            )
        if len(self._cache) < 200_000:
            self._cache[spun] = got
        return got


def _pair_hashes(first: list[str], second: list[str]) -> np.ndarray:
    """A hash per word pair from the words' own (cached) str hashes."""
    a = np.fromiter(map(hash, first), np.int64, len(first)).view(np.uint64)
    b = np.fromiter(map(hash, second), np.int64, len(second)).view(np.uint64)
    return a * np.uint64(0x9E3779B97F4A7C15) ^ b


def reported_thesaurus(column: int) -> str:
    """The thesaurus a swap is reported as coming from, for a column of the table."""
    name = THESAURI[column]
    return REPORTED.get(name, name)


@lru_cache(maxsize=1)
def default_channel() -> Channel:
    return Channel()


def key_prefixes(keys: list[str]) -> list[str]:
    """The proper word prefixes of the multi-word keys ("in", "in accord" of "in accord
    circumstances"), sorted."""
    prefixes = set()
    for k in keys:
        if " " in k:
            words = k.split(" ")
            for j in range(1, len(words)):
                prefixes.add(" ".join(words[:j]))
    return sorted(prefixes)


def lm_ids_for(originals: list[str], vocab: dict[str, int], width: int = 4) -> np.ndarray:
    table = np.full((len(originals), width), -1, dtype=np.int32)
    for i, text in enumerate(originals):
        for j, w in enumerate(text.split(" ")[:width]):
            table[i, j] = vocab.get(w, -1)
    return table


def log_mix(values: list[float]) -> float:
    m = max(values)
    return m + math.log(sum(math.exp(v - m) for v in values))
