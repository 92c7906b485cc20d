"""Saddles of a run (optim.saddles): plateaus in log t, refined to critical points, certified.

Oracle tests, each against an answer computed without the module:

* (a) signed depth-2 Hadamard flows (the exact mirror flow) against Pesme & Flammarion's path
  (theory.limit_path_diagonal): every saddle of the path is found and its refined point equals the
  path's point to 1e-8 (both are sign-constrained least squares, exact up to BVLS's tolerance); the
  index equals the number of zero coordinates with ∇L_i ≠ 0 and the negative eigenvalues are
  −2|∇L_i| (the Hessian in u_i is 2∇L_i and in v_i −2∇L_i at u_i = v_i = 0); the zero eigenvalues
  are the other-sign factors of the active coordinates. Instances: ``make_sparse(m=8, n=20, s=3,
  signed=True)`` at seed 1 (tests/test_limit_path.py's ``_sparse``, 9 saddles) at α = 1e-30, and
  at seed 282 (6 saddles; found by scanning seeds 0–299 for paths whose consecutive jump times
  differ by a factor ≥ 1.5) at α = 1e-8. At α = 1e-8 seed 1's path is not resolved by the flow:
  its steps t̃ ∈ [0.654, 0.721] and [2.49, 2.78] are too short to show a dip in the loss's
  log-time speed (measured: the slope stays above 4.6 where the jumps around reach 6–9), and near
  β̃_3 the run passes 0.14 from it but 0.10 from another critical point; at α = 1e-30 every step is
  a dip. The escape: the run leaves each saddle inside its unstable subspace (escape_unstable ≥
  0.9); along the *most* unstable eigenvector only when the coordinate that activates next is the
  one with the largest |∇L_i| (in the limit path the next coordinate is the first whose dual
  variable s_i reaches ±1, which depends on the history, not on the curvature at the saddle).
* (b) seed 000 (full observation of a symmetric Ŵ with spectrum 8, 4, 2, 1 from αI): the plateaus
  are the best rank-k approximations; the index, zeros and negative eigenvalues in closed form
  (below); the plateaus end at τ(α)/λ_{k+1} up to O(1/log(1/α)).
* (c) depth 3: every intermediate saddle has index 0 and is certified as a degenerate saddle (the
  loss falls like s³ along the activating coordinate).
* (d) runs without saddles (depth 1, a large start) give only the final minimum.
* (e) bad input is refused with a ConfigError that says what to do.
"""

import dataclasses

import jax
import numpy as np
import pytest

import implicit_bias  # noqa: F401  (float64)
from implicit_bias.errors import ConfigError
from implicit_bias.models.deep_matrix import DeepMatrix, product
from implicit_bias.models.hadamard import Hadamard
from implicit_bias.models.symmetric import SymmetricFactor
from implicit_bias.optim import GradientFlow, fit, mirror
from implicit_bias.optim.objective import objective
from implicit_bias.optim.saddles import COLUMNS, certify, saddles
from implicit_bias.optim.trajectory import Trajectory
from implicit_bias.problems.full import symmetric_with_spectrum
from implicit_bias.problems.linear import linear, make_sparse
from implicit_bias.theory.limit_path import LimitPath, limit_path_diagonal

N_SAVES = 300  # log-spaced snapshots of every run (one compilation per depth)
pytestmark = pytest.mark.xdist_group("saddles")  # one worker: shared fixtures and compilations


def _instance(seed):
    d = make_sparse(m=8, n=20, s=3, signed=True, seed=seed)
    return d.A, d.y


def _mirror_run(A, y, alpha, depth=2):
    """(model, problem, path, trajectory) of the signed flow from α1, snapshots log-spaced over
    [1e-2, 3 t̃_K]·τ(α) (the exact mirror flow, wrapped as a Trajectory of its parameters)."""
    path = limit_path_diagonal(A, y, depth=depth)
    tau = path.time_scale(alpha)
    ts = np.geomspace(1e-2 * tau, 3 * path.times[-1] * tau, N_SAVES)
    model = Hadamard(depth=depth, n=A.shape[1], signed=True, alpha=alpha)
    problem = linear(A, y)
    res = mirror.mirror_flow(model, problem, ts=ts, rtol=1e-8)
    traj = Trajectory(t=res.t, loss=res.loss, observed=res.params, final=res.final_params,
                      n_evals=np.asarray(res.n_evals), status=np.asarray(res.status),
                      diverged_step=np.asarray(-1), method="GradientFlow",
                      path="mirror flow")  # fmt: skip
    return model, problem, path, traj


