"""The saddle-to-saddle limit path (theory.limit_path, Pesme & Flammarion 2023, Algorithm 1).

* its last point is basis pursuit's solution (HiGHS) to 1e-8 on random small instances;
* the time scale τ(α) = log(1/α)/2 of x̃ = u^{⊙2} − v^{⊙2} from α1, to 1e-6: before the first jump
  s is exact (x̃ = O(α) so ∇L = −Aᵀy + O(α)) and |x̃_i| crosses α exactly at |s_i| = 1/2, i.e. at
  t = τ·t̃₁/2 (which is also why a threshold θ = α does not locate the jumps: the crossing of θ
  happens at |s_i| = 1 + log θ/(2 log 1/α));
* the jump times and saddles against the mirror flow (optim.mirror, signed N = 2) at α = 1e-4, 1e-8,
  1e-16, 1e-30: the simulated jump t̃ = t/τ(α) is where x̃_i crosses half the saddle's value |β̃_k,i|/2
  (log-linear interpolation between save times), a deactivation where |x̃_j| falls below half its
  previous saddle value. The errors fall like 1/log(1/α) (measured slopes in log-log ≈ −1, printed),
  the plateau values (x̃ halfway between jumps) approach β̃_k;
* an instance where a coordinate deactivates (seed 701, found by scanning seeds 0–1999 of the random
  instance below for a short path with a deactivation between well-separated jumps);
* a tie raises ConfigError.
"""

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import implicit_bias  # noqa: F401  (float64)
from implicit_bias.baselines.l1 import basis_pursuit
from implicit_bias.errors import ConfigError
from implicit_bias.models.hadamard import Hadamard
from implicit_bias.optim import mirror
from implicit_bias.problems.linear import gaussian_matrix, linear, make_sparse
from implicit_bias.theory.limit_path import (
    LimitPath,
    _constrained_lsq,
    _crossing,
    limit_path_diagonal,
)

ALPHAS = (1e-4, 1e-8, 1e-16, 1e-30)
N_GRID = 1000  # save times of every simulation (one compilation per instance shape)


def _random(seed):
    """A random instance: m ∈ [5, 8], n ∈ [10, 20], Gaussian A (N(0, 1/m)), y ~ N(0, I)."""
    rng = np.random.default_rng(seed)
    m, n = int(rng.integers(5, 9)), int(rng.integers(10, 21))
    return gaussian_matrix(rng, m, n), rng.standard_normal(m)


def _sparse():
    d = make_sparse(m=8, n=20, s=3, signed=True, seed=1)
    return d.A, d.y


def test_last_point_is_the_minimum_l1_interpolator():
    instances = [_random(seed) for seed in range(10)] + [_sparse()]
    d = make_sparse(m=6, n=15, s=2, signed=True, seed=5)
    instances.append((d.A, d.y))
    worst = 0.0
    for A, y in instances:
        path = limit_path_diagonal(A, y)
        worst = max(worst, float(np.max(np.abs(path.points[-1] - basis_pursuit(A, y)))))
        assert np.abs(A @ path.points[-1] - y).max() < 1e-10
        assert np.all(np.diff(path.times) > 0) and path.times[0] == 0
        assert np.all(np.abs(path.s) <= 1 + 1e-12)
    assert worst < 1e-8, worst


def _simulate(path, A, y, alpha):
    """x̃(t) of the signed depth-2 flow from α1 at N_GRID times t = τ(α)·t̃, t̃ ∈ (0, 2 t̃_K]."""
    grid = np.linspace(1.0 / N_GRID, 1.0, N_GRID) * 2 * path.times[-1]
    model = Hadamard(depth=2, n=A.shape[1], signed=True, alpha=float(alpha))
    res = mirror.mirror_flow(model, linear(A, y), ts=grid * path.time_scale(alpha), rtol=1e-7)
    return grid, res.x_tilde[1:]


