"""Tracks: points (2-D toy sets), images (digits and local image sets), text (characters).
Each is registered by tracks/registered.py; a plugin registers its own with `register_track`."""

from lightning_modules.tracks.base import MetricInfo, Reference, Track
from lightning_modules.tracks.images import ImagesTrack
from lightning_modules.tracks.points import PointsTrack
from lightning_modules.tracks.text import TextTrack

__all__ = ["ImagesTrack", "MetricInfo", "PointsTrack", "Reference", "TextTrack", "Track"]