@pytest.fixture(scope="module")
def sparse_1e30():
    model, problem, path, traj = _mirror_run(*_instance(1), 1e-30)
    return model, problem, path, traj, traj.saddles(model, problem, path=path, alpha=1e-30)


@pytest.fixture(scope="module")
def sparse_1e8():
    model, problem, path, traj = _mirror_run(*_instance(282), 1e-8)
    return model, problem, path, traj, traj.saddles(model, problem, path=path, alpha=1e-8)


def _print(found, title):
    cols = ["k", "t_start", "t_end", "loss", "rank_or_support", "index", "lambda_min", "n_zero",
            "kind", "criticality", "escape_cos", "matched_jump"]  # fmt: skip
    with np.printoptions(precision=3):
        print(f"\n{title}\n" + found.to_frame()[cols].to_string(float_format="%.3g"))


def _check_against_path(model, problem, path, found):
    A, y = np.asarray(problem.A), np.asarray(problem.y)
    assert [s.matched_jump for s in found] == list(range(len(path.times))), found.missed
    assert found.missed == () and all(s.match for s in found)
    for s in found:
        beta = path.points[int(s.matched_jump)]
        beta = np.where(np.abs(beta) > 1e-12, beta, 0.0)  # BVLS leaves ~1e-15 on deactivated ones
        assert s.path_distance <= 1e-8 * (1 + np.linalg.norm(beta))
        np.testing.assert_allclose(s.estimate, beta, atol=1e-8)
        assert s.criticality < 1e-12
        # the index, computed independently: a zero coordinate with ∇L_i ≠ 0 has one unstable
        # factor (u_i if −∇L_i > 0, v_i otherwise), curvature −2|∇L_i|
        g = A.T @ (A @ beta - y)
        off = (beta == 0) & (np.abs(g) > 1e-9)
        assert s.index == int(off.sum())
        np.testing.assert_allclose(s.eigenvalues[: s.index], np.sort(-2 * np.abs(g[off]))[:12],
                                   rtol=1e-8)  # fmt: skip
        # zeros: v_i (or u_i) of each active coordinate, and both factors where β_i = ∇L_i = 0
        flat = (beta == 0) & (np.abs(g) <= 1e-9)
        assert s.n_zero == int(np.count_nonzero(beta)) + 2 * int(flat.sum())
        last = s.matched_jump == len(path.times) - 1
        assert s.kind == ("minimum" if last else f"strict saddle (index {s.index})")
        assert s.final == last
        if not last:
            assert s.escape_unstable > 0.9
            nxt = path.events[int(s.matched_jump)]["coordinate"]
            top = int(np.argmax(np.where(off, np.abs(g), -1.0)))
            assert (s.escape_cos > 0.9) == (nxt == top), (s.k, s.escape_cos, nxt, top)


def test_signed_depth2_saddles_are_the_limit_path_at_alpha_1e30(sparse_1e30):
    model, problem, path, traj, found = sparse_1e30
    _print(found, "signed N = 2, _sparse(), α = 1e-30")
    assert len(found) == len(path.times) == 9
    _check_against_path(model, problem, path, found)
    assert found.rejected == ()


def test_signed_depth2_saddles_are_the_limit_path_at_alpha_1e8(sparse_1e8):
    model, problem, path, traj, found = sparse_1e8
    _print(found, "signed N = 2, seed 282, α = 1e-8")
    assert len(found) == len(path.times) == 6
    _check_against_path(model, problem, path, found)


