"""The α → 0 limit paths of low-rank factorizations (theory.lowrank_path).

* Greedy low-rank learning (Li, Luo & Lyu 2021) for X = UUᵀ: its last point is the minimum-trace
  PSD interpolant (cvxpy) where the two agree (oracle), and is not on the Razin–Cohen-type completion
  (X₁₁ = 1, X₁₂ = ½, X₀₂ = 1 of a 3×3 PSD matrix: rank-1 completion of trace 5.25, minimum trace 3),
  where the flow follows GLRL as α → 0;
* the time scale τ(α) = log(1/α)/2: λ_max(X) crosses α exactly at t̃₁/2 (α = 1e-8, 1e-30);
* saddles and jump times against the flow from αI at α = 1e-2, 1e-4, 1e-8, 1e-16 (two 2-jump
  instances) and 1e-4 … 1e-30 (a 3-jump instance): the jump-time errors fall monotonically and like
  1/log(1/α) (the theory's O(1/log(1/α)): the local log-log slope between the two smallest α is
  asserted in −1 ± 0.3; fitted slopes printed), the closest approach to the intermediate saddles
  falls monotonically. The flow is integrated in log-QR coordinates
  (U = Q diag(e^{ℓ − log(1/α)}) T, Q orthogonal, T unit upper triangular): the small singular values
  of U are carried by ℓ, so the simulation is exact to the solver's tolerance at α = 1e-30, where the
  plain flow on U loses them to round-off after the first jump (checked against SciPy on U at 1e-3);
* commuting measurements: the path is Algorithm 1 in the common eigenbasis, the flow follows it,
  and greedy GLRL (which sees only the current gradient) visits other saddles (seed 7, n = 5, m = 4:
  found by scanning seeds 0–29 for a commuting instance where the two differ);
* ε-dependence of GLRL: the same points for every ε at an isolated minimizer, convergent as ε ↓ 0
  on a manifold of minimizers;
* deep matrix (seed 000) closed form against the exact scalar flow ḋ = −d^{N−1}(d^N − λ) (N = 2, 3;
  its constant against the matrix flow of the factors); seed 004's staircase against half_time;
* ties raise ConfigError naming them; uncovered pairs give None and limit_path's ConfigError.
"""

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

import implicit_bias  # noqa: F401  (float64)
from implicit_bias.baselines.nuclear import min_nuclear_norm
from implicit_bias.errors import ConfigError
from implicit_bias.models.deep_matrix import DeepMatrix
from implicit_bias.models.hadamard import Hadamard
from implicit_bias.models.spectral import deep_linear
from implicit_bias.models.symmetric import SymmetricFactor
from implicit_bias.problems import sensing
from implicit_bias.problems.completion import from_entries
from implicit_bias.problems.full import FullObservation, symmetric_with_spectrum
from implicit_bias.problems.regression import aligned, general
from implicit_bias.theory import deep_matrix as dm, lowrank_path as lp, regression as reg
from implicit_bias.theory.limit_path import LimitPath
from implicit_bias.theory.oracles import limit_path

ALPHAS = (1e-2, 1e-4, 1e-8, 1e-16)


def _sensing(seed, n=5, m=12, spectrum=(1.0, 0.5)):
    """Symmetric Gaussian sensing of X* = V diag(spectrum) Vᵀ (sensing_glrl's family)."""
    rng = np.random.default_rng(seed)
    V = sensing.random_orthogonal(rng, n)
    r = len(spectrum)
    X_star = (V[:, :r] * np.asarray(spectrum)) @ V[:, :r].T
    return sensing.random_sensing(seed, X_star, m, ensemble="symmetric")


def _razin_cohen(delta=0.5):
    v = np.array([1 / delta, 1.0, delta])
    return from_entries(np.outer(v, v), [(1, 1), (1, 2), (0, 2)])


# ---------------------------------------------------------------------------------------------
# an independent simulator of U̇ = −2G(UUᵀ)U from αU₀, exact for tiny α


