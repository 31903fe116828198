"""Quality of generated text, scored by an evaluator language model and by diversity counts.

The text analogue of FID: an evaluator LM (``lightning_modules/evaluator_lm.py``, trained on
the training windows, nothing downloaded) scores every sample, and repetition is measured
directly, because a sampler can reach a low perplexity by repeating likely characters.

    gen_ppl     exp(mean over samples of the per-sample NLL, nats/token), float64 throughout.
                Lower is better; the primary metric. Its floor is the gen PPL of held-out real
                text (:func:`text_floor`).
    entropy     mean over samples of the entropy (nats) of each sample's token histogram.
                Higher = more diverse; a sample of one repeated token scores 0.
    distinct_n  unique n-grams / all n-grams, pooled over samples (n-grams never cross
                samples). Higher = more diverse; in (0, 1].

Values are only comparable between runs scored by the same evaluator (its
``feature_net.weights_hash``) and the same sequence length. Intervals resample the samples
(bootstrap) and are centred on the full-sample value, as for the other tracks
(``_common.percentile_interval``); for distinct_n, whose value falls when resampling
duplicates samples, that centring matters most.

The opt-in :class:`HFCausalLM` scores decoded strings with a Hugging Face model (GPT-2, say)
for online users; nothing on the default path imports ``transformers``.

Example:
    >>> import torch
    >>> from lightning_modules.metrics.text import distinct_n, unigram_entropy
    >>> unigram_entropy(torch.tensor([[3, 3, 3, 3]])).tolist()
    [0.0]
    >>> distinct_n(torch.tensor([[1, 2, 1, 2]]), 2)
    0.6666666666666666
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Protocol

import torch
from torch import Tensor
from torch.nn import functional as F

from ._common import (
    Estimate,
    boot_record,
    bootstrap_counts,
    bootstrap_indices,
    percentile_interval,
    resample_generator,
)

# Characters, not words: distinct_3 of real text is already below 0.1 at 1000 samples (81
# symbols leave few 3-grams), so the default pairs distinct_2 (collapse) with distinct_4
# (about 0.25 on 1000 real windows, 1.0 on random tokens). Any distinct_<n> may be asked for.
TEXT_METRICS: tuple[str, ...] = ("gen_ppl", "entropy", "distinct_2", "distinct_4")


def lower_is_better(name: str) -> bool:
    """gen_ppl: lower is better; entropy and distinct_n: higher = more diverse."""
    return name == "gen_ppl"



class LogitsLM(Protocol):
    def logits(self, tokens: Tensor) -> Tensor:
        """Next-token logits [n, L, V]: position i predicts token i from tokens < i."""
        ...


def check_tokens(tokens: Tensor, *, name: str = "samples") -> Tensor:
    """CPU int64 [n, L] token ids; rejects floats, empty input and negative ids."""
    t = torch.as_tensor(tokens).detach().cpu()
    if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
        raise ValueError(f"{name} must be integer token ids; got dtype {t.dtype}")
    if t.ndim != 2 or t.shape[0] < 1 or t.shape[1] < 1:
        raise ValueError(f"{name} must have shape [n, L] with n, L >= 1; got {tuple(t.shape)}")
    t = t.long()
    if int(t.min()) < 0:
        raise ValueError(f"{name} contain negative token ids")
    return t


@torch.inference_mode()
def sequence_nll(lm: LogitsLM, tokens: Tensor, batch_size: int = 256) -> Tensor:
    """Per-sequence mean negative log-likelihood under ``lm``, nats/token, float64 [n].

    The logits are cast to float64 before the log-softmax: a confident LM's float32
    log-probabilities lose the small differences that separate good samplers.
    """
    tokens = check_tokens(tokens)
    params = getattr(lm, "parameters", None)  # a module's device; CPU for anything else
    device = next(iter(params()), torch.empty(0)).device if callable(params) else torch.device("cpu")
    out = []
    for chunk in tokens.split(batch_size):
        logits = lm.logits(chunk.to(device)).double()
        if logits.shape[:2] != chunk.shape:
            raise ValueError(f"lm.logits gave shape {tuple(logits.shape)} for tokens {tuple(chunk.shape)}")
        if int(chunk.max()) >= logits.shape[-1]:
            raise ValueError(f"samples contain token ids >= the evaluator's vocabulary ({logits.shape[-1]}) "
                             "(a [MASK] left unfilled?)")
        logp = F.log_softmax(logits, dim=-1).gather(-1, chunk.to(logits.device).unsqueeze(-1))
        out.append(-logp.squeeze(-1).mean(dim=1).cpu())
    return torch.cat(out)


def unigram_entropy(tokens: Tensor) -> Tensor:
    """Entropy (nats) of each sequence's token histogram, float64 [n]; 0 for one repeated token."""
    tokens = check_tokens(tokens)
    counts = torch.zeros(tokens.shape[0], int(tokens.max()) + 1, dtype=torch.float64)
    counts.scatter_add_(1, tokens, torch.ones_like(tokens, dtype=torch.float64))
    p = counts / tokens.shape[1]
    return -torch.special.xlogy(p, p).sum(dim=1) + 0.0  # + 0.0 turns -0.0 into 0.0