def _events(path: LimitPath, grid, X):
    """Simulated t̃ of each jump's activation, and of each deactivation (jump, coordinate, t̃)."""
    f = path.compare(grid, X)
    act = f[f.kind == "activation"]["simulated"].to_numpy()
    deact = [(r.jump, r.coordinate, r.simulated) for r in f[f.kind == "deactivation"].itertuples()]
    return act, deact


def _plateaus(path, grid, X):
    """max |x̃ − β̃_k| halfway between jumps k and k+1 (after the last: at 1.5 t̃_K)."""
    f = path.compare(grid, X)
    return f[f.kind == "plateau"]["simulated"].to_numpy()


def _slope(errors):
    """The log-log slope of errors against log(1/α) over ALPHAS."""
    return float(np.polyfit(np.log(np.log(1 / np.array(ALPHAS))), np.log(errors), 1)[0])


def test_time_scale_is_log_over_two_by_the_first_crossing_of_alpha():
    A, y = _sparse()
    path = limit_path_diagonal(A, y)
    i = path.events[0]["coordinate"]
    model_A = linear(A, y)
    for alpha in (1e-8, 1e-30):
        tau = path.time_scale(alpha)
        assert tau == pytest.approx(np.log(1 / alpha) / 2)
        ts = np.linspace(0.3, 0.7, N_GRID) * path.times[1] * tau
        res = mirror.mirror_flow(Hadamard(depth=2, n=A.shape[1], signed=True, alpha=alpha),
                                 model_A, ts=ts, rtol=1e-10)  # fmt: skip
        v = path.events[0]["sign"] * res.x_tilde[1:, i]
        t_cross, _ = _crossing(ts / tau, v, alpha, 0, up=True)
        assert t_cross == pytest.approx(path.times[1] / 2, rel=1e-6)


def test_uv_time_scale_by_simulation():
    """β = u ⊙ v from (√2α, 0): |β_i| crosses α/2 at |s_i| = 1/2, t = log(1/α)·t̃₁/2 (SciPy LSODA)."""
    A, y = _random(3)
    path = limit_path_diagonal(A, y, parametrization="uv")
    i, alpha = path.events[0]["coordinate"], 1e-8
    n = A.shape[1]

    def f(t, z):
        u, v = z[:n], z[n:]
        g = A.T @ (A @ (u * v) - y)
        return np.concatenate([-v * g, -u * g])

    t_half = path.time_scale(alpha) * path.times[1] / 2
    z0 = np.concatenate([np.full(n, np.sqrt(2) * alpha), np.zeros(n)])
    ts = t_half * np.linspace(0.9, 1.1, 201)
    sol = solve_ivp(f, (0, ts[-1]), z0, method="LSODA", t_eval=ts, rtol=1e-10, atol=1e-30)
    beta_i = path.events[0]["sign"] * sol.y[i] * sol.y[n + i]
    t_cross, _ = _crossing(ts, beta_i, alpha / 2, 0, up=True)
    assert t_cross == pytest.approx(t_half, rel=1e-4)


@pytest.fixture(scope="module")
def sparse_runs():
    A, y = _sparse()
    path = limit_path_diagonal(A, y)
    return path, [_simulate(path, A, y, a) for a in ALPHAS]


def test_jump_times_approach_the_limit_path(sparse_runs):
    path, runs = sparse_runs
    errs = []
    for grid, X in runs:
        act, _ = _events(path, grid, X)
        assert np.all(np.isfinite(act)), act
        errs.append(np.abs(act - path.times[1:]))
    mean = np.array([e.mean() for e in errs])
    assert np.all(np.diff(mean) < 0), mean
    slope = _slope(mean)
    assert -1.4 < slope < -0.7, (slope, mean)
    assert errs[-1].max() < 0.5
    print(f"sparse instance: mean |t̃_sim − t̃_k| {np.round(mean, 4)}, slope vs log(1/α) {slope:.2f}")


