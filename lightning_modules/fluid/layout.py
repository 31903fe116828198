"""FLUID's stage-I training layout (arXiv 2605.27387; the authors' code, models/model.py): mask
tokens inserted after real positions of a window, with strictly causal attention.

Positions follow the backbone (`nets/causal.py`): real slot q has input x_{q-1} (BOS at q = 0)
and predicts x_q. A block of k masks after real slot c sits at positions c+1 .. c+k; the mask at
offset o stands in for the input x_{c+o-1} and predicts x_{c+o}. So one pass over the committed
prefix x_<c predicts x_c (the real slot) and the k tokens after it (the masks).

Attention (True: may attend): a real slot sees the real slots up to itself and never a mask, so
it is exactly the autoregressive model; a mask of block c sees the real slots up to c and the
masks of its own block up to itself, never a later position. The ablation (`bidirectional`): a
mask sees every mask of its own block. A restored mask there would show its later neighbour's
label, so it shows its own token instead and is not scored (MDLM's rule within a block); a
noisy one is scored.
The draws, as in the authors' code: each column gets a block with probability `share` (the same
columns and sizes for the whole batch), of k ~ U{1..k_max} masks (cut at the window's end); a
block restores each of its masks with probability r_c ~ U(0, 1), per row: a restored mask
shows its true input token, or with probability `noise` a random character (it keeps a mask's
attention and label).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

IGNORE = -100  # cross_entropy's ignore_index: a label not scored


@dataclass(frozen=True)
class Layout:
    """A batch's expanded sequence of S = L + masks slots: the real slots 0..L-1 first, then each
    block in column order."""

    column: torch.Tensor  # [S] the real slot a slot belongs to (its own position for a real slot)
    position: torch.Tensor  # [S] position id: the token it predicts
    is_mask: torch.Tensor  # [S] bool
    attend: torch.Tensor  # [S, S] bool: query row may attend to key column
    bidirectional: bool = False  # a block's masks see each other (the ablation)

    @property
    def size(self) -> int:
        return len(self.position)


def build_layout(blocks: list[int], bidirectional: bool = False) -> Layout:
    """`blocks[c]`: masks after real slot c (0 for none); each cut so that c + k <= L - 1."""
    length = len(blocks)
    column, position, is_mask = list(range(length)), list(range(length)), [False] * length
    for c, k in enumerate(blocks):
        k = min(int(k), length - 1 - c)
        column += [c] * k
        position += [c + o for o in range(1, k + 1)]
        is_mask += [True] * k
    column_t, position_t, mask_t = torch.tensor(column), torch.tensor(position), torch.tensor(is_mask)
    real_key = ~mask_t.unsqueeze(0) & (column_t.unsqueeze(0) <= column_t.unsqueeze(1))  # real slots up to mine
    same_block = mask_t.unsqueeze(0) & mask_t.unsqueeze(1) & (column_t.unsqueeze(0) == column_t.unsqueeze(1))
    if not bidirectional:
        same_block &= position_t.unsqueeze(0) <= position_t.unsqueeze(1)
    return Layout(column_t, position_t, mask_t, real_key | same_block, bidirectional)


def draw_blocks(length: int, k_max: int, share: float, generator: torch.Generator | None = None) -> list[int]:
    """Masks per real slot: a block with probability `share`, of U{1..k_max} masks."""
    has = torch.rand(length, generator=generator) < share
    k = torch.randint(1, k_max + 1, (length,), generator=generator)
    return (k * has).tolist()


def expand(x: torch.Tensor, layout: Layout, *, bos: int, mask_id: int, vocab_size: int, noise: float = 0.1,
           restore: bool = True, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs [n, S], labels [n, S]) for windows x [n, L] in `layout`. A mask's input is
    `mask_id`, or restored (see the module docstring) when `restore`; labels of slots not
    scored are IGNORE."""
    n, length = x.shape
    shifted = torch.cat([torch.full_like(x[:, :1], bos), x[:, :-1]], dim=1)  # the input of each position
    inputs = shifted[:, layout.position].clone()
    labels = x[:, layout.position]
    masks = layout.is_mask
    if restore and bool(masks.any()):
        ratio = torch.rand(length, generator=generator)[layout.column]  # r_c per block, shared by the batch
        kept = (torch.rand(n, layout.size, generator=generator) < ratio) & masks
        random = torch.randint(0, vocab_size, (n, layout.size), generator=generator)
        noisy = torch.rand(n, layout.size, generator=generator) < noise
        shown = labels if layout.bidirectional else inputs  # bidirectional: its own token (docstring)
        restored = torch.where(noisy, random, shown)
        inputs = torch.where(kept, restored, torch.where(masks, mask_id, inputs))
        if layout.bidirectional:
            labels = torch.where(kept & ~noisy, IGNORE, labels)
    else:
        inputs[:, masks] = mask_id
    return inputs, labels
