"""Plain nn.Modules: MLP and U-Net velocity nets, the transformer denoiser."""
