"""Certificates of least-squares and min-trace limits (issue 23 §1): the bounds hold, are tight at the
minimizer to round-off, and fail off it.

    baselines.regression.min_norm_certificate   min ½‖x‖² s.t. Ax = y   (sensing_lowrank_depth, depth 1)
    experiments.dlr_closed_form.ls_certificate   min Σ ½λ_i w_i² − σ_i w_i (dlr_closed_form's GD limit)
    baselines.nuclear.certify_psd_face          min tr X s.t. A(X) = y, X ⪰ 0 (sensing_gaussian's X_NN)

Cheap: NumPy on ≤ 8 × 16 matrices, three SCS solves of ≤ 12 × 12 SDPs and one small Clarabel SDP
(≈ 1.5 s of test calls).
"""

import numpy as np
import pytest

from implicit_bias.baselines import nuclear
from implicit_bias.baselines.regression import min_norm_certificate
from implicit_bias.errors import ConfigError
from implicit_bias.experiments.dlr_closed_form import gd_accuracy, ls_certificate
from implicit_bias.theory import regression as theory

U = 2.0**-53


def _system(seed=0, m=8, N=16):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, N))
    y = rng.standard_normal(m)
    s = np.linalg.svd(A, compute_uv=False)
    return A, y, float(s[0] / s[-1])


def _roundoff(A, kappa, x):
    """Forward error of the solves involved (pinv for x_F, two least-squares solves in the
    certificate), each ≤ κ(A)(m + N)u‖x‖ to first order (Higham, Accuracy and Stability §20.1)."""
    m, N = A.shape
    return 3 * kappa * (m + N) * U * float(np.linalg.norm(x))


# ---------------------------------------------------------------------------------------------
# min-norm least squares


def test_min_norm_certificate_is_tight_at_the_pinv_solution():
    A, y, kappa = _system()
    x_F = np.linalg.pinv(A) @ y
    cert = min_norm_certificate(A, y, x_F)
    tol = _roundoff(A, kappa, x_F)
    assert cert["bound"] <= tol, (cert, tol)
    assert abs(cert["primal"] - cert["dual"]) <= tol * np.linalg.norm(
        x_F
    )  # strong duality, P* = D*
    assert cert["primal"] == pytest.approx(0.5 * float(x_F @ x_F), rel=1e-12)
    assert cert["modulus"] == 1.0 and cert["corrected_residual"] <= tol * np.linalg.norm(A, 2)


@pytest.mark.parametrize("part", ["null", "range", "both"])
def test_min_norm_bound_exceeds_the_true_distance_and_is_exact_per_kind(part):
    """x = x_F + d: the bound is ≥ ‖d‖ always, and = ‖d‖ (to round-off) for a pure null-space or a
    pure range-space d (docstring: both cases are exact)."""
    A, y, kappa = _system(1)
    x_F = np.linalg.pinv(A) @ y
    rng = np.random.default_rng(2)
    P_range = np.linalg.pinv(A) @ A
    d = rng.standard_normal(A.shape[1])
    d = {"null": d - P_range @ d, "range": P_range @ d, "both": d}[part]
    d *= 1e-3 / np.linalg.norm(d)
    cert = min_norm_certificate(A, y, x_F + d)
    dist = float(np.linalg.norm(d))
    tol = _roundoff(A, kappa, x_F)
    assert cert["bound"] >= dist - tol
    # exact for a pure null-space or range-space d; ≤ √2‖d‖ in general (docstring)
    assert cert["bound"] <= (1.0 if part != "both" else np.sqrt(2.0)) * dist + tol
    assert cert["bound"] > 1e3 * tol  # off the minimizer the certificate cannot pass at round-off


def test_min_norm_certificate_needs_its_offset_term():
    """Negative control: dropping ‖x − x̂‖ (keeping only √(2G)) would certify a range-space error
    as zero: the bound without it is far below the true distance."""
    A, y, kappa = _system(3)
    x_F = np.linalg.pinv(A) @ y
    d = np.linalg.pinv(A) @ A @ np.ones(A.shape[1])
    d *= 1e-3 / np.linalg.norm(d)
    cert = min_norm_certificate(A, y, x_F + d)
    assert cert["radius"] < 1e-3 * np.linalg.norm(d) <= cert["offset"]


