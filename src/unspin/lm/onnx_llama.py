"""SmolLM2's forward pass as an ONNX graph with 8-bit matrix products, run by onnxruntime: the
neural tier's fastest runtime (`bench/neural.py --runtime onnx|numpy`).

Why: the float32 numpy runtime (`unspin.lm.gguf_llama`) spends nearly all its time in BLAS
matrix products.  onnxruntime multiplies 8-bit integers (`DynamicQuantizeMatMul`), through AMX
tiles or VNNI dot products where the CPU has them: on this project's Xeon 1,060 against 128
GFLOPS for float32 BLAS on products of SmolLM2's shapes, one core.  The whole pass runs at
about 3x the numpy runtime's tokens/s.  The rest of it (norms, rotary embedding, attention,
SiLU) stays float32, in the same graph.  (On a CPU without VNNI the weights are held as uint8,
whose products onnxruntime makes exactly there: see `weights_unsigned`.)

8 bits cost little accuracy because of two things (ten dev texts, 2,444 tokens after BOS:
cross-entropy per token, float32 3.960):
- the weights are quantised per output row after SmoothQuant's per-channel factors (Xiao et
  al. 2023) move the activations' outlier channels into them (`smoothed`: exact in float32,
  folded into the norms and the value and "up" rows, so it costs nothing at run time);
- each activation row (token) is quantised on its own scale (`_Graph.matmul8_rows`), so the
  first token's huge activations do not coarsen every other token's, and a token's score does
  not depend on what else shares its pass.
One scale per matrix, no smoothing: 4.450; smoothed: 4.103; per row: 3.999; both: 3.981.

The graph mirrors `GgufLlama._forward` (same inputs: token embeddings, rotary angles, an
attention mask, the cached keys and values), so `OnnxLlama` is a `GgufLlama` whose `_forward`
and `_logprobs` run through two onnxruntime sessions; prefix caching and the packing of
`score_segments` are inherited (a segment far longer than a pass runs as its prefix, then its
continuations: `OnnxLlama._score_group`).  The graphs are built once (with the `onnx` package,
from the float32 weights in memory: about 5 s the first time) and kept in the user cache
(`unspin.lm.diskcache`: 130 MB, and the float32 embeddings, 110 MB); a warm load needs
onnxruntime only.
"""
from __future__ import annotations

import os
import platform
from functools import lru_cache
from pathlib import Path

import numpy as np

from unspin.lm import diskcache
from unspin.lm.gguf_llama import GgufLlama, continuation_totals, next_token_logprobs

CACHE_FORMAT = "onnx-i8-v10"  # the serialised graphs in the user cache (see cache_format)
IR_VERSION = 8  # ONNX IR version of the graphs: opset 17's (onnxruntime 1.13 and later read it)

SMOOTHING = 0.5  # SmoothQuant's alpha: how much of an input channel's range moves into the weights


def activation_ranges(model: GgufLlama, texts: list[str]) -> dict[tuple[int, str], np.ndarray]:
    """max |input| per channel of every matrix product, over the float32 pass on `texts`."""
    ranges: dict[tuple[int, str], np.ndarray] = {}

    def probe(li, key, x):
        m = np.abs(x).max(axis=0)
        ranges[(li, key)] = np.maximum(ranges[(li, key)], m) if (li, key) in ranges else m

    for text in texts:
        # (after BOS, as the runtime always reads: its activations are the largest of all)
        ids = [model.bos] + model.tokenizer.encode(text, add_special_tokens=False).ids[:511]
        n = len(ids)
        if n:
            GgufLlama._forward(model, np.asarray(ids, np.int64), np.arange(n), [], [], np.tril(np.ones((n, n), bool)), False, probe)
    return ranges


def _calibration_texts() -> list[str]:
    """English text shipped with the package (the demo's spun and original documents)."""
    from importlib import resources

    demo = resources.files("unspin") / "data" / "demo"
    return [(demo / name).read_text(encoding="utf-8") for name in ("demo.txt", "gettysburg-original.txt")]


