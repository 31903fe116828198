"""Everything that trains or samples: data, networks, drafters, refiners, methods, metrics.

Imports neither `sweeps` nor `analysis`.
"""