def test_min_norm_certificate_shapes_and_bad_input():
    A, y, _ = _system(4, m=4, N=9)
    x_F = np.linalg.pinv(A) @ y
    c3 = min_norm_certificate(A.reshape(4, 3, 3), y, x_F.reshape(3, 3))  # matrix sensing form
    assert c3["bound"] == pytest.approx(min_norm_certificate(A, y, x_F)["bound"], abs=1e-13)
    with pytest.raises(ConfigError, match="y must have shape"):
        min_norm_certificate(A, y[:3], x_F)
    with pytest.raises(ConfigError, match="x must have"):
        min_norm_certificate(A, y, x_F[:5])
    with pytest.raises(ConfigError, match="A must have shape"):
        min_norm_certificate(np.ones(3), y, x_F)
    assert min_norm_certificate(A, y, np.full(9, np.nan))["bound"] == np.inf  # a diverged run fails


# ---------------------------------------------------------------------------------------------
# dlr_closed_form: the least-squares limit σ/λ of the spectral components

SIG, LAM, W0, ETA = (
    np.array([4.0, 2.0, 1.0]),
    np.array([2.0, 1.5, 1.0]),
    np.exp(-2 * np.array([2.0, 2.5, 1.5])),
    0.05,
)


def test_ls_certificate_gap_and_distance_are_exact():
    w_star = SIG / LAM
    assert ls_certificate(w_star, SIG, LAM)["bound"] <= 4 * U  # |λw − σ|/σ at w = σ/λ: one rounding
    w = w_star * (1 + np.array([1e-3, -2e-3, 5e-4]))
    c = ls_certificate(w, SIG, LAM)
    L = lambda v: float(np.sum(0.5 * LAM * v**2 - SIG * v))  # noqa: E731
    assert c["gap"] == pytest.approx(L(w) - L(w_star), rel=1e-9)  # the gap is L − L* exactly
    assert c["dual"] == pytest.approx(L(w_star), rel=1e-12)  # the dual value is L* at every w
    assert c["bound"] == pytest.approx(2e-3, rel=1e-9)  # max relative error, exactly
    assert c["distance_bound"] >= np.linalg.norm(w - w_star)
    with pytest.raises(ValueError, match="one shape"):
        ls_certificate(w[:2], SIG, LAM)


