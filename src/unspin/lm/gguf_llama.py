"""A Llama-architecture forward pass in numpy over a gguf file's weights (SmolLM2-135M): the
neural tier's default runtime, faster than llama.cpp on this CPU (`bench/neural.py --runtime
numpy|llama_cpp`: 158 vs 82 tokens/s on one core, the same figures).

Why: llama.cpp multiplies by its 4-bit weights directly; dequantised once to float32, the same
weights go through BLAS matrix products, which over a few hundred tokens at a time run at about
twice llama.cpp's speed (over 8 tokens they are slower: every pass streams all the weights).
So `score_segments` packs many independent texts into each pass.  The cost is memory: about
540 MB of float32 weights instead of 98 MB, memory-mapped from the user cache after the first
load (`unspin.lm.diskcache`).

Scores match llama.cpp's to within its own rounding (llama.cpp quantises activations to 8 bits
for its dot products; on clean dev text the float32 cross-entropy is 4.2606 nats per token
against llama.cpp's 4.2628); tests/test_neural.py checks the two runtimes against each other.

Only what scoring needs: a prefix whose keys and values are cached (`set_prefix`, extended or
cut back as the next prefix shares tokens with it) with continuations after it, and
`score_segments`.  The tokenizer is the gguf's own byte-level BPE, built with `tokenizers`.
"""
from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from unspin.lm import diskcache


CACHE_FORMAT = "f32-v1"  # the dequantised weights in the user cache (unspin.lm.diskcache)
EMBED_FORMAT = "f32-embed-v1"  # the embeddings (and norm, head) alone, for OnnxLlama
META_FORMAT = "meta-v1"  # the scalar metadata (JSON) and the tokenizer (its JSON), for every load
TIED_KEY = "unspin.tied_head"  # (in the cached metadata: the gguf has no output.weight, the head is the embeddings)
# per layer: attention norm, q/k/v stacked, attention output, ffn norm, gate/up stacked, down
_LAYER_KEYS = ("attn_norm", "qkv", "attn_out", "ffn_norm", "gate_up", "down")


