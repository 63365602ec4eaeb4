"""Fréchet distance: closed forms on known Gaussians, an independent eigen-computation, the guards."""

from __future__ import annotations

import logging

import numpy as np
import pytest

import talkhead.eval.frechet as frechet_module
from talkhead.eval.frechet import feature_stats, frechet_distance, frechet_from_features


def _spd(rng: np.random.Generator, d: int) -> np.ndarray:
    a = rng.normal(size=(d, d))
    return a @ a.T + 0.1 * np.eye(d)


def test_diagonal_covariances_match_the_closed_form():
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([0.5, 1.0, 1.0])
    s1, s2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    want = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))  # 9.25 + 4 + 1 + 0 = 14.25
    assert want == pytest.approx(14.25)
    assert frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(want, rel=1e-12)


def test_identical_gaussians_are_at_distance_zero():
    rng = np.random.default_rng(0)
    mu, sigma = rng.normal(size=6), _spd(rng, 6)
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-9)


def test_full_covariances_match_an_eigendecomposition():
    rng = np.random.default_rng(1)
    d = 8
    mu1, mu2, s1, s2 = rng.normal(size=d), rng.normal(size=d), _spd(rng, d), _spd(rng, d)
    w, v = np.linalg.eigh(s1)
    root1 = v @ np.diag(np.sqrt(w)) @ v.T  # s1^{1/2}
    tr_covmean = np.sum(np.sqrt(np.linalg.eigvalsh(root1 @ s2 @ root1)))  # tr (s1 s2)^{1/2}
    want = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * tr_covmean
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(want, rel=1e-9)


def test_feature_stats_are_the_mean_and_unbiased_covariance():
    x = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 8.0]])
    mu, sigma = feature_stats(x)
    assert np.allclose(mu, [2.0, 4.0])
    assert np.allclose(sigma, [[4.0, 7.0], [7.0, 13.0]])  # Σ (x − mu)(x − mu)ᵀ / (N − 1)
    with pytest.raises(ValueError, match="at least 2 samples"):
        feature_stats(x[:1])


def test_fewer_samples_than_dimensions_still_give_a_finite_distance():
    rng = np.random.default_rng(2)
    real, fake = rng.normal(size=(4, 16)), rng.normal(size=(4, 16)) + 1.0  # rank-3 covariances in 16 dims
    assert np.isfinite(frechet_from_features(real, fake)) and frechet_from_features(real, fake) > 0
    assert frechet_from_features(real, real) == pytest.approx(0.0, abs=1e-9)


def test_a_failed_sqrtm_is_retried_with_eps_on_the_diagonals(monkeypatch, caplog):
    real_sqrtm, calls = frechet_module.linalg.sqrtm, []

    def flaky(a):
        calls.append(a.copy())
        return np.full_like(a, np.nan) if len(calls) == 1 else real_sqrtm(a)

    monkeypatch.setattr(frechet_module.linalg, "sqrtm", flaky)
    eps = 1e-4
    with caplog.at_level(logging.WARNING, logger="talkhead.eval.frechet"):
        value = frechet_distance(np.zeros(2), np.diag([1.0, 0.0]), np.zeros(2), np.diag([0.0, 1.0]), eps=eps)
    assert len(calls) == 2 and np.allclose(calls[1], np.diag([(1 + eps) * eps, eps * (1 + eps)]))
    assert value == pytest.approx(2.0 - 4.0 * np.sqrt(eps * (1 + eps)), rel=1e-9)  # tr s1 + tr s2 − 2 tr √(…)
    assert "adding" in caplog.text


def test_a_non_covariance_input_is_an_error():
    with pytest.raises(ValueError, match="imaginary component"):
        frechet_distance(np.zeros(2), np.diag([1.0, -1.0]), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match="shape mismatch"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))
