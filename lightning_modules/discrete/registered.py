"""The discrete family's registrations (found by core.plugins' package scan): the DFM refiner
family, masked noise start and WS-DFM."""

from lightning_modules.discrete import family, methods  # noqa: F401 - imported to register