def test_signals_agree_and_lanczos_agrees_with_the_dense_hessian(sparse_1e30):
    model, problem, path, traj, found = sparse_1e30
    for signal in ("loss", "support"):
        other = traj.saddles(model, problem, signal=signal, path=path, alpha=1e-30)
        assert [s.matched_jump for s in other] == [s.matched_jump for s in found]
    s = found[3]  # index 17 of 40 parameters: Lanczos reaches the zero eigenvalues
    cert = certify(model, problem, s.params, dense_max=0, n_eig=20)
    assert cert.exact and cert.index == s.index and cert.n_zero == s.n_zero
    np.testing.assert_allclose(cert.values[:12], s.eigenvalues, rtol=1e-8, atol=1e-10)


def test_positive_model_index_is_the_coordinates_that_want_to_grow():
    """w^{⊙2}: at w_i = 0 the Hessian in w_i is 2∇L_i, negative where −∇L_i > 0 (certify on the
    lifted points of the positive limit path, no flow)."""
    from implicit_bias.optim.saddles import _hadamard_lift

    A, y = _instance(1)
    path = limit_path_diagonal(A, y, parametrization="positive")
    model = Hadamard(depth=2, n=20, signed=False, alpha=1e-8)
    for beta in path.points:
        cert = certify(model, linear(A, y), _hadamard_lift(model, beta))
        g = A.T @ (A @ beta - y)
        grows = (beta == 0) & (g < -1e-9)
        assert cert.index == int(grows.sum())
        np.testing.assert_allclose(cert.values[: cert.index], np.sort(2 * g[grows]), rtol=1e-8)


# --- (b) seed 000: effective-rank plateaus of W = W₂W₁ and X = UUᵀ from αI ---------------------

LAM = np.array([8.0, 4.0, 2.0, 1.0])
# one method for every matrix run (a new GradientFlow compiles anew): log-spaced snapshots from
# t = 0.02 to 3τ(1e-16)/λ_min, past the last jump of every run here
FLOW = GradientFlow(t1=3 * np.log(1e16), n_saves=N_SAVES, spacing="log", t_first=0.02,
                    rtol=1e-10, atol=1e-300)  # fmt: skip


def _lowrank_path(W_hat, c):
    """The closed-form α → 0 path from αI (seed 000): rank-k points V_kΛ_kV_kᵀ, jumps at t̃_k = 1/λ_k
    with τ(α) = log(1/α)/c. Each eigen-direction is the scalar flow of x_i = d_i², ẋ = −2x(x − λ)
    (W₂W₁, c = 1) or −4x(x − λ) (UUᵀ, c = 2): x_i ≈ α²e^{2cλ_i t} leaves O(α²) at t = log(1/α)/(cλ_i)."""
    lam, V = np.linalg.eigh(np.asarray(W_hat))
    lam, V = lam[::-1], V[:, ::-1]
    points = [(V[:, :k] * lam[:k]) @ V[:, :k].T for k in range(lam.size + 1)]
    loss = [0.5 * float(np.sum(lam[k:] ** 2)) for k in range(lam.size + 1)]
    return LimitPath(points=np.array(points), times=np.concatenate([[0.0], 1 / lam]),
                     events=tuple(dict(jump=k, rank=k) for k in range(1, lam.size + 1)),
                     loss=np.array(loss), family="low-rank", parametrization="closed form",
                     depth=2, c=c)  # fmt: skip


def _lowrank_run(model, c, alpha):
    problem = symmetric_with_spectrum(LAM, seed=0)
    tau = np.log(1 / alpha) / c
    traj = fit(model, problem, FLOW)
    path = _lowrank_path(problem.W_hat, c)
    return problem, path, traj.saddles(model, problem, path=path, alpha=alpha), tau


