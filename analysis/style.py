"""Colours and markers: one per method family in paper figures (the same in every panel and
every figure), distinct colours per arm in a run's report (no two arms share one up to 20)."""

from __future__ import annotations

# Families the built-in methods declare (lightning_modules registry `family=`); a plugin's
# own family takes the next free style, in the order the figure first meets it.
FAMILY_STYLES = {
    "noise start": ("#1f77b4", "o"),
    "warm start": ("#d62728", "s"),
    "SDEdit": ("#9467bd", "D"),
    "drafter alone": ("#7f7f7f", "v"),
    "masked diffusion": ("#2ca02c", "^"),
    "autoregressive": ("#ff7f0e", "P"),
    "model scheduling": ("#8c564b", "X"),
    "CoFRe": ("#e377c2", "*"),
    "fluid": ("#17becf", "<"),
}
# Records written before records carried `family`: the built-in methods' families (the
# registry's own declarations; tests/test_paper_figures.py checks they agree).
LEGACY_FAMILIES = {"noise_start": "noise start", "masked_dfm": "noise start", "warm_start": "warm start",
                   "ws_dfm": "warm start", "sdedit": "SDEdit", "drafter_only": "drafter alone",
                   "mdlm": "masked diffusion", "autoregressive": "autoregressive"}
SPARE_STYLES = [("#bcbd22", "h"), ("#393b79", ">"), ("#637939", "p"), ("#843c39", "d"), ("#7b4173", "H")]
# Arms of one family in one panel: told apart by line style, in first-seen order.
LINESTYLES = ["-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 2)), (0, (6, 2))]

# tab10, then tab20's lighter shades: 20 colours before any repeats.
_ARM_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
               "#7f7f7f", "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896",
               "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5"]


def family_styles(families: list[str]) -> dict[str, tuple[str, str]]:
    """{family: (colour, marker)}: the fixed style of a known family, else the next spare one."""
    spare = iter(SPARE_STYLES)
    out = {}
    for family in dict.fromkeys(families):
        if family in FAMILY_STYLES:
            out[family] = FAMILY_STYLES[family]
        else:
            out[family] = next(spare, ("#000000", "."))
    return out


def colors_for(arms: list[str]) -> dict[str, str]:
    """{arm: colour}, distinct up to 20 arms (then the cycle starts again)."""
    return {arm: _ARM_COLORS[i % len(_ARM_COLORS)] for i, arm in enumerate(arms)}
