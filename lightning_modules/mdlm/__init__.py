"""MDLM, the masked-diffusion baseline of the text substrate: model, ELBO, cached sampler."""