def test_ls_certificate_passes_at_the_step_budget_and_fails_when_stopped_early():
    """The scalar recursion GD reduces to (theory.w_discrete, the engine's oracle): at TINY's 300 steps
    the certified error is within gd_accuracy; stopped at 150 steps (the 'fewer steps' mutant) it is
    not; and a limit moved by 1e-9 relative (a subtle mutant, 1000× under the old 1e-6 tolerance)
    fails too."""
    k, p = 300, 4
    reach, roundoff = gd_accuracy(SIG, LAM, W0, ETA, k, p)
    accuracy = reach + roundoff
    w = theory.w_discrete(W0, SIG, LAM, ETA, k)
    assert ls_certificate(w[-1], SIG, LAM)["bound"] <= accuracy
    assert ls_certificate(w[k // 2], SIG, LAM)["bound"] > 1e3 * accuracy
    moved = theory.w_discrete(W0, SIG * (1 + 1e-9), LAM, ETA, k)[-1]
    assert ls_certificate(moved, SIG, LAM)["bound"] > accuracy


# ---------------------------------------------------------------------------------------------
# min-trace PSD: the face certificate


def _psd_instance(n=6, r=1, m=20, seed=0):
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((m, n, n))
    A = (G + G.transpose(0, 2, 1)) / np.sqrt(2 * m)
    R = rng.standard_normal((n, r))
    X = R @ R.T
    X /= np.linalg.norm(X)
    return A, np.einsum("kij,ij->k", A, X), X


def test_psd_face_certificate_certifies_the_minimizer_and_bounds_a_perturbation():
    """m = 20 ≥ the rank-1 tangent space (n = 6: dimension 6) plus margin: X_NN = X* (exact recovery).
    The certified bound is at round-off there; the same face with R scaled by √(1 + 1e-6) (X̂ moved
    by 1e-6 relative) gets a bound ≥ its true distance to X*, so it cannot pass at 1e-6."""
    A, y, X_star = _psd_instance()
    sol, cert = nuclear.min_trace_face(A, y)
    assert cert["modulus"] > 0 and cert["sigma_T"] > 0 and cert["rank"] == 1
    # round-off scale: ‖e‖ and the gap are sums of m + n² ≤ 1e3 rounded products (each ≤ u relative),
    # amplified by 1/s (t ≈ gap/s) and by 1 + ‖A‖/σ_T (certify_psd_face's distance bound)
    amp = (1 + cert["A_op"] / cert["sigma_T"]) / cert["modulus"]
    assert cert["bound"] <= 1e3 * amp * U
    assert np.linalg.norm(sol.X - X_star) <= cert["bound"] + 1e3 * U  # X* is a minimizer: inside
    R = nuclear.refine_psd_face(A, sol.X, y)
    moved = nuclear.certify_psd_face(A, R * np.sqrt(1 + 1e-6), sol.dual, y)
    true = 1e-6 * float(np.linalg.norm(sol.X))  # ‖(1 + 1e-6)X̂ − X_NN‖, X_NN = X̂ (certified above)
    assert moved["bound"] >= true - cert["bound"] and moved["bound"] > 1e-6


def test_psd_face_certificate_fails_on_a_wrong_face_and_on_bad_input():
    """Negative control: a point on the rank-2 face next to a rank-1 minimizer (X̂ + 1e-4·ggᵀ, 1e-4
    from X_NN) is not certified at 1e-6: the bound is ≥ its true distance (or inf: no strict
    complementarity on that face)."""
    A, y, X_star = _psd_instance(seed=1)
    sol, cert = nuclear.min_trace_face(A, y)
    rng = np.random.default_rng(5)
    R2 = np.hstack([nuclear.refine_psd_face(A, sol.X, y), 1e-2 * rng.standard_normal((6, 1))])
    nu2 = nuclear.face_dual(A, R2, y)
    wrong = nuclear.certify_psd_face(A, R2, nu2, y)
    true = float(np.linalg.norm(R2 @ R2.T - sol.X))
    assert not wrong["bound"] < true - cert["bound"], (wrong, true)
    assert not wrong["bound"] <= 1e-6, wrong
    with pytest.raises(ConfigError, match="R must be"):
        nuclear.certify_psd_face(A, np.ones((5, 1)), sol.dual, y)
    with pytest.raises(ConfigError, match="rank must be"):
        nuclear.refine_psd_face(A, sol.X, y, rank=0)


def test_face_dual_sdp_rescues_a_min_norm_dual_that_is_not_strictly_feasible():
    """sensing_gaussian's TINY problem at seed 2 (n = 12, m = 44): the minimum-norm face dual has
    λ_min(I − A*(ν)) < 0 off the face (no bound); the SDP over the same affine set finds a strictly
    feasible one and the certificate then holds at round-off. Both duals keep A*(ν)V = V exactly."""
    from implicit_bias import experiments
    from implicit_bias.experiments import sensing_gaussian

    problem = sensing_gaussian.make_problem(experiments.tiny_config(sensing_gaussian), 2)
    sol = nuclear.min_nuclear_norm(problem, psd=True)
    R = nuclear.refine_psd_face(problem, sol.X)
    plain = nuclear.certify_psd_face(problem, R, nuclear.face_dual(problem, R, improve=False))
    better = nuclear.certify_psd_face(problem, R, nuclear.face_dual(problem, R))
    assert plain["modulus"] < 0 and plain["bound"] == np.inf
    assert better["modulus"] > 0 and better["s11"] + better["s12"] <= 1e3 * U
    amp = (1 + better["A_op"] / better["sigma_T"]) / better["modulus"]
    assert better["bound"] <= 1e3 * amp * U