def _logqr_flow(q, alpha, U0, t_end, n_grid=2000, rtol=1e-11, method="DOP853"):
    """(t grid, X at the grid, X(t) from the dense output). U = Q diag(e^{ℓ−L}) T, L = log(1/α):
    with B = QᵀAQ (A = −2G): Q̇ = QS (S skew, S_ij = B_ij below the diagonal), ℓ̇_i = B_ii,
    Ṫ = NT with N strictly upper, N_ij = 2B_ij e^{ℓ_j − ℓ_i}."""
    n = U0.shape[0]
    Q0, R0 = np.linalg.qr(U0)
    sg = np.sign(np.diag(R0))
    Q0, R0 = Q0 * sg, sg[:, None] * R0
    r0 = np.diag(R0)
    T0 = R0 / r0[:, None]
    L = np.log(1 / alpha)
    iu = np.triu_indices(n, 1)

    def unpack(z):
        T = np.eye(n)
        T[iu] = z[n * n + n :]
        return z[: n * n].reshape(n, n), z[n * n : n * n + n], T

    def X_of(Q, l, T):
        Y = (Q * np.exp(l - L)) @ T
        return Y @ Y.T

    def rhs(t, z):
        Q, l, T = unpack(z)
        B = Q.T @ (-2 * q.grad(X_of(Q, l, T))) @ Q
        S = np.tril(B, -1)
        S = S - S.T
        N = np.triu(2 * B * np.exp(np.clip(l[None, :] - l[:, None], -700, 700)), 1)
        return np.concatenate([(Q @ S).ravel(), np.diag(B), (N @ T)[iu]])

    grid = np.linspace(t_end / n_grid, t_end, n_grid)
    z0 = np.concatenate([Q0.ravel(), np.log(r0), T0[iu]])
    sol = solve_ivp(rhs, (0, t_end), z0, method=method, t_eval=grid, rtol=rtol, atol=1e-12,
                    dense_output=True)  # fmt: skip
    assert sol.success, sol.message
    return grid, np.array([X_of(*unpack(z)) for z in sol.y.T]), lambda t: X_of(*unpack(sol.sol(t)))


def _jump_times(path, grid, Xs, Xf, tau):
    """t̃ where the k-th eigenvalue of X first crosses half of W̄_k's k-th (bracketed, then brentq)."""
    ev = np.linalg.eigvalsh(Xs)[:, ::-1]
    out = []
    for k in range(1, len(path.times)):
        theta = np.linalg.eigvalsh(path.points[k])[::-1][k - 1] / 2
        hit = np.flatnonzero(ev[:, k - 1] >= theta)
        assert hit.size and hit[0] > 0, f"jump {k} not reached"
        j = int(hit[0])

        def g(t, k=k, theta=theta):
            return np.linalg.eigvalsh(Xf(t))[::-1][k - 1] - theta

        out.append(brentq(g, grid[j - 1], grid[j], xtol=1e-13) / tau)
    return np.array(out)


def _approach(path, grid, Xs, tau):
    """Closest approach of X to each intermediate saddle W̄_k within [t̃_k, t̃_{k+1}]."""
    tt = grid / tau
    out = []
    for k in range(1, len(path.times) - 1):
        win = (tt >= path.times[k]) & (tt <= path.times[k + 1])
        out.append(np.linalg.norm(Xs[win] - path.points[k], axis=(1, 2)).min())
    return np.array(out)


def _slope(alphas, errors):
    return float(np.polyfit(np.log(np.log(1 / np.asarray(alphas))), np.log(errors), 1)[0])


def _against_flow(problem, alphas, horizon=1.5):
    path = lp.limit_path_symmetric(problem)
    q = lp.quadratic_of(problem)
    n = q.n
    errs, near = [], []
    for a in alphas:
        tau = path.time_scale(a)
        grid, Xs, Xf = _logqr_flow(q, a, np.eye(n), horizon * path.times[-1] * tau)
        errs.append(np.abs(_jump_times(path, grid, Xs, Xf, tau) - path.times[1:]))
        near.append(_approach(path, grid, Xs, tau))
    return path, np.array(errs), np.array(near)


