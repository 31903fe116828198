"""Tracks: points (2-D toy sets), images (digits and local image sets), text (characters).
Each is registered here; a plugin registers its own with `register_track`."""

from lightning_modules.core.registry import register_track
from lightning_modules.tracks.base import MetricInfo, Reference, Track
from lightning_modules.tracks.images import ImagesTrack
from lightning_modules.tracks.points import PointsTrack
from lightning_modules.tracks.text import TextTrack

for _track in (PointsTrack(), ImagesTrack(), TextTrack()):
    register_track(_track)

__all__ = ["ImagesTrack", "MetricInfo", "PointsTrack", "Reference", "TextTrack", "Track"]
