"""Write tests/cases/trace_docs.json from the dev set: python bench/trace/make_cases.py"""
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import REPO, load_records  # noqa: E402

recs = [r for r in load_records("dev") if r["simulator"] != "clean" and r["source"].startswith("brown:")
        and r["original"].count("\n") >= 2]
rng = random.Random("trace-cases")
rng.shuffle(recs)
spun, seen = [], set()
for sim in ("wordnet-first", "wordnet-random", "mythes", "moby", "mixed"):
    for rate, fw in ((0.5, True), (0.3, False)):
        r = next(x for x in recs if x["simulator"] == sim and x["rate"] == rate and x["function_words"] == fw
                 and x["source"] not in seen)
        seen.add(r["source"])
        spun.append({"source": r["source"], "text": r["spun"], "simulator": sim, "rate": rate})
archive = [{"id": r["source"], "text": next(x["original"] for x in recs if x["source"] == r["source"])} for r in spun]
unrelated = [r["spun"] for r in recs if r["source"] not in seen][:4]
out = REPO / "tests" / "cases" / "trace_docs.json"
out.write_text(json.dumps({"archive": archive, "spun": spun, "unrelated": unrelated}, ensure_ascii=False, indent=0),
               encoding="utf-8")
print(out, len(archive), len(spun), len(unrelated))
