"""The decoder's compiled core: one sentence's lattice, Viterbi and forward-backward (numba).

`unspin.decode.Decoder` gathers each position's candidates (Python, cached per word type) and
calls `decode_many` once per chunk (`decode_sentence` per sentence); everything that costs
look-ups runs here, through a small memo of 3-gram scores (`lm.kernels.logprob_cached`).  The
maths is described in `unspin.decode` and checked against a plain-Python reference decoder
(tests/reference_decoder.py); this module only makes it fast.  Also here: each spun phrase's
candidate shortlist (`shortlist`), the per-word-type detector signals (`word_signals`) and the
screening stage's counts over a text's tokens (`screen_counts`).
Arrays in:

    ids[n]            LM ids of the spun words (>= V: unknown words, scored by oov[id - V])
    spinnable[n]      the word is a key of the channel (only then has the identity arc ln(1-rate))
    slot_start[n, L]  first store row of the candidates for the phrase words[i:i+l+1], or -1
    slot_count[n, L]  how many rows (the shortlist, best first by channel + unigram)
    cand_out[R, M]    store: candidate original words as LM ids (-1 padded)
    cand_len[R], cand_static[R]   number of words; static score (channel - discount, no ln rate)
    cand_cost[R, T]   the row's per-thesaurus channel costs (as in the channel table): with
                      adapt, the channel part of the static score is mixed again with this
                      document's thesaurus weights log_w_doc instead of the shipped ones, whose
    cand_mix[R]       mixture (ln P(spun | original), shipped weights) the static score holds
    doc_ids[D], doc_cnt[D], doc_inv_n   the document's word ids (sorted), their counts and
                      1 / its number of words: the cache prior (`_cache_bonus`), weight
                      cache_lam on swap arcs' originals and cache_keep on kept words (0: off)
    local_lm[n, L*(S+1)]  rate-free local LM scores, filled by the first pass, reused by the next

Out: arcs as (start, end, store row or -1 for identity), each arc's posterior, the Viterbi path
(arc indices), each word's swap posterior, ln Z and the all-identity score (see decode.py).
"""
from __future__ import annotations

from unspin._jit import njit, python_mode
import numpy as np

from unspin.lm.kernels import logprob, logprob_cached, max_logprob, touch, touch_bigram, unigram

NEG_INF = -np.inf
# Reading the memo ahead (decode_sentence) only pays where a cache miss costs more than the read:
# compiled.  Run as plain Python (short one-shot inputs, see unspin._jit) it doubles the time.
_PREFETCH = not python_mode()
# Helpers that allocate nothing are compiled with _nrt=False: without it numba reference-counts
# every array argument on every call, which cost 10x on a 3-gram look-up (measured).


@njit(cache=True, _nrt=False)
def _lse2(a, b):
    if a == NEG_INF:
        return b
    if b == NEG_INF:
        return a
    if a > b:
        return a + np.log1p(np.exp(b - a))
    return b + np.log1p(np.exp(a - b))


@njit(cache=True, _nrt=False)
def _local(tables, oov, memo, words, row, first, n_out, prev2, prev1, nxt1, lm_weight):
    """LM score of words[row, first:first+n_out] between two words of left context and one of
    right context (a 2-D words array and a row, not a view: views cost a reference count)."""
    t = _emit(tables, oov, memo, words, row, first, n_out, prev1, prev2, lm_weight)
    h1, h2 = _push(prev1, prev2, words, row, first, n_out)
    return t + lm_weight * logprob_cached(tables, oov, memo, nxt1, h1, h2)


