"""The text track's evaluator: a small causal transformer trained on the training windows.

Generated text is scored by its perplexity under this model (``metrics/text.py``), the text
analogue of FID's feature classifier (``feature_net.py``): no download, no network, and the
numbers are only comparable between runs scored by the same weights, which
:func:`~lightning_modules.metrics.feature_net.weights_hash` identifies. It is deliberately bigger than
the drafters (LSTM width 128, one layer), so a drafter cannot simply be the evaluator.

Example:
    >>> from lightning_modules.data.text import TextDataModule
    >>> dm = TextDataModule("shakespeare", seq_len=64)  # doctest: +SKIP
    >>> lm, info = train_evaluator_lm(dm.train, dm.val, vocab_size=dm.vocab_size, seq_len=64,
    ...                               width=192, depth=4, heads=4, steps=2000, batch_size=64,
    ...                               lr=1e-3, seed=0)  # doctest: +SKIP
    >>> info["val_ppl"] < 6  # doctest: +SKIP
    True
"""

from __future__ import annotations

import math
import time

import lightning as L
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from lightning_modules.core.training import check_finite, fit
from lightning_modules.core.validation import ValidationLoss, held_out
from lightning_modules.data.toy import RandomBatches
from lightning_modules.metrics.feature_net import weights_hash
from lightning_modules.metrics.text import sequence_nll


class CausalTransformerLM(ValidationLoss, L.LightningModule):
    """Pre-LN causal transformer over character tokens; BOS = ``vocab_size`` starts every window.

    ``total_steps`` (when given) sets the learning-rate schedule: linear warm-up over
    ``warmup`` steps, then cosine decay to 10% of ``lr``; without it the rate stays constant
    after warm-up. ``dropout`` (inside each block, training only) keeps a big evaluator on a
    small corpus from overfitting, so its held-out PPL stays below the compared models'.
    """

    def __init__(
        self, vocab_size: int, seq_len: int, width: int = 192, depth: int = 4, heads: int = 4,
        lr: float = 1e-3, *, warmup: int = 100, total_steps: int | None = None, dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"width={width} must be a multiple of heads={heads}")
        self.vocab_size, self.seq_len, self.lr = vocab_size, seq_len, lr
        self.warmup, self.total_steps = warmup, total_steps
        self.bos = vocab_size
        self.embed = nn.Embedding(vocab_size + 1, width)
        self.pos = nn.Parameter(torch.randn(seq_len, width) * 0.02)
        layer = nn.TransformerEncoderLayer(width, heads, dim_feedforward=4 * width, dropout=dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        # Nested tensors only help padded batches, and are unsupported with norm_first.
        self.blocks = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab_size)
        self.register_buffer("causal", nn.Transformer.generate_square_subsequent_mask(seq_len),
                             persistent=False)

    def logits(self, tokens: Tensor) -> Tensor:
        """Next-token logits [n, L, V] for tokens [n, L]: position i sees BOS and tokens < i."""
        n, length = tokens.shape
        if length > self.seq_len:
            raise ValueError(f"sequences of {length} tokens: the evaluator was built for at most {self.seq_len}")
        bos = torch.full_like(tokens[:, :1], self.bos)
        h = self.embed(torch.cat([bos, tokens[:, :-1]], dim=1)) + self.pos[:length]
        h = self.blocks(h, mask=self.causal[:length, :length], is_causal=True)
        return self.head(self.norm(h))

    def val_loss(self, batch: tuple[Tensor, ...]) -> Tensor:
        """Cross-entropy per token (nats) of a batch of windows."""
        tokens = batch[0]
        return F.cross_entropy(self.logits(tokens).flatten(0, 1), tokens.flatten())

    def training_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> Tensor:
        loss = self.val_loss(batch)
        check_finite(loss, "evaluator LM", self.global_step)
        return loss

    def _lr_factor(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        if not self.total_steps:
            return 1.0
        progress = min(1.0, (step - self.warmup) / max(1, self.total_steps - self.warmup))
        return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress))

    def configure_optimizers(self) -> dict:
        opt = torch.optim.AdamW(self.parameters(), lr=self.lr, betas=(0.9, 0.99), weight_decay=0.01)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, self._lr_factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def train_evaluator_lm(
    train: Tensor, val: Tensor, *, vocab_size: int, seq_len: int, width: int = 192,
    depth: int = 4, heads: int = 4, steps: int = 2000, batch_size: int = 64, lr: float = 1e-3,
    seed: int = 0, dropout: float = 0.0, bf16: bool = False,
) -> tuple[CausalTransformerLM, dict]:
    """Train a :class:`CausalTransformerLM` on ``train`` windows [n, seq_len]; deterministic in ``seed``.

    Returns:
        (the model in eval mode, info) with info keys ``steps``, ``seconds`` (training plus
        validation), ``final_loss``, ``val_nll`` (nats/token on ``val``, float64),
        ``val_ppl`` (its exp), ``n_params`` and ``weights_hash``.
    """
    start = time.perf_counter()
    # Seed the initial weights without disturbing the caller's global RNG stream.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        lm = CausalTransformerLM(vocab_size, seq_len, width, depth, heads, lr,
                                 warmup=min(100, max(1, steps // 10)), total_steps=steps,
                                 dropout=dropout)
    # bf16: 1.8x faster per step for the 6 x 256 evaluator on a CPU with AMX (benchmarks/bf16_training.py).
    run = fit(lm, RandomBatches(train.long(), batch_size=batch_size, seed=seed), max_steps=steps, seed=seed,
              val_batches=held_out(val.long(), batch_size=batch_size), precision="bf16-mixed" if bf16 else "32-true")
    lm.eval()
    fit_info = held_out_fit(lm, val)
    info = {
        "steps": run["steps"],
        "seconds": time.perf_counter() - start,
        "final_loss": run["final_loss"],
        "curve": run["curve"],
        **fit_info,
        "n_params": sum(p.numel() for p in lm.parameters()),
    }
    return lm, info


def held_out_fit(lm: CausalTransformerLM, val: Tensor) -> dict:
    """Validation NLL per character (float64, as gen_ppl scores samples), its PPL, the weights' hash."""
    val_nll = float(sequence_nll(lm, val).mean())
    return {"val_nll": val_nll, "val_ppl": math.exp(val_nll), "weights_hash": weights_hash(lm)}
