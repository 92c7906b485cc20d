"""The regime maps' own pieces (issue 21): the GFS closed form against the exact flow, the stability
slack, the classification on hand-made runs."""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

from implicit_bias.experiments import regime_dmf as rd
from implicit_bias.models.deep_matrix import DeepMatrix
from implicit_bias.optim.sharpness import gfs_sharpness
from implicit_bias.problems.full import FullObservation


def _brentq_gfs(w, y):
    c = w**2 - w[0] ** 2
    lo = -c.min()
    s = scipy.optimize.brentq(lambda s: np.sum(np.log(s + c)) - 2 * np.log(y),
                              lo + 1e-14 * (1 + abs(lo)), lo + y ** (2 / w.size) + 1,
                              xtol=1e-15, rtol=1e-15)  # fmt: skip
    return np.sum(y**2 / (s + c))


def test_gfs_closed_form_matches_a_root_finder_and_the_exact_flow():
    rng = np.random.default_rng(0)
    W = np.exp(rng.normal(scale=0.8, size=(6, 3)))
    y = 1.3
    got = rd.gfs_closed_form(W, y)
    ref = np.array([_brentq_gfs(w, y) for w in W])
    np.testing.assert_allclose(got, ref, rtol=1e-13)
    model = DeepMatrix(depth=3, n=1, init="identical", alpha=0.5)
    problem = FullObservation(W_hat=jnp.array([[y]]))
    for w in W[:2]:  # the exact flow (optim.sharpness.gfs_sharpness) to its limit
        g = gfs_sharpness(model, problem, tuple(jnp.array([[x]]) for x in w))
        assert g.reached
        np.testing.assert_allclose(g.value[0], rd.gfs_closed_form(w, y), rtol=1e-8)


def test_gfs_closed_form_is_nan_off_the_positive_orthant_and_minimal_at_balance():
    assert np.isnan(rd.gfs_closed_form(np.array([1.0, -0.5, 2.0]), 1.0))
    assert np.isnan(rd.gfs_closed_form(np.array([np.inf, 0.5, 2.0]), 1.0))
    np.testing.assert_allclose(rd.gfs_closed_form(np.full(4, 0.3), 2.0),
                               rd.flattest_sharpness(2.0, 4), rtol=1e-14)  # fmt: skip


def test_stability_slack_is_the_growth_that_stays_hidden_below_the_tolerance():
    slack = rd.stability_slack(1e-20, 20_000)
    # (ηλ − 1)^n · u = √(2·loss_tol) at η = (2/λ)(1 + slack)
    growth = 2 * (1 + slack) - 1
    np.testing.assert_allclose(growth**20_000 * rd.U, np.sqrt(2e-20), rtol=1e-9)
    assert 0 < slack < 1e-3


