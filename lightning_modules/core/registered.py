"""The house's model roles (drafter, noise_model, refiner), registered like any folder's."""

from lightning_modules.core import roles  # noqa: F401 - imported to register