def test_plateau_values_approach_the_saddles(sparse_runs):
    path, runs = sparse_runs
    worst = np.array([_plateaus(path, grid, X).max() for grid, X in runs])
    assert np.all(np.diff(worst) < 0), worst
    assert worst[-1] < 0.02, worst
    print(f"sparse instance: max plateau error {worst}")


def test_a_deactivation_along_the_path_matches_the_flow():
    A, y = _random(701)  # seed 701: coordinate 14 deactivates at jump 4 (see the module docstring)
    path = limit_path_diagonal(A, y)
    zeroed = [(e["jump"], j) for e in path.events for j in e["zeroed"]]
    assert zeroed == [(4, 14)]
    assert path.points[3][14] != 0 and path.points[4][14] == 0 and abs(path.s[4][14]) == 1
    assert abs(path.s[5][14]) < 1  # s leaves ±1 after the jump
    lags, act_err = [], []
    for alpha in ALPHAS:
        grid, X = _simulate(path, A, y, alpha)
        act, deact = _events(path, grid, X)
        ((k, j, t),) = deact
        lags.append(abs(t - path.times[k]))
        act_err.append(np.abs(act[:5] - path.times[1:6]).max())  # the last jump: α ≤ 1e-16 only
    lags, act_err = np.array(lags), np.array(act_err)
    assert np.all(np.diff(lags) < 0) and lags[-1] < 0.1, lags
    assert np.all(np.diff(act_err) < 0), act_err
    print(f"seed 701: deactivation lag {np.round(lags, 4)} (slope {_slope(lags):.2f}), "
          f"activation errors {np.round(act_err, 4)} (slope {_slope(act_err):.2f})")  # fmt: skip


def test_a_tie_raises():
    rng = np.random.default_rng(0)
    A = gaussian_matrix(rng, 5, 10)
    A[:, 7] = A[:, 3]
    y = 3.0 * A[:, 3] + 0.1 * rng.standard_normal(5)
    with pytest.raises(ConfigError, match=r"coordinates \[3, 7\]|coordinates \[7, 3\]"):
        limit_path_diagonal(A, y)


def test_bad_input():
    with pytest.raises(ConfigError, match="parametrization"):
        limit_path_diagonal(np.eye(2), np.ones(2), parametrization="u3")
    with pytest.raises(ConfigError, match="do not match"):
        limit_path_diagonal(np.eye(2), np.ones(3))
    with pytest.raises(ConfigError, match="never leaves 0"):
        limit_path_diagonal(np.eye(2), np.zeros(2))
    A = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])  # column 2 = column 0 + column 1
    with pytest.raises(ConfigError, match=r"coordinates \[0, 1, 2\].*not unique"):
        _constrained_lsq(A, np.ones(2), np.array([0, 1, 2]), np.ones(3), jump=3)


def test_to_frame():
    path = limit_path_diagonal(*_sparse())
    df = path.to_frame()
    assert list(df.columns) == ["jump", "t_tilde", "activated", "zeroed", "support", "l1", "loss"]
    assert len(df) == len(path.times) and df["loss"].iloc[-1] < 1e-20
    first = path.events[0]
    assert df["activated"].iloc[1] == ("+" if first["sign"] > 0 else "−") + str(first["coordinate"])


def test_positive_model_ends_at_nonnegative_basis_pursuit_and_matches_its_flow():
    """w^{⊙2} from α1: only s_i = +1 saturates; the last point is min ‖x‖₁ s.t. Ax = y, x ≥ 0
    (HiGHS, to 1e-8 as above), and the plateau values of the positive mirror flow approach it."""
    d = make_sparse(m=8, n=20, s=3, signed=False, seed=2)
    path = limit_path_diagonal(d.A, d.y, parametrization="positive")
    assert np.all(path.points >= 0) and all(ev["sign"] == 1 for ev in path.events)
    assert np.abs(path.points[-1] - basis_pursuit(d.A, d.y, nonneg=True)).max() < 1e-8
    worst = []
    for alpha in (1e-4, 1e-16):
        grid = np.linspace(1.0 / N_GRID, 1.0, N_GRID) * 2 * path.times[-1]
        model = Hadamard(depth=2, n=d.A.shape[1], alpha=alpha)
        res = mirror.mirror_flow(model, linear(d.A, d.y), ts=grid * path.time_scale(alpha),
                                 rtol=1e-7)  # fmt: skip
        worst.append(_plateaus(path, grid, res.x_tilde[1:]).max())
    assert worst[1] < worst[0] and worst[1] < 0.02, worst