def smoothed(model: GgufLlama, alpha: float = SMOOTHING):
    """(name, float32 array) for each layer's norms and matrices with SmoothQuant's per-channel
    factors folded in (Xiao et al. 2023): a product X W^T equals (X / s)(W s)^T, and s_j =
    max|X_j|^alpha / max|W_j|^(1 - alpha) evens out the few input channels whose range would
    otherwise set the scale of the whole 8-bit activation matrix.  X / s costs nothing: it is
    folded into what makes X (the norm's weight for qkv and gate_up, the "up" rows for down,
    the value rows for attn_out, shared by the query heads of a kv head).  Exact in float32."""
    ranges = activation_ranges(model, _calibration_texts())
    hd, nkv = model.head_dim, model.n_kv
    group = model.n_head // nkv
    d = model.dim

    def factor(x_range, w_range):
        """s_j from an input channel's range and its weight column's"""
        s = np.power(np.maximum(x_range, 1e-5), alpha) / np.power(np.maximum(w_range, 1e-5), 1 - alpha)
        return s.astype(np.float32)

    def column_range(w):
        return np.abs(w).max(axis=0)

    for i, (an, wqkv, wo, fn, wgu, wd) in enumerate(model.layers):
        wqkv, wo, wgu, wd = (np.array(w, dtype=np.float32) for w in (wqkv, wo, wgu, wd))
        s = factor(ranges[(i, "qkv")], column_range(wqkv))
        yield f"{i}.attn_norm", np.asarray(an, np.float32) / s
        wqkv *= s[None, :]
        # attn_out: one factor per (kv head, dim), the largest of its query heads' channels
        x_att = ranges[(i, "attn_out")].reshape(nkv, group, hd).max(axis=1)
        w_att = column_range(wo).reshape(nkv, group, hd).max(axis=1)
        s_v = factor(x_att, w_att)
        wqkv[d + nkv * hd:] /= s_v.reshape(-1)[:, None]
        wo *= np.repeat(s_v[:, None, :], group, axis=1).reshape(-1)[None, :]
        s = factor(ranges[(i, "gate_up")], column_range(wgu))
        yield f"{i}.ffn_norm", np.asarray(fn, np.float32) / s
        wgu *= s[None, :]
        s = factor(ranges[(i, "down")], column_range(wd))
        half = wgu.shape[0] // 2
        wgu[half:] /= s[:, None]
        wd *= s[None, :]
        yield f"{i}.qkv", wqkv
        yield f"{i}.attn_out", wo
        yield f"{i}.gate_up", wgu
        yield f"{i}.down", wd


WEIGHT_LEVELS = 127  # the weights' integer range: [-127, 127] (per output row, see quantize_rows)