def test_log_qr_simulator_matches_the_plain_flow():
    problem = _sensing(0)
    q = lp.quadratic_of(problem)
    alpha, t_end = 1e-3, 12.0
    grid, Xs, _ = _logqr_flow(q, alpha, np.eye(5), t_end, n_grid=50)

    def rhs(t, u):
        U = u.reshape(5, 5)
        return (-2 * q.grad(U @ U.T) @ U).ravel()

    sol = solve_ivp(rhs, (0, t_end), (alpha * np.eye(5)).ravel(), method="DOP853", t_eval=grid,
                    rtol=1e-12, atol=1e-20)  # fmt: skip
    plain = np.array([u.reshape(5, 5) @ u.reshape(5, 5).T for u in sol.y.T])
    assert np.abs(plain - Xs).max() < 1e-8


# ---------------------------------------------------------------------------------------------
# GLRL against the nuclear norm


@pytest.mark.parametrize("seed", [0, 2])
def test_glrl_ends_at_the_nuclear_norm_minimizer_where_they_agree(seed):
    # oracle: at these instances X* is the unique min-trace PSD interpolant and GLRL recovers it
    problem = _sensing(seed)
    path = lp.limit_path_symmetric(problem)
    X_nn = min_nuclear_norm(problem, psd=True)
    assert path.loss[-1] < 1e-20 * path.loss[0]
    assert np.linalg.norm(path.points[-1] - X_nn.X) < 1e-6  # SCS eps 1e-9 on unit-scale data
    assert [e["rank"] for e in path.events] == [1, 2]
    assert path.family == "low-rank" and path.c == 2.0 and path.depth == 2


def test_glrl_differs_from_the_nuclear_norm_on_a_razin_cohen_completion():
    problem = _razin_cohen(0.5)
    path = limit_path(problem, SymmetricFactor(n=3, d=3))
    v = np.array([2.0, 1.0, 0.5])
    assert np.abs(path.points[-1] - np.outer(v, v)).max() < 1e-8  # the rank-1 completion
    X_nn = min_nuclear_norm(problem, psd=True)
    assert X_nn.value == pytest.approx(3.0, abs=1e-6)
    assert np.trace(path.points[-1]) == pytest.approx(5.25, abs=1e-8)
    # the flow's end approaches GLRL's end as α → 0 (log-QR flow, LSODA for the stiff tail, to t =
    # 10⁵: converged, loss < 1e-20)
    q = lp.quadratic_of(problem)
    dist = []
    for a in (1e-4, 1e-8, 1e-16):
        _, Xs, _ = _logqr_flow(q, a, np.eye(3), 1e5, n_grid=5, rtol=1e-10, method="LSODA")
        assert q.loss(Xs[-1]) < 1e-20
        dist.append(np.linalg.norm(Xs[-1] - path.points[-1]))
    assert np.all(np.diff(dist) < 0) and dist[-1] < 1e-6 < np.linalg.norm(Xs[-1] - X_nn.X) - 3
    print(f"Razin–Cohen-type completion: ‖X_∞(α) − GLRL end‖ = {np.round(dist, 8)} at α = 1e-4, "
          f"1e-8, 1e-16; ‖GLRL end − X_NN‖ = {np.linalg.norm(path.points[-1] - X_nn.X):.3f}")  # fmt: skip


# ---------------------------------------------------------------------------------------------
# the time scale, the jump times and the saddles against the flow


def test_time_scale_by_the_first_crossing_of_alpha():
    # before the jump X = α²e^{−4G₀t} exactly up to O(α): λ_max(X) = α at t = log(1/α)/(4λ₁) = τt̃₁/2
    problem = _sensing(0)
    path = lp.limit_path_symmetric(problem)
    assert path.times[1] == pytest.approx(1 / path.events[0]["eigenvalue"], rel=1e-12)
    q = lp.quadratic_of(problem)
    for alpha in (1e-8, 1e-30):
        tau = path.time_scale(alpha)
        assert tau == pytest.approx(np.log(1 / alpha) / 2)
        t_half = tau * path.times[1] / 2
        _, _, Xf = _logqr_flow(q, alpha, np.eye(5), 1.2 * t_half, n_grid=10)
        t = brentq(lambda s: np.log(np.linalg.eigvalsh(Xf(s))[-1] / alpha), 0.8 * t_half,
                   1.2 * t_half, xtol=1e-14)  # fmt: skip
        assert t == pytest.approx(t_half, rel=1e-6)


