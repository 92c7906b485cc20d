"""Sparse recovery by Hadamard factorizations (seed 003): invariant, ε bound, Bregman vs cvxpy, LP oracle,
bad input. Sizes n ≤ 30."""

import jax
import numpy as np
import pytest

from implicit_bias.baselines import l1
from implicit_bias.errors import ConfigError
from implicit_bias.experiments._sparse import engine_flow, engine_limit, limit
from implicit_bias.models.hadamard import Hadamard, WeightNormalized, x_tilde0
from implicit_bias.optim import GD, gradient
from implicit_bias.problems.linear import linear, make_sparse
from implicit_bias.theory import sparse as theory


@pytest.fixture(scope="module")
def signed_data():
    return make_sparse(m=12, n=30, s=3, signed=True, seed=1)


@pytest.fixture(scope="module")
def positive_data():
    return make_sparse(m=12, n=30, s=3, seed=1)


def test_invariant_separates_flow_gd_and_random(signed_data):
    """Invariant test: N = 2 signed flow keeps arcsinh(x̂/(2α²)) in rowspace(A); GD and a random x don't."""
    d, a = signed_data, 0.1
    model = Hadamard(depth=2, n=30, alpha=a, signed=True)
    _, x_flow = engine_limit(
        model, d.problem, engine_flow(d.problem, rel_tol=1e-14, rtol=1e-10, atol=1e-14)
    )
    _, x_gd = engine_limit(model, d.problem, GD(eta=0.2, n_steps=5000, n_saves=5))
    flow = theory.invariant_residual(d.A, x_flow, a)
    gd = theory.invariant_residual(d.A, x_gd, a)
    rand = theory.invariant_residual(d.A, np.random.default_rng(0).standard_normal(30), a)
    assert flow < 1e-8  # ~ the solver tolerance (rtol 1e-10)
    assert gd > 1e3 * flow and gd < 0.5  # GD's O(η) drift, visibly larger
    assert rand > 0.3  # a generic vector is O(1) away (null(A) has dimension 18 of 30)


@pytest.mark.parametrize("N,alpha", [(2, 0.05), (3, 0.2)])
def test_epsilon_bound_and_bregman_limit(positive_data, N, alpha):
    """Oracle test: the flow's limit is the cvxpy Bregman minimizer, and its ℓ1 gap is below ε."""
    d = positive_data
    model = Hadamard(depth=N, n=30, alpha=alpha)
    _, x_inf = limit(model, d.problem, rel_tol=1e-14)
    x0 = np.asarray(x_tilde0(model, model.init_params()))
    z = l1.bregman(d.A, d.y, x0, N)
    assert np.max(np.abs(x_inf - z)) < 1e-4 * np.max(z)
    Q = theory.Q_value(d.A, d.y, nonneg=True)
    b1, bmin = theory.betas(x0)
    assert (b1, bmin) == pytest.approx((30 * alpha**N, alpha**N))
    eps = theory.epsilon(b1, bmin, Q, N)
    gap = theory.l1_gap(x_inf, Q)
    assert np.isfinite(eps) and 0 <= gap <= eps


def test_seed_g_differs_from_divergence_for_general_start(positive_data):
    """The seed's g equals D_F only for a uniform x̃(0); for a general start the minimizers differ."""
    d = positive_data
    x_uniform = np.full(30, 0.2**3)
    x_general = 0.2**3 * np.exp(np.random.default_rng(0).uniform(-2, 2, 30))
    a = l1.bregman(d.A, d.y, x_uniform, 3, form="seed")
    b = l1.bregman(d.A, d.y, x_uniform, 3, form="divergence")
    assert np.max(np.abs(a - b)) < 1e-5 * np.max(b)
    a = l1.bregman(d.A, d.y, x_general, 3, form="seed")
    b = l1.bregman(d.A, d.y, x_general, 3, form="divergence")
    assert np.max(np.abs(a - b)) > 1e-2 * np.max(b)


