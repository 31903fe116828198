"""FLUID's decoder: every pass of the adapted model both checks the tokens proposed by the
previous pass and proposes the next ones, with a KV cache of the committed prefix.

A row's pass feeds R = m + 1 real slots at positions v .. v+m (v: tokens committed so far,
inputs x_{v-1} and the m tokens proposed by the previous pass) and, after the last real slot
b = v+m, K mask slots at positions b+1 .. b+K (`layout.py`: a mask at offset o predicts
x_{b+o}). Real slots see only the cache and each other, so their draws are exactly the
adapted model's autoregressive draws given their inputs. Every token at position q is drawn
with the uniform u[q] of token-by-token sampling (`autoregressive/sampler.categorical`).

- Verification on: the real slots' draws a_v .. a_{v+m-1} are compared with the proposals; the
  first mismatch f keeps the proposals before it and a_{v+f} there, so the window equals
  token-by-token sampling of the adapted model with the same uniforms (the output is lossless;
  the masks only buy passes). No mismatch: all m proposals and a_b are kept (m + 1 tokens).
- Verification off: the m proposals are committed as they are, and a_b after them; proposals
  that reach the window's end are committed with the pass that made them (no pass is spent
  on them alone).
- New proposals: the masks' draws, the contiguous run whose confidence (the model's probability
  of the drawn token at temperature 1, as the paper's max-probability for greedy) exceeds
  gamma, cut at the head's horizon when elastic; none after a mismatch (they were drawn on
  rejected inputs).

The paper's decoder fills a fixed block over several passes, then verifies it in another; this
one verifies and drafts in one pass (blockwise parallel decoding), so a pass commits 1 .. m+1
tokens. Elastic horizons cannot size the masks of the pass that computes their trigger, so the
head (stage II) cuts the proposals of K masks instead: elastic arms pay for K masks per pass.

Batching: rows run in lockstep; a pass is padded to the batch's largest m + 1 and K (padding
attends only to itself and is written to the cache's spare slot), finished rows leave the
batch, and the ledger prices the padded shapes (computed, so counted).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from lightning_modules.autoregressive.sampler import categorical
from lightning_modules.nets.causal import CausalLM


@dataclass
class Decoded:
    tokens: torch.Tensor  # [n, L]
    passes: torch.Tensor  # [n] passes of the model per window
    strides: torch.Tensor  # passes that committed s tokens, s = 0 .. 2 max(k, lookahead) + 1 (0 unused)
    proposed: int  # proposals made over the batch
    accepted: int  # proposals committed (all of them without verification)


def draw(logits: torch.Tensor, u: torch.Tensor, temperature: float) -> torch.Tensor:
    """Tokens [...] from logits [..., V] with uniforms u [...]; temperature 0 is greedy."""
    flat = categorical(logits.reshape(-1, logits.shape[-1]), u.reshape(-1), temperature)
    return flat.view(u.shape)


def _attend(real_rows: torch.Tensor, k_rows: torch.Tensor, committed: torch.Tensor, reals: int, masks: int,
            cached: int, bidirectional: bool = False) -> torch.Tensor:
    """[r, 1, Q, cached + Q] boolean: who may attend to whom in this pass (module docstring);
    `real_rows` [r] and `k_rows` [r]: each row's real and mask slots, the rest padding."""
    device = committed.device
    slot_ok = torch.cat([torch.arange(reals, device=device).unsqueeze(0) < real_rows.unsqueeze(1),
                         torch.arange(masks, device=device).unsqueeze(0) < k_rows.unsqueeze(1)], 1)  # [r, Q]
    is_mask = torch.arange(reals + masks, device=device) >= reals
    index = torch.arange(reals + masks, device=device)
    upto = index.unsqueeze(0) <= index.unsqueeze(1)  # key <= query
    # a real query: real keys up to itself; a mask query: every real key, masks up to itself
    # (every mask of the pass when the model was trained bidirectional)
    mask_sees = ~is_mask.unsqueeze(0) | (is_mask.unsqueeze(0) if bidirectional else upto)
    new = torch.where(is_mask.unsqueeze(1), mask_sees, ~is_mask.unsqueeze(0) & upto)
    new = new.unsqueeze(0) & slot_ok.unsqueeze(1) & slot_ok.unsqueeze(2)  # [r, Q, Q]
    new = new | (torch.eye(reals + masks, dtype=torch.bool, device=device).unsqueeze(0) & ~slot_ok.unsqueeze(2))
    past = torch.arange(cached, device=device).unsqueeze(0) < committed.unsqueeze(1)  # [r, C]
    past = past.unsqueeze(1) & slot_ok.unsqueeze(2)  # padding sees only itself
    return torch.cat([past, new], 2).unsqueeze(1)