def _check_rates(alphas, errs):
    """Per jump: |t̃_sim − t̃_k| decreases with α, and its local slope in log-log against log(1/α)
    between the two smallest α is −1 ± 0.3 (the theory's O(1/log(1/α)); ±0.3 for the
    O(1/log²(1/α)) term at log(1/α) ≥ 18, measured ≤ 0.16). Returns the overall fitted slopes."""
    assert np.all(np.diff(errs, axis=0) < 0), errs
    L = np.log(1 / np.asarray(alphas[-2:]))
    local = np.log(errs[-1] / errs[-2]) / np.log(L[1] / L[0])
    assert np.all((-1.3 < local) & (local < -0.7)), local
    return [_slope(alphas, errs[:, k]) for k in range(errs.shape[1])], local


@pytest.mark.parametrize("seed", [0, 2])
def test_saddles_and_jump_times_approach_the_flow(seed):
    path, errs, near = _against_flow(_sensing(seed), ALPHAS)
    slopes, local = _check_rates(ALPHAS, errs)
    print(f"sensing seed {seed}: t̃_k = {np.round(path.times, 4)}; |t̃_sim − t̃_k| per α "
          f"{np.round(errs, 4).tolist()}; slopes vs log(1/α): fitted {np.round(slopes, 2)}, "
          f"last pair {np.round(local, 2)}; closest approach to W̄_1 "
          f"{np.array2string(near[:, 0], precision=3)}")  # fmt: skip
    assert np.all(np.diff(near, axis=0) < 0), near


def test_a_three_jump_instance():
    # n = 5, m = 13, X* of rank 3: the third jump pairs the exponent of the third singular value,
    # carried through two phases, with μ₁ of the second saddle
    alphas = (1e-4, 1e-8, 1e-16, 1e-30)
    path, errs, near = _against_flow(_sensing(1, m=13, spectrum=(1.0, 0.6, 0.35)), alphas)
    assert [e["rank"] for e in path.events] == [1, 2, 3]
    slopes, local = _check_rates(alphas, errs)
    print(f"3-jump instance: t̃_k = {np.round(path.times, 4)}; errors {np.round(errs, 4).tolist()}; "
          f"slopes fitted {np.round(slopes, 2)}, last pair {np.round(local, 2)}; closest approach "
          f"{np.round(near, 4).tolist()}")  # fmt: skip
    assert np.all(np.diff(near, axis=0) < 0), near


def test_commuting_data_follow_algorithm_1_not_greedy_glrl():
    n, m, seed = 5, 4, 7
    rng = np.random.default_rng(seed)
    V = sensing.random_orthogonal(rng, n)
    x = np.zeros(n)
    x[rng.choice(n, 2, replace=False)] = rng.uniform(0.5, 1.5, 2)
    problem = sensing.random_sensing(seed, (V * x) @ V.T, m, ensemble="commuting", V=V)
    path = limit_path(problem, SymmetricFactor(n=n, d=n))
    assert "greedy GLRL differs" in path.notes
    assert [e["change"] for e in path.events] == ["rank 0→1 (+v0)", "rank 1→2 (+v2)"]
    # GLRL, run in the common eigenbasis (its iterates stay diagonal there)
    q = lp.quadratic_of(problem)
    Vc = lp.common_eigenbasis(q)
    D = np.einsum("ai,kab,bi->ki", Vc, q.matrices(), Vc)
    rows = np.zeros((m, n, n))
    rows[:, np.arange(n), np.arange(n)] = D
    greedy = lp.glrl(lp.Quadratic(rows.reshape(m, n * n), q.b, n))
    W_greedy = Vc @ greedy.points[2] @ Vc.T
    errs, near, off = [], [], []
    for a in (1e-4, 1e-8, 1e-16):
        tau = path.time_scale(a)
        grid, Xs, Xf = _logqr_flow(q, a, np.eye(n), 1.5 * path.times[-1] * tau)
        errs.append(np.abs(_jump_times(path, grid, Xs, Xf, tau) - path.times[1:]))
        near.append(_approach(path, grid, Xs, tau)[0])
        off.append(np.linalg.norm(Xs - W_greedy, axis=(1, 2)).min())
    errs = np.array(errs)
    assert np.all(np.diff(errs, axis=0) < 0) and np.all(np.diff(near) < 0), (errs, near)
    assert min(off) > 0.25 > 1e4 * near[-1]  # it never comes near greedy GLRL's second saddle
    print(f"commuting: errors {np.round(errs, 4).tolist()}, closest approach to Algorithm 1's "
          f"W̄_1 {np.round(near, 7)}, to GLRL's second saddle ≥ {min(off):.3f}")  # fmt: skip


