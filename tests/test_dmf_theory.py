"""Seed 000: matrix GD against the scalar recursion (7), the limits of Thms 2.2 and 3.1, the bounds."""

import numpy as np
import pytest

from implicit_bias.models.deep_matrix import DeepMatrix
from implicit_bias.optim import GD, GradientFlow, fit
from implicit_bias.optim.reduction import PATH, applies
from implicit_bias.problems.full import symmetric_with_spectrum
from implicit_bias.theory import deep_matrix as theory


def mixed_spectrum(seed: int, n: int = 5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lam = rng.uniform(0.5, 3.0, size=n) * rng.choice([-1.0, 1.0], size=n)
    lam[0], lam[1] = abs(lam[0]), -abs(lam[1])  # both signs, always
    return lam


@pytest.mark.parametrize("N", [2, 3, 4, 5])
def test_matrix_gd_equals_scalar_recursion(N):
    # Oracle: eq. (7) as an independent NumPy loop; the matrix run takes the full (non-reduced) path.
    lam = mixed_spectrum(N)
    problem = symmetric_with_spectrum(lam, seed=N)
    alpha = 0.5
    eta = 0.5 * theory.step_bound_identical(problem.W_hat, alpha, N)
    method = GD(eta=eta, n_steps=400, save_every=20)
    model = DeepMatrix(depth=N, n=lam.size, init="identical", alpha=alpha)
    traj = fit(model, problem, method, reduce=False)
    assert traj.path == "full"
    lam_sorted, V = theory.eigh(problem.W_hat)
    d = theory.scalar_recursion(alpha, lam_sorted, eta, N, method.n_steps)[method.save_steps()]
    for k in range(len(traj)):
        W = np.asarray(model(tuple(W[k] for W in traj.observed)))
        expected = (V * d[k] ** N) @ V.T
        assert np.max(np.abs(W - expected)) <= 1e-10 * np.max(np.abs(expected))
    # and every layer is V D^(k) Vᵀ with the same D^(k)
    for W_j in traj.final:
        np.testing.assert_allclose(W_j, (V * d[-1]) @ V.T, rtol=0, atol=1e-12)


@pytest.mark.parametrize("init", ["identical", "perturbed"])
def test_reduced_path_equals_full_path(init):
    problem = symmetric_with_spectrum([3.0, 1.0, -2.0], seed=1)
    model = DeepMatrix(
        depth=3, n=3, init=init, alpha=0.2, beta=0.05 if init == "perturbed" else 0.0
    )
    # within 1000 steps roundoff has not yet been amplified off the invariant diagonal manifold
    # (see test_full_matrix_gd_leaves_the_identical_manifold)
    method = GD(eta=0.01, n_steps=1000, n_saves=50, spacing="log")
    reduced = fit(model, problem, method)
    full = fit(model, problem, method, reduce=False)
    assert reduced.path == PATH and full.path == "full"
    np.testing.assert_allclose(reduced.t, full.t)
    np.testing.assert_allclose(reduced.loss, full.loss, rtol=1e-10, atol=1e-13)
    for a, b in zip(reduced.final, full.final):
        np.testing.assert_allclose(a, b, atol=1e-12)


def test_full_matrix_gd_leaves_the_identical_manifold():
    # In exact arithmetic the iterates stay V D Vᵀ (Thm 2.2); in float64 the manifold is unstable for
    # this spectrum and depth: roundoff grows until GD finds V diag(3, 0, −2) Vᵀ instead of VΛ₊Vᵀ.
    # The exact reduction is therefore the faithful simulation of Thm 2.2 at long horizons.
    problem = symmetric_with_spectrum([3.0, 1.0, -2.0], seed=1)
    lam, V = theory.eigh(problem.W_hat)
    model = DeepMatrix(depth=3, n=3, init="identical", alpha=0.2)
    method = GD(eta=0.01, n_steps=20_000, save_every=20_000)
    reduced = np.asarray(model(fit(model, problem, method).final))
    full = np.asarray(model(fit(model, problem, method, reduce=False).final))
    np.testing.assert_allclose(np.diag(V.T @ reduced @ V), [3.0, 1.0, 0.0], atol=1e-4)
    np.testing.assert_allclose(np.diag(V.T @ full @ V), [3.0, 0.0, -2.0], atol=1e-4)


def test_reduction_applies_only_where_exact(key):
    sym = symmetric_with_spectrum([2.0, 1.0, -1.0], seed=0)
    model = DeepMatrix(depth=2, n=3, init="identical", alpha=0.1)
    assert applies(model, sym, model.init_params()) is not None
    gaussian = DeepMatrix(depth=2, n=3, init="gaussian", alpha=0.1)
    assert applies(gaussian, sym, gaussian.init_params(key)) is None
    from implicit_bias.problems.full import random_target

    assert applies(model, random_target(0, (3, 3)), model.init_params()) is None


@pytest.mark.parametrize("N", [2, 3, 4])
def test_identical_init_converges_to_positive_part(N):
    # Thm 2.2: below bound (8), W^(k) → VΛ₊Vᵀ (checked on the full matrix path).
    lam = np.array([2.0, 1.0, -1.5])
    problem = symmetric_with_spectrum(lam, seed=3)
    alpha = 0.3
    eta = 0.9 * theory.step_bound_identical(problem.W_hat, alpha, N)
    model = DeepMatrix(depth=N, n=3, init="identical", alpha=alpha)
    # the negative direction decays like t^(-N/(N-2)) for N ≥ 3: long horizon
    n_steps = {2: 4_000, 3: 40_000, 4: 400_000}[N]
    traj = fit(model, problem, GD(eta=eta, n_steps=n_steps))
    err = np.linalg.norm(np.asarray(model(traj.final)) - theory.limit_identical(problem.W_hat))
    assert err <= 1e-6


@pytest.mark.parametrize("N", [2, 3])
def test_perturbed_init_converges_to_target(N):
    # Thm 3.1: β/(c−1) < α and η below (10) give W^(k) → Ŵ (full matrix path).
    problem = symmetric_with_spectrum([2.0, 1.0, -1.5], seed=4)
    alpha = 0.3
    beta = 0.5 * alpha * (theory.c_root(N) - 1)
    assert theory.perturbation_condition(alpha, beta, N)[0]
    eta = 0.9 * theory.step_bound_perturbed(problem.W_hat, alpha, N)
    model = DeepMatrix(depth=N, n=3, init="perturbed", alpha=alpha, beta=beta)
    traj = fit(model, problem, GD(eta=eta, n_steps=60_000), reduce=False)
    err = np.linalg.norm(np.asarray(model(traj.final)) - np.asarray(problem.W_hat))
    assert err <= 1e-6


def test_c_root_and_bounds():
    assert theory.c_root(2) == pytest.approx((1 + 5**0.5) / 2, abs=1e-12)
    for N in range(2, 8):
        c = theory.c_root(N)
        assert 1 < c < 2 and (c - 1) * c ** (N - 1) == pytest.approx(1.0, abs=1e-12)
    W = np.diag([8.0, -1.0])
    # M = max(α, ‖Ŵ‖^(1/N)) = 2 for N = 3: (8) = 1/(7·16), (10) = 1/(27 (2c)^4)
    assert theory.step_bound_identical(W, 0.1, 3) == pytest.approx(1 / (7 * 16))
    assert theory.step_bound_perturbed(W, 0.1, 3) == pytest.approx(
        1 / (27 * (2 * theory.c_root(3)) ** 4)
    )
    assert theory.step_bound_scalar(8.0, 0.1, 3) == pytest.approx(1 / (6 * 16))
    assert theory.step_bound_scalar(-8.0, 0.1, 3) == pytest.approx(1 / (7 * 16))
    # α above ‖Ŵ‖^(1/N) sets M
    assert theory.step_bound_identical(W, 3.0, 2) == pytest.approx(1 / (4 * 9))


@pytest.mark.parametrize("lam, N", [(4.0, 2), (4.0, 3), (2.0, 4)])
def test_scalar_recursion_respects_theorem_2_1(lam, N):
    # Thm 2.1: below the bound, d^(k) → λ₊^(1/N) (monotonically from α < λ^(1/N)).
    alpha = 0.2
    eta = 0.99 * theory.step_bound_scalar(lam, alpha, N)
    d = theory.scalar_recursion(alpha, np.array([lam]), eta, N, 200_000)[:, 0]
    assert np.all(np.diff(d) >= 0)
    assert d[-1] == pytest.approx(lam ** (1 / N), rel=1e-8)


def test_quadrature_time_matches_the_scalar_flow():
    # Oracle for the flow's learning time: separable ODE quadrature vs diffrax on the matrix problem.
    lam, alpha, N = 4.0, 0.1, 3
    t_pred = theory.flow_time_to_reach(lam, alpha, N, lam / 2)
    problem = symmetric_with_spectrum([lam, 1.0], seed=0)
    model = DeepMatrix(depth=N, n=2, init="identical", alpha=alpha)
    lam_sorted, V = theory.eigh(problem.W_hat)
    traj = fit(
        model, problem, GradientFlow(t1=t_pred, n_saves=1, rtol=1e-10, atol=1e-12), reduce=False
    )
    W = np.asarray(model(traj.final))
    assert (V[:, 0] @ W @ V[:, 0]) == pytest.approx(lam / 2, rel=1e-6)


def test_best_rank_k_effective_ranks():
    W = np.diag([10.0, 7.0, 5.0, -5.0])
    np.testing.assert_allclose(theory.best_rank_k_effective_ranks(W), [1.0, 1.7, 2.2, 2.7])


def test_perturbed_flow_quadrature_matches_the_layer_flow():
    # Oracle: each eigencomponent's N layer values x_1 … x_N (x_1(0) = α − β, the others α) integrated as N
    # separate ODEs by LSODA; theory.flow_time_perturbed assumes x_2 = … = x_N and a² − d² conserved, and
    # must give the time at which the product reaches λ/2 (λ > 0) or changes sign (λ < 0).
    from scipy.integrate import solve_ivp

    alpha, beta = 0.3, 0.1
    for N in (2, 3, 4):
        for lam, level in ((3.0, 1.5), (-2.0, 0.0), (-2.0, -1.0)):

            def rhs(t, x):
                prod = np.prod(x)
                return [-np.prod(np.delete(x, j)) * (prod - lam) for j in range(N)]

            x0 = np.array([alpha - beta] + [alpha] * (N - 1))
            t_pred = theory.flow_time_perturbed(lam, alpha, beta, N, level)
            sol = solve_ivp(rhs, (0, t_pred), x0, method="LSODA", rtol=1e-11, atol=1e-14)
            assert np.prod(sol.y[:, -1]) == pytest.approx(level, abs=1e-6 * abs(lam))
        # β = 0 is the identical initialization
        assert theory.flow_time_perturbed(3.0, alpha, 0.0, N, 1.5) == pytest.approx(
            theory.flow_time_to_reach(3.0, alpha, N, 1.5), rel=1e-10
        )
