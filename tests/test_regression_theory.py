"""Seed 004 theory held to simulation: the closed form against the flow, the discrete recursion and bounds
against GD, the transition times against measured crossings, the staircase limits against W^{k,*}."""

import numpy as np
import pytest

from implicit_bias.baselines.regression import reduced_rank_path
from implicit_bias.models.spectral import deep_linear, spectral_init
from implicit_bias.optim import GD, GradientFlow, fit
from implicit_bias.problems.regression import aligned
from implicit_bias.theory import regression as theory

SIGMA = np.array([4.0, 2.0, 1.0])
LAM = np.array([2.0, 1.5, 1.0, 0.5])


@pytest.fixture(scope="module")
def data():
    return aligned(sigma=SIGMA, lam=LAM, d=3, seed=1)


def _flow(data, widths, delta, t1, n_saves=60, Q=None):
    model = deep_linear(widths)
    params0 = spectral_init(data.U, data.V, delta, widths, Q=Q)
    method = GradientFlow(t1=t1, n_saves=n_saves, rtol=1e-11, atol=1e-14)
    traj = fit(model, data.problem, method, params0=params0, observe=model)
    return np.asarray(traj.t), np.asarray(traj.observed)


def _components(data, Ws):
    r = SIGMA.size
    return np.einsum("pi,tpd,di->ti", data.U[:, :r], Ws, data.V[:, :r])


def test_closed_form_matches_the_flow_and_fixes_the_roles_of_sigma_and_lambda(data):
    delta = np.array([2.0, 2.5, 1.5])
    t, Ws = _flow(data, (4, 3, 3), delta, t1=6.0)
    cf = np.stack([theory.W_continuous(tk, data.U, data.V, SIGMA, LAM, delta) for tk in t])
    rel = np.linalg.norm(Ws - cf, axis=(1, 2)) / np.linalg.norm(cf, axis=(1, 2))
    assert rel.max() < 1e-8
    # the roles as printed in the seed (σ = diag D_x, λ = diag D_xy) miss the flow by O(1)
    swapped = np.stack([theory.W_continuous(tk, data.U, data.V, LAM[:3], SIGMA, delta) for tk in t])
    assert (np.linalg.norm(Ws - swapped, axis=(1, 2)) / np.linalg.norm(cf, axis=(1, 2))).max() > 0.3


def test_overparameterized_width_follows_the_same_closed_form(data):
    t, Ws = _flow(data, (4, 6, 3), 2.0, t1=6.0, n_saves=30)
    cf = np.stack([theory.W_continuous(tk, data.U, data.V, SIGMA, LAM, 2.0) for tk in t])
    assert (np.linalg.norm(Ws - cf, axis=(1, 2)) / np.linalg.norm(cf, axis=(1, 2))).max() < 1e-8


def test_non_orthogonal_Q_leaves_the_closed_form(data):
    """Finding: the seed allows any invertible Q, but only orthogonal Q keeps W_1(t)W_2(t) = U diag(w)Vᵀ."""
    Q = np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 0.3], [0.2, 0.0, 1.0]])
    t, Ws = _flow(data, (3 + 1, 3, 3), 2.0, t1=6.0, n_saves=30, Q=Q)
    cf = np.stack([theory.W_continuous(tk, data.U, data.V, SIGMA, LAM, 2.0) for tk in t])
    assert (np.linalg.norm(Ws - cf, axis=(1, 2)) / np.linalg.norm(cf, axis=(1, 2))).max() > 1e-2
    Qo = np.linalg.qr(Q)[0]
    t, Ws = _flow(data, (4, 3, 3), 2.0, t1=6.0, n_saves=30, Q=Qo)
    assert (np.linalg.norm(Ws - cf, axis=(1, 2)) / np.linalg.norm(cf, axis=(1, 2))).max() < 1e-8


