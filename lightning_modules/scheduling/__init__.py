"""Model scheduling for masked diffusion LMs: a heavy and a light denoiser share the steps of
one sampling run (arXiv 2604.02340)."""