def _ngram_ids(tokens: Tensor, n: int) -> Tensor:
    """One int64 id per n-gram [num, L - n + 1]; n-grams stay inside their row."""
    if not 1 <= n <= tokens.shape[1]:
        raise ValueError(f"distinct_n needs 1 <= n <= L={tokens.shape[1]}; got n={n}")
    grams = tokens.unfold(1, n, 1)  # [num, L - n + 1, n]
    base = int(tokens.max()) + 1
    if n * math.log2(max(base, 2)) < 62:  # a base-`base` number fits int64: fast path
        return (grams * base ** torch.arange(n - 1, -1, -1, dtype=torch.int64)).sum(-1)
    _, ids = torch.unique(grams.reshape(-1, n), dim=0, return_inverse=True)
    return ids.view(grams.shape[:2])


def distinct_n(tokens: Tensor, n: int) -> float:
    """Unique n-grams / total n-grams, pooled over all sequences (n-grams never cross sequences)."""
    ids = _ngram_ids(check_tokens(tokens), n)
    return torch.unique(ids).numel() / ids.numel()


def _mean_estimate(values: Tensor, n_boot: int, seed: int, transform: Callable[[Tensor], Tensor]) -> Estimate:
    """transform(mean of values) and its bootstrap replicates over the samples."""
    value = float(transform(values.mean()))
    counts = bootstrap_counts(values.numel(), n_boot, resample_generator(seed))
    return Estimate(value, transform(counts @ values / values.numel()))


def gen_ppl(nll: Tensor, *, n_boot: int = 100, seed: int = 0) -> Estimate:
    """exp(mean per-sample NLL), float64, with bootstrap replicates (also for HFCausalLM's NLLs)."""
    nll = torch.as_tensor(nll, dtype=torch.float64)
    if nll.ndim != 1 or nll.numel() < 1 or not bool(torch.isfinite(nll).all()):
        raise ValueError("per-sample NLLs must be a non-empty finite 1-D tensor")
    return _mean_estimate(nll, n_boot, seed, torch.exp)


def _distinct_estimate(tokens: Tensor, n: int, n_boot: int, seed: int) -> Estimate:
    ids = _ngram_ids(tokens, n)
    reps = [torch.unique(ids[rows]).numel() / ids.numel()
            for rows in bootstrap_indices(len(ids), n_boot, resample_generator(seed))]
    return Estimate(torch.unique(ids).numel() / ids.numel(), torch.tensor(reps, dtype=torch.float64))


def _resolve(metrics: Sequence[str]) -> list[str]:
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    for name in names:
        if name in ("gen_ppl", "entropy"):
            continue
        suffix = name.removeprefix("distinct_")
        if not (name.startswith("distinct_") and suffix.isdigit() and int(suffix) >= 1):
            raise ValueError(f"unknown text metric {name!r}; allowed: gen_ppl, entropy, distinct_<n> "
                             f"(default {', '.join(TEXT_METRICS)})")
    return names


def _estimates(samples: Tensor, lm: LogitsLM | None, names: list[str], n_boot: int,
               seed: int, boot: Sequence[str] | None = None) -> dict[str, Estimate]:
    out = {}
    full = n_boot
    for name in names:
        n_boot = full if boot is None or name in boot else 0
        if name == "gen_ppl":
            if lm is None:
                raise ValueError("gen_ppl needs an evaluator LM")
            out[name] = gen_ppl(sequence_nll(lm, samples), n_boot=n_boot, seed=seed)
        elif name == "entropy":
            out[name] = _mean_estimate(unigram_entropy(samples), n_boot, seed, lambda m: m)
        else:
            out[name] = _distinct_estimate(samples, int(name.removeprefix("distinct_")), n_boot, seed)
    return out


