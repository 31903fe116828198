"""FLUID's stage I (lightning_modules/fluid/): where the masks go, what they may attend to, and
that the adapted model starts as the autoregressive backbone."""

from __future__ import annotations

import pytest
import torch

from lightning_modules.fluid.layout import build_layout, draw_blocks, expand
from lightning_modules.fluid.models import ahead_losses
from lightning_modules.fluid.module import FluidModule
from lightning_modules.fluid.net import FluidLM
from lightning_modules.nets.causal import CausalLM

V, L = 7, 10


def _nets() -> tuple[CausalLM, FluidLM]:
    torch.manual_seed(0)
    ar = CausalLM(V, L, width=16, depth=2, heads=2).eval()
    return ar, FluidLM.adapted_from(ar).eval()


def _windows(n: int = 4, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, V, (n, L), generator=torch.Generator().manual_seed(seed))


def test_a_block_sits_after_its_real_slot_and_predicts_the_tokens_after_the_next():
    layout = build_layout([0, 2, 0, 0, 0, 0, 0, 0, 3, 5])  # the last two cut at the window's end
    assert layout.size == L + 2 + 1
    assert layout.position.tolist() == [*range(L), 2, 3, 9]
    assert layout.column.tolist() == [*range(L), 1, 1, 8]
    x = torch.arange(L).unsqueeze(0)  # token i at position i
    inputs, labels = expand(x, layout, bos=V, mask_id=V + 1, vocab_size=V, restore=False)
    assert inputs[0].tolist() == [V, *range(L - 1), V + 1, V + 1, V + 1]  # BOS, then x_{q-1}; masks
    assert labels[0].tolist() == [*range(L), 2, 3, 9]  # each slot predicts its position's token


def test_attention_is_strictly_causal_and_real_slots_never_see_masks():
    layout = build_layout([0, 3, 0, 2, 0, 0, 0, 0, 0, 0])
    a, pos, col, m = layout.attend, layout.position, layout.column, layout.is_mask
    for q in range(layout.size):
        seen = a[q].nonzero().squeeze(1)
        if not m[q]:
            assert not m[seen].any() and (pos[seen] <= pos[q]).all()
        else:  # real slots up to its column, masks of its block up to itself
            assert ((~m[seen] & (pos[seen] <= col[q])) | (m[seen] & (col[seen] == col[q]) & (pos[seen] <= pos[q]))).all()
            assert int(a[q].sum()) == int(col[q]) + 1 + int(pos[q] - col[q])


def test_perturbing_a_later_token_leaves_a_mask_unmoved_and_masks_leave_real_slots_unmoved():
    ar, net = _nets()
    layout = build_layout([0, 0, 3, 0, 0, 0, 0, 0, 0, 0])
    x = _windows(2)
    inputs, _ = expand(x, layout, bos=net.bos, mask_id=net.mask_id, vocab_size=V, restore=False)
    with torch.no_grad():
        out = net(inputs, layout)
        later = x.clone()
        later[:, 2:] = (later[:, 2:] + 1) % V  # x_2 on: the real slot's own target and every later token
        out2 = net(expand(later, layout, bos=net.bos, mask_id=net.mask_id, vocab_size=V, restore=False)[0], layout)
        masks = layout.is_mask
        assert torch.allclose(out[:, masks], out2[:, masks], atol=1e-6)
        # the real slots: exactly the backbone, whatever the masks show
        assert torch.allclose(out[:, ~masks], ar(x), atol=1e-5)
        shown = inputs.clone()
        shown[:, masks] = 3
        assert torch.allclose(net(shown, layout)[:, ~masks], ar(x), atol=1e-5)
        assert torch.allclose(net(x), ar(x), atol=1e-6)  # the plain forward is the backbone's