def test_classify_on_hand_made_runs():
    w0 = np.array([0.5, 0.8, 0.8])
    base = dict(w0=w0, eta=0.1, phi0=3.2, lam_min=3.0, loss_tol=1e-20, diverged=False, y=1.0)
    conv_loss = np.array([0.4, 1e-3, 1e-22])
    mono_tail = np.geomspace(1e-21, 1e-23, rd.TAIL + 1)
    cls = lambda **kw: rd.classify(**{**base, **kw})  # noqa: E731
    assert (
        cls(loss=conv_loss, w_end=w0, lam_end=3.19, tail_loss=mono_tail, tail_lam=np.full(17, 3.19))
        == "seed limit"
    )
    assert (
        cls(loss=conv_loss, w_end=w0, lam_end=3.05, tail_loss=mono_tail, tail_lam=np.full(17, 3.05))
        == "flatter"
    )
    assert cls(loss=np.array([0.4, 2.0, 1e-22]), w_end=w0, lam_end=3.1, tail_loss=mono_tail,
               tail_lam=np.full(17, 3.1)) == "catapult"  # fmt: skip
    assert cls(loss=conv_loss, w_end=-w0 * [1, -1, 1], lam_end=3.1, tail_loss=mono_tail,
               tail_lam=np.full(17, 3.1)) == "other sign"  # fmt: skip
    # η = 0.65: 2/η = 3.08 < φ0 = 3.2, converged at 3.05 ∈ [0.75, 1]·2/η: the edge
    assert cls(loss=conv_loss, w_end=w0, lam_end=3.05, eta=0.65, tail_loss=mono_tail,
               tail_lam=np.full(17, 3.05)) == "EoS"  # fmt: skip
    osc = np.tile([0.01, 0.02], 9)[: rd.TAIL + 1]
    assert cls(loss=np.array([0.4, 0.01]), w_end=w0, lam_end=3.0, eta=0.65, tail_loss=osc,
               tail_lam=np.full(17, 3.0)) == "EoS"  # fmt: skip
    assert cls(loss=np.array([0.4, 0.01]), w_end=w0, lam_end=9.0, eta=0.65, tail_loss=osc,
               tail_lam=np.full(17, 9.0)) == "oscillating"  # fmt: skip
    assert cls(loss=np.array([0.4, 0.45]), w_end=w0 * 1e-3, lam_end=1e-6,
               tail_loss=np.full(17, 0.49), tail_lam=np.full(17, 1e-6)) == "stalled at 0"  # fmt: skip
    assert cls(loss=np.array([0.4, 1e-6]), w_end=w0, lam_end=3.1,
               tail_loss=np.geomspace(1e-6, 1e-7, 17), tail_lam=np.full(17, 3.1)) == "slow"  # fmt: skip
    assert cls(loss=conv_loss, w_end=w0, lam_end=3.1, diverged=True, tail_loss=mono_tail,
               tail_lam=np.full(17, 3.1)) == "diverged"  # fmt: skip


def test_tail_steps_are_gd_steps():
    w = np.array([[0.5, 0.8, 0.9]])
    W, L = rd.tail_steps(w, np.array([0.1]), 1.0, n=2)
    P = np.prod(w[0])
    w1 = w[0] - 0.1 * (P - 1.0) * np.array([0.72, 0.45, 0.4])
    np.testing.assert_allclose(W[0, 1], w1, rtol=1e-14)
    np.testing.assert_allclose(L[0, 1], 0.5 * (np.prod(w1) - 1) ** 2, rtol=1e-14)


# ---------------------------------------------------------------------------------------------
# regime_dlr: the flattest minimizer of deep linear regression with a scalar output (derived there)


def _dlr_setting(lam, depth, hidden=2, seed=0):
    from implicit_bias.experiments import regime_dlr as rl

    cfg = rl.Config(lam=lam, depth=depth, hidden=hidden, seed=seed)
    data, model, beta, a = rl.setting(cfg)
    return rl, cfg, data, model, beta, a


def test_dlr_flattest_bound_is_attained_at_the_balanced_minimizer_and_fd_agree():
    """The dense Hessian at the balanced minimizer = N a ‖β*‖^{−2/N} (u_1 the top direction), and a
    central finite difference of the gradient along its top eigenvector agrees."""
    import jax
    from jax.flatten_util import ravel_pytree

    from implicit_bias.optim.objective import gradient

    for depth in (2, 3):
        rl, cfg, data, model, beta, a = _dlr_setting((2.0, 1.0, 0.5), depth)
        bound = rl.flattest_sharpness(a, float(np.linalg.norm(beta)), depth)
        lam_bal, lam_rand, resid = rl.flattest_check(cfg, data, model, beta, a)
        np.testing.assert_allclose(lam_bal, bound, rtol=1e-12)
        assert lam_rand >= bound and resid < 1e-12
        s = float(np.linalg.norm(beta)) ** (1 / depth)
        p0 = rl.init_params(cfg, data, s**depth)
        flat, unravel = ravel_pytree(p0)
        H = np.asarray(jax.hessian(lambda x: _obj(model, data.problem, unravel(x)))(flat))
        v = np.linalg.eigh(H)[1][:, -1]
        g = lambda x: np.asarray(ravel_pytree(gradient(model, data.problem, unravel(x)))[0])  # noqa: E731
        h = 1e-5
        fd = v @ (g(flat + h * v) - g(flat - h * v)) / (2 * h)
        np.testing.assert_allclose(fd, bound, rtol=1e-8)