@lru_cache(maxsize=1)
def _cpu_has_vnni() -> bool:
    """Whether this is an x86 CPU with VNNI dot products (AVX512-VNNI, AVX-VNNI or AMX), read
    from Linux's /proc/cpuinfo once (False wherever it cannot be told)."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_vnni", "avx_vnni", "amx_int8"})
    except OSError:
        pass
    return False


def weights_unsigned() -> bool:
    """Whether the graphs hold the weights as uint8 around a zero point of 128 rather than as
    int8 (the same integers, shifted).  onnxruntime multiplies the uint8 activations by int8
    weights with VNNI dot products where the CPU has them (exact, and fastest); without them
    (x86 with AVX2 only) two at a time into int16 sums (vpmaddubsw), which saturate: 255 * 127
    * 2 overflows int16.  On such a machine the model's scores were off by up to 3 nats a
    sequence against float32 and its swaps changed (the real example's "second administration
    official" read "little management standard"; ten dev texts: float32 -6,477 nats, int8
    -6,651, uint8 -6,501).  uint8 by uint8 it widens to 16 bits before multiplying: exact on
    every CPU, some 5% slower there.  So: int8 with VNNI, uint8 otherwise; the products are
    exact either way, so the scores agree across CPUs.  UNSPIN_ONNX_WEIGHTS=u8|s8 forces one."""
    forced = os.environ.get("UNSPIN_ONNX_WEIGHTS", "").strip().lower()
    if forced in ("u8", "s8"):
        return forced == "u8"
    return not _cpu_has_vnni()


def cache_format(unsigned: bool | None = None) -> str:
    """The serialised graphs' key in the user cache (8-bit weights inside, int8 or uint8; None:
    as weights_unsigned() says)."""
    unsigned = weights_unsigned() if unsigned is None else unsigned
    return f"{CACHE_FORMAT}-{'u8' if unsigned else 's8'}"


def quantize_rows(w: np.ndarray, unsigned: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """w (out, in) float32 -> (8-bit (in + 2, out), scale per out row): symmetric, w ≈ (q.T -
    zero) * scale, q - zero in [-WEIGHT_LEVELS, WEIGHT_LEVELS] (zero: 128 for uint8, 0 for
    int8); the last two rows of q are zero (the pinning columns of _Graph.matmul8_rows meet them)."""
    w = np.asarray(w, dtype=np.float32)
    amax = np.abs(w).max(axis=1)
    scale = np.where(amax > 0, amax / float(WEIGHT_LEVELS), 1.0).astype(np.float32)
    q = np.zeros((w.shape[1] + 2, w.shape[0]), np.int16)
    q[:-2] = np.clip(np.rint(w / scale[:, None]), -WEIGHT_LEVELS, WEIGHT_LEVELS).astype(np.int16).T
    if unsigned:
        return (q + 128).astype(np.uint8), scale
    return q.astype(np.int8), scale


class OnnxLlama(GgufLlama):
    """GgufLlama with its forward pass and output head in onnxruntime (8-bit matrix products).
    n_threads: onnxruntime's intra-op threads."""

    # tokens per packed pass: 1,450 tokens/s at 128, 1,200 at 256, 860 at 512 (one core here;
    # the attention over a packed pass grows with its square, the 8-bit products do not need
    # long passes to run fast)
    pack_tokens = 128

    def __init__(self, path: str | Path, n_threads: int = 1):
        import onnxruntime as ort  # noqa: F401  (fail early, before any work, when absent)

        # The layers' float32 weights are needed once, to make the graphs: in memory then, and
        # never in the user cache (540 MB), which keeps the graphs and the embeddings only.
        built = graphs_cached(path)
        super().__init__(path, weights="embed" if built else "memory")

        def build():
            q8 = {}
            q8["head.q"], q8["head.s"] = quantize_rows(self.head, unsigned)
            for name, w in smoothed(self):
                if name.endswith("norm"):
                    q8[name] = w
                else:
                    q8[f"{name}.q"], q8[f"{name}.s"] = quantize_rows(w, unsigned)
            return {"body.onnx": _body_graph(self, q8).SerializeToString(),
                    "head.onnx": _head_graph(self, q8).SerializeToString()}

        # (the serialised graphs are cached, so a warm load needs neither the onnx package nor
        # the graph building: 2.1 s -> 0.5 s)
        unsigned = weights_unsigned()
        fmt = cache_format(unsigned)
        graphs = diskcache.cached(path, fmt, ["body.onnx", "head.onnx"], build)
        try:
            self._body = _session(graphs["body.onnx"], n_threads)
            self._head = _session(graphs["head.onnx"], n_threads)
        except Exception:  # onnxruntime's own errors: a damaged cache entry (a truncated file)
            if not built:
                raise
            # ... is made again, from the float32 layers in memory
            diskcache.discard(path, fmt)
            GgufLlama.__init__(self, path, weights="memory")
            graphs = build()
            diskcache.store(path, fmt, graphs)
            self._body = _session(graphs["body.onnx"], n_threads)
            self._head = _session(graphs["head.onnx"], n_threads)
        self.layers = None  # (in the graphs now; GgufLlama._forward is not used)
        self._empty_kv = np.zeros((self.n_kv, 0, self.head_dim), np.float32)

    def _forward(self, tokens, pos, past_k, past_v, mask, keep_kv, past_mask=None):
        """GgufLlama._forward; past_mask (n, past) bool: which cached tokens each new token
        may attend to (default: all)."""
        n = len(tokens)
        past = past_k[0].shape[1] if past_k else 0
        cos, sin = self._rope_angles(pos)
        add = np.zeros((n, past + n), np.float32)
        add[:, past:][~mask] = -1e30
        if past_mask is not None:
            add[:, :past][~past_mask] = -1e30
        feed = {"x": self.embed[tokens], "cos": cos, "sin": sin, "mask": add}
        for li in range(self.n_layer):
            feed[f"past_k{li}"] = np.ascontiguousarray(past_k[li]) if past_k else self._empty_kv
            feed[f"past_v{li}"] = np.ascontiguousarray(past_v[li]) if past_v else self._empty_kv
        names = ["hidden"] + ([f"k{li}" for li in range(self.n_layer)] + [f"v{li}" for li in range(self.n_layer)]
                              if keep_kv else [])
        got = self._body.run(names, feed)
        if not keep_kv:
            return got[0], [], []
        return got[0], got[1:1 + self.n_layer], got[1 + self.n_layer:]

    def _score_group(self, segments, group: list[int], out: list, totals: bool = False, extend=None) -> None:
        """A pass of score_segments.  A segment much longer than a pass (a paragraph's prefix
        with every hypothesis after it) runs as its prefix, then its continuations in passes of
        pack_tokens after the prefix's cached keys and values: the packed pass's attention
        grows with the square of its length (dev: 79% of the tokens are in segments over 128
        tokens, 175 on average).  Such a segment's `extend` (see score_segments) is called
        between the two, and the continuations it returns are scored with the others."""
        if len(group) > 1:
            return super()._score_group(segments, group, out, totals)
        (i,) = group
        prefix, rows, conts = segments[i]
        m_total = sum(max(0, len(t) - 1) for _s, t in conts)
        if len(prefix) + m_total <= 1.5 * self.pack_tokens or not conts:
            return super()._score_group(segments, group, out, totals)
        n = len(prefix)
        hidden, pk, pv = self._forward(np.asarray(prefix, dtype=np.int64), np.arange(n), [], [],
                                       np.tril(np.ones((n, n), dtype=bool)), True)
        first = self._logprobs(hidden[np.asarray(rows, dtype=np.int64)])
        more = extend[i] if totals and extend is not None else None
        if more is not None:
            conts = conts + list(more(first))
        # per continuation its rows (or, with totals, only its next tokens' ln P: a row is 196 KB)
        empty = np.zeros(0 if totals else (0, self.vocab_size), np.float32)
        conts_out: list = [empty] * len(conts)
        todo = [(j, start, toks[:-1]) for j, (start, toks) in enumerate(conts) if len(toks) > 1]
        at = 0
        while at < len(todo):
            batch, size = [], 0
            while at < len(todo) and (not batch or size + len(todo[at][2]) <= self.pack_tokens):
                batch.append(todo[at])
                size += len(todo[at][2])
                at += 1
            lens = [len(ts) for _j, _s, ts in batch]
            tok = np.fromiter((t for _j, _s, ts in batch for t in ts), dtype=np.int64, count=size)
            pos = np.fromiter((s + k for _j, s, ts in batch for k in range(len(ts))), dtype=np.int64, count=size)
            owner = np.repeat(np.arange(len(batch)), lens)
            lim = np.repeat(np.asarray([s for _j, s, _ts in batch]), lens)
            mask = (owner[:, None] == owner[None, :]) & (pos[None, :] <= pos[:, None])
            past_mask = np.arange(n)[None, :] < lim[:, None]  # the first `start` prefix tokens
            lp = self._logprobs(self._forward(tok, pos, pk, pv, mask, False, past_mask)[0])
            k = 0
            for (j, _s, ts), m in zip(batch, lens):
                conts_out[j] = next_token_logprobs(lp[k:k + m], conts[j][1]) if totals else lp[k:k + m]
                k += m
        if totals:
            out[i] = continuation_totals((prefix, rows, conts), first, conts_out)
        else:
            out[i] = (first, conts_out)

    def _logprobs(self, hidden: np.ndarray) -> np.ndarray:
        if len(hidden) == 0:
            return np.zeros((0, self.vocab_size), np.float32)
        return self._head.run(["logprobs"], {"hidden": np.ascontiguousarray(hidden, dtype=np.float32)})[0]