DEEP_ALPHAS = (1e-2, 1e-3, 1e-4)


def test_depth_three_follows_the_same_path_on_the_clock_alpha_to_the_two_minus_n():
    """Depth N = 3, u^{⊙3} − v^{⊙3} from α1: the saddles of Algorithm 1 on τ(α) = α^{−1}/3
    (module docstring). The corrections are polynomial: the activation time errs by O(α^{N−2})
    (the crossing of a fixed level happens at 1 − |s_i| ∝ α^{N−2}) and a plateau by O(α^N) (the
    sleeping coordinates are O(α^N)). Measured on this instance: slopes in log α of 1.0–1.1 and
    3.0; asserted with the margins 0.7–1.5 and 2.5–3.5 (the interpolation grid, spacing 5e-4 in
    t̃, floors the time error near 1e-4: α ≤ 1e-4 would measure the grid, not the flow)."""
    A, y = _sparse()
    path = limit_path_diagonal(A, y, depth=3)
    assert path.c == 3.0 and path.time_scale(1e-4) == pytest.approx(1e4 / 3)
    assert np.array_equal(path.points, limit_path_diagonal(A, y).points)  # the saddles: depth-free
    coarse = np.linspace(1 / 200, 1, 200) * 2 * path.times[-1]
    fine = np.concatenate([tk + np.linspace(-0.2, 0.2, 801) for tk in path.times[1:]])
    grid = np.unique(np.concatenate([coarse, fine[fine > 0]]))
    act_err, plateau = [], []
    for alpha in DEEP_ALPHAS:
        model = Hadamard(depth=3, n=A.shape[1], signed=True, alpha=alpha)
        res = mirror.mirror_flow(model, linear(A, y), ts=grid * path.time_scale(alpha), rtol=1e-9)
        act, _ = _events(path, grid, res.x_tilde[1:])
        act_err.append(np.abs(act - path.times[1:]).max())
        plateau.append(_plateaus(path, grid, res.x_tilde[1:]).max())
    log_a = np.log(DEEP_ALPHAS)
    s_act = float(np.polyfit(log_a, np.log(act_err), 1)[0])
    s_pl = float(np.polyfit(log_a, np.log(plateau), 1)[0])
    print(f"depth 3: activation errors {np.array(act_err)} (slope {s_act:.2f}), "
          f"plateau errors {np.array(plateau)} (slope {s_pl:.2f})")  # fmt: skip
    assert 0.7 < s_act < 1.5 and 2.5 < s_pl < 3.5, (act_err, plateau)


def test_dispatch_covers_hadamard_and_names_what_it_covers():
    from implicit_bias.models.hadamard import WeightNormalized
    from implicit_bias.theory.oracles import limit_path

    A, y = _sparse()
    path = limit_path(linear(A, y), Hadamard(depth=3, n=A.shape[1], signed=True))
    assert path.depth == 3 and path.parametrization == "signed"
    with pytest.raises(ConfigError, match="identical factors"):
        limit_path(linear(A, y), Hadamard(depth=2, n=A.shape[1], factors="distinct"))
    with pytest.raises(ConfigError, match="no limit-path oracle covers WeightNormalized"):
        limit_path(linear(A, y), WeightNormalized(depth=2, n=A.shape[1]))
    with pytest.raises(ConfigError, match="depth N >= 2"):
        limit_path_diagonal(A, y, depth=1)