def _obj(model, problem, params):
    from implicit_bias.optim.objective import objective

    return objective(model, problem, params)


def test_dlr_no_minimizer_is_flatter_than_the_bound_even_when_minimized():
    """λ_max minimized over the minimizers (Nelder–Mead over the free factors, several starts)
    never goes below N a ‖β*‖^{−2/N}, and reaches it to 1e-4 (β* along the top direction of Σ_x)."""
    import jax
    from jax.flatten_util import ravel_pytree

    from implicit_bias.optim.sharpness import hessian_top_k

    rl, cfg, data, model, beta, a = _dlr_setting((2.0, 1.0, 0.5), 2)
    bound = rl.flattest_sharpness(a, float(np.linalg.norm(beta)), 2)
    h = cfg.hidden

    def minimizer(x):
        c = x[:h].reshape(h, 1)
        R = x[h:].reshape(len(cfg.lam), h)
        nb = float(np.sum(c**2))
        P = np.eye(h) - c @ c.T / nb
        return (c, beta @ c.T / nb + R @ P)

    hess = jax.jit(lambda p: jax.hessian(lambda f: _obj(model, data.problem, ravel_pytree(p)[1](f)))(
        ravel_pytree(p)[0]))  # fmt: skip

    def lam_max(x):
        p = tuple(jax.numpy.asarray(w) for w in minimizer(x))
        return float(np.linalg.eigvalsh(np.asarray(hess(p)))[-1])

    rng = np.random.default_rng(3)
    best = np.inf
    for _ in range(4):
        x0 = rng.standard_normal(h + len(cfg.lam) * h)
        r = scipy.optimize.minimize(lam_max, x0, method="Nelder-Mead",
                                    options={"maxfev": 4000, "xatol": 1e-10, "fatol": 1e-12})  # fmt: skip
        assert r.fun >= bound * (1 - 1e-12)
        best = min(best, r.fun)
    np.testing.assert_allclose(best, bound, rtol=1e-4)
    # a dense check of the same function against hessian_top_k at one point
    x = rng.standard_normal(h + len(cfg.lam) * h)
    np.testing.assert_allclose(lam_max(x), hessian_top_k(model, data.problem, [minimizer(x)])[0, 0],
                               rtol=1e-10)  # fmt: skip


def test_dlr_marion_chizat_interval_in_this_loss_and_the_unnormalized_reading_fails():
    """Marion & Chizat's 2La and 8LΛ (MSE loss, ‖w*‖ = 1 in their code) converted to the ½-loss:
    (N a ‖β*‖^{−2/N}, 4NΛ‖β*‖^{2−2/N}). At ‖β*‖ = 2 (σ = 4, λ_1 = 2) the balanced minimizer's dense
    Hessian equals the converted lower end, lies inside the interval, and lies *below* N a, the
    reading of "2La" without ‖w*‖ = 1 (a counterexample to that reading, not a tolerance). The MSE
    Hessian is twice ours (their 2La = 2 × N a at ‖w*‖ = 1). Cost: two dense 12×12 Hessians."""
    from implicit_bias.experiments import regime_dlr as rl

    cfg = rl.Config(sigma=4.0, lam=(2.0, 1.0, 0.5), depth=3, hidden=2)
    data, model, beta, a = rl.setting(cfg)
    norm = float(np.linalg.norm(beta))
    assert norm == pytest.approx(2.0, rel=1e-15)
    low, up = rl.mc_interval(a, max(cfg.lam), norm, cfg.depth)
    assert low == rl.flattest_sharpness(a, norm, cfg.depth)
    lam_bal, lam_rand, resid = rl.flattest_check(
        dataclasses.replace(cfg, n_random_minimizers=4), data, model, beta, a
    )
    # round-off of a dense eigvalsh on a 12×12 Hessian of entries O(10): ≪ 1e-12 relative
    np.testing.assert_allclose(lam_bal, low, rtol=1e-12)
    assert low * (1 - 1e-12) <= lam_bal <= up and lam_rand >= low * (1 - 1e-12) and resid < 1e-12
    assert lam_bal < cfg.depth * a * (1 - 1e-3)  # "≥ N a" (2La read at ‖β*‖ ≠ 1) is false here
    # the MSE loss n⁻¹‖y − Xw‖² is twice the ½-loss: its Hessian is twice ours at every point
    import jax
    from jax.flatten_util import ravel_pytree

    p0 = rl.init_params(cfg, data, norm)
    flat, unravel = ravel_pytree(p0)
    X, Y = np.asarray(data.problem.X), np.asarray(data.problem.Y)
    mse = lambda f: jax.numpy.mean((X @ model(unravel(f)) - Y) ** 2)  # noqa: E731
    lam_mse = float(np.linalg.eigvalsh(np.asarray(jax.hessian(mse)(flat)))[-1])
    np.testing.assert_allclose(lam_mse, 2 * lam_bal, rtol=1e-12)