@pytest.mark.parametrize("alpha", [1e-8, 1e-16])
def test_deep_matrix_depth2_plateaus_are_the_best_rank_k_saddles(alpha):
    """W = W₂W₁ (n = 4) at a rank-k saddle: in the eigenbasis, each diagonal pair (W₁)_pp, (W₂)_pp
    with p > k has Hessian [[0, −λ_p], [−λ_p, 0]] (eigenvalues ±λ_p), each off-diagonal pair
    ((W₂)_pq, (W₁)_qp) with p > k the same, so −λ_p has multiplicity n − k and the index is
    (n − k)² (pairs with p ≤ k < q give λ_p ± λ_q > 0 for λ_p > λ_q > 0); the zero eigenvalues are
    the GL(n) gauge W₁ → GW₁, W₂ → W₂G⁻¹ restricted to the rank-k factors: k(2n − k)."""
    n = LAM.size
    model = DeepMatrix(depth=2, n=n, init="identical", alpha=alpha)
    problem, path, found, tau = _lowrank_run(model, 1.0, alpha)
    _print(found, f"DeepMatrix N = 2, spectrum {LAM.tolist()}, α = {alpha:g}")
    assert [s.rank_or_support for s in found] == list(range(n + 1))
    assert [s.matched_jump for s in found] == list(range(n + 1)) and all(s.match for s in found)
    for k, s in enumerate(found):
        np.testing.assert_allclose(s.estimate, path.points[k], atol=1e-10)
        assert s.index == (n - k) ** 2 and s.n_zero == k * (2 * n - k)
        neg = np.sort(np.repeat(-LAM[k:], n - k))
        np.testing.assert_allclose(s.eigenvalues[: min(s.index, 12)], neg[:12], rtol=1e-8)
        assert s.criticality < 1e-12
        if k < n:
            assert s.escape_cos > 0.999  # the run leaves along the −λ_{k+1} eigenspace
    # the plateau of rank k ends at τ/λ_{k+1} and the next starts after it, up to O(1/log(1/α)):
    # the end is where x_{k+1} reaches a fixed small level θ, t = (2 log(1/α) − log(1/θ) + …)/(2λ)
    ends = np.array([s.t_end for s in found[:-1]]) * LAM / tau - 1
    starts = np.array([s.t_start for s in found[1:]]) * LAM / tau - 1
    assert np.all(ends < 0) and np.all(starts > 0)
    assert np.max(np.abs(ends)) < 4 / np.log(1 / alpha), ends
    assert np.max(np.abs(starts)) < 7 / np.log(1 / alpha), starts


def test_symmetric_factor_plateaus_and_the_clock_log_over_two():
    """X = UUᵀ (n = d = 4): at the rank-k saddle U = [V_kΛ_k^{1/2} 0], the entries E_pj (p > k, any
    column j > k) have Hessian −2λ_p (so −2λ_p has multiplicity d − k, index (n − k)(d − k)); the
    zero eigenvalues are the rotations U → UR that move the rank-k part: k(2d − k − 1)/2. Its clock
    is τ = log(1/α)/2 (the brief's log(1/α)/(2λ_i)); W₂W₁'s is log(1/α) (previous test)."""
    n = LAM.size
    alpha = 1e-8
    model = SymmetricFactor(n=n, d=n, alpha=alpha)
    problem, path, found, tau = _lowrank_run(model, 2.0, alpha)
    _print(found, "SymmetricFactor UUᵀ, α = 1e-8")
    assert [s.matched_jump for s in found] == list(range(n + 1)) and all(s.match for s in found)
    for k, s in enumerate(found):
        assert s.index == (n - k) ** 2 and s.n_zero == k * (2 * n - k - 1) // 2
        neg = np.sort(np.repeat(-2 * LAM[k:], n - k))
        np.testing.assert_allclose(s.eigenvalues[: min(s.index, 12)], neg[:12], rtol=1e-8)
    ends = np.array([s.t_end for s in found[:-1]]) * LAM / tau - 1
    assert np.max(np.abs(ends)) < 4 / np.log(1 / alpha), ends


# --- (c) depth 3: higher-order saddles ---------------------------------------------------------


def test_depth3_saddles_are_degenerate():
    A, y = _instance(282)
    alpha = 1e-2  # τ(α) = α^{−1}/3; corrections O(α^{N−2}) = 1e-2
    model, problem, path, traj = _mirror_run(A, y, alpha, depth=3)
    found = traj.saddles(model, problem, path=path, alpha=alpha)
    _print(found, "signed N = 3, seed 282, α = 1e-2")
    assert [s.matched_jump for s in found] == list(range(len(path.times)))
    for s in found[:-1]:
        assert s.index == 0 and s.kind == "degenerate (higher-order) saddle"
        assert s.escape_ref == "curve"
        # independently: along the u (or v) factor of a zero coordinate with ∇L_i ≠ 0 the loss
        # falls like s³ (the Hessian there is 0: x_i = s³ has no s² term)
        x = s.estimate
        g = A.T @ (A @ x - y)
        i = int(np.argmax(np.where(x == 0, np.abs(g), -1.0)))
        d = np.zeros(model.param_shape())
        d[0 if g[i] < 0 else 1, 0, i] = 1.0
        L = [float(objective(model, problem, s.params + h * d)) for h in (0.0, 1e-2, 2e-2)]
        assert L[1] < L[0] and (L[2] - L[0]) / (L[1] - L[0]) == pytest.approx(8.0, rel=1e-3)
    assert found[-1].kind == "minimum" and found[-1].final


