"""Fréchet distance between two Gaussians fitted to feature sets: the core of FID and FVD.

FID (Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
Equilibrium", https://arxiv.org/abs/1706.08500) and FVD (Unterthiner et al. 2018, "Towards
Accurate Generative Models of Video", https://arxiv.org/abs/1812.01717) both fit a Gaussian
(mu, Sigma) to the features of real and of generated samples and report

    d² = ||mu1 − mu2||² + Tr(Sigma1 + Sigma2 − 2 (Sigma1 Sigma2)^{1/2}).

The square root of the product is taken with `scipy.linalg.sqrtm`. When the product is singular
or nearly so (fewer samples than dimensions, duplicated features), sqrtm returns non-finite
values or a root with a large residual; then, as in the reference implementations (pytorch-fid,
TTUR), `eps` is added to both diagonals and the root is taken again. A complex result whose
diagonal has an imaginary part above `imag_tol` is an error (it means the product has markedly
negative eigenvalues, i.e. the inputs are not covariance matrices); a smaller imaginary part is
rounding and is dropped.

The covariance convention is the one real difference between the reference implementations:
pytorch-fid (FID) takes `np.cov`, the unbiased 1/(N − 1) estimate (`ddof=1`, the default here);
StyleGAN-V's FVD (`metric_utils.FeatureStats.get_mean_cov`) takes the biased 1/N one (`ddof=0`).
The two give different numbers for the same features (by O(D/N)), so each metric uses its
reference's convention (talkhead.eval.feature_nets).
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
from scipy import linalg

log = logging.getLogger(__name__)


def feature_stats(features: np.ndarray, ddof: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(mu (D,), sigma (D, D)) of `features` (N, D) in float64; sigma divides by N − ddof (1: unbiased, 0: biased)."""
    x = np.asarray(features, np.float64)
    if x.ndim != 2:
        raise ValueError(f"features must be (N, D), got shape {x.shape}")
    if len(x) < 2:
        raise ValueError(f"a covariance needs at least 2 samples, got {len(x)}")
    if not np.isfinite(x).all():
        raise ValueError("features contain NaN or inf")
    if ddof not in (0, 1):
        raise ValueError(f"ddof must be 1 (pytorch-fid's np.cov) or 0 (StyleGAN-V's FVD), got {ddof}")
    return x.mean(0), np.atleast_2d(np.cov(x, rowvar=False, ddof=ddof))


def _sqrtm(a: np.ndarray) -> tuple[np.ndarray, float]:
    """(sqrtm(a), relative Frobenius residual ||X X − a|| / ||a||); residual inf when X is not finite."""
    with warnings.catch_warnings():  # scipy warns on singular input; the residual below decides
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        root = linalg.sqrtm(a)
    if not np.isfinite(root).all():
        return root, float("inf")
    scale = max(float(np.linalg.norm(a)), 1e-300)
    return root, float(np.linalg.norm(root @ root - a) / scale)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6, residual_tol: float = 1e-3, imag_tol: float = 1e-3) -> float:
    """Squared Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2) (the number FID / FVD report)."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    d = len(mu1)
    if mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(f"shape mismatch: mu {mu1.shape} / {mu2.shape}, sigma {sigma1.shape} / {sigma2.shape}")
    covmean, residual = _sqrtm(sigma1 @ sigma2)
    if residual > residual_tol:
        log.warning("sqrtm of the covariance product is inaccurate (residual %.3g); adding %g to the diagonals",
                    residual, eps)
        offset = np.eye(d) * eps
        covmean, residual = _sqrtm((sigma1 + offset) @ (sigma2 + offset))
        if not np.isfinite(covmean).all():
            raise ValueError("sqrtm of the covariance product is not finite even with the eps offset")
    if np.iscomplexobj(covmean):
        worst = float(np.max(np.abs(np.diagonal(covmean).imag)))
        if worst > imag_tol:
            raise ValueError(f"sqrtm of the covariance product has an imaginary component {worst:.3g} "
                             f"(> {imag_tol}): are both sigmas covariance matrices?")
        covmean = covmean.real
    diff = mu1 - mu2
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))
    return max(value, 0.0)  # exactly ≥ 0 in theory; rounding can give −1e-12


def frechet_from_features(real: np.ndarray, fake: np.ndarray, ddof: int = 1, **kwargs: float) -> float:
    """Fréchet distance between Gaussians fitted to `real` (N, D) and `fake` (M, D) features (covariance ddof)."""
    return frechet_distance(*feature_stats(real, ddof), *feature_stats(fake, ddof), **kwargs)