def text_quality(
    samples: Tensor, lm: LogitsLM | None, *, metrics: Sequence[str] = TEXT_METRICS,
    n_boot: int = 100, ci: float = 0.95, seed: int = 0, replicates: bool = False,
    boot: Sequence[str] | None = None,
) -> dict[str, float | list[float]]:
    """Text metrics of generated token ids [n, L], with bootstrap intervals over the samples
    (of the metrics in ``boot``; None: all; the others get their value alone).

    Every metric uses its own generator seeded with ``seed`` (the same resamples for each), so
    a value does not depend on which other metrics are requested. ``replicates`` adds each
    metric's centred replicates as ``name + "_boot"`` (paired across calls with one seed).

    Returns:
        ``{name: value, name + "_ci": [lo, hi]}`` with python floats, like ``metrics.quality``.

    Raises:
        ValueError: unknown metric, non-integer or out-of-vocabulary tokens, bad shapes.
    """
    names = _resolve(metrics)
    if n_boot < 0:
        raise ValueError(f"n_boot must be >= 0; got {n_boot}")
    out: dict[str, float | list[float]] = {}
    for name, est in _estimates(check_tokens(samples), lm, names, n_boot, seed, boot).items():
        booted = boot is None or name in boot
        out[name] = float(est.value)
        if booted:
            out[name + "_ci"] = percentile_interval(est, ci)
        if replicates and booted:
            out[name + "_boot"] = boot_record(est)
    return out


def text_floor(lm: LogitsLM | None, real: Tensor, *, metrics: Sequence[str] = TEXT_METRICS) -> dict[str, float]:
    """The metrics of held-out real text: what a sampler that reproduces the data would score.

    Use as many real windows as the trial has samples: distinct_n falls as n grows, so a
    floor at another n is not the trial's floor.
    """
    names = _resolve(metrics)
    return {name: float(est.value) for name, est in _estimates(check_tokens(real, name="real text"), lm,
                                                                 names, 0, 0).items()}


class HFCausalLM:
    """Opt-in evaluator: a Hugging Face causal LM (e.g. ``"gpt2"``) scoring decoded strings.

    It has its own tokenizer, so its NLLs are per *its* token, not per character, and are not
    comparable with the offline evaluator's. Needs ``pip install transformers`` and, on first
    use, a network to download the weights (later from the Hugging Face cache).

    Example (online only):
        >>> hf = HFCausalLM("gpt2")  # doctest: +SKIP
        >>> gen_ppl(hf.sequence_nll_texts([dm.decode(s) for s in samples])).value  # doctest: +SKIP
    """

    def __init__(self, name: str = "gpt2", *, device: str | None = None, batch_size: int = 16) -> None:
        try:
            import transformers
        except ImportError as err:
            raise RuntimeError(
                f"HFCausalLM({name!r}) needs Hugging Face transformers: pip install transformers "
                "(and a network on first use, to download the weights). The default, offline "
                "evaluator is lightning_modules.metrics.evaluator_lm."
            ) from err
        self.name, self.batch_size = name, batch_size
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(name)
        self.model = transformers.AutoModelForCausalLM.from_pretrained(name).to(self.device).eval()
        start = self.tokenizer.bos_token_id
        self.start_id = start if start is not None else self.tokenizer.eos_token_id
        if self.start_id is None:
            raise RuntimeError(f"HFCausalLM({name!r}): the tokenizer has no BOS or EOS token to start from")
        self.max_len = int(getattr(self.model.config, "max_position_embeddings", 1024))

    @torch.inference_mode()
    def sequence_nll_texts(self, texts: Sequence[str]) -> Tensor:
        """Mean NLL per model token (nats) of each string, float64 [n]; the first token is
        predicted from the tokenizer's BOS, else its EOS (GPT-2's <|endoftext|> is both)."""
        ids = [[self.start_id, *self.tokenizer(t, add_special_tokens=False)["input_ids"]][: self.max_len]
               for t in texts]
        if any(len(s) < 2 for s in ids):
            raise ValueError("HFCausalLM: every text needs at least one token")
        out = []
        for i in range(0, len(ids), self.batch_size):
            batch = ids[i:i + self.batch_size]
            width = max(len(s) for s in batch)
            # Right padding: a causal model's real tokens never see the pads after them.
            x = torch.tensor([s + [self.start_id] * (width - len(s)) for s in batch], device=self.device)
            mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in batch], device=self.device)
            logits = self.model(input_ids=x, attention_mask=mask).logits[:, :-1].double()
            logp = F.log_softmax(logits, dim=-1).gather(-1, x[:, 1:].unsqueeze(-1)).squeeze(-1)
            keep = mask[:, 1:].double()
            out.append((-(logp * keep).sum(1) / keep.sum(1)).cpu())
        return torch.cat(out)