def test_gd_is_the_scalar_recursion_and_obeys_the_bounds(data):
    eta, n, delta = 0.05, 400, 2.0
    theory.check_discrete_step(eta, SIGMA)
    model = deep_linear((4, 3, 3))
    params0 = spectral_init(data.U, data.V, delta, (4, 3, 3))
    traj = fit(
        model, data.problem, GD(eta=eta, n_steps=n, save_every=1), params0=params0, observe=model
    )
    w = _components(data, np.asarray(traj.observed))
    w0 = np.exp(-2 * delta)
    ref = theory.w_discrete(w0, SIGMA, LAM[:3], eta, n)
    np.testing.assert_allclose(w, ref, rtol=1e-12, atol=1e-15)
    steps = np.arange(n + 1)
    lo, hi = theory.w_discrete_bounds(steps, SIGMA, LAM[:3], w0, eta, variant="proved")
    assert np.all(lo <= ref * (1 + 1e-12)) and np.all(ref <= hi * (1 + 1e-12))
    lo_seed, hi_seed = theory.w_discrete_bounds(steps, SIGMA, LAM[:3], w0, eta, variant="seed")
    assert np.all(lo_seed <= ref * (1 + 1e-12))
    # the seed's upper exponent 2ησ + η²σ² is too small once w is near σ/λ: violated, but only slightly
    viol = np.max((ref - hi_seed) / ref)
    assert 0 < viol < 1e-3
    # as printed (numerator w₀, not σw₀), the bounds are wrong already at t = 0 when σ ≠ 1
    lo_p, hi_p = theory.w_discrete_bounds(0.0, SIGMA, LAM[:3], w0, eta, variant="printed")
    np.testing.assert_allclose(lo_p, w0 / SIGMA)
    assert lo_p[-1] == hi_p[-1] == w0  # σ = 1: the printed form is right only there


@pytest.mark.parametrize("eta", [0.01, 0.1, 0.124])
def test_proved_bounds_hold_up_to_the_step_condition(eta):
    sigma, lam = np.array([4.0, 1.0, 0.3]), np.array([1.0, 3.0, 0.2])
    w0 = 1e-6
    n = int(40 / (eta * sigma.min()))
    ref = theory.w_discrete(w0, sigma, lam, eta, n)
    lo, hi = theory.w_discrete_bounds(np.arange(n + 1), sigma, lam, w0, eta, variant="proved")
    assert np.all(lo <= ref * (1 + 1e-12)) and np.all(ref <= hi * (1 + 1e-12))
    assert np.all(np.diff(ref, axis=0) >= 0)  # monotone: no overshoot of σ/λ


def test_measured_transition_times_match(data):
    """Measured half-crossings of the flow vs the exact half time (1e-3) and the seed's T_i = δ/σ_i."""
    delta = 8.0
    t, Ws = _flow(data, (4, 3, 3), delta, t1=12.0, n_saves=3000)
    w = _components(data, Ws)
    limit = SIGMA / LAM[:3]
    for i in range(3):
        above = np.nonzero(w[:, i] >= limit[i] / 2)[0][0]
        # linear interpolation of the crossing between snapshots
        t_meas = np.interp(limit[i] / 2, w[above - 1 : above + 1, i], t[above - 1 : above + 1])
        t_half = theory.half_time(SIGMA[i], LAM[i], delta)
        assert abs(t_meas - t_half) <= 1e-3 * t_half
        T_i = theory.transition_times(SIGMA, delta=delta)[i]
        # T_i is the leading term; the shift ln(σ/λ)/(2σ) is δ-independent
        assert abs(t_meas - T_i) <= abs(np.log(SIGMA[i] / LAM[i])) / (2 * SIGMA[i]) + 1e-2


def test_depth_three_half_time_by_quadrature_matches_the_flow(data):
    delta, L = 3.0, 3
    widths = (4, 3, 3, 3)
    t_half = [theory.half_time_depth(s, lam, delta, L) for s, lam in zip(SIGMA, LAM)]
    t, Ws = _flow(data, widths, delta, t1=1.3 * max(t_half), n_saves=2000)
    w = _components(data, Ws)
    for i in range(3):
        lim = SIGMA[i] / LAM[i]
        k = np.nonzero(w[:, i] >= lim / 2)[0][0]
        t_meas = np.interp(lim / 2, w[k - 1 : k + 1, i], t[k - 1 : k + 1])
        assert abs(t_meas - t_half[i]) <= 2e-3 * t_half[i]
    # L = 2 quadrature agrees with the closed-form half time
    np.testing.assert_allclose(
        theory.half_time_depth(4.0, 2.0, 5.0, 2), theory.half_time(4.0, 2.0, 5.0), rtol=1e-9
    )


