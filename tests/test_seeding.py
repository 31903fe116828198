"""Per-sample random streams: row i depends only on (seed, stream, start + i)."""

from __future__ import annotations

import pytest
import torch

from lightning_modules.core import seeding

DRAWS = (seeding.randn, seeding.rand)


@pytest.mark.parametrize("draw", DRAWS)
@pytest.mark.parametrize("shape", [(), (2,), (3, 2)])
def test_rows_do_not_depend_on_batch_size(draw, shape: tuple[int, ...]) -> None:  # noqa: ANN001
    small = draw(10, *shape, seed=7, stream="noise")
    large = draw(1000, *shape, seed=7, stream="noise")
    assert small.shape == (10, *shape) and large.shape == (1000, *shape)
    assert small.dtype == torch.float32
    torch.testing.assert_close(large[:10], small, rtol=0, atol=0)


@pytest.mark.parametrize("draw", DRAWS)
@pytest.mark.parametrize("start", [1, 3, 500])
def test_start_offset_selects_the_same_rows(draw, start: int) -> None:  # noqa: ANN001
    whole = draw(600, 2, seed=3, stream="drafter/z")
    part = draw(7, 2, seed=3, stream="drafter/z", start=start)
    torch.testing.assert_close(part, whole[start : start + 7], rtol=0, atol=0)
    single = draw(1, 2, seed=3, stream="drafter/z", start=start + 4)
    torch.testing.assert_close(single[0], whole[start + 4], rtol=0, atol=0)


@pytest.mark.parametrize("draw", DRAWS)
def test_streams_and_seeds_differ(draw) -> None:  # noqa: ANN001
    base = draw(50, 2, seed=0, stream="noise")
    for other in (
        draw(50, 2, seed=1, stream="noise"),
        draw(50, 2, seed=0, stream="drafter/z"),
    ):
        assert not torch.equal(base, other)
        # Not merely shifted or partly shared: no row in common.
        assert not bool((base[:, None, :] == other[None, :, :]).all(-1).any())
    # A start offset shifts the same stream: different tensor, shared rows.
    shifted = draw(50, 2, seed=0, stream="noise", start=1)
    assert not torch.equal(base, shifted)
    torch.testing.assert_close(shifted[:-1], base[1:], rtol=0, atol=0)
    # Rows inside one draw are distinct too.
    assert torch.unique(base, dim=0).shape[0] == 50


def test_distributions() -> None:
    z = seeding.randn(20000, seed=11, stream="noise")
    u = seeding.rand(20000, seed=11, stream="noise")
    assert float(z.mean()) == pytest.approx(0.0, abs=0.03)
    assert float(z.std()) == pytest.approx(1.0, abs=0.03)
    assert float(u.min()) >= 0.0 and float(u.max()) < 1.0
    assert float(u.mean()) == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize("draw", DRAWS)
def test_deterministic_across_calls(draw) -> None:  # noqa: ANN001
    a = draw(20, 2, seed=5, stream="noise")
    b = draw(20, 2, seed=5, stream="noise")
    torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("draw", DRAWS)
def test_rows_across_block_boundaries_do_not_depend_on_n_or_start(draw) -> None:  # noqa: ANN001
    per = seeding.block_rows(64)
    assert per == 1024
    whole = draw(3 * per + 5, 64, seed=2, stream="noise")
    for n, start in ((1, per - 1), (2, per - 1), (per + 2, per - 1), (7, 2 * per + 3)):
        part = draw(n, 64, seed=2, stream="noise", start=start)
        torch.testing.assert_close(part, whole[start:start + n], rtol=0, atol=0)


def test_draws_are_made_on_every_call_not_cached() -> None:
    # The draws belong to the timed sampler: a cache would hide their cost.
    assert not hasattr(seeding._draw, "cache_info")
    calls = []
    real = torch.randn
    try:
        torch.randn = lambda *a, **k: calls.append(1) or real(*a, **k)
        seeding.randn(10, 2, seed=0, stream="noise")
        seeding.randn(10, 2, seed=0, stream="noise")
    finally:
        torch.randn = real
    assert len(calls) == 2


@pytest.mark.parametrize("draw", DRAWS)
def test_returned_tensors_are_copies(draw) -> None:  # noqa: ANN001
    first = draw(8, 2, seed=9, stream="noise")
    keep = first.clone()
    first.fill_(123.0)
    second = draw(8, 2, seed=9, stream="noise")
    torch.testing.assert_close(second, keep, rtol=0, atol=0)
    assert second.data_ptr() != first.data_ptr()


def test_empty_draw() -> None:
    assert seeding.randn(0, 2, seed=0, stream="noise").shape == (0, 2)
    assert seeding.rand(0, seed=0, stream="noise").shape == (0,)


@pytest.mark.parametrize("seed", [0, 1, 2**40, -1])
def test_sample_seed_fits_torch_and_is_distinct(seed: int) -> None:
    seeds = [seeding.sample_seed(seed, "noise", i) for i in range(200)]
    assert all(0 <= s < 2**63 for s in seeds)
    assert len(set(seeds)) == 200
    assert seeding.sample_seed(seed, "noise", 0) != seeding.sample_seed(seed, "noise ", 0)
    torch.Generator().manual_seed(max(seeds))  # accepted by torch