# --- (d) no saddle, no plateau -----------------------------------------------------------------


@pytest.mark.parametrize("depth, alpha", [(1, 0.1), (2, 1.0)])
def test_runs_without_saddles_give_only_the_minimum(depth, alpha):
    """Depth 1 (a convex quadratic) and depth 2 from W_j = I (the loss is at no saddle): one row,
    the final minimum. The first decades of a log grid are flat in log t too; their nearest
    critical point (the minimum, or the origin) has another loss, so they are only in ``rejected``."""
    problem = symmetric_with_spectrum(LAM, seed=0)
    model = DeepMatrix(depth=depth, n=LAM.size, init="identical", alpha=alpha)
    found = fit(model, problem, FLOW).saddles(model, problem)
    _print(found, f"DeepMatrix N = {depth}, α = {alpha}")
    assert len(found) == 1
    (s,) = found
    assert s.final and s.kind == "minimum" and s.index == 0 and s.criticality < 1e-10
    np.testing.assert_allclose(s.estimate, problem.W_hat, atol=1e-8)
    assert all(r["t_end"] < 1.0 for r in found.rejected)


def test_prominent_peaks_is_scipys_find_peaks():
    """Oracle: our peak finder against ``scipy.signal.find_peaks`` on random signals padded
    with −∞ (so that an end can be a peak), rounded so that flat tops and ties occur."""
    from scipy.signal import find_peaks

    from implicit_bias.optim.saddles import prominent_peaks

    rng = np.random.default_rng(0)
    for trial in range(300):
        n = int(rng.integers(3, 60))
        s = rng.standard_normal(n)
        s = np.round(s.cumsum() if trial % 2 else s, 1)
        prom = float(rng.choice([0.3, 0.5, 1.0, 2.0]))
        ref = find_peaks(np.concatenate([[-np.inf], s, [-np.inf]]), prominence=prom)[0] - 1
        assert prominent_peaks(s, prom) == ref.tolist(), (s, prom)


# --- (e) bad input, and the table ----------------------------------------------------------------


def test_bad_input_is_refused(sparse_1e8):
    model, problem, path, traj, _ = sparse_1e8
    batched = jax.tree.map(lambda x: np.stack([x, x]), traj)
    with pytest.raises(ConfigError, match=r"batched trajectory.*member\(i\)"):
        saddles(batched, model, problem)
    observed = np.asarray(jax.vmap(model)(traj.observed))  # as fit(..., observe=model) records
    with pytest.raises(ConfigError, match="observe= other than the identity"):
        saddles(dataclasses.replace(traj, observed=observed), model, problem)
    scaled = jax.tree.map(lambda x: 2 * x, traj.observed)  # right shape, not the parameters
    with pytest.raises(ConfigError, match="recorded loss"):
        saddles(dataclasses.replace(traj, observed=scaled), model, problem)
    short = dataclasses.replace(traj, t=traj.t[:6], loss=traj.loss[:6],
                                observed=traj.observed[:6])  # fmt: skip
    with pytest.raises(ConfigError, match="at least 8 snapshots"):
        saddles(short, model, problem)
    with pytest.raises(ConfigError, match="unknown signal"):
        saddles(traj, model, problem, signal="curvature")
    with pytest.raises(ConfigError, match="matrix-valued"):
        saddles(traj, model, problem, signal="spectrum")


