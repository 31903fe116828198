"""The built-in tracks' registrations (found by core.plugins' package scan)."""

from lightning_modules.core.registry import register_track
from lightning_modules.tracks import ImagesTrack, PointsTrack, TextTrack

for _track in (PointsTrack(), ImagesTrack(), TextTrack()):
    register_track(_track)