def _gate(confident: torch.Tensor, limit: torch.Tensor) -> torch.Tensor:
    """Length of each row's leading run of True in `confident` [r, K], at most `limit` [r]."""
    run = confident.long().cumprod(1).sum(1)
    return torch.minimum(run, limit)


# propose(tokens [r, L] committed so far, committed counts v [r], uniforms [r, L]) ->
# (proposals [r, lookahead] for positions v, v+1, ..., how many of them count [r], <= L - v)
Proposer = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@torch.inference_mode()
def decode(net: CausalLM, u: torch.Tensor, *, k: int, gamma: float, verify: bool, temperature: float,
           head: torch.nn.Module | None = None, propose: Proposer | None = None, lookahead: int = 0) -> Decoded:
    """Windows [n, L] decoded from BOS with uniforms u [n, L] (module docstring). `k`: masks per
    pass (0: one token per pass, the adapted model as an autoregressive model); `head`: elastic
    horizons (stage II), which cut the proposals of the k masks at its predicted K. `propose`
    (with k = 0): speculative decoding, up to `lookahead` proposals from another model between
    passes (`autoregressive/speculative.py`); `net` may then be any `CausalLM`."""
    n, length = u.shape
    device, dtype = net.head.weight.device, net.head.weight.dtype
    u = u.to(device)
    out = torch.zeros(n, length, dtype=torch.long, device=device)
    cache = net.new_cache(n, device=device, dtype=dtype)
    rows = torch.arange(n, device=device)  # the unfinished rows, in the order of the state below
    v = torch.zeros(n, dtype=torch.long, device=device)  # committed tokens
    m = torch.zeros(n, dtype=torch.long, device=device)  # proposals waiting
    width = max(k, lookahead, 1)
    proposal = torch.zeros(n, width, dtype=torch.long, device=device)
    passes = torch.zeros(n, dtype=torch.long, device=device)
    if propose is not None:  # the first proposals come before the first pass (an empty prefix)
        drafted, m = propose(out, v, u)
        proposal[:, : drafted.shape[1]] = drafted
    strides = torch.zeros(2 * width + 2, dtype=torch.long, device="cpu")  # up to m + 1, + m' at the end
    proposed = accepted = 0
    while rows.numel():
        r = rows.numel()
        trigger = v + m  # the last real slot; at L when the proposals reach the window's end
        real_rows = torch.minimum(m + 1, length - v)
        k_rows = (length - 1 - trigger).clamp(0, k)
        reals, masks, cached = int(real_rows.max()), int(k_rows.max()), int(v.max())
        j = torch.arange(reals, device=device)
        previous = torch.where(v > 0, out[rows, (v - 1).clamp_min(0)], torch.full_like(v, net.bos))
        wide = torch.cat([proposal, proposal[:, :1]], 1)  # room for the bonus slot
        inputs = torch.cat([previous.unsqueeze(1), wide[:, : reals - 1],
                            torch.full((r, masks), getattr(net, "mask_id", 0), dtype=torch.long, device=device)], 1)
        real_pos = v.unsqueeze(1) + j
        mask_pos = trigger.unsqueeze(1) + torch.arange(1, masks + 1, device=device)
        positions = torch.cat([real_pos, mask_pos], 1).clamp_max(length - 1)
        attend = _attend(real_rows, k_rows, v, reals, masks, cached, getattr(net, "bidirectional", False))
        logits, hidden = net(inputs, cache=cache, at=cached, positions=positions, attend=attend)
        passes[rows] += 1
        # keep the real slots' keys and values at their positions; padding goes to the spare slot
        is_real = j.unsqueeze(0) < real_rows.unsqueeze(1)
        write = torch.where(is_real, real_pos, torch.full_like(real_pos, length))
        for layer in cache:
            new_k, new_v = layer.pop("new_k")[:, :, :reals], layer.pop("new_v")[:, :, :reals]
            index = write.view(r, 1, reals, 1).expand(-1, new_k.shape[1], -1, new_k.shape[3])
            layer["k"].scatter_(2, index, new_k)
            layer["v"].scatter_(2, index, new_v)
        ar = draw(logits[:, :reals], u[rows.unsqueeze(1), real_pos.clamp_max(length - 1)], temperature)
        if verify:
            agree = (ar == wide[:, :reals]) | (j.unsqueeze(0) >= m.unsqueeze(1))
            f = torch.minimum(agree.long().cumprod(1).sum(1), m)
        else:
            f = m
        proposed += int(m.sum())
        accepted += int(f.sum())
        token = torch.where(j.unsqueeze(0) < f.unsqueeze(1), wide[:, :reals], ar)  # proposals before f, then a_f
        place = torch.where((j.unsqueeze(0) <= f.unsqueeze(1)) & is_real, real_pos, torch.full_like(real_pos, length))
        row_out = torch.cat([out[rows], torch.zeros(r, 1, dtype=torch.long, device=device)], 1)
        row_out.scatter_(1, place, token)
        out[rows] = row_out[:, :length]
        committed = f + (v + f < length).long()  # no draw after the window's last position
        # the next proposals: the masks' draws, when every proposal of this pass was kept
        m_next = torch.zeros_like(m)
        if masks:
            drafts = draw(logits[:, reals:], u[rows.unsqueeze(1), mask_pos.clamp_max(length - 1)], temperature)
            confidence = torch.softmax(logits[:, reals:].double(), -1).gather(-1, drafts.unsqueeze(-1)).squeeze(-1)
            limit = torch.where(f == m, k_rows, torch.zeros_like(k_rows))
            if head is not None:
                limit = torch.minimum(limit, head(hidden[torch.arange(r, device=device), real_rows - 1]).argmax(-1) + 1)
            m_next = _gate(confidence > gamma, limit)
            proposal = torch.zeros(r, width, dtype=torch.long, device=device)
            proposal[:, :masks] = drafts
        v, m = v + committed, m_next
        if not verify and masks:
            # proposals that reach the window's end need no further pass: commit them with this one's
            ends = (v + m == length) & (m > 0)
            if bool(ends.any()):
                at = v.unsqueeze(1) + torch.arange(width, device=device)
                place = torch.where(ends.unsqueeze(1) & (at < length), at, torch.full_like(at, length))
                row_out = torch.cat([out[rows], torch.zeros(r, 1, dtype=torch.long, device=device)], 1)
                row_out.scatter_(1, place, proposal)
                out[rows] = row_out[:, :length]
                proposed, accepted = proposed + int(m[ends].sum()), accepted + int(m[ends].sum())
                committed, v, m = committed + m * ends, v + m * ends, m * ~ends
        strides.index_add_(0, committed.cpu(), torch.ones(r, dtype=torch.long, device="cpu"))
        if propose is not None:
            drafted, m = propose(out[rows], v, u[rows])
            proposal = torch.zeros(r, width, dtype=torch.long, device=device)
            proposal[:, : drafted.shape[1]] = drafted
        alive = v < length
        if not bool(alive.all()):
            rows, v, m, proposal = rows[alive], v[alive], m[alive], proposal[alive]
            for layer in cache:
                layer["k"], layer["v"] = layer["k"][alive], layer["v"][alive]
    return Decoded(out, passes.cpu(), strides, proposed, accepted)


def stride_counters(runs: list[Decoded]) -> dict[str, float]:
    """A method's counters from its chunks' decodes: passes per window, the stride (tokens
    committed per pass: mean and deciles of its distribution over passes) and the share of
    proposals kept."""
    passes = torch.cat([r.passes for r in runs]).double()
    width = max(len(r.strides) for r in runs)
    strides = sum(torch.nn.functional.pad(r.strides, (0, width - len(r.strides))) for r in runs).double()
    proposed, accepted = sum(r.proposed for r in runs), sum(r.accepted for r in runs)
    sizes = torch.arange(width, dtype=torch.float64, device="cpu")
    cdf = strides.cumsum(0) / strides.sum()
    decile = {q: float(sizes[int(torch.searchsorted(cdf, torch.tensor(q, dtype=torch.float64, device="cpu")))])
              for q in (0.1, 0.5, 0.9)}
    counters = {"passes": float(passes.mean()), "stride": float((sizes * strides).sum() / strides.sum()),
                "stride_p10": decile[0.1], "stride_p50": decile[0.5], "stride_p90": decile[0.9]}
    if proposed:  # nothing proposed (k = 0, gamma = 1): no share to report
        counters["accepted_share"] = accepted / proposed
    return counters
