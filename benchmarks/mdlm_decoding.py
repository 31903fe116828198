"""Is the masked baseline's gen PPL its sampler's or its model's? Decodes the substrate's MDLM
four ways and scores each with the evaluator:

    python benchmarks/mdlm_decoding.py [--n 512] [--seed 0] [OVERRIDES ...]

1. the library's cached ancestral sampler (`masked_sample`) at 64 and 256 steps;
2. an independent any-order decoder written here: one uniformly random position per network
   call, drawn from the full softmax (what the ancestral sampler tends to as steps grow);
3. the same one-position decoder in left-to-right order;
and prints, beside each, the MDLM's own ELBO (bits/char) on the samples and on held-out
windows. If (1) and (2) agree, the sampler is not at fault; (3) shows how much of the gap to
the autoregressive baseline is the random decoding order rather than the conditionals.
Overrides go to the config (default experiment=text_substrate); the models come from the
package's shipped weights or WSBENCH_CACHE, never trained here.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lightning_modules.mdlm.module import elbo_bits_per_char  # noqa: E402
from lightning_modules.mdlm.sampler import masked_sample  # noqa: E402
from lightning_modules.metrics.text import gen_ppl, sequence_nll  # noqa: E402
from sweeps.cache import ArtifactCache  # noqa: E402
from sweeps.config import compose  # noqa: E402
from sweeps.models import ModelStore  # noqa: E402


@torch.inference_mode()
def one_position_per_call(net: torch.nn.Module, order: torch.Tensor, *, mask_id: int,
                          g: torch.Generator) -> torch.Tensor:
    """Fill a [MASK] window one position per call, in `order` [n, L] (a row per sample)."""
    n, length = order.shape
    x = torch.full((n, length), mask_id, dtype=torch.long)
    rows = torch.arange(n)
    for j in range(length):
        pos = order[:, j]
        probs = torch.softmax(net(x)[rows, pos].double(), dim=-1)
        x[rows, pos] = torch.multinomial(probs, 1, generator=g).squeeze(1)
    return x


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=512, help="samples per decoder")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("overrides", nargs="*", default=["experiment=text_substrate"])
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = compose(args.overrides)
    models = ModelStore(ArtifactCache(cfg.cache_dir))
    for role in ("mdlm", "text_lm"):
        if not models.has(models.key(role, cfg)):
            sys.exit(f"benchmarks/mdlm_decoding.py: no trained {role} for this config; run wsbench train "
                     "experiment=text_substrate first")
    net, lm, dm = models.get("mdlm", cfg), models.get("text_lm", cfg), models.data(cfg)
    n, length, mask_id = args.n, dm.seq_len, dm.mask_id
    g = torch.Generator().manual_seed(args.seed)

    def report(name: str, x: torch.Tensor, extra: str = "") -> None:
        ppl = gen_ppl(sequence_nll(lm, x), n_boot=0).value
        elbo = elbo_bits_per_char(net, x, mask_id=mask_id)
        print(f"{name:<40} gen PPL {ppl:7.2f}   MDLM ELBO on them {elbo:.3f} bits/char{extra}", flush=True)

    held = dm.val[torch.randperm(len(dm.val), generator=g)[:n]].long()
    report("held-out windows", held)
    for steps in (64, 256):
        x, calls = masked_sample(net, n, length, mask_id=mask_id, steps=steps,
                                 jump_u=torch.rand(n, steps, length, generator=g),
                                 token_u=torch.rand(n, steps, length, generator=g))
        report(f"library sampler, {steps} steps", x, f"   calls {float(calls.double().mean()):.1f}")
    random_order = torch.stack([torch.randperm(length, generator=g) for _ in range(n)])
    report("one position per call, random order", one_position_per_call(net, random_order, mask_id=mask_id, g=g))
    left_to_right = torch.arange(length).expand(n, length)
    report("one position per call, left to right", one_position_per_call(net, left_to_right, mask_id=mask_id, g=g))


if __name__ == "__main__":
    main()
