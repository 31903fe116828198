"""The continuous family's registrations (found by core.plugins' package scan): the flow
matching refiner family and the noise-start, warm-start, SDEdit and drafter-alone methods."""

from lightning_modules.continuous import family, methods  # noqa: F401 - imported to register