def test_frame_plot_and_method(sparse_1e8):
    import matplotlib.pyplot as plt

    model, problem, path, traj, found = sparse_1e8
    frame = found.to_frame()
    assert list(frame.columns[: len(COLUMNS)]) == list(COLUMNS)
    assert len(frame) == len(found) and frame["matched_jump"].tolist() == list(range(6))
    auto = saddles(traj, model, problem, path="auto")  # theory.limit_path picks the same oracle
    assert [s.matched_jump for s in auto] == [s.matched_jump for s in found]
    again = saddles(traj, model, problem)  # no path: the match columns are NaN / None
    assert np.isnan(again.to_frame()["matched_jump"]).all()
    assert [s.index for s in again] == [s.index for s in found]
    fig, ax = plt.subplots()
    assert found.plot(ax) is ax and len(ax.patches) == len(found)
    plt.close(fig)


def test_product_observer_is_refused_through_fit():
    """The real case of (e): a run recorded with observe=product keeps no parameters."""
    problem = symmetric_with_spectrum(LAM, seed=0)
    model = DeepMatrix(depth=2, n=LAM.size, init="identical", alpha=1.0)
    traj = fit(model, problem, FLOW, observe=product)
    with pytest.raises(ConfigError, match="not the parameters"):
        traj.saddles(model, problem)


# --- (f) sensing (seed 002, GLRL) and seed 004's staircase --------------------------------------


@pytest.fixture(scope="module")
def sensing_runs():
    """sensing_glrl's instance (n = 5, m = 12) and its two saddles() runs (α = 1e-12, 1e-16)."""
    from implicit_bias.experiments import sensing_glrl as sg
    from implicit_bias.theory import lowrank_path as lp
    from implicit_bias.theory.oracles import limit_path

    cfg = sg.Config()
    problem = sg.make_problem(cfg)
    path = limit_path(problem, SymmetricFactor(n=cfg.n, d=cfg.n, alpha=1e-12), eps=cfg.eps,
                      gtol=sg.GTOL)  # fmt: skip
    steps = lp.glrl(problem, eps=cfg.eps, gtol=sg.GTOL)
    runs = [(m, t, t.saddles(m, problem, path=path, alpha=m.alpha))
            for m, t in sg._saddle_runs(problem, path, cfg)]  # fmt: skip
    return problem, path, steps, runs


def test_sensing_saddles_are_glrls_saddles(sensing_runs):
    """On a sensing loss (underdetermined: m = 12 < 15, so the interpolating PSD matrices of rank
    ≥ 4 form a continuum through X*) every plateau refines to GLRL's saddle of its rank. Oracle,
    without saddles(): W̄_k = U_kU_kᵀ is a critical point of U ↦ f(UUᵀ) on n×k factors (‖2G(W̄_k)U_k‖
    at GLRL's stopping rule gtol·λ₁‖U_k‖), the index at [U_k 0] is (d − k)·#spec₊(−G(W̄_k)) with
    smallest eigenvalue −2λ_max(−G(W̄_k)) (the Hessian on the zero columns is 2G ⊗ I), and the run's
    plateau approaches W̄_k as α → 0 (closest approach 0.087 → 0.025 from 1e-12 to 1e-16)."""
    problem, path, steps, runs = sensing_runs
    from implicit_bias.theory.lowrank_path import quadratic_of

    q = quadratic_of(problem)
    lam0 = float(steps.lambdas[0])
    K = len(path.times) - 1
    for k in range(1, K + 1):
        Uk = steps.factors[k]
        assert np.linalg.norm(q.grad(Uk @ Uk.T) @ Uk) <= 1e-11 * lam0 * np.linalg.norm(Uk) * 1.01
    near = []
    for model, traj, found in runs:
        _print(found, f"sensing_glrl's instance, UUᵀ, α = {model.alpha:g}")
        assert [s.matched_jump for s in found] == list(range(K + 1)) and all(s.match for s in found)
        assert found.missed == ()
        for k, s in enumerate(found):
            G = q.grad(path.points[k])
            ev = np.linalg.eigvalsh(-G)
            pos = ev[ev > 1e-6 * lam0]
            assert s.rank_or_support == k and s.criticality < 1e-12
            assert s.path_distance < 1e-10 * max(1.0, np.linalg.norm(path.points[k]))
            assert s.index == (model.d - k) * pos.size
            if pos.size:
                assert s.kind == f"strict saddle (index {s.index})"
                assert s.lambda_min == pytest.approx(-2 * pos.max(), rel=1e-8)
            else:
                assert s.kind == "minimum" and s.final
        tau = path.time_scale(model.alpha)
        t = np.asarray(traj.t) / tau
        win = (t >= path.times[1]) & (t <= path.times[2])
        U = np.asarray(traj.observed)[win]
        near.append(float(np.min(np.linalg.norm(U @ np.swapaxes(U, 1, 2) - path.points[1],
                                                axis=(1, 2)))))  # fmt: skip
    assert near[1] < near[0] / 2, near  # α^{0.132} over 4 decades predicts ÷3.4


