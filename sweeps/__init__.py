"""Orchestration: CLI, config composition, trial objective, Optuna studies, cache, logging."""