def test_glrl_epsilon_dependence():
    isolated = _sensing(0)
    ref = lp.glrl(isolated, eps=1e-12).points
    for eps in (1e-2, 1e-6):
        assert np.abs(lp.glrl(isolated, eps=eps).points - ref).max() < 1e-8  # the same local minima
    X = sensing.low_rank_truth(1, 5, 2)  # m = 8 < 9: a manifold of rank-2 interpolants
    manifold = sensing.random_sensing(1, X, 8, ensemble="symmetric")
    pts = {e: lp.glrl(manifold, eps=e).points[-1] for e in (1e-2, 1e-4, 1e-12)}
    d = [np.linalg.norm(pts[e] - pts[1e-12]) for e in (1e-2, 1e-4)]
    assert d[1] < d[0] / 30, d  # ε^{3/2}-like: ×1e-3 per ×1e-2 of ε measured; 30 leaves margin
    assert lp.glrl(manifold).rates[-1] < 1e-8  # the flat direction of the minimizer manifold


# ---------------------------------------------------------------------------------------------
# closed forms: deep matrix (seed 000) and deep linear regression (seed 004)


@pytest.mark.parametrize("depth", [2, 3])
def test_deep_matrix_closed_form_against_the_scalar_flow(depth):
    problem = symmetric_with_spectrum([10.0, 7.0, 5.0, -5.0], seed=0)
    path = limit_path(problem, DeepMatrix(depth=depth, n=4, init="identical", alpha=1e-3))
    assert path.c == (1.0 if depth == 2 else depth - 2) and path.depth == depth
    assert np.allclose(path.times[1:], [1 / 10, 1 / 7, 1 / 5])
    lam, V = dm.eigh(np.asarray(problem.W_hat))
    assert np.abs(path.points[-1] - dm.limit_identical(problem.W_hat)).max() < 1e-12  # Λ₊
    assert np.abs(path.points[1] - 10 * np.outer(V[:, 0], V[:, 0])).max() < 1e-12
    alphas = (1e-2, 1e-4, 1e-8, 1e-16) if depth == 2 else (1e-1, 1e-2, 1e-3, 1e-4)
    errs = np.array([[abs(dm.flow_time_to_reach(li, a, depth, li / 2) / path.time_scale(a) - 1 / li)
                      for li in lam[:3]] for a in alphas])  # fmt: skip
    assert np.all(np.diff(errs, axis=0) < 0)
    if depth == 2:  # t_half = log((λ − α²)/α²)/(2λ): error log(λ)/(2λ log(1/α)), slope −1
        slope = _slope(alphas, errs.max(axis=1))
        assert -1.05 < slope < -0.95, slope
    else:  # t_half = α^{2−N}/((N−2)λ) − O(1): error O(α^{N−2}), slope N − 2 = 1 in log α
        slope = float(np.polyfit(np.log(alphas), np.log(errs.max(axis=1)), 1)[0])
        assert 0.95 < slope < 1.05, slope
    print(f"deep matrix N = {depth}: |t̃_exact − 1/λ| {np.array2string(errs.max(axis=1), precision=3)}, "
          f"slope {slope:.3f}")  # fmt: skip


