"""Autoregressive text models: the token-by-token baseline (and, later, several tokens per pass)."""
