"""The `schedule` grammar: which network (H heavy, L light) runs at which part of the steps.

Two forms, case-insensitive:
- letters, one per equal segment: `LHHL` (the first quarter light, the middle half heavy, the
  last quarter light); a letter may carry a count, `L2H12L2` being 16 equal segments;
- fractions of the steps: `L:0.125,H:0.75,L:0.125` (decimals or ratios such as `1/8`; each
  > 0, summing to 1).

Rounding rule: segment j covers steps [round(c_{j-1} * steps), round(c_j * steps)), c_j the
sum of the fractions up to j, rounded half up in exact arithmetic. Boundaries never cross, so a
segment shorter than half a step gets no step at all (at 8 steps, `L:0.05,H:0.95` is all H).
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

NETWORKS = {"H": "heavy", "L": "light"}
_LETTERS = re.compile(r"(?:[HL][0-9]*)+")
_RUN = re.compile(r"([HL])([0-9]*)")
_PART = re.compile(r"([HL]):([0-9./]+)")
FORMS = "letters like LHHL or L2H12L2 (equal segments) or fractions like L:0.125,H:0.75,L:0.125 (each > 0, summing to 1)"


def segments(schedule: str) -> list[tuple[str, Fraction]]:
    """[(network letter, fraction of the steps)] in order; ValueError says what is allowed."""
    if not isinstance(schedule, str) or not schedule.strip():
        raise ValueError(FORMS)
    text = schedule.strip().upper().replace(" ", "")
    if _LETTERS.fullmatch(text):
        runs = [(letter, int(count or 1)) for letter, count in _RUN.findall(text)]
        total = sum(count for _, count in runs)
        if any(count < 1 for _, count in runs):
            raise ValueError(f"a count of 0 in '{schedule}'; {FORMS}")
        return [(letter, Fraction(count, total)) for letter, count in runs]
    if ":" not in text:
        raise ValueError(f"'{schedule}' has letters other than H (heavy) and L (light); {FORMS}")
    out = []
    for part in text.split(","):
        match = _PART.fullmatch(part)
        if not match:
            raise ValueError(f"'{part}' is not NETWORK:FRACTION with NETWORK H or L; {FORMS}")
        try:
            share = Fraction(match.group(2))
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"'{match.group(2)}' is not a number; {FORMS}") from None
        if share <= 0:
            raise ValueError(f"the fraction of '{part}' is not > 0; {FORMS}")
        out.append((match.group(1), share))
    total = sum(share for _, share in out)
    if total != 1:
        raise ValueError(f"the fractions sum to {float(total):g}, not 1; {FORMS}")
    return out


def _round_half_up(x: Fraction) -> int:
    return math.floor(x + Fraction(1, 2))


def plan(schedule: str, steps: int) -> tuple[str, ...]:
    """The network letter of each of the `steps` steps (the rounding rule above)."""
    if steps < 1:
        raise ValueError(f"steps={steps}: an integer >= 1")
    out: list[str] = []
    cumulative = Fraction(0)
    for letter, share in segments(schedule):
        start = _round_half_up(cumulative * steps)
        cumulative += share
        out += [letter] * (_round_half_up(cumulative * steps) - start)
    return tuple(out)


def light_steps(schedule: str, steps: int) -> int:
    """How many of the steps the schedule gives the light network."""
    return plan(schedule, steps).count("L")