def test_restored_masks_show_their_true_input_or_noise_and_keep_their_labels():
    layout = build_layout([8] * 40 + [0] * 24)
    x = torch.randint(0, V, (64, 64), generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    inputs, labels = expand(x, layout, bos=V, mask_id=V + 1, vocab_size=V, noise=0.0, generator=g)
    plain, same = expand(x, layout, bos=V, mask_id=V + 1, vocab_size=V, restore=False)
    masks = layout.is_mask
    assert torch.equal(labels, same) and torch.equal(inputs[:, ~masks], plain[:, ~masks])
    shown = inputs[:, masks] != V + 1
    true_input = torch.cat([torch.full_like(x[:, :1], V), x[:, :-1]], 1)[:, layout.position[masks]]
    assert torch.equal(inputs[:, masks][shown], true_input[shown])  # noise 0: every restored one is true
    assert 0.3 < float(shown.float().mean()) < 0.7  # r ~ U(0, 1) per block: half on average
    noisy, _ = expand(x, layout, bos=V, mask_id=V + 1, vocab_size=V, noise=1.0, generator=torch.Generator().manual_seed(1))
    assert bool((noisy[:, masks] < V).any()) and int(noisy.max()) <= V + 1  # never BOS as noise
    assert not bool((noisy[:, masks] == V).any())


def test_about_share_of_the_slots_get_a_block_of_one_to_k_max():
    blocks = torch.tensor(draw_blocks(10_000, 8, 0.5, torch.Generator().manual_seed(0)))
    assert 0.47 < float((blocks > 0).float().mean()) < 0.53
    assert int(blocks.max()) == 8 and set(blocks[blocks > 0].unique().tolist()) == set(range(1, 9))


def test_stage_one_losses_and_the_look_ahead_measure():
    _, net = _nets()
    module = FluidModule(net.train(), k_max=3, share=0.5, noise=0.1, lr=1e-3, max_steps=10)
    torch.manual_seed(0)
    ar, ahead = module.losses(_windows(8))
    assert ar.requires_grad and ahead.requires_grad
    assert 0 < float(ar.detach()) < 10 and 0 < float(ahead.detach()) < 10
    (ar + ahead).backward()
    assert float(net.embed.weight.grad[net.mask_id].abs().sum()) > 0  # the [MASK] embedding learns
    per_offset = ahead_losses(net.eval(), _windows(16), 3)
    assert len(per_offset) == 3 and all(0 < v < 10 for v in per_offset)


@pytest.mark.parametrize("k", [1, 4])
def test_a_layout_of_one_block_per_slot_holds_every_offset(k):
    layout = build_layout([k] * L)
    offsets = (layout.position - layout.column)[layout.is_mask]
    assert int(offsets.max()) == k and layout.size == L + sum(min(k, L - 1 - c) for c in range(L))


def test_the_bidirectional_ablation_lets_a_blocks_masks_see_each_other_and_nothing_later():
    layout = build_layout([0, 3, 0, 2, 0, 0, 0, 0, 0, 0], bidirectional=True)
    a, pos, col, m = layout.attend, layout.position, layout.column, layout.is_mask
    for q in range(layout.size):
        seen = a[q].nonzero().squeeze(1)
        if not m[q]:  # real slots as in the causal layout: never a mask
            assert not m[seen].any() and (pos[seen] <= pos[q]).all()
        else:  # real slots up to its column, and every mask of its own block
            assert ((~m[seen] & (pos[seen] <= col[q])) | (m[seen] & (col[seen] == col[q]))).all()
            assert int(a[q].sum()) == int(col[q]) + 1 + int((m & (col == col[q])).sum())


def test_bidirectional_restored_masks_show_their_own_token_and_are_not_scored():
    from lightning_modules.fluid.layout import IGNORE

    layout = build_layout([8] * 40 + [0] * 24, bidirectional=True)
    x = torch.randint(0, V, (64, 64), generator=torch.Generator().manual_seed(0))
    inputs, labels = expand(x, layout, bos=V, mask_id=V + 1, vocab_size=V, noise=0.0,
                            generator=torch.Generator().manual_seed(1))
    masks = layout.is_mask
    shown = inputs[:, masks] != V + 1
    own = x[:, layout.position[masks]]
    assert torch.equal(inputs[:, masks][shown], own[shown])  # its own token, never its neighbour's label
    assert bool((labels[:, masks][shown] == IGNORE).all())
    assert torch.equal(labels[:, masks][~shown], own[~shown]) and bool((labels[:, ~masks] != IGNORE).all())
    noisy, noisy_labels = expand(x, layout, bos=V, mask_id=V + 1, vocab_size=V, noise=1.0,
                                 generator=torch.Generator().manual_seed(1))
    assert bool((noisy_labels[:, masks] != IGNORE).all())  # a noisy token is corrupted: it is scored


def test_a_bidirectional_mask_sees_later_masks_but_never_a_later_real_token():
    torch.manual_seed(0)
    ar = CausalLM(V, L, width=16, depth=2, heads=2).eval()
    net = FluidLM.adapted_from(ar, bidirectional=True).eval()
    layout = build_layout([0, 0, 3, 0, 0, 0, 0, 0, 0, 0], bidirectional=True)
    x = _windows(2)
    inputs, _ = expand(x, layout, bos=net.bos, mask_id=net.mask_id, vocab_size=V, restore=False)
    with torch.no_grad():
        out = net(inputs, layout)
        later = x.clone()
        later[:, 2:] = (later[:, 2:] + 1) % V
        out2 = net(expand(later, layout, bos=net.bos, mask_id=net.mask_id, vocab_size=V, restore=False)[0], layout)
        masks = layout.is_mask
        assert torch.allclose(out[:, masks], out2[:, masks], atol=1e-6)
        shown = inputs.clone()
        shown[:, masks.nonzero()[-1]] = 3  # the block's last mask shows a token: the first one moves
        moved = net(shown, layout)
        first = masks.nonzero()[0]
        assert not torch.allclose(moved[:, first], out[:, first], atol=1e-4)
        assert torch.allclose(moved[:, ~masks], ar(x), atol=1e-5)
