"""Shared core: the Method protocol, registries, cost ledger, seeding, training."""