def test_deep_matrix_time_constant_against_the_matrix_flow():
    # the factors' own flow (per-layer gradients, seed 000 eq. (4)), no reduction: at N = 3 the top
    # eigenvalue of W reaches λ/2 at flow_time_to_reach, i.e. ḋ = −d^{N−1}(d^N − λ) with no factor N
    problem = symmetric_with_spectrum([3.0, 1.0, -1.0], seed=1)
    W_hat, N, n, alpha = np.asarray(problem.W_hat), 3, 3, 0.1

    def rhs(t, z):
        Ws = z.reshape(N, n, n)
        W = Ws[2] @ Ws[1] @ Ws[0]
        G = W - W_hat
        return -np.stack([(Ws[2] @ Ws[1]).T @ G, Ws[2].T @ G @ Ws[0].T, G @ (Ws[1] @ Ws[0]).T]).ravel()

    t_ref = dm.flow_time_to_reach(3.0, alpha, N, 1.5)
    sol = solve_ivp(rhs, (0, 2 * t_ref), np.stack([alpha * np.eye(n)] * N).ravel(),
                    method="DOP853", rtol=1e-12, atol=1e-14, dense_output=True)  # fmt: skip

    def top(t):
        Ws = sol.sol(t).reshape(N, n, n)
        return np.linalg.eigvalsh(Ws[2] @ Ws[1] @ Ws[0])[-1] - 1.5

    assert brentq(top, 0.5 * t_ref, 1.5 * t_ref, xtol=1e-13) == pytest.approx(t_ref, rel=1e-8)


@pytest.mark.parametrize("depth", [2, 3])
def test_spectral_regression_staircase(depth):
    data = aligned(sigma=[3.0, 2.0, 1.0], lam=[1.0, 2.0, 0.5], seed=0)
    model = deep_linear((3,) + (3,) * (depth - 1) + (3,))
    path = limit_path(data.problem, model)
    assert path.depth == depth and path.c == (1.0 if depth == 2 else depth - 2)
    for k in range(4):
        assert np.abs(path.points[k] - reg.staircase_limit(k, data.U, data.V, data.sigma,
                                                           data.lam)).max() < 1e-12  # fmt: skip
    assert np.allclose(path.times[1:], 1 / np.array([3.0, 2.0, 1.0]))
    assert path.loss[-1] < 1e-12  # W^{3,*} interpolates the aligned, noiseless data
    deltas = (5.0, 10.0, 20.0)
    errs = []
    for delta in deltas:
        ft = path.flow_times(float(lp.spectral_alpha(delta, depth)))[1:]
        if depth == 2:
            assert np.allclose(ft, reg.transition_times(data.sigma, delta=delta))  # the seed's T_i
            exact = reg.half_time(data.sigma, data.lam, delta)
        else:
            exact = np.array([reg.half_time_depth(s, la, delta, depth)
                              for s, la in zip(data.sigma, data.lam)])  # fmt: skip
        errs.append(np.abs(exact / ft - 1).max())
    assert np.all(np.diff(errs) < 0) and errs[-1] < (0.05 if depth == 2 else 1e-5), errs


# ---------------------------------------------------------------------------------------------
# ties, coverage, dispatch


def test_a_glrl_tie_raises():
    # A*(y) = diag(1, 1, ½, 0): a double top eigenvalue; the other measurements (y = 0) break
    # commutativity, so GLRL (not Algorithm 1) meets it
    rng = np.random.default_rng(0)
    G = rng.standard_normal((6, 4, 4))
    A = np.concatenate([np.diag([1.0, 1.0, 0.5, 0.0])[None], (G + G.transpose(0, 2, 1)) / 2])
    y = np.zeros(7)
    y[0] = 1.0
    problem = sensing.from_matrices(A, np.eye(4), y=y)
    assert lp.common_eigenbasis(lp.quadratic_of(problem)) is None
    with pytest.raises(ConfigError, match=r"GLRL step 1: the top eigenvalue .* degenerate"):
        limit_path(problem, SymmetricFactor(n=4, d=4))


def test_a_commuting_tie_raises():
    problem = from_entries(np.diag([2.0, 2.0, 1.0]), [(0, 0), (1, 1), (2, 2)])  # diagonal: commuting
    with pytest.raises(ConfigError, match=r"commuting measurements.*coordinates \[\d, \d\]"):
        limit_path(problem, SymmetricFactor(n=3, d=3))


