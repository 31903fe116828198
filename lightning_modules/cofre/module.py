"""Training an FP-MDLM: MDLM's ELBO through the fixed-point denoiser with stochastic
Jacobian-free backprop, plus the two cross-step losses of the paper (arXiv 2605.31215, 3.2 and
3.4), both read on a noisier "student" input and a cleaner "teacher" one with nested masks:

- distillation (conversion of a trained MDLM): tau^2 KL(teacher^tau || student^tau) with the
  frozen MDLM as the teacher, on the student's masked positions;
- consistency (post-training): the squared distance between the student's final pre-logit
  states and the same model's on the cleaner input, the teacher side without gradient.

Nested masks: one uniform u per position, masked where u < t; t_c = max(t_s - gap, T_MIN) with
gap ~ U[gap_min, gap_max], so the teacher's masked set is inside the student's. The weight of
either loss rises linearly from 0 over `warmup` steps.
Iterations: n_ng ~ U{0..ng_max} without gradient, then n_g ~ U{g_min..g_max} with gradient,
drawn once per training step (the paper's U{0..4} / U{3..6} never trains the 1-2 iterations
that make a fixed-point step as cheap as a 4-block MDLM step here; see docs/tracks/cofre.md).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from lightning_modules.mdlm.module import T_MIN, MDLMModule, nelbo

LOSSES = ("elbo", "distill", "consistency")


class FPMDLMModule(MDLMModule):
    loss_name = "FP-MDLM"

    def __init__(self, net: nn.Module, *, mask_id: int, lr: float, ema_decay: float, max_steps: int,
                 ng_max: int, g_min: int, g_max: int, clip: float = 1.0, extra: str = "elbo",
                 teacher: nn.Module | None = None, lam: float = 0.1, tau: float = 1.5, gap_min: float = 0.05,
                 gap_max: float = 0.30, warmup: int = 0) -> None:
        super().__init__(net, mask_id=mask_id, lr=lr, ema_decay=ema_decay, max_steps=max_steps)
        if extra not in LOSSES:
            raise ValueError(f"extra={extra!r}; allowed: {', '.join(LOSSES)}")
        if (extra == "distill") != (teacher is not None):
            raise ValueError("a teacher is the distillation loss's, and that loss needs one")
        if not (0 <= ng_max and 1 <= g_min <= g_max):
            raise ValueError(f"iterations: 0 <= ng_max and 1 <= g_min <= g_max, got {ng_max}, {g_min}, {g_max}")
        self.ng_max, self.g_min, self.g_max, self.clip = int(ng_max), int(g_min), int(g_max), float(clip)
        self.extra, self.lam, self.tau = extra, float(lam), float(tau)
        self.gap_min, self.gap_max, self.warmup = float(gap_min), float(gap_max), int(warmup)
        self.teacher = teacher
        if teacher is not None:
            teacher.requires_grad_(False).eval()

    def draw_iterations(self) -> tuple[int, int]:
        """(without gradient, with gradient) for one training step (torch's seeded generator)."""
        n_ng = int(torch.randint(0, self.ng_max + 1, ()))
        n_g = int(torch.randint(self.g_min, self.g_max + 1, ()))
        return n_ng, n_g

    def weight(self) -> float:
        """The extra loss's weight at this step: lam after a linear warm-up from 0."""
        if self.warmup <= 0:
            return self.lam
        return self.lam * min(1.0, (self.global_step + 1) / self.warmup)

    def loss(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        x = batch[0]
        n_ng, n_g = self.draw_iterations()
        if self.extra == "elbo":
            return nelbo(lambda z: self.net(z, iters=n_g, no_grad_iters=n_ng), x, mask_id=self.mask_id)
        return self.cross_step_loss(x, n_ng, n_g, self.weight())

    def cross_step_loss(self, x: torch.Tensor, n_ng: int, n_g: int, weight: float) -> torch.Tensor:
        """ELBO on the student's input + weight x the distillation or consistency term."""
        n, length = x.shape
        t_s = ((torch.arange(n, device=x.device, dtype=torch.float64) + torch.rand(1, device=x.device).double()) / n)
        t_s = t_s.clamp_min(T_MIN)
        gap = self.gap_min + (self.gap_max - self.gap_min) * torch.rand(n, device=x.device, dtype=torch.float64)
        t_c = (t_s - gap).clamp_min(T_MIN)
        u = torch.rand(n, length, device=x.device).double()
        m_s, m_c = u < t_s.unsqueeze(1), u < t_c.unsqueeze(1)  # nested: m_c inside m_s
        mask = torch.full_like(x, self.mask_id)
        z_s, z_c = torch.where(m_s, mask, x), torch.where(m_c, mask, x)
        logits, hid, _ = self.net(z_s, iters=n_g, no_grad_iters=n_ng, hidden=True)
        ce = F.cross_entropy(logits.flatten(0, 1).float(), x.flatten().long(), reduction="none").view(n, length)
        elbo = ((ce.double() * m_s).sum(1) / t_s).mean().float() / length
        w = m_s.float()
        if self.extra == "distill":
            with torch.no_grad():
                target = F.log_softmax(self.teacher(z_c).float() / self.tau, -1)
            student = F.log_softmax(logits.float() / self.tau, -1)
            per = (target.exp() * (target - student)).sum(-1) * self.tau ** 2  # KL(teacher || student)
        else:
            with torch.no_grad():
                _, target_hid, _ = self.net(z_c, iters=n_g, no_grad_iters=n_ng, hidden=True)
            per = (hid.float() - target_hid.float()).pow(2).mean(-1)  # per position, mean over the width
        term = (per * w).sum() / w.sum().clamp_min(1.0)
        return elbo + weight * term

    def val_loss(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return nelbo(self.net, batch[0], mask_id=self.mask_id)  # the net's own iteration count, no extra term

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None) -> None:  # noqa: ANN001, ARG002
        # Lightning always calls this hook: the clip lives with the module, not the trainer
        if self.clip > 0:
            self.clip_gradients(optimizer, gradient_clip_val=self.clip, gradient_clip_algorithm="norm")
