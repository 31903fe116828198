"""Per-track renderers, keyed by the ``track`` the records carry.

A renderer decides what only its track needs: the sample figure or text, extra metric
columns beside the front metric, a panel under the front figures. ``Renderer`` itself is
the generic fallback for tracks analysis does not know (a plugin's): summary.json, fronts,
speed-up tables and figures as for every track, and no sample figure. A plugin may add
its own with ``register``. The built-in renderers import ``analysis.tracks.renderer``, never
this package, so the package may import them.
"""

from __future__ import annotations

from analysis.tracks.renderer import Context, Renderer, register, registered

__all__ = ["Context", "Renderer", "register", "renderer_for"]


def renderer_for(track: str | None) -> Renderer:
    """The renderer registered for ``track``, else the generic ``Renderer``."""
    _load_builtins()
    return registered(track) or _GENERIC


_GENERIC = Renderer()
_BUILTINS_LOADED = False


def _load_builtins() -> None:
    # Imported on first use: they import matplotlib, which `import analysis` need not.
    global _BUILTINS_LOADED
    if not _BUILTINS_LOADED:
        _BUILTINS_LOADED = True
        from analysis.tracks import images, points, text  # noqa: F401