def graphs_cached(path: str | Path) -> bool:
    """Whether the graphs of the gguf at `path` are in the user cache (a load then needs no onnx)."""
    return diskcache.is_cached(path, cache_format())


def _session(model: bytes | str, n_threads: int):
    """An onnxruntime session over a serialised graph (bytes, or the path of a file).  For a
    file (a cached graph), onnxruntime's optimised graph is kept beside it and loaded next time
    without optimising again: 0.47 s -> 0.23 s for the body graph, which half a cold `unspin
    check` waits on; the same outputs and speed.  It is optimised to ORT_ENABLE_EXTENDED, not
    ALL, whose layout changes are specific to the CPU, and named after onnxruntime's version."""
    import onnxruntime as ort

    def options(level):
        so = ort.SessionOptions()
        so.intra_op_num_threads = max(1, int(n_threads))
        so.inter_op_num_threads = 1
        so.log_severity_level = 3  # (its warnings about unused initialisers are not for users)
        so.graph_optimization_level = level
        return so

    providers = ["CPUExecutionProvider"]
    levels = ort.GraphOptimizationLevel
    if not isinstance(model, str):
        return ort.InferenceSession(model, options(levels.ORT_ENABLE_ALL), providers=providers)
    optimised = Path(model).with_suffix(f".opt-{ort.__version__}.onnx")
    if optimised.is_file():
        try:
            return ort.InferenceSession(str(optimised), options(levels.ORT_DISABLE_ALL), providers=providers)
        except Exception:  # onnxruntime's own errors: a damaged file, made again below
            optimised.unlink(missing_ok=True)
    so = options(levels.ORT_ENABLE_EXTENDED)
    tmp = optimised.with_name(f"{optimised.name}.tmp-{os.getpid()}")
    so.optimized_model_filepath = str(tmp)
    session = ort.InferenceSession(model, so, providers=providers)
    try:
        os.replace(tmp, optimised)  # (atomic: another process reads all of it or nothing)
        for older in optimised.parent.glob(f"{Path(model).stem}.opt-*.onnx"):  # another version's
            if older != optimised:
                older.unlink(missing_ok=True)
    except OSError:  # an unwritable cache is not an error
        pass
    return session