def test_seed004_staircase_saddles_and_transition_times():
    """Seed 004: depth-2 linear regression from the spectral init (aligned data, σ = 3, 2, 1 with
    λ = 1, 1.5, 0.5, so σ²/λ decreases strictly and the saddles are nondegenerate off the gauge)
    at δ = 20 (layer scale α = e^{−δ}, τ(α) = δ): the plateaus are the staircase W^{k,*} (the path
    of ``limit_path``, i.e. ``theory.regression.staircase_limit``). In the rotated factors
    Ã = UᵀW₁Q, B̃ = QᵀW₂V the pair (Ã_pq, B̃_qp) with p, q > k has Hessian [[0, −σ_p], [−σ_p, 0]],
    so the index is (n − k)² with eigenvalue −σ_p of multiplicity n − k (the pairs with q ≤ k < p
    have determinant λ_pσ_q²/λ_q − σ_p² > 0 here); the zeros are the GL(n) gauge on the rank-k
    factors, k(2n − k). Times: seed 004's exact half-time of component k + 1, δ/σ + ln(σ/λ)/(2σ)
    (``half_time``), lies between the end of plateau k and the start of plateau k + 1."""
    from implicit_bias.models.spectral import deep_linear, spectral_init
    from implicit_bias.problems.regression import aligned
    from implicit_bias.theory import lowrank_path as lp, regression as reg
    from implicit_bias.theory.oracles import limit_path

    sigma, lam, delta = np.array([3.0, 2.0, 1.0]), np.array([1.0, 1.5, 0.5]), 20.0
    n = sigma.size
    data = aligned(sigma=sigma, lam=lam, seed=0)
    model = deep_linear((n, n, n))
    path = limit_path(data.problem, model)
    alpha = float(lp.spectral_alpha(delta, 2))
    tau = path.time_scale(alpha)
    assert tau == pytest.approx(delta)
    flow = GradientFlow(t1=3 * tau / sigma.min(), n_saves=N_SAVES, spacing="log", t_first=0.02,
                        rtol=1e-10, atol=1e-12 * alpha**2)  # fmt: skip
    traj = fit(model, data.problem, flow, params0=spectral_init(data.U, data.V, delta, (n, n, n)))
    found = traj.saddles(model, data.problem, path=path, alpha=alpha)
    _print(found, "seed 004, depth 2, δ = 20")
    assert [s.rank_or_support for s in found] == list(range(n + 1))
    assert [s.matched_jump for s in found] == list(range(n + 1)) and all(s.match for s in found)
    for k, s in enumerate(found):
        np.testing.assert_allclose(s.estimate, reg.staircase_limit(k, data.U, data.V, sigma, lam),
                                   atol=1e-10)  # fmt: skip
        assert s.index == (n - k) ** 2 and s.n_zero == k * (2 * n - k)
        neg = np.sort(np.repeat(-sigma[k:], n - k))
        np.testing.assert_allclose(s.eigenvalues[: s.index], neg, rtol=1e-8)
        assert s.criticality < 1e-12
        if k < n:
            assert s.escape_cos > 0.99
    half = reg.half_time(sigma, lam, delta)
    ends = np.array([s.t_end for s in found[:-1]])
    starts = np.array([s.t_start for s in found[1:]])
    assert np.all(ends < half) and np.all(half < starts), (ends, half, starts)
    # and both within O(1/log(1/α)) of the seed's T_i = δ/σ_i, as in the seed-000 test
    assert np.max(np.abs(ends * sigma / tau - 1)) < 4 / delta
    assert np.max(np.abs(starts * sigma / tau - 1)) < 7 / delta
