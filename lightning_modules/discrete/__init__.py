"""Discrete data (text): mixture paths and samplers, the DFM module and its methods."""