def test_lp_oracle_basis_pursuit():
    """Oracle test: basis pursuit recovers a sparse x from enough Gaussian measurements (both LPs)."""
    d = make_sparse(m=20, n=30, s=2, signed=True, seed=3)
    z = l1.basis_pursuit(d.A, d.y)
    assert np.allclose(z, d.x, atol=1e-7)
    p = make_sparse(m=20, n=30, s=2, seed=3)
    z = l1.basis_pursuit(p.A, p.y, nonneg=True)
    assert np.allclose(z, p.x, atol=1e-7) and z.min() >= 0
    assert theory.Q_value(p.A, p.y, nonneg=True) == pytest.approx(p.x.sum(), rel=1e-8)
    # weighted ℓ1 (signed, few measurements) against an independent cvxpy solution
    import cvxpy as cp

    q = make_sparse(m=8, n=30, s=4, signed=True, seed=4)
    h = np.exp(np.random.default_rng(0).uniform(-1, 1, 30))
    z = l1.weighted_l1(q.A, q.y, h)
    v = cp.Variable(30)
    cp.Problem(cp.Minimize(cp.norm1(cp.multiply(h, v))), [q.A @ v == q.y]).solve(solver="CLARABEL")
    assert np.abs(h * z).sum() == pytest.approx(np.abs(h * v.value).sum(), rel=1e-6)
    assert np.allclose(q.A @ z, q.y, atol=1e-9)


def test_distinct_factors_identical_start_follow_the_identical_model(positive_data):
    """Identical initialization: N distinct factors stay equal; the gradient of w^{⊙N} is N× one factor's."""
    d = positive_data
    distinct = Hadamard(depth=3, n=30, alpha=0.3, factors="distinct")
    same = Hadamard(depth=3, n=30, alpha=0.3)
    g = np.asarray(gradient(distinct, d.problem, distinct.init_params()))
    g1 = np.asarray(gradient(same, d.problem, same.init_params()))
    assert np.allclose(g, g[0]) and np.allclose(3 * g[0], g1[0])
    assert np.allclose(distinct(distinct.init_params()), same(same.init_params()))


def test_weight_normalization_precondition_and_bound():
    """ṙ = −η_r ∂_r L̃ (the precondition hook) and the ρ-magnified bound shrinks as ρ grows."""
    d = make_sparse(m=10, n=20, s=2, seed=0)
    wn = WeightNormalized(depth=3, n=20, r0=2.0, eta_r=0.1)
    p0 = wn.init_params()
    assert float(p0[0]) == 2.0 and np.allclose(p0[1], 20**-0.5)
    from implicit_bias.optim import descent_direction

    g, dd = gradient(wn, d.problem, p0), descent_direction(wn, d.problem, p0)
    assert float(dd[0]) == pytest.approx(0.1 * float(g[0])) and np.allclose(dd[1], g[1])
    assert theory.magnification(2.0, 2.2, 0.1) == pytest.approx(
        2 / 2.2 * np.exp((2.2**2 - 4) / 0.1)
    )
    eps = [theory.epsilon_weightnorm(0.5, 0.01, 6.0, 3, rho) for rho in (1.0, 10.0, 1e3)]
    assert (
        eps[0] == pytest.approx(theory.epsilon(0.5, 0.01, 6.0, 3)) and eps[0] > eps[1] > eps[2] > 0
    )
    assert theory.c_N(2) == 1 and theory.c_N(4) == pytest.approx(4.0)


def test_cs_corollary_sides():
    x = np.array([3.0, -2.0, 0.5, 0.1, 0.0])
    assert theory.sigma_s(x, 2) == pytest.approx(0.6)
    assert theory.cs_bound(x, 2, 0.1, 0.5) == pytest.approx(3 * (1.2 + 0.1))


