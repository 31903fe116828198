"""What a per-track renderer is (``Renderer``, the generic one), what it is given
(``Context``), and the registry of renderers keyed by track (``register``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.labels import table_note


@dataclass(frozen=True)
class Context:
    """What a renderer's ``samples`` gets: the trials, where the run and report live, and
    the chosen metric (its display label) and cost axis."""

    trials: pd.DataFrame
    run_dir: Path
    out: Path
    summary: dict[str, Any]
    options: dict[str, Any] = field(default_factory=dict)  # the track's report options (e.g. entropy_band)

    @property
    def metric(self) -> str:
        return self.summary["metric"]

    @property
    def cost_axis(self) -> str:
        return self.summary["cost_axis"]

    @property
    def label(self) -> str:
        return self.summary["metric_label"]


class Renderer:
    """The generic renderer: every higher-is-better metric (``summary["diversity_metrics"]``)
    gets a column in both tables, with a reference-floor row in the front table."""

    track = "generic"
    floor_label = "reference floor"  # the grey band under the front figures
    floor_row = "reference floor"  # the first row of the front table (with extra columns)

    def front_columns(self, summary: dict[str, Any]) -> list[str]:
        """Metrics shown as ``[CI]`` columns beside the front metric in the front table."""
        return list(summary.get("diversity_metrics") or [])

    def speedup_columns(self, summary: dict[str, Any]) -> list[str]:
        """Metrics shown at each arm's best point in the speed-up tables."""
        return list(summary.get("diversity_metrics") or [])

    def front_panel(self, summary: dict[str, Any]) -> tuple[str, str, float | None] | None:
        """(metric, label, floor) of a small panel under each front figure, or None."""
        return None

    def samples(self, ctx: Context) -> list[Path]:
        """Write the track's sample figures/texts under ``ctx.out``; returns the paths."""
        return []

    def tables(self, ctx: Context) -> list[Path]:
        """Write the track's own tables under ``ctx.out`` (adding their content to
        ``ctx.summary``); returns the paths."""
        return []

    def notes(self, summary: dict[str, Any]) -> list[str]:
        """Extra lines under the terminal summary table."""
        return []

    def table_note(self, summary: dict[str, Any]) -> str | None:
        """The line under every table: the evaluator behind the metrics, if any."""
        return table_note(summary)


_RENDERERS: dict[str, Renderer] = {}  # track -> its renderer


def register(renderer: Renderer) -> Renderer:
    """Make ``renderer`` the one for records with ``track == renderer.track``."""
    _RENDERERS[renderer.track] = renderer
    return renderer


def registered(track: str | None) -> Renderer | None:
    """The renderer registered for ``track``, None where none is."""
    return _RENDERERS.get(str(track))
