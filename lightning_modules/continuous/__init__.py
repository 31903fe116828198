"""Continuous data: linear paths, pairings, ODE solvers, the FM module and its methods."""