def test_simplified_epsilon_bounds_epsilon():
    """Oracle (algebra): the seed's note ε ≤ N(β₁/Q)^{1−2/N} wherever β₁^{1−2/N} ≤ Q^{1−2/N}/2, N > 2."""
    rng = np.random.default_rng(0)
    for _ in range(200):
        N = int(rng.integers(3, 8))
        Q = float(rng.uniform(0.5, 20))
        b1 = Q * 10 ** rng.uniform(-12, 0)
        bmin = b1 * 10 ** rng.uniform(-4, 0)
        if theory.simplified_applies(b1, Q, N):
            assert theory.epsilon(b1, bmin, Q, N) <= theory.epsilon_simplified(b1, Q, N)
    assert not theory.simplified_applies(1e-9, 1.0, 2)  # the note is for N > 2 only
    with pytest.raises(ConfigError, match="N > 2"):
        theory.epsilon_simplified(1e-9, 1.0, 2)


def test_nsp_constant_and_lp_dual(signed_data):
    """Oracle: ρ_S bounds ‖v_S‖₁/‖v_{S^c}‖₁ over random kernel vectors and is nearly attained by some;
    the ℓ1 LP's dual λ gives weak duality ‖z‖₁ ≥ Q + λᵀ(Az − y) for every z."""
    d = signed_data
    S = np.flatnonzero(d.x)
    rho = l1.nsp_constant(d.A, S)
    kernel = np.linalg.svd(d.A)[2][d.A.shape[0] :].T  # orthonormal basis of ker A
    V = kernel @ np.random.default_rng(1).standard_normal((kernel.shape[1], 2000))
    mask = np.zeros(30, bool)
    mask[S] = True
    ratios = np.abs(V[mask]).sum(0) / np.abs(V[~mask]).sum(0)
    assert ratios.max() <= rho * (1 + 1e-9) and 0 < rho < 10
    Q, lam = theory.Q_dual(d.A, d.y, nonneg=False)
    assert Q == pytest.approx(theory.Q_value(d.A, d.y, nonneg=False))
    assert np.abs(d.A.T @ lam).max() <= 1 + 1e-7  # dual feasible
    for z in np.random.default_rng(2).standard_normal((20, 30)):
        assert np.abs(z).sum() >= Q + lam @ (d.A @ z - d.y) - 1e-7
    assert theory.stop_slack(lam, d.A, d.y, d.x) == pytest.approx(
        1e-7 * np.abs(d.x).sum(), rel=1e-6
    )
    with pytest.raises(ConfigError, match="indices"):
        l1.nsp_constant(d.A, [])


def test_bad_input():
    A = np.random.default_rng(0).standard_normal((5, 10))
    with pytest.raises(ConfigError, match="rows"):
        linear(A, np.ones(4))
    with pytest.raises(ConfigError, match="rows|match"):
        l1.basis_pursuit(A, np.ones(4))
    with pytest.raises(ConfigError, match="alpha must be > 0"):
        Hadamard(depth=2, n=10, alpha=0.0)
    with pytest.raises(ConfigError, match="alpha must be > 0"):
        Hadamard(depth=2, n=10, alpha=-1e-3)
    with pytest.raises(ConfigError, match="depth N must be an integer >= 1"):
        Hadamard(depth=0, n=10)
    with pytest.raises(ConfigError, match="eta_r"):
        WeightNormalized(depth=3, n=10, eta_r=0.0)
    with pytest.raises(ConfigError, match="positive"):
        Hadamard(depth=2, n=3).from_init([1.0, -1.0, 1.0])
    # S₊ empty: y = −A·1 with A ≥ 0 has no non-negative solution
    B = np.abs(A)
    with pytest.raises(ConfigError, match="feasible set is empty"):
        l1.check_nonempty(B, -B @ np.ones(10))
    with pytest.raises(ConfigError, match="feasible set is empty"):
        l1.bregman(B, -B @ np.ones(10), np.ones(10), 2)
    with pytest.raises(ConfigError, match="weights"):
        theory.weights(np.ones(3), 3, "nope")


def test_models_jit_and_float64():
    m = Hadamard(depth=3, n=5, alpha=0.1, signed=True)
    out = jax.jit(m)(m.init_params())
    assert out.dtype == np.float64 and np.allclose(out, 0.0)