def test_staircase_limits_are_the_reduced_rank_solutions(data):
    assert theory.orders_agree(SIGMA, LAM)
    Ws, _ = reduced_rank_path(data.problem)
    for k in range(4):
        np.testing.assert_allclose(
            theory.staircase_limit(k, data.U, data.V, SIGMA, LAM), Ws[k], atol=1e-12
        )


def test_staircase_differs_from_reduced_rank_when_the_orders_disagree():
    """Finding: the flow learns by σ_i, W^{k,*} ranks by σ_i/√λ_i; with σ = (2, 1.5), λ = (4, 1) they disagree."""
    sigma, lam = np.array([2.0, 1.5]), np.array([4.0, 1.0])
    d = aligned(sigma=sigma, lam=lam, seed=0)
    assert not theory.orders_agree(sigma, lam)
    W1 = reduced_rank_path(d.problem)[0][1]
    S1 = theory.staircase_limit(1, d.U, d.V, sigma, lam)
    assert np.linalg.norm(W1 - S1) > 0.5


def test_thin_network_stops_at_the_rank_constrained_solution(data):
    """Hidden width 1 (a rank constraint): the flow follows the first component and ends at W^{1,*}."""
    t, Ws = _flow(data, (4, 1, 3), 2.0, t1=20.0, n_saves=20)
    W1 = reduced_rank_path(data.problem)[0][1]
    assert np.linalg.norm(Ws[-1] - W1) / np.linalg.norm(W1) < 1e-8
    cf = theory.W_continuous(t[5], data.U[:, :1], data.V[:, :1], SIGMA[:1], LAM[:1], 2.0)
    np.testing.assert_allclose(Ws[5], cf, atol=1e-10)


def test_gd_on_general_data_reaches_least_squares(rng):
    """No alignment: L = 2 from a small Gaussian init still converges to W^{r,*} = X⁺Y (p ≤ n, full rank)."""
    from implicit_bias.problems.regression import general

    P = general(n=30, p=4, d=3, noise=0.2, seed=2)
    model = deep_linear((4, 5, 3))
    params0 = tuple(1e-2 * rng.standard_normal(s) for s in ((5, 3), (4, 5)))
    traj = fit(model, P, GD(eta=0.05, n_steps=20_000, n_saves=2), params0=params0, observe=model)
    W_ols = reduced_rank_path(P)[0][-1]
    np.testing.assert_allclose(np.asarray(traj.observed)[-1], W_ols, atol=1e-8)


def test_rescaled_limit_delta_to_infinity(data):
    """Seed 004: for 1/σ_k < t < 1/σ_{k+1}, W(δt) → W^{k,*} as δ → ∞ (here via the verified closed form)."""
    Ws = reduced_rank_path(data.problem)[0]
    T = 1.0 / SIGMA
    for k, t in [(1, np.sqrt(T[0] * T[1])), (2, np.sqrt(T[1] * T[2]))]:
        gaps = [
            np.linalg.norm(
                theory.W_continuous(delta * t, data.U, data.V, SIGMA, LAM, delta) - Ws[k]
            )
            for delta in (5.0, 10.0, 20.0, 40.0)
        ]
        assert np.all(np.diff(gaps) < 0) and gaps[-1] < 1e-6 * np.linalg.norm(Ws[-1])