class _Graph:
    """A small builder over onnx.helper: named nodes, initialisers from numpy."""

    def __init__(self, unsigned: bool = False):
        from onnx import helper, numpy_helper

        self.h, self.np = helper, numpy_helper
        self.nodes, self.inits = [], []
        self._row_eps: str | None = None
        self._zero: str | None = None
        self.unsigned = unsigned  # the weights are uint8 around 128 (see weights_unsigned)
        self._n = 0

    def const(self, name: str, value) -> str:
        self.inits.append(self.np.from_array(np.asarray(value), name))
        return name

    def op(self, kind: str, inputs: list[str], domain: str = "", **attrs) -> str:
        self._n += 1
        out = f"{kind.lower()}_{self._n}"
        self.nodes.append(self.h.make_node(kind, inputs, [out], domain=domain or None, **attrs))
        return out

    def rename(self, src: str, dst: str) -> str:
        self.nodes.append(self.h.make_node("Identity", [src], [dst]))
        return dst

    def model(self, inputs, outputs):
        from onnx import TensorProto

        fl = TensorProto.FLOAT
        g = self.h.make_graph(self.nodes, "g",
                              [self.h.make_tensor_value_info(n, fl, shape) for n, shape in inputs],
                              [self.h.make_tensor_value_info(n, fl, shape) for n, shape in outputs],
                              self.inits)
        # The IR version the opset needs, not the onnx package's newest (make_model's default):
        # onnx 1.23 writes IR 14, which onnxruntime 1.31 refuses ("max supported IR version: 13").
        return self.h.make_model(g, opset_imports=[self.h.make_opsetid("", 17), self.h.make_opsetid("com.microsoft", 1)],
                                 ir_version=IR_VERSION)

    # -- the pieces of a Llama layer --------------------------------------------------------
    def rms(self, x: str, weight: str, eps: float) -> str:
        """RMS norm: onnxruntime's fused SimplifiedLayerNormalization (a contrib op it registers
        in the ONNX domain)."""
        return self.op("SimplifiedLayerNormalization", [x, weight], axis=-1, epsilon=float(eps))

    def matmul8(self, x: str, q: str, scale: str) -> str:
        """x @ dequantised q: x quantised to uint8 over the whole matrix (fused in one op)."""
        inputs = [x, q, scale]
        if self.unsigned:
            if self._zero is None:
                self._zero = self.const("weights.zero", np.uint8(128))
            inputs.append(self._zero)
        return self.op("DynamicQuantizeMatMul", inputs, domain="com.microsoft")

    def matmul8_rows(self, x: str, q: str, scale: str) -> str:
        """matmul8 with x quantised row by row (token by token), so that one token's outlier
        range (the first token's, typically) does not coarsen every other token's 8 bits: each
        row is divided by its largest magnitude before the fused product and multiplied back
        after it.  (The fused op quantises its whole input on one range; dividing by each
        row's peak and pinning that range makes its grid one row's own.)"""
        if self._row_eps is None:
            self._row_eps = self.const("row.eps", np.float32(1e-12))
        peak = self.op("Max", [self.op("ReduceMax", [self.op("Abs", [x])], axes=[-1], keepdims=1), self._row_eps])
        # two more columns holding 1 and -1 (against the two zero rows quantize_rows appends to
        # every weight matrix) pin the fused op's range to exactly [-1, 1]: a row's 8 bits never
        # depend on what else shares the pass
        one = self.op("Div", [peak, peak])
        rows = self.op("Concat", [self.op("Div", [x, peak]), one, self.op("Neg", [one])], axis=1)
        return self.op("Mul", [self.matmul8(rows, q, scale), peak])


