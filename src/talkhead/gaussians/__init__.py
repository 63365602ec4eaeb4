"""GaussianTalker-style per-identity 3D-Gaussian talking heads (docs/gaussians.md).

Cho et al. 2024, "GaussianTalker: Real-Time High-Fidelity Talking Head Synthesis with Audio-Driven 3D
Gaussian Splatting" (https://arxiv.org/abs/2404.16012): canonical Gaussians + a triplane/attention
deformation field driven by audio, rasterised by a differentiable splatting renderer.
"""