def test_plateau_rates_vanish_at_the_transitions_and_gd_tends_to_the_flow():
    """g_i = |σ_i s − 1| is zero exactly at the seed's T_i = 1/σ_i; GD's rates → the flow's as η → 0."""
    g, learned = theory.plateau_rates(1.0 / SIGMA, SIGMA)
    np.testing.assert_allclose(g, 0.0, atol=1e-15)
    s = np.array([0.1, 0.4, 0.9])
    g_flow, l_flow = theory.plateau_rates(s, SIGMA)
    for eta in (1e-3, 1e-4):
        g_gd, l_gd = theory.plateau_rates(s / eta, SIGMA, eta=eta)  # s/η steps per unit of δ
        assert np.array_equal(l_gd, l_flow)
        np.testing.assert_allclose(g_gd, g_flow, atol=10 * eta * SIGMA.max())


def test_plateau_rate_remainder_bounds_the_measured_rate():
    """|ρ − g| ≤ plateau_rate_remainder, ρ from the exact closed form (flow) or the exact recursion (GD)
    at δ and 2δ, on random components, step sizes up to the discrete condition and times between
    transitions (where the distance at 2δ is above round-off: ≥ 1e-8 of σ/λ)."""
    rng = np.random.default_rng(7)
    checked = 0
    for _ in range(150):
        sig, lam = float(rng.uniform(0.3, 10.0)), float(rng.uniform(0.2, 5.0))
        delta = float(rng.uniform(2.0, 10.0))
        eta = None if rng.random() < 0.5 else float(rng.uniform(0.05, 0.98)) / (2 * sig)
        unit = sig if eta is None else np.log1p(eta * sig)  # transition at s = 1/unit
        s = float(rng.uniform(0.05, 3.0)) / unit
        g, learned = theory.plateau_rates(s, np.array([sig]), eta=eta)
        g, learned, L = float(g[0]), bool(learned[0]), sig / lam
        if g < 0.05 or (L * L if learned else 1.0) * np.exp(-4 * delta * g) < 1e-8 * L:
            continue
        logs = []
        for dd in (delta, 2 * delta):
            if eta is None:
                tt = np.array([0.999, 1.001]) * s * dd
                w = theory.w_continuous(tt, np.array([sig]), np.array([lam]), dd)[:, 0]
            else:
                w = theory.w_discrete(np.exp(-2 * dd), sig, lam, eta, int(s * dd) + 2)
                tt = np.arange(w.size, dtype=float)
            logs.append(theory.log_distance_to_plateau(tt, w, L, learned, s * dd))
        rho = (logs[0] - logs[1]) / (2 * delta)
        rem = theory.plateau_rate_remainder(s, np.array([sig]), np.array([lam]), delta, eta=eta)[0]
        assert abs(rho - g) <= rem, (sig, lam, delta, eta, s, rho, g, rem)
        checked += 1
    assert checked >= 60


def test_one_layer_rate_is_the_exact_one_layer_decay():
    """L = 1 from w_0 = e^{−2δ}: ẇ = σ − λw (solved by LSODA here) and w ← w − η(λw − σ) (a loop): at
    t = sδ the gap to σ/λ shrinks from δ to 2δ at the rate of theory.one_layer_rate."""
    from scipy.integrate import solve_ivp

    s, delta, eta = 0.3, 4.0, 0.05
    gaps, gaps_gd = [], []
    for dd in (delta, 2 * delta):
        for sig, lam in zip(SIGMA, LAM):
            sol = solve_ivp(lambda t, w: sig - lam * w, (0, s * dd), [np.exp(-2 * dd)], method="LSODA",
                            rtol=1e-12, atol=1e-14)  # fmt: skip
            gaps.append(np.log(sig / lam - sol.y[0, -1]))
            w = np.exp(-2 * dd)
            for _ in range(int(round(s * dd / eta))):
                w -= eta * (lam * w - sig)
            gaps_gd.append(np.log(sig / lam - w))
    r = SIGMA.size
    rho = (np.array(gaps[:r]) - np.array(gaps[r:])) / (2 * delta)
    np.testing.assert_allclose(rho, theory.one_layer_rate(s, LAM[:r]), atol=1e-3 / delta)
    rho_gd = (np.array(gaps_gd[:r]) - np.array(gaps_gd[r:])) / (2 * delta)
    np.testing.assert_allclose(
        rho_gd, theory.one_layer_rate(s / eta, LAM[:r], eta=eta), atol=1e-3 / delta
    )