def _body_graph(m: OnnxLlama, q8: dict):
    """Inputs: x (n, dim) token embeddings, cos/sin (n, head_dim/2), mask (n, past+n) additive,
    past_k{i}/past_v{i} (kv heads, past, head_dim); outputs: hidden (n, dim) after the last
    norm, k{i}/v{i} (kv heads, n, head_dim), as GgufLlama._forward."""
    g = _Graph(unsigned=q8["head.q"].dtype == np.uint8)
    d, hd, nh, nkv = m.dim, m.head_dim, m.n_head, m.n_kv
    group = nh // nkv
    half = hd // 2
    c = g.const
    shape_heads = c("shape_heads", np.array([0, -1, hd], np.int64))  # (n, heads, hd) from (n, heads*hd)
    shape_pairs = c("shape_pairs", np.array([0, 0, half, 2], np.int64))
    shape_back = c("shape_back", np.array([0, 0, hd], np.int64))
    shape_group = c("shape_group", np.array([nkv, group, -1, hd], np.int64))
    axis1 = c("axis1", np.array([1], np.int64))
    shape_att = c("shape_att", np.array([nh, -1, hd], np.int64))
    shape_out = c("shape_out", np.array([-1, d], np.int64))
    scale = c("att_scale", np.float32(1.0 / np.sqrt(hd)))
    split_qkv = c("split_qkv", np.array([d, nkv * hd, nkv * hd], np.int64))
    split_gu = c("split_gu", np.array([q8["0.gate_up.q"].shape[1] // 2] * 2, np.int64))
    split_pair = c("split_pair", np.array([1, 1], np.int64))
    # cos/sin as (1, n, half, 1): broadcast over heads and over each rotated pair
    cos = g.op("Unsqueeze", ["cos", c("axes_cs", np.array([0, 3], np.int64))])
    sin = g.op("Unsqueeze", ["sin", "axes_cs"])
    # the mask as (1, 1, n, past+n): over kv heads and the query heads of each group
    mask = g.op("Unsqueeze", ["mask", c("axes_mask", np.array([0, 1], np.int64))])

    def rope(t: str) -> str:
        """t (heads, n, hd) -> rotated adjacent pairs, as GgufLlama._rope."""
        pairs = g.op("Reshape", [t, shape_pairs])
        a, b = (f"{pairs}_{j}" for j in "ab")
        g.nodes.append(g.h.make_node("Split", [pairs, split_pair], [a, b], axis=3))
        ra = g.op("Sub", [g.op("Mul", [a, cos]), g.op("Mul", [b, sin])])
        rb = g.op("Add", [g.op("Mul", [a, sin]), g.op("Mul", [b, cos])])
        return g.op("Reshape", [g.op("Concat", [ra, rb], axis=3), shape_back])

    x = "x"
    outputs_k, outputs_v = [], []
    for li in range(m.n_layer):
        wn = c(f"{li}.attn_norm", q8[f"{li}.attn_norm"])
        h = g.matmul8_rows(g.rms(x, wn, m.eps), c(f"{li}.qkv.q", q8[f"{li}.qkv.q"]), c(f"{li}.qkv.s", q8[f"{li}.qkv.s"]))
        q, k, v = (f"{h}_{j}" for j in "qkv")
        g.nodes.append(g.h.make_node("Split", [h, split_qkv], [q, k, v], axis=1))
        # (n, heads*hd) -> (heads, n, hd)
        q = g.op("Transpose", [g.op("Reshape", [q, shape_heads])], perm=[1, 0, 2])
        k = g.op("Transpose", [g.op("Reshape", [k, shape_heads])], perm=[1, 0, 2])
        v = g.op("Transpose", [g.op("Reshape", [v, shape_heads])], perm=[1, 0, 2])
        q, k = rope(q), rope(k)
        outputs_k.append(g.rename(k, f"k{li}"))
        outputs_v.append(g.rename(v, f"v{li}"))
        kk = g.op("Concat", [f"past_k{li}", k], axis=1)
        vv = g.op("Concat", [f"past_v{li}", v], axis=1)
        # the query heads of each kv head as one group: q (nkv, group, n, hd) against k and v
        # (nkv, 1, past+n, hd), the grouping of the numpy pass
        qg = g.op("Reshape", [q, shape_group])
        kk4 = g.op("Unsqueeze", [kk, axis1])
        vv4 = g.op("Unsqueeze", [vv, axis1])
        s = g.op("Mul", [g.op("MatMul", [qg, g.op("Transpose", [kk4], perm=[0, 1, 3, 2])]), scale])
        p = g.op("Softmax", [g.op("Add", [s, mask])], axis=-1)
        att = g.op("Reshape", [g.op("MatMul", [p, vv4]), shape_att])
        att = g.op("Reshape", [g.op("Transpose", [att], perm=[1, 0, 2]), shape_out])
        x = g.op("Add", [x, g.matmul8_rows(att, c(f"{li}.attn_out.q", q8[f"{li}.attn_out.q"]),
                                      c(f"{li}.attn_out.s", q8[f"{li}.attn_out.s"]))])
        fw = c(f"{li}.ffn_norm", q8[f"{li}.ffn_norm"])
        gu = g.matmul8_rows(g.rms(x, fw, m.eps), c(f"{li}.gate_up.q", q8[f"{li}.gate_up.q"]), c(f"{li}.gate_up.s", q8[f"{li}.gate_up.s"]))
        gate, up = f"{gu}_g", f"{gu}_u"
        g.nodes.append(g.h.make_node("Split", [gu, split_gu], [gate, up], axis=1))
        silu = g.op("Mul", [gate, g.op("Sigmoid", [gate])])
        x = g.op("Add", [x, g.matmul8_rows(g.op("Mul", [silu, up]), c(f"{li}.down.q", q8[f"{li}.down.q"]),
                                      c(f"{li}.down.s", q8[f"{li}.down.s"]))])
    g.rename(g.rms(x, c("out_norm", np.asarray(m.out_norm, np.float32)), m.eps), "hidden")
    inputs = [("x", ["n", d]), ("cos", ["n", half]), ("sin", ["n", half]), ("mask", ["n", "t"])]
    for li in range(m.n_layer):
        inputs += [(f"past_k{li}", [nkv, "p", hd]), (f"past_v{li}", [nkv, "p", hd])]
    outputs = [("hidden", ["n", d])] + [(f"k{li}", [nkv, "n", hd]) for li in range(m.n_layer)] + [
        (f"v{li}", [nkv, "n", hd]) for li in range(m.n_layer)]
    return g.model(inputs, outputs)


def _head_graph(m: OnnxLlama, q8: dict):
    """hidden rows (r, dim) -> log-softmax over the vocabulary (r, vocab)."""
    g = _Graph(unsigned=q8["head.q"].dtype == np.uint8)
    logits = g.matmul8_rows("hidden", g.const("head.q", q8["head.q"]), g.const("head.s", q8["head.s"]))
    g.rename(g.op("LogSoftmax", [logits], axis=-1), "logprobs")
    return g.model([("hidden", ["r", m.dim])], [("logprobs", ["r", m.vocab_size])])