def test_regime_diagonal_stores_the_sharpness_at_start_and_end_of_one_cell_per_regime(tmp_path):
    """regime_diagonal's GD keeps only its end point, so its 'sharpness' rows are λ_max at the
    start and the end of one cell per regime (as regime_dmf's panel and the runner's custom-observer
    rows). The oracle: the Hessian of L(u, v) = ½‖A(u⊙u − v⊙v) − y‖² in closed form, g = Aᵀr,
    H_uu = 4 D_u AᵀA D_u + 2 diag(g), H_uv = −4 D_u AᵀA D_v, H_vv = 4 D_v AᵀA D_v − 2 diag(g);
    at the start u = v = α1 (r = −y). Weyl: two float64 evaluations of one 2n × 2n Hessian differ
    by ≲ 2n·ε·‖H‖, and 64·2n·ε·‖H‖ covers the eigensolver's backward error too."""
    from implicit_bias import config as config_mod, experiments, runner, store
    from implicit_bias.experiments import regime_diagonal as rd

    mod = experiments.get("regime_diagonal")
    cfg = config_mod.apply_overrides(mod.Config(), mod.TINY, experiment="regime_diagonal")
    out = runner.execute("regime_diagonal", cfg, root=tmp_path, plot=False)
    rows = store.read_rows(out.path)
    s = rows[rows.series == "sharpness"]
    cells = rows[rows.series == "regime"]
    present = set(cells.regime) - {"diverged"}
    assert set(s.regime) == present and len(s) == 2 * len(present)
    A, y, _ = rd.data(cfg)
    AtA = A.T @ A
    for reg, one in s.groupby("regime"):
        start = one[one.t == 0.0]
        alpha = float(start.alpha.iloc[0])
        g = A.T @ (-y)
        D = alpha * np.eye(cfg.n)
        H = np.block([[4 * D @ AtA @ D + 2 * np.diag(g), -4 * D @ AtA @ D],
                      [-4 * D @ AtA @ D, 4 * D @ AtA @ D - 2 * np.diag(g)]])  # fmt: skip
        lam = np.linalg.eigvalsh(H)
        tol = 64 * H.shape[0] * np.finfo(float).eps * np.abs(lam).max()
        assert abs(float(start.value.iloc[0]) - lam[-1]) <= tol, reg
        # the end value is the cell's own λ_max at its end (the map's lambda_end)
        end = one[one.t > 0.0]
        mine = cells[(cells.regime == reg) & (cells.kick == float(end.kick.iloc[0]))
                     & (cells.alpha == alpha)]  # fmt: skip
        lam_end = rows[(rows.series == "lambda_end") & (rows.kick == float(end.kick.iloc[0]))
                       & (rows.alpha == alpha)]  # fmt: skip
        assert len(mine) == 1 and float(end.value.iloc[0]) == float(lam_end.value.iloc[0])
    two = rows[rows.series == "two_over_eta"]
    np.testing.assert_allclose(two.value, 2.0 / two.eta, rtol=1e-15)