@njit(cache=True)
def decode_sentence(tables, oov, memo, ids, spinnable, slot_start, slot_count, local_lm,
                    cand_out, cand_len, cand_static, cand_cost, adapt, w_doc, exp_cost, row_memo_key, row_memo_val,
                    cand_mix, chan_w, quant, absent,
                    log_keep, log_swap, disc, prune_margin, max_candidates, lm_weight, gate_pmi,
                    bos, eos, doc_ids, doc_cnt, doc_inv_n, cache_lam, cache_keep):
    n = ids.shape[0]
    max_len = slot_start.shape[1]
    cap = n * (1 + max_len * max_candidates)
    arc_start = np.empty(cap, np.int32)
    arc_end = np.empty(cap, np.int32)
    arc_row = np.empty(cap, np.int32)  # store row, -1 identity
    arc_channel = np.empty(cap, np.float64)
    n_arcs = 0
    ids2 = ids.reshape(1, n)
    # the cache prior's term for keeping each word (kept words get cache_keep of it), once per
    # position: identity arcs and the phrase pruning floors below both read it
    keep_bonus = np.zeros(n, np.float64)
    if cache_keep != 0.0 and cache_lam != 0.0:
        for i in range(n):
            keep_bonus[i] = cache_keep * _cache_bonus(tables, oov, doc_ids, doc_cnt, doc_inv_n, cache_lam, ids[i], 1.0)
    sink = np.int64(0)  # what the memo prefetch read (see below): kept so it is not optimised away
    loc = np.empty(slot_count.max() + 1 if n > 0 else 1, np.float64)
    taken = np.zeros(loc.shape[0], np.bool_)
    stat = np.empty(loc.shape[0], np.float64)
    order = np.empty(loc.shape[0], np.int64)
    need = np.empty(loc.shape[0], np.int64)
    own_lm = np.empty(loc.shape[0], np.float64)  # a candidate's own words' LM score (first pass)
    bound_ok = lm_weight >= 0.0  # (the bound below scales the 3-gram's best scores by lm_weight)
    for i in range(n):
        w = ids[i]
        id_score = 0.0
        if spinnable[i]:
            id_score = log_keep - disc * unigram(tables, oov, w) + keep_bonus[i]
        arc_start[n_arcs] = i
        arc_end[n_arcs] = i + 1
        arc_row[n_arcs] = -1
        arc_channel[n_arcs] = id_score
        n_arcs += 1
        prev1 = ids[i - 1] if i > 0 else bos
        prev2 = ids[i - 2] if i > 1 else bos
        for li in range(max_len):
            cnt = slot_count[i, li]
            if cnt <= 0:
                continue
            if li == 0 and gate_pmi < 50.0 and (
                    logprob(tables, oov, w, prev1, prev2) - unigram(tables, oov, w) > gate_pmi):
                continue  # the word fits its left context too well to be a swap
            end = i + li + 1
            nxt1 = ids[end] if end < n else eos
            # local LM scores do not depend on the rate: kept from the first pass in local_lm
            # (row i: per length, the spun words' score then each candidate's; NaN = not yet)
            lbase = li * (local_lm.shape[1] // max_len)
            lm_spun = local_lm[i, lbase]
            if np.isnan(lm_spun):
                lm_spun = _local(tables, oov, memo, ids2, 0, i, li + 1, prev2, prev1, nxt1, lm_weight)
                local_lm[i, lbase] = lm_spun
            base = lm_spun + log_keep * (li + 1)
            if disc != 0.0:
                for j in range(li + 1):
                    base -= disc * unigram(tables, oov, ids[i + j])
            for j in range(li + 1):
                base += keep_bonus[i + j]
            floor = base - prune_margin
            row0 = slot_start[i, li]
            for c in range(cnt):
                r = row0 + c
                st_ = cand_static[r]
                if adapt or cache_lam != 0.0:
                    # the document's terms (adapted channel, cache prior) depend on the row alone
                    # (a row belongs to one spun phrase, so `own` below is the row's too): memoised
                    # per row for this call, as a word type recurs with its rows
                    slot = r & (row_memo_key.shape[0] - 1)
                    if row_memo_key[slot] == r:
                        st_ += row_memo_val[slot]
                    else:
                        extra = 0.0
                        if adapt:
                            extra += chan_w * (_mixture_linear(cand_cost, r, w_doc, exp_cost, absent) - cand_mix[r])
                        if cache_lam != 0.0:
                            for j in range(cand_len[r]):
                                cw = cand_out[r, j]
                                own = 0.0  # occurrences of this word among the spun words themselves
                                for jj in range(li + 1):
                                    if ids[i + jj] == cw:
                                        own += 1.0
                                extra += _cache_bonus(tables, oov, doc_ids, doc_cnt, doc_inv_n, cache_lam, cw, own)
                        row_memo_key[slot] = r
                        row_memo_val[slot] = extra
                        st_ += extra
                stat[c] = st_
            # Candidates whose local score is not known yet: those that could not pass the floor
            # even if the 3-gram gave each of their words, and the word after them, its best
            # score in any context (max_logprob) are left out without their look-ups; so, below,
            # is one whose own words leave it under the floor whatever the next word's score.
            # Their score stays unknown (NaN), to be looked up should a later pass's rate let
            # them pass.  (On distinct 2 KB spun documents the first pass skips every look-up
            # of 7.5% of the candidates and the next word's of 49% more: the kernel 4.05 ->
            # 3.30 ms a document.  Most candidates fall under the floor: the best-first part of
            # the shortlist is what the spun word's context can take.)
            top_next = max_logprob(tables, oov, nxt1)
            kept = 0
            n_need = 0
            for c in range(cnt):
                r = row0 + c
                s_ = log_swap + stat[c]
                lm_c = local_lm[i, lbase + 1 + c]
                if np.isnan(lm_c):
                    if bound_ok:
                        top = top_next
                        for j in range(cand_len[r]):
                            top += max_logprob(tables, oov, cand_out[r, j])
                        if s_ + lm_weight * top <= floor:
                            loc[c] = NEG_INF
                            continue
                    need[n_need] = c
                    n_need += 1
                    if _PREFETCH:
                        # touch every candidate's first look-up before any is made, so that
                        # their cache misses overlap instead of queueing one by one
                        sink += touch(tables, oov, memo, cand_out[r, 0], prev1, prev2)
                    continue
                local = s_ + lm_c
                loc[c] = local
                if local > floor:
                    kept += 1
            # _local in two steps: the candidates' own words, then (unless the bound on the next
            # word's score already leaves a candidate under the floor) the next word after each,
            # those look-ups touched first too (only the ones to be made: a miss that is not
            # needed costs as much as one that is)
            n_next = 0
            for q in range(n_need):
                c = need[q]
                r = row0 + c
                k_ = cand_len[r]
                t = _emit(tables, oov, memo, cand_out, r, 0, k_, prev1, prev2, lm_weight)
                if bound_ok and (log_swap + stat[c]) + t + lm_weight * top_next <= floor:
                    loc[c] = NEG_INF
                    continue
                own_lm[c] = t
                need[n_next] = c  # (n_next <= q: need is read ahead of this write)
                n_next += 1
                if _PREFETCH:
                    h1, h2 = _push(prev1, prev2, cand_out, r, 0, k_)
                    sink += touch(tables, oov, memo, nxt1, h1, h2)
            for q in range(n_next):
                c = need[q]
                r = row0 + c
                h1, h2 = _push(prev1, prev2, cand_out, r, 0, cand_len[r])
                lm_c = own_lm[c] + lm_weight * logprob_cached(tables, oov, memo, nxt1, h1, h2)
                local_lm[i, lbase + 1 + c] = lm_c
                local = (log_swap + stat[c]) + lm_c
                loc[c] = local
                if local > floor:
                    kept += 1
            if kept == 0:
                continue
            # the kept candidates, in shortlist order; past max_candidates the best by local
            # score, best first (ties: earlier in the shortlist first), by selection (cnt is small)
            n_take = 0
            if kept <= max_candidates:
                for c in range(cnt):
                    if loc[c] > floor:
                        order[n_take] = c
                        n_take += 1
            else:
                for c in range(cnt):
                    taken[c] = False
                for _t in range(max_candidates):
                    o = -1
                    for c in range(cnt):
                        if not taken[c] and loc[c] > floor and (o < 0 or loc[c] > loc[o]):
                            o = c
                    taken[o] = True
                    order[n_take] = o
                    n_take += 1
            for q in range(n_take):
                r = row0 + order[q]
                arc_start[n_arcs] = i
                arc_end[n_arcs] = end
                arc_row[n_arcs] = r
                arc_channel[n_arcs] = log_swap + stat[order[q]]
                n_arcs += 1

    # CSR lists: arcs starting / ending at each position (arcs are already sorted by start)
    start_ptr = np.zeros(n + 2, np.int32)
    end_cnt = np.zeros(n + 2, np.int32)
    for k in range(n_arcs):
        start_ptr[arc_start[k] + 1] += 1
        end_cnt[arc_end[k] + 1] += 1
    for i in range(n + 1):
        start_ptr[i + 1] += start_ptr[i]
        end_cnt[i + 1] += end_cnt[i]
    end_ptr = end_cnt.copy()
    end_list = np.empty(n_arcs, np.int32)
    fill = end_ptr[:-1].copy()
    for k in range(n_arcs):
        e = arc_end[k]
        end_list[fill[e]] = k
        fill[e] += 1

    # trans storage: arc k's transitions from each predecessor, at trans_off[k] + pred index
    trans_off = np.empty(n_arcs + 1, np.int64)
    total = 0
    for k in range(n_arcs):
        trans_off[k] = total
        s = arc_start[k]
        total += 1 if s == 0 else end_ptr[s + 1] - end_ptr[s]
    trans_off[n_arcs] = total
    trans = np.empty(total, np.float64)

    viterbi = np.full(n_arcs, NEG_INF)
    alpha = np.full(n_arcs, NEG_INF)
    beta = np.full(n_arcs, NEG_INF)
    back = np.full(n_arcs, -1, np.int32)
    hist1 = np.empty(n_arcs, np.int32)
    hist2 = np.empty(n_arcs, np.int32)

    for k in range(n_arcs):
        s = arc_start[k]
        r = arc_row[k]
        if r < 0:  # identity: the spun word itself
            outs, row, first, n_out = ids2, 0, s, 1
        else:
            outs, row, first, n_out = cand_out, r, 0, cand_len[r]
        if s == 0:
            t = _emit(tables, oov, memo, outs, row, first, n_out, bos, bos, lm_weight)
            trans[trans_off[k]] = t
            viterbi[k] = t + arc_channel[k]
            alpha[k] = t + arc_channel[k]
            h1, h2 = _push(bos, bos, outs, row, first, n_out)
            hist1[k] = h1
            hist2[k] = h2
            continue
        best = NEG_INF
        best_p = -1
        acc = NEG_INF
        p0 = end_ptr[s]
        if _PREFETCH:  # (every transition's first look-up, touched before any is made: see touch)
            w0 = outs[row, first]
            for q in range(p0, end_ptr[s + 1]):
                pk = end_list[q]
                sink += touch(tables, oov, memo, w0, hist1[pk], hist2[pk])
        for q in range(p0, end_ptr[s + 1]):
            pk = end_list[q]
            t = _emit(tables, oov, memo, outs, row, first, n_out, hist1[pk], hist2[pk], lm_weight)
            trans[trans_off[k] + q - p0] = t
            v = viterbi[pk] + t
            if v > best:
                best = v
                best_p = pk
            acc = _lse2(acc, alpha[pk] + t)
        viterbi[k] = best + arc_channel[k]
        back[k] = best_p
        alpha[k] = acc + arc_channel[k]
        h1, h2 = _push(hist1[best_p], hist2[best_p], outs, row, first, n_out)
        hist1[k] = h1
        hist2[k] = h2

    final = np.full(n_arcs, NEG_INF)
    last = -1
    best = NEG_INF
    log_z = NEG_INF
    for q in range(end_ptr[n], end_ptr[n + 1]):
        k = end_list[q]
        final[k] = lm_weight * logprob_cached(tables, oov, memo, eos, hist1[k], hist2[k])
        if last < 0 or viterbi[k] + final[k] > best:
            best = viterbi[k] + final[k]
            last = k
        beta[k] = final[k]
        log_z = _lse2(log_z, alpha[k] + final[k])
    # Viterbi back-trace
    path_rev = np.empty(n, np.int32)
    n_path = 0
    k = last
    while k != -1:
        path_rev[n_path] = k
        n_path += 1
        k = back[k]
    path = path_rev[:n_path][::-1].copy()
    # backward pass
    for i in range(n - 1, 0, -1):
        p0 = end_ptr[i]
        for q in range(p0, end_ptr[i + 1]):
            pk = end_list[q]
            acc = NEG_INF
            for k in range(start_ptr[i], start_ptr[i + 1]):
                acc = _lse2(acc, trans[trans_off[k] + q - p0] + arc_channel[k] + beta[k])
            beta[pk] = acc

    # the all-identity path under rate 0 (identity arcs come first at each position)
    id_arc = np.empty(n, np.int32)
    for i in range(n):
        id_arc[i] = start_ptr[i]
    log_clean = trans[trans_off[id_arc[0]]] + final[id_arc[n - 1]]
    for i in range(1, n):
        pk = id_arc[i - 1]
        k = id_arc[i]
        p0 = end_ptr[i]
        for q in range(p0, end_ptr[i + 1]):
            if end_list[q] == pk:
                log_clean += trans[trans_off[k] + q - p0]
                break
    for i in range(n):
        log_clean += arc_channel[id_arc[i]] - (log_keep if spinnable[i] else 0.0)

    if sink == np.int64(-7046029254386353131):  # (never: a use of sink the compiler cannot drop)
        log_z = np.nan
    post = np.empty(n_arcs, np.float64)
    swap_post = np.zeros(n, np.float64)
    for k in range(n_arcs):
        x = alpha[k] + beta[k] - log_z
        post[k] = np.exp(x if x < 0.0 else 0.0)
        if arc_row[k] >= 0:
            for j in range(arc_start[k], arc_end[k]):
                swap_post[j] += post[k]
    for j in range(n):
        if swap_post[j] > 1.0:
            swap_post[j] = 1.0
    return (arc_start[:n_arcs].copy(), arc_end[:n_arcs].copy(), arc_row[:n_arcs].copy(), post, path,
            swap_post, log_z, log_clean)


@njit(cache=True, _nrt=False)
def _cache_bonus(tables, oov, doc_ids, doc_cnt, doc_inv_n, lam, w, own):
    """ln[(1 - lam) + lam * P_doc(w) / P(w)]: a cache (document) language model mixed into the
    prior of original word w, relative to the 3-gram's unigram P(w).  P_doc(w) = (count of w in
    the document - own) / words of the document, where `own` discounts the occurrences at the
    position being decoded.  A word used elsewhere in the document is a likelier original (a
    spinner leaves most occurrences of a word alone); one the document never uses costs
    -ln(1 - lam).  doc_ids: the document's word ids, sorted; doc_cnt: their counts."""
    if lam == 0.0:
        return 0.0
    lo = 0
    hi = doc_ids.shape[0]
    while lo < hi:
        mid = (lo + hi) // 2
        if doc_ids[mid] < w:
            lo = mid + 1
        else:
            hi = mid
    c = doc_cnt[lo] if lo < doc_ids.shape[0] and doc_ids[lo] == w else 0.0
    c -= own
    if c < 0.0:
        c = 0.0
    return np.log(1.0 - lam + lam * c * doc_inv_n / np.exp(unigram(tables, oov, w)))


@njit(cache=True, _nrt=False)
def _emit(tables, oov, memo, words, row, first, n_out, h1, h2, lm_weight):
    total = 0.0
    for j in range(first, first + n_out):
        w = words[row, j]
        total += logprob_cached(tables, oov, memo, w, h1, h2)
        h2 = h1
        h1 = w
    return lm_weight * total


@njit(cache=True, _nrt=False)
def _push(h1, h2, words, row, first, n_out):
    for j in range(first, first + n_out):
        h2 = h1
        h1 = words[row, j]
    return h1, h2


@njit(cache=True, _nrt=False)
def _mixture(cand_cost, row, log_w, quant, absent):
    """ln Σ_t w_t P_t(spun | original) for one candidate row, and the best thesaurus."""
    mx = NEG_INF
    best_t = 0
    for t in range(cand_cost.shape[1]):
        c = cand_cost[row, t]
        if c != absent:
            v = -np.float64(c) * quant + log_w[t]
            if v > mx:
                mx = v
                best_t = t
    if mx == NEG_INF:
        return mx, best_t
    acc = 0.0
    for t in range(cand_cost.shape[1]):
        c = cand_cost[row, t]
        if c != absent:
            acc += np.exp(-np.float64(c) * quant + log_w[t] - mx)
    return mx + np.log(acc), best_t


@njit(cache=True, _nrt=False)
def _mixture_linear(cand_cost, row, w, exp_cost, absent):
    """_mixture's value from w = exp(log_w) and exp_cost[c] = exp(-c * quant): the same sum
    without the max shift, which costs (stored costs are at most 25.4 nats: no underflow)."""
    acc = 0.0
    for t in range(cand_cost.shape[1]):
        c = cand_cost[row, t]
        if c != absent:
            acc += w[t] * exp_cost[c]
    return np.log(acc) if acc > 0.0 else NEG_INF


@njit(cache=True, _nrt=False)
def _original_prior(tables, oov, orig_ids, o):
    """Σ ln P_unigram over the words of original o (an id of -1 inside: a word the 3-gram lacks)."""
    vocab = tables[0].shape[0]
    prior = 0.0
    for j in range(orig_ids.shape[1]):
        w = orig_ids[o, j]
        if w == -1 and j > 0:
            break
        prior += unigram(tables, oov, w if w >= 0 else vocab)
    return prior


@njit(cache=True)
def shortlist(tables, oov, key, offsets, cand_orig, cand_cost, log_w, quant, absent, orig_ids,
              channel_weight, lm_weight, disc, k_max,
              out_ids, out_len, out_static, out_orig, out_thes, out_cost, out_mix, row0):
    """Write spun key `key`'s best `k_max` candidates (by channel + unigram prior, stable) into
    the store rows from row0; return how many.  out_static gets the arc's static score."""
    a = np.int64(offsets[key])  # (offsets may be unsigned: keep the arithmetic signed)
    m = np.int64(offsets[key + 1]) - a
    vocab = tables[0].shape[0]
    width = orig_ids.shape[1]
    score = np.empty(m, np.float64)
    static = np.empty(m, np.float64)
    mixes = np.empty(m, np.float64)
    thes = np.empty(m, np.int8)
    for c in range(m):
        mix, bt = _mixture(cand_cost, a + c, log_w, quant, absent)
        mixes[c] = mix
        o = np.int64(cand_orig[a + c])
        prior = _original_prior(tables, oov, orig_ids, o)
        score[c] = channel_weight * mix + lm_weight * prior
        static[c] = channel_weight * mix - disc * prior
        thes[c] = bt
    order = np.argsort(-score, kind="mergesort")
    n = min(k_max, m)
    for q in range(n):
        c = order[q]
        o = np.int64(cand_orig[a + c])
        r = row0 + q
        length = 0
        for j in range(width):
            w = orig_ids[o, j]
            if w == -1 and j > 0:
                out_ids[r, j] = -1
                continue
            out_ids[r, j] = w if w >= 0 else vocab
            length = j + 1
        out_len[r] = length
        out_static[r] = static[c]
        out_mix[r] = mixes[c]
        out_orig[r] = o
        out_thes[r] = thes[c]
        for t in range(cand_cost.shape[1]):
            out_cost[r, t] = cand_cost[a + c, t]
    return n


@njit(cache=True)
def shortlist_many(tables, oov, keys, offsets, cand_orig, cand_cost, log_w, quant, absent, orig_ids,
                   channel_weight, lm_weight, disc, k_max,
                   out_ids, out_len, out_static, out_orig, out_thes, out_cost, out_mix, row0, out_count):
    """shortlist for many keys, rows written one key after another from row0 (a call from
    Python costs about 5 µs of argument checking); out_count[i] gets key i's number of rows."""
    r = row0
    for i in range(keys.shape[0]):
        n = shortlist(tables, oov, keys[i], offsets, cand_orig, cand_cost, log_w, quant, absent, orig_ids,
                      channel_weight, lm_weight, disc, k_max,
                      out_ids, out_len, out_static, out_orig, out_thes, out_cost, out_mix, r)
        out_count[i] = n
        r += n
    return r - row0


@njit(cache=True)
def word_signals(tables, oov, key, word_id, word_is_fw, offsets, cand_orig, cand_cost, log_w, quant,
                 absent, orig_ids, fw_ids, odd_ratio, fw_min_channel, rate):
    """Context-free signals of a spun word that is channel key `key`:
    odd     some single-word candidate original is odd_ratio (nats) more frequent than the word;
    fw      some candidate is a function word (the word itself being none) explained with
            ln P(spun | original) > fw_min_channel;
    llr     ln [P(word | a text spun at `rate`) / P(word | clean text)] under unigram priors,
            = ln(1 - rate + rate * Σ_o P(o) P(word | o) / P(word)): the decoder's evidence
            without context, which costs a look-up per word type."""
    a = np.int64(offsets[key])
    b = np.int64(offsets[key + 1])
    uni = unigram(tables, oov, word_id)
    odd = False
    fw = False
    width = orig_ids.shape[1]
    mass = 0.0
    for row in range(a, b):
        o = np.int64(cand_orig[row])
        mix, _bt = _mixture(cand_cost, row, log_w, quant, absent)
        prior = _original_prior(tables, oov, orig_ids, o)
        mass += np.exp(prior + mix - uni)
        if width > 1 and orig_ids[o, 1] != -1:
            continue  # multi-word original: no odd / fw signal
        w = orig_ids[o, 0]
        if w < 0:
            continue
        if not fw and not word_is_fw and fw_ids[w] and mix > fw_min_channel:
            fw = True
        if not odd and np.float64(tables[0][w]) - uni > odd_ratio:
            odd = True
    return odd, fw, np.log(1.0 - rate + rate * mass)


@njit(cache=True)
def word_signals_many(tables, oov, keys, word_ids, words_are_fw, offsets, cand_orig, cand_cost, log_w, quant,
                      absent, orig_ids, fw_ids, odd_ratio, fw_min_channel, rate, out_odd, out_fw, out_llr):
    """word_signals for many word types in one call (a call from Python costs about 5 µs of
    argument checking, more than the work for most words)."""
    for i in range(keys.shape[0]):
        odd, fw, llr = word_signals(tables, oov, keys[i], word_ids[i], words_are_fw[i], offsets, cand_orig,
                                    cand_cost, log_w, quant, absent, orig_ids, fw_ids, odd_ratio, fw_min_channel,
                                    rate)
        out_odd[i] = odd
        out_fw[i] = fw
        out_llr[i] = llr


@njit(cache=True)
def screen_counts(tables, oov, tok_rows, type_word, type_start, type_count, type_llr, type_flags, cand_ids,
                  cand_len, cand_static, bos, eos, log_keep, log_swap, hit_llr, llr_max):
    """The screening stage's counts over a text's tokens: words, and among them those whose
    word type is odd / a function-word oddity / rare (type_flags bits 0, 1, 2), the Σ of their
    context-free llr (type_llr), and the look at context.

    The look at context, without a lattice: each token whose word type has
    candidate originals (its few best by channel + unigram, rows type_start..+type_count of
    cand_*) gets the likelihood ratio of "swapped" against "kept" between its two neighbours,
    under the 3-gram's bigram level (logprob with no word before the history),

        llr = ln[(1 - rate) + rate * Σ_c P(word | c) P(c right | left) / P(word right | left)]

    (log_keep = ln(1 - rate), log_swap = ln rate).  Bigrams, not trigrams: a trigram costs a
    search after the hash probe, and on dev the bigram llr ranks clean against 10%-spun
    documents about as well (AUROC 0.906 against 0.912 on ~270-word documents, 0.999 against
    0.997 on long ones) at 3-4x the speed.  tok_rows: each token's word-type row, -1 for a
    sentence end (the next token starts a sentence).  A word type with no candidates to look at
    counts with its context-free llr, type_llr; no token counts more than llr_max (an unknown
    word would otherwise dominate a document).  Returns (words, odd, fw_odd, rare, Σ type_llr,
    Σ llr, Σ max(llr, 0), the number of tokens with llr > hit_llr)."""
    n = tok_rows.shape[0]
    n_words = 0
    n_odd = 0
    n_fw = 0
    n_rare = 0
    free = 0.0
    total = 0.0
    pos = 0.0
    hits = 0
    prev1 = bos
    carry_at = -1  # the token whose left-hand look-up carry_lp holds
    carry_lp = 0.0
    keep_rate = np.exp(log_keep)
    swap_rate = np.exp(log_swap)
    sink = np.int64(0)
    for i in range(n):
        if _PREFETCH and i % _SCREEN_BLOCK == 0:
            sink += _touch_block(tables, tok_rows, type_word, type_start, type_count, cand_ids, cand_len, bos, eos,
                                 i, min(n, i + _SCREEN_BLOCK), prev1)
        r = tok_rows[i]
        if r < 0:
            prev1 = bos
            continue
        w = type_word[r]
        cnt = type_count[r]
        flags = type_flags[r]
        n_words += 1
        n_odd += flags & 1
        n_fw += (flags >> 1) & 1
        n_rare += (flags >> 2) & 1
        free += type_llr[r]
        if cnt == 0:
            llr = type_llr[r]
        else:
            nxt1 = eos
            if i + 1 < n and tok_rows[i + 1] >= 0:
                nxt1 = type_word[tok_rows[i + 1]]
            # ln P(word | the word before) is the token before's right-hand look-up when that
            # token was looked at too: a random memory read fewer (a fifth of them)
            left = carry_lp if carry_at == i else logprob(tables, oov, w, prev1, -1)
            right = logprob(tables, oov, nxt1, w, -1)
            keep = left + right
            carry_at = i + 1
            carry_lp = right
            acc = 0.0
            q0 = type_start[r]
            for q in range(q0, q0 + cnt):
                m = cand_len[q]
                lm_c = logprob(tables, oov, cand_ids[q, 0], prev1, -1)
                for j in range(1, m):
                    lm_c += logprob(tables, oov, cand_ids[q, j], cand_ids[q, j - 1], -1)
                lm_c += logprob(tables, oov, nxt1, cand_ids[q, m - 1], -1)
                acc += np.exp(cand_static[q] + lm_c - keep)
            llr = min(llr_max, np.log(keep_rate + swap_rate * acc))
        total += llr
        if llr > 0.0:
            pos += llr
        if llr > hit_llr:
            hits += 1
        prev1 = w
    if sink == np.int64(-7046029254386353131):  # (never: a use of sink the compiler cannot drop)
        hits = -1
    return n_words, n_odd, n_fw, n_rare, free, total, pos, hits


_SCREEN_BLOCK = 64  # tokens whose look-ups screen_counts touches before making them


@njit(cache=True, _nrt=False)
def _touch_block(tables, tok_rows, type_word, type_start, type_count, cand_ids, cand_len, bos, eos, a, b, prev1):
    """Touch (lm.kernels.touch_bigram) the look-ups screen_counts makes for tokens a..b, the word
    before token a being prev1: their cache misses then overlap instead of coming one by one."""
    n = tok_rows.shape[0]
    sink = np.int64(0)
    for i in range(a, b):
        r = tok_rows[i]
        if r < 0:
            prev1 = bos
            continue
        w = type_word[r]
        cnt = type_count[r]
        if cnt > 0:
            nxt1 = type_word[tok_rows[i + 1]] if i + 1 < n and tok_rows[i + 1] >= 0 else eos
            sink += touch_bigram(tables, w, prev1) + touch_bigram(tables, nxt1, w)
            for q in range(type_start[r], type_start[r] + cnt):
                sink += touch_bigram(tables, cand_ids[q, 0], prev1)
                sink += touch_bigram(tables, nxt1, cand_ids[q, cand_len[q] - 1])
        prev1 = w
    return sink


@njit(cache=True)
def decode_many(tables, oov, memo, ptr, ids, spinnable, slot_start, slot_count, local_lm, cand_out, cand_len, cand_static,
                cand_cost, adapt, log_w_doc, cand_mix, chan_w, quant, absent, log_keep, log_swap, disc, prune_margin, max_candidates, lm_weight, gate_pmi, bos, eos,
                doc_ids, doc_cnt, doc_inv_n, cache_lam, cache_keep):
    """decode_sentence over sentences ptr[s]:ptr[s+1] of the concatenated arrays; outputs
    concatenated likewise (arcs by arc_ptr, Viterbi paths by path_ptr, arc indices local to
    their sentence)."""
    n_sent = ptr.shape[0] - 1
    total = ids.shape[0]
    cap = total * (1 + slot_start.shape[1] * max_candidates)
    arc_start = np.empty(cap, np.int32)
    arc_end = np.empty(cap, np.int32)
    arc_row = np.empty(cap, np.int32)
    post = np.empty(cap, np.float64)
    path = np.empty(total, np.int32)
    swap_post = np.zeros(total, np.float64)
    arc_ptr = np.zeros(n_sent + 1, np.int64)
    path_ptr = np.zeros(n_sent + 1, np.int64)
    log_z = np.zeros(n_sent, np.float64)
    log_clean = np.zeros(n_sent, np.float64)
    # the adapted channel mixture in linear space (one log per candidate instead of an exp per
    # thesaurus): the document's weights and exp(-cost) of every stored cost, once per call
    w_doc = np.exp(log_w_doc)
    exp_cost = np.exp(-np.arange(256, dtype=np.float64) * quant)
    # per store row, its document terms (adapted channel, cache prior) for this call
    row_memo_key = np.full(4096, -1, np.int64)
    row_memo_val = np.empty(4096, np.float64)
    na = 0
    npath = 0
    for s in range(n_sent):
        a, b = ptr[s], ptr[s + 1]
        if b > a:
            (st, en, row, pst, pth, sw, lz, lc) = decode_sentence(
                tables, oov, memo, ids[a:b], spinnable[a:b], slot_start[a:b], slot_count[a:b], local_lm[a:b],
                cand_out, cand_len, cand_static, cand_cost, adapt, w_doc, exp_cost, row_memo_key, row_memo_val,
                cand_mix, chan_w, quant, absent, log_keep, log_swap, disc, prune_margin,
                max_candidates, lm_weight, gate_pmi, bos, eos, doc_ids, doc_cnt, doc_inv_n, cache_lam, cache_keep)
            m = st.shape[0]
            arc_start[na:na + m] = st
            arc_end[na:na + m] = en
            arc_row[na:na + m] = row
            post[na:na + m] = pst
            na += m
            path[npath:npath + pth.shape[0]] = pth
            npath += pth.shape[0]
            swap_post[a:b] = sw
            log_z[s] = lz
            log_clean[s] = lc
        arc_ptr[s + 1] = na
        path_ptr[s + 1] = npath
    return (arc_ptr, arc_start[:na], arc_end[:na], arc_row[:na], post[:na], path_ptr, path[:npath],
            swap_post, log_z, log_clean)


@njit(cache=True)
def _ranked(keys, weights, m, top, out_key, out_w, at):
    """Write the `top` heaviest of m (key, weight) entries, heaviest first and ties in entry
    order (as Python's sorted(..., key=-weight) keeps them), at out_*[at:]; returns how many."""
    order = np.argsort(-weights[:m], kind="mergesort")
    n = min(top, m)
    for q in range(n):
        out_key[at + q] = keys[order[q]]
        out_w[at + q] = weights[order[q]]
    return n


@njit(cache=True)
def _entry_at(keys, m, key):
    """Where `key` is among the first m entries (-1: absent)."""
    for q in range(m):
        if keys[q] == key:
            return q
    return -1


@njit(cache=True)
def _add_entry(keys, weights, m, key, w):
    """Add w to the entry of `key` among the first m (appended if absent); returns the new m."""
    at = _entry_at(keys, m, key)
    if at >= 0:
        weights[at] += w
        return m
    keys[m] = key
    weights[m] = w
    return m + 1


@njit(cache=True)
def _lm_gain(slot_start, local_lm, word, length, row):
    """The local 3-gram score (kept from the first pass in local_lm) of store row `row` as the
    original of `length` spun words from batch word `word`, minus the spun words'."""
    li = length - 1
    c = row - slot_start[word, li]
    lbase = li * (local_lm.shape[1] // slot_start.shape[1])
    if c < 0 or lbase + 1 + c >= local_lm.shape[1]:
        return 0.0
    gain = local_lm[word, lbase + 1 + c] - local_lm[word, lbase]
    return gain if np.isfinite(gain) else 0.0


@njit(cache=True)
def gather_swaps(arc_ptr, arc_start, arc_end, arc_row, post, word_ptr, swap_post, path_arcs, path_sent,
                 store_orig, arc_mix, sharpen, extra, thr, slot_start, local_lm, top):
    """The best paths' swaps with their alternatives, for decode.Decoder._decode_batch (arcs as
    decode_many returns them, arc indices global).  For each swap arc on a path (path_arcs, in
    path order; path_sent: its sentence):

        prob   the least swap posterior of its words; the swap is kept where it reaches thr
        row    the store row reported: the arc's, or with `sharpen` the one chosen among the
               span's swap arcs (same start and end) after each one's posterior is weighed by
               exp(extra x (its channel mixture arc_mix - the best's)), which also reweighs them
               as alternatives (Decoder.params.channel_sharpen)
        alternatives  the other arcs from its start that end where it ends, summed per original
               (key store_orig[row]), and keeping the words (the identity arc, key -1): the
               `top` heaviest, heaviest first (ties in arc order): alt_*[alt_ptr[j]:alt_ptr[j+1]]
        gain   _lm_gain of the reported row

    and `covered`: per word, whether a path swap (kept or not) covers it."""
    n = path_arcs.shape[0]
    keep = np.zeros(n, np.bool_)
    prob = np.zeros(n)
    rows = np.full(n, -1, np.int64)
    gain = np.zeros(n)
    alt_ptr = np.zeros(n + 1, np.int64)
    alt_key = np.empty(n * top, np.int64)
    alt_w = np.empty(n * top, np.float64)
    covered = np.zeros(swap_post.shape[0], np.bool_)
    widest = 1
    for s in range(arc_ptr.shape[0] - 1):
        widest = max(widest, arc_ptr[s + 1] - arc_ptr[s] + 1)
    keys = np.empty(widest, np.int64)
    weights = np.empty(widest, np.float64)
    same = np.empty(widest, np.int64)
    score = np.empty(widest, np.float64)
    na = 0
    for j in range(n):
        kg = path_arcs[j]
        s = path_sent[j]
        k0, k1 = arc_ptr[s], arc_ptr[s + 1]
        a_start, a_end = arc_start[kg], arc_end[kg]
        w0 = word_ptr[s]
        p = swap_post[w0 + a_start]
        for i in range(a_start, a_end):
            covered[w0 + i] = True
            p = min(p, swap_post[w0 + i])
        prob[j] = p
        if p < thr:
            alt_ptr[j + 1] = na
            continue
        keep[j] = True
        kk = kg
        while kk > k0 and arc_start[kk - 1] == a_start:
            kk -= 1
        m = 0
        ns = 0
        while kk < k1 and arc_start[kk] == a_start:
            rr = arc_row[kk]
            if sharpen and rr >= 0 and arc_end[kk] == a_end:
                same[ns] = kk
                ns += 1
            if kk != kg and (arc_end[kk] == a_end or rr < 0):
                m = _add_entry(keys, weights, m, store_orig[rr] if rr >= 0 else -1, post[kk])
            kk += 1
        r = arc_row[kg]
        if ns > 1:
            best_mix = arc_mix[same[0]]
            for q in range(1, ns):
                best_mix = max(best_mix, arc_mix[same[q]])
            chosen = 0
            for q in range(ns):
                score[q] = np.log(max(post[same[q]], 1e-300)) + extra * (arc_mix[same[q]] - best_mix)
                if score[q] > score[chosen]:
                    chosen = q
            total_post = 0.0
            total_w = 0.0
            for q in range(ns):
                total_post += post[same[q]]
                total_w += np.exp(score[q] - score[chosen])
            scale = total_post / total_w
            for q in range(ns):
                key = store_orig[arc_row[same[q]]]
                at = _entry_at(keys, m, key)
                if q == chosen:  # (dropped from the alternatives, the others keeping their order)
                    if at >= 0:
                        for e in range(at, m - 1):
                            keys[e] = keys[e + 1]
                            weights[e] = weights[e + 1]
                        m -= 1
                else:  # (set to its new weight)
                    if at < 0:
                        at = m
                        m += 1
                    keys[at] = key
                    weights[at] = np.exp(score[q] - score[chosen]) * scale
            r = arc_row[same[chosen]]
        rows[j] = r
        gain[j] = _lm_gain(slot_start, local_lm, w0 + a_start, a_end - a_start, r)
        na += _ranked(keys, weights, m, top, alt_key, alt_w, na)
        alt_ptr[j + 1] = na
    return keep, prob, rows, gain, alt_ptr, alt_key[:na], alt_w[:na], covered


@njit(cache=True)
def gather_near(near_arcs, near_word, arc_row, post, store_orig, covered, slot_start, local_lm, top):
    """The kept words that might be swaps, for decode.Decoder._decode_batch: near_arcs, one-word
    swap arcs (global indices, sorted by word) of words likely enough swapped, near_word their
    (global) words.  Per word not `covered` by a path swap, its candidates summed per original
    (store_orig), the `top` heaviest, heaviest first (ties in arc order): keys[ptr[j]:ptr[j+1]]
    (the first is the one reported); and its likeliest single arc's store row (the first of the
    heaviest) with that row's _lm_gain.  Returns words, rows, gains, ptr, keys, weights."""
    n = near_arcs.shape[0]
    words = np.empty(n, np.int64)
    rows = np.empty(n, np.int64)
    gain = np.empty(n)
    ptr = np.zeros(n + 1, np.int64)
    out_key = np.empty(n * top, np.int64)
    out_w = np.empty(n * top, np.float64)
    keys = np.empty(n + 1, np.int64)
    weights = np.empty(n + 1, np.float64)
    nw = 0
    na = 0
    j = 0
    while j < n:
        g = near_word[j]
        e = j
        while e < n and near_word[e] == g:
            e += 1
        if not covered[g]:
            m = 0
            best = near_arcs[j]
            for q in range(j, e):
                kk = near_arcs[q]
                m = _add_entry(keys, weights, m, store_orig[arc_row[kk]], post[kk])
                if post[kk] > post[best]:
                    best = kk
            words[nw] = g
            rows[nw] = arc_row[best]
            gain[nw] = _lm_gain(slot_start, local_lm, g, 1, arc_row[best])
            na += _ranked(keys, weights, m, top, out_key, out_w, na)
            nw += 1
            ptr[nw] = na
        j = e
    return words[:nw], rows[:nw], gain[:nw], ptr[:nw + 1], out_key[:na], out_w[:na]