class GgufLlama:
    """weights: "cached" (every weight dequantised to float32, memory-mapped from the user
    cache), "memory" (the same, built in memory and not cached: what OnnxLlama quantises from
    once), or "embed" (the embeddings, final norm and head only, cached apart: layers is None,
    for OnnxLlama, whose layers are in its graphs)."""

    def __init__(self, path: str | Path, weights: str = "cached"):
        if weights not in ("cached", "memory", "embed"):
            raise ValueError(f"weights {weights!r}: cached, memory or embed")
        parsed: list = []  # read_gguf(path), parsed only when something must be built

        def gguf() -> tuple[dict, dict]:
            if not parsed:
                parsed.append(read_gguf(path))
            return parsed[0]

        # The scalar metadata and the tokenizer, cached: parsing the gguf's 98,000 vocabulary
        # and merge strings and building the BPE from them cost 0.3 s of every load.
        def build_meta():
            meta, tensors = gguf()
            scalars = {k: v for k, v in meta.items() if not isinstance(v, (list, bytes))}
            scalars[TIED_KEY] = "output.weight" not in tensors
            return {"meta.txt": json.dumps(scalars),
                    "tokenizer.txt": _tokenizer(lambda k: _value(path, meta, k)).to_str()}

        def parse(entry) -> tuple[dict, object]:
            return json.loads(entry["meta.txt"]), _tokenizer_from(entry["tokenizer.txt"])

        entry = diskcache.cached(path, META_FORMAT, ["meta.txt", "tokenizer.txt"], build_meta)
        try:
            meta, self.tokenizer = parse(entry)
        except ValueError:  # (a damaged cache entry: made again)
            diskcache.discard(path, META_FORMAT)
            entry = build_meta()
            diskcache.store(path, META_FORMAT, entry)
            meta, self.tokenizer = parse(entry)

        def value(key):
            return _value(path, meta, key)

        arch = value("general.architecture")
        if arch != "llama":
            raise ValueError(f"{path}: architecture {arch!r}, not llama")
        self.n_layer = int(value("llama.block_count"))
        self.dim = int(value("llama.embedding_length"))
        self.n_head = int(value("llama.attention.head_count"))
        self.n_kv = int(value("llama.attention.head_count_kv"))
        self.head_dim = self.dim // self.n_head
        self.eps = float(value("llama.attention.layer_norm_rms_epsilon"))
        theta = float(value("llama.rope.freq_base"))
        self.bos = int(value("tokenizer.ggml.bos_token_id"))

        def weight(name):
            kind, shape, data = gguf()[1][name]
            return _dequantize(name, kind, data).reshape(tuple(reversed(shape)))

        def stacked(names):
            """Weights that multiply the same input, one (sum of outputs, in) matrix: one product."""
            parts = [weight(n) for n in names]
            out = np.empty((sum(p.shape[0] for p in parts), parts[0].shape[1]), np.float32)
            at = 0
            for p in parts:
                out[at:at + p.shape[0]] = p
                at += p.shape[0]
            return out

        tied = bool(meta.get(TIED_KEY, True))
        outer = ["embed", "out_norm"] + ([] if tied else ["head"])
        keys = outer + ([] if weights == "embed" else [f"{i}.{k}" for i in range(self.n_layer) for k in _LAYER_KEYS])

        def build():
            out = {"embed": weight("token_embd.weight"), "out_norm": weight("output_norm.weight")}
            if not tied:
                out["head"] = weight("output.weight")
            if weights == "embed":
                return out
            for i in range(self.n_layer):
                p = f"blk.{i}."
                out.update(zip((f"{i}.{k}" for k in _LAYER_KEYS), (
                    weight(p + "attn_norm.weight"),
                    stacked([p + "attn_q.weight", p + "attn_k.weight", p + "attn_v.weight"]),
                    weight(p + "attn_output.weight"),
                    weight(p + "ffn_norm.weight"),
                    stacked([p + "ffn_gate.weight", p + "ffn_up.weight"]),
                    weight(p + "ffn_down.weight"))))
            return out

        # Matrices are kept as stored, (out, in), and used as x @ W.T (BLAS reads the transpose
        # in place); dequantised once and then memory-mapped from the user cache (1 s -> 0.1 s)
        if weights == "memory":
            w = build()
            # (the embeddings go to the cache of their own, so OnnxLlama's next load maps them)
            if not diskcache.is_cached(path, EMBED_FORMAT):
                diskcache.store(path, EMBED_FORMAT, {k: w[k] for k in outer})
        else:
            w = diskcache.cached(path, CACHE_FORMAT if weights == "cached" else EMBED_FORMAT, keys, build)
        self.embed = w["embed"]  # (vocab, dim); the output head too when tied
        self.vocab_size = self.embed.shape[0]
        self.head = self.embed if tied else w["head"]
        self.out_norm = w["out_norm"]
        self.layers = (None if weights == "embed" else
                       [tuple(w[f"{i}.{k}"] for k in _LAYER_KEYS) for i in range(self.n_layer)])
        half = self.head_dim // 2
        self._inv_freq = (1.0 / theta ** (np.arange(half, dtype=np.float64) * 2.0 / self.head_dim))
        # the cached prefix: its tokens and per layer its keys and values (heads, tokens, head_dim)
        self._prefix: list[int] = []
        self._k: list[np.ndarray] = []
        self._v: list[np.ndarray] = []
        self._last_logprobs: np.ndarray | None = None

    # ------------------------------------------------------------------------------ pieces
    def _rms(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        return x * (1.0 / np.sqrt((x * x).mean(axis=-1, keepdims=True) + self.eps)) * w

    def _rope_angles(self, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ang = pos[:, None].astype(np.float64) * self._inv_freq[None, :]
        return np.cos(ang).astype(np.float32), np.sin(ang).astype(np.float32)

    @staticmethod
    def _rope(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
        """x: (heads, tokens, head_dim); llama.cpp's "normal" rope rotates adjacent pairs (the
        gguf converter permuted the q/k weights to match)."""
        a, b = x[..., 0::2], x[..., 1::2]
        out = np.empty_like(x)
        out[..., 0::2] = a * cos - b * sin
        out[..., 1::2] = a * sin + b * cos
        return out

    def _forward(self, tokens: np.ndarray, pos: np.ndarray, past_k, past_v, mask: np.ndarray,
                 keep_kv: bool, probe=None) -> tuple[np.ndarray, list, list]:
        """Hidden states after the last norm for `tokens` at positions `pos`, attending to all
        the past keys/values and to each other where mask[i, j] (True = may attend).
        probe(layer, matrix key, input): called with each matrix product's input (see
        unspin.lm.onnx_llama, which calibrates its 8-bit products on them)."""
        d, hd, nh, nkv = self.dim, self.head_dim, self.n_head, self.n_kv
        group = nh // nkv
        x = self.embed[tokens]
        n = len(tokens)
        scale = np.float32(1.0 / np.sqrt(hd))
        new_k, new_v = [], []
        neg = np.float32(-1e30)
        cos, sin = self._rope_angles(pos)  # (the same for every layer)
        for li, (an, wqkv, wo, fn, wgu, wd) in enumerate(self.layers):
            xn = self._rms(x, an)
            if probe:
                probe(li, "qkv", xn)
            h = xn @ wqkv.T
            q = h[:, :d].reshape(n, nh, hd).transpose(1, 0, 2)
            k = h[:, d:d + nkv * hd].reshape(n, nkv, hd).transpose(1, 0, 2)
            v = h[:, d + nkv * hd:].reshape(n, nkv, hd).transpose(1, 0, 2)
            q, k = self._rope(q, cos, sin), self._rope(k, cos, sin)
            if keep_kv:
                new_k.append(k)
                new_v.append(v)
            pk, pv = (past_k[li], past_v[li]) if past_k else (None, None)
            kk = k if pk is None else np.concatenate([pk, k], axis=1)
            vv = v if pv is None else np.concatenate([pv, v], axis=1)
            past = 0 if pk is None else pk.shape[1]
            qg = q.reshape(nkv, group * n, hd)
            s = (qg @ kk.transpose(0, 2, 1)).reshape(nkv, group, n, past + n) * scale
            s[..., past:] = np.where(mask, s[..., past:], neg)
            s -= s.max(axis=-1, keepdims=True)
            np.exp(s, out=s)
            s /= s.sum(axis=-1, keepdims=True)
            att = (s.reshape(nkv, group * n, past + n) @ vv).reshape(nh, n, hd).transpose(1, 0, 2).reshape(n, d)
            if probe:
                probe(li, "attn_out", att)
            x = x + att @ wo.T
            xn = self._rms(x, fn)
            if probe:
                probe(li, "gate_up", xn)
            gu = xn @ wgu.T
            half = wgu.shape[0] // 2
            g, u = gu[:, :half], gu[:, half:]
            act = (g / (1.0 + np.exp(-g))) * u
            if probe:
                probe(li, "down", act)
            x = x + act @ wd.T
        return self._rms(x, self.out_norm), new_k, new_v

    def _logprobs(self, hidden: np.ndarray) -> np.ndarray:
        logits = hidden @ self.head.T
        m = logits.max(axis=-1, keepdims=True)
        return logits - (m + np.log(np.exp(logits - m).sum(axis=-1, keepdims=True)))

    # ------------------------------------------------------------------------------ public
    def set_prefix(self, tokens: list[int]) -> tuple[np.ndarray, int]:
        """Make the cached prefix exactly `tokens`, reusing the keys and values of the tokens it
        shares with the one before; returns (log-softmax after its last token, tokens run)."""
        if tokens == self._prefix and self._last_logprobs is not None:
            return self._last_logprobs, 0
        k = reusable(self._prefix, tokens)
        self._k = [a[:, :k] for a in self._k]
        self._v = [a[:, :k] for a in self._v]
        new = np.asarray(tokens[k:], dtype=np.int64)
        n = len(new)
        mask = np.tril(np.ones((n, n), dtype=bool))
        hidden, nk, nv = self._forward(new, np.arange(k, k + n), self._k, self._v, mask, True)
        self._k = [np.concatenate([a, b], axis=1) for a, b in zip(self._k, nk)] if self._k else nk
        self._v = [np.concatenate([a, b], axis=1) for a, b in zip(self._v, nv)] if self._v else nv
        self._prefix = list(tokens)
        self._last_logprobs = self._logprobs(hidden[-1:])[0]
        return self._last_logprobs, n

    # score_segments' pass size: BLAS runs best over a few hundred tokens, while the packed
    # attention grows with the square of the pass (OnnxLlama, whose products are faster, packs less)
    pack_tokens = 256
    # score_segments' passes run at most this many at once, each in a thread (NeuralLM's
    # `parallel`).  A pass of a few hundred tokens keeps one core busy (onnxruntime's or BLAS's
    # own threads gain little on matrices this small: 939 -> 988 tokens/s with two), while the
    # passes are independent of one another: two at once took a 1,300-word text's rescoring
    # from 9.2 to 5.0 s on two cores, with the same scores.
    parallel = 1
    _pool: tuple[int, ThreadPoolExecutor] | None = None  # (pid that made it, the pool)

    def _run_groups(self, run, groups: list[list[int]]) -> None:
        """run(group) for every group, `parallel` at a time."""
        if self.parallel <= 1 or len(groups) <= 1:
            for group in groups:
                run(group)
            return
        if self._pool is None or self._pool[0] != os.getpid():  # (a forked child: the parent's threads are gone)
            self._pool = (os.getpid(), ThreadPoolExecutor(self.parallel, thread_name_prefix="unspin-neural"))
        for _ in self._pool[1].map(run, groups):
            pass

    def score_segments(self, segments, max_tokens: int | None = None, totals: bool = False,
                       extend: list | None = None) -> list:
        """Independent texts in few forward passes, nothing cached: each segment is (prefix
        tokens, prefix rows wanted, continuations as (start, tokens)); a continuation follows
        the first `start` tokens of its segment's prefix, on its own.  Returns per segment the
        log-softmax after each wanted prefix token, and per continuation the rows after each of
        its tokens but the last; with totals, per segment each continuation's ln P (of its first
        token after prefix[:start], the wanted row start - 1, and of the rest), reduced pass by
        pass: a vocabulary-wide row is 196 KB, and a long document's rows ran to gigabytes.
        Segments are packed into passes of about max_tokens tokens: matrix products over a few
        hundred tokens run at about 3x the speed of a few.  extend (with totals): per segment
        None or a function of its wanted prefix rows that returns more continuations, which a
        runtime that scores a segment's prefix before its continuations (onnx_llama, for a long
        segment) scores with them, their totals after the others'; this one never calls it."""
        max_tokens = max_tokens or self.pack_tokens
        out: list = [None] * len(segments)
        groups: list[list[int]] = []
        group: list[int] = []
        size = 0
        for i, (prefix, _rows, conts) in enumerate(segments):
            n = len(prefix) + sum(max(0, len(t) - 1) for _s, t in conts)
            if group and size + n > max_tokens:
                groups.append(group)
                group, size = [], 0
            group.append(i)
            size += n
        if group:
            groups.append(group)
        # (each group writes its own segments' places in out)
        self._run_groups(lambda g: self._score_group(segments, g, out, totals, extend), groups)
        return out

    def _score_group(self, segments, group: list[int], out: list, totals: bool = False, extend=None) -> None:
        seg_l, pos_l, own_l, lim_l, tok_l = [], [], [], [], []
        where = []  # per segment: (index of its first prefix token, [(first index, n) per continuation])
        owner = 0
        for i in group:
            prefix, _rows, conts = segments[i]
            base = len(tok_l)
            n = len(prefix)
            tok_l += prefix
            seg_l += [i] * n
            pos_l += range(n)
            own_l += [-1] * n
            lim_l += range(1, n + 1)
            spans = []
            for start, toks in conts:
                owner += 1
                m = max(0, len(toks) - 1)
                spans.append((len(tok_l), m))
                tok_l += toks[:m]
                seg_l += [i] * m
                pos_l += range(start, start + m)
                own_l += [owner] * m
                lim_l += [start] * m
            where.append((base, spans))
        seg, pos, own, lim = (np.asarray(a, dtype=np.int64) for a in (seg_l, pos_l, own_l, lim_l))
        prefix_tok = own < 0
        mask = (seg[:, None] == seg[None, :]) & (pos[None, :] <= pos[:, None]) & (
            (prefix_tok[None, :] & (pos[None, :] < lim[:, None])) | ((own[None, :] == own[:, None]) & ~prefix_tok[None, :]))
        hidden, _k, _v = self._forward(np.asarray(tok_l, dtype=np.int64), pos, [], [], mask, False)
        # the wanted rows of every segment through the output head in one product
        want = []
        for i, (base, spans) in zip(group, where):
            want += [base + r for r in segments[i][1]]
            want += [a + j for a, m in spans for j in range(m)]
        lp = self._logprobs(hidden[np.asarray(want, dtype=np.int64)])
        k = 0
        for i, (_base, spans) in zip(group, where):
            n_rows = len(segments[i][1])
            first, k = lp[k:k + n_rows], k + n_rows
            conts_out = []
            for _a, m in spans:
                conts_out.append(lp[k:k + m])
                k += m
            out[i] = (continuation_totals(segments[i], first, [next_token_logprobs(r, t) for r, (_s, t) in
                                                                zip(conts_out, segments[i][2])])
                      if totals else (first, conts_out))

    def continuations(self, seqs: list[list[int]]) -> list[np.ndarray]:
        """For each token sequence, the log-softmax rows after each of its tokens but the last
        (row i scores seq[i + 1]), every sequence on its own after the cached prefix."""
        p0 = len(self._prefix)
        seqs = [s[:-1] for s in seqs]
        lens = [len(s) for s in seqs]
        total = sum(lens)
        if total == 0:
            return [np.zeros((0, self.vocab_size), np.float32) for _ in seqs]
        tokens = np.fromiter((t for s in seqs for t in s), dtype=np.int64, count=total)
        pos = np.fromiter((p0 + i for n in lens for i in range(n)), dtype=np.int64, count=total)
        owner = np.repeat(np.arange(len(seqs)), lens)
        mask = (owner[:, None] == owner[None, :]) & (pos[:, None] >= pos[None, :])
        hidden, _k, _v = self._forward(tokens, pos, self._k, self._v, mask, False)
        rows = self._logprobs(hidden)
        out, at = [], 0
        for n in lens:
            out.append(rows[at:at + n])
            at += n
        return out


# ggml tensor types this reader knows, and their blocks: (values per block, bytes per block)
F32, Q4_1, Q8_0 = 0, 3, 8
_BLOCKS = {F32: (1, 4), Q4_1: (32, 20), Q8_0: (32, 34)}


def read_gguf(path: str | Path) -> tuple[dict, dict[str, tuple[int, tuple[int, ...], np.ndarray]]]:
    """A gguf file's metadata ({key: value}) and tensors ({name: (ggml type, shape as stored,
    innermost first; raw bytes, memory-mapped)}).  Written out because gguf's own reader takes
    about 6 s on this file's 100k tokenizer strings; this takes a fraction of a second."""
    import struct

    buf = np.memmap(path, dtype=np.uint8, mode="r")
    raw = memoryview(buf)
    if bytes(raw[:4]) != b"GGUF":
        raise ValueError(f"{path}: not a gguf file")
    version, n_tensors, n_kv = struct.unpack_from("<IQQ", raw, 4)
    if version not in (2, 3):
        raise ValueError(f"{path}: gguf version {version} not supported")
    at = 24
    scalar = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}

    def string():
        nonlocal at
        (n,) = struct.unpack_from("<Q", raw, at)
        out = bytes(raw[at + 8:at + 8 + n]).decode("utf-8", errors="replace")
        at += 8 + n
        return out

    def item(kind):
        nonlocal at
        if kind == 8:
            return string()
        if kind == 9:
            sub, count = struct.unpack_from("<IQ", raw, at)
            at += 12
            if sub in scalar:
                fmt = scalar[sub]
                size = struct.calcsize(fmt)
                vals = np.frombuffer(buf, dtype=np.dtype(fmt), count=count, offset=at).tolist()
                at += size * count
                return vals
            return [item(sub) for _ in range(count)]
        fmt = scalar[kind]
        (v,) = struct.unpack_from(fmt, raw, at)
        at += struct.calcsize(fmt)
        return v

    meta = {}
    for _ in range(n_kv):
        key = string()
        (kind,) = struct.unpack_from("<I", raw, at)
        at += 4
        meta[key] = item(kind)
    infos = []
    for _ in range(n_tensors):
        name = string()
        (n_dims,) = struct.unpack_from("<I", raw, at)
        dims = struct.unpack_from(f"<{n_dims}Q", raw, at + 4)
        kind, offset = struct.unpack_from("<IQ", raw, at + 4 + 8 * n_dims)
        at += 4 + 8 * n_dims + 12
        infos.append((name, kind, tuple(int(d) for d in dims), offset))
    align = int(meta.get("general.alignment", 32))
    base = (at + align - 1) // align * align
    tensors = {}
    for name, kind, dims, offset in infos:
        if kind not in _BLOCKS:
            raise ValueError(f"{path}: tensor {name} has ggml type {kind}, not supported")
        per, size = _BLOCKS[kind]
        count = int(np.prod(dims))
        start = base + offset
        tensors[name] = (kind, dims, buf[start:start + count // per * size])
    return meta, tensors


def next_token_logprobs(rows: np.ndarray, toks) -> np.ndarray:
    """A continuation's ln P of each of its tokens but the first, from the rows after each of
    its tokens but the last (score_segments' rows)."""
    return rows[np.arange(len(toks) - 1), np.asarray(toks[1:], dtype=np.int64)] if len(toks) > 1 else rows[:0, 0]


def continuation_totals(segment, first: np.ndarray, next_lps: list[np.ndarray]) -> list[float]:
    """Each continuation's ln P: its first token from the wanted prefix row before it, the rest
    from next_lps (next_token_logprobs of its rows); 0 for an empty continuation."""
    _prefix, rows, conts = segment
    at = {r: k for k, r in enumerate(rows)}
    return [float(first[at[start - 1], toks[0]]) + float(np.asarray(lps, np.float64).sum()) if toks else 0.0
            for (start, toks), lps in zip(conts, next_lps)]


def reusable(cached: list[int], tokens: list[int]) -> int:
    """How many leading tokens of a new prefix can keep the cached prefix's keys and values:
    the tokens both share, less one when the new prefix is no longer than that (its last
    token must run again to give the distribution after it)."""
    k = 0
    lim = min(len(cached), len(tokens))
    while k < lim and cached[k] == tokens[k]:
        k += 1
    return k - 1 if k == len(tokens) and k > 0 else k


def _dequantize(name: str, kind: int, data: np.ndarray) -> np.ndarray:
    """A tensor's float32 values: F32 as stored; Q8_0 and Q4_1 blocks of 32 (ggml's layouts:
    Q8_0 = f16 scale + 32 int8; Q4_1 = f16 scale, f16 min, 16 bytes whose low nibbles are values
    0-15 and high nibbles 16-31), vectorised; the same values as gguf.quants.dequantize."""
    if kind == F32:
        return np.array(data).view(np.float32)
    if kind == Q8_0:
        b = np.asarray(data).reshape(-1, 34)
        d = b[:, 0:2].copy().view(np.float16).astype(np.float32)
        return (b[:, 2:].copy().view(np.int8).astype(np.float32) * d).reshape(-1)
    if kind == Q4_1:
        b = np.asarray(data).reshape(-1, 20)
        d = b[:, 0:2].copy().view(np.float16).astype(np.float32)
        m = b[:, 2:4].copy().view(np.float16).astype(np.float32)
        qs = b[:, 4:]
        return (np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32) * d + m).reshape(-1)
    raise ValueError(f"{name}: ggml type {kind} not supported")


def _value(path, meta: dict, key: str):
    if key not in meta:
        raise ValueError(f"{path}: no {key!r} in the gguf metadata")
    return meta[key]


def _tokenizer_from(text: str):
    from tokenizers import Tokenizer

    try:
        return Tokenizer.from_str(text)
    except Exception as e:  # (tokenizers raises its own Exception for a malformed JSON)
        raise ValueError(f"tokenizer: {e}") from e


def _tokenizer(value):
    """The gguf's byte-level BPE (tokenizer.ggml.model "gpt2") as a `tokenizers` Tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    model = value("tokenizer.ggml.model")
    if model != "gpt2":
        raise ValueError(f"tokenizer {model!r} not supported (byte-level BPE only)")
    tokens = value("tokenizer.ggml.tokens")
    merges = [tuple(m.split(" ", 1)) for m in value("tokenizer.ggml.merges")]
    vocab = {t: i for i, t in enumerate(tokens)}
    tok = Tokenizer(models.BPE(vocab, merges, fuse_unk=False))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    return tok