def test_covered_models_in_uncovered_settings_raise():
    with pytest.raises(ConfigError, match="identical initialization"):
        limit_path(symmetric_with_spectrum([2.0, 1.0]), DeepMatrix(depth=3, n=2, init="perturbed",
                                                                   alpha=0.1, beta=0.05))  # fmt: skip
    nonsym = FullObservation(W_hat=np.array([[1.0, 2.0], [0.0, 1.0]]))
    with pytest.raises(ConfigError, match="symmetric"):
        limit_path(nonsym, DeepMatrix(depth=2, n=2, init="identical"))
    with pytest.raises(ConfigError, match="aligned data"):
        limit_path(general(n=20, p=3, d=3, seed=0), deep_linear((3, 3, 3)))
    commuting = sensing.random_sensing(0, np.eye(4), 3, ensemble="commuting")
    with pytest.raises(ConfigError, match="U₀U₀ᵀ = I"):
        limit_path(commuting, SymmetricFactor(n=4, d=4, init="gaussian"))
    with pytest.raises(ConfigError, match="depth N >= 2"):
        limit_path(symmetric_with_spectrum([2.0, 1.0]), DeepMatrix(depth=1, n=2, init="identical"))
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['esp'\]"):
        limit_path(_razin_cohen(), SymmetricFactor(n=3, d=3), esp=1e-8)
    general_A = sensing.random_sensing(0, np.eye(3), 4, ensemble="general")
    with pytest.raises(ConfigError, match="symmetric measurement"):
        limit_path(general_A, SymmetricFactor(n=3, d=3))


def test_dispatch_none_for_uncovered_pairs():
    problem = _sensing(0)
    reg_problem = aligned(sigma=[2.0, 1.0], lam=[1.0, 1.0], seed=0).problem
    pairs = [(problem, Hadamard(depth=2, n=5)), (problem, DeepMatrix(depth=2, n=5)),
             (reg_problem, SymmetricFactor(n=2, d=2)), (symmetric_with_spectrum([1.0, 2.0]),
             Hadamard(depth=2, n=2))]  # fmt: skip
    for prob, model in pairs:
        assert lp.dispatch(prob, model) is None
        with pytest.raises(ConfigError, match="no limit-path oracle covers"):
            limit_path(prob, model)


def test_limit_path_reaches_every_low_rank_oracle():
    full = symmetric_with_spectrum([3.0, 1.0, -2.0], seed=2)
    data = aligned(sigma=[2.0, 1.0], lam=[1.0, 1.0], seed=0)
    found = {
        "UU^T": limit_path(_razin_cohen(), SymmetricFactor(n=3, d=3)),
        "UU^T full": limit_path(full, SymmetricFactor(n=3, d=3)),
        "deep matrix": limit_path(full, DeepMatrix(depth=4, n=3, init="identical")),
        "deep linear (spectral init)": limit_path(data.problem, deep_linear((2, 2, 2))),
    }
    for name, path in found.items():
        assert isinstance(path, LimitPath) and path.family == "low-rank", name
        assert path.parametrization == name.split(" full")[0], name
    assert found["UU^T full"].c == 2.0 and np.allclose(found["UU^T full"].times, [0, 1 / 3, 1])
    assert found["deep matrix"].c == 2.0 and found["deep matrix"].depth == 4  # N − 2 at N = 4
    width1 = limit_path(full, SymmetricFactor(n=3, d=1))  # at most d = 1 saddle
    assert len(width1.times) == 2


def test_to_frame_of_a_low_rank_path():
    path = lp.limit_path_symmetric(_sensing(0))
    df = path.to_frame()
    print(df.to_string(index=False))
    assert list(df.columns) == ["jump", "t_tilde", "change", "rank", "nuclear", "loss"]
    assert df["rank"].tolist() == [0, 1, 2] and df["change"].iloc[2] == "rank 1→2"
    assert df["nuclear"].iloc[-1] == pytest.approx(1.5, abs=1e-8)  # tr X* = 1 + ½
