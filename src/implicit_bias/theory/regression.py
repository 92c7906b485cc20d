"""Deep linear regression: closed forms, phase-transition times and discrete bounds (seed 004).

Gidel, Bach & Lacoste-Julien (2019), "Implicit regularization of discrete gradient dynamics in linear
neural networks", NeurIPS. Setting: Σ_x = XᵀX/n = U D_x Uᵀ, Σ_xy = XᵀY/n = U D_xy Vᵀ (ε = 0), two layers
W = W_1 W_2 from the spectral initialization W_1(0) = U diag(e^{−δ_i}) Q, W_2(0) = Q⁻¹ diag(e^{−δ_i}) Vᵀ.

Roles of σ and λ (checked against the simulated flow, tests/test_regression_theory.py): in
    w_i(t) = σ_i e^{2σ_i t − 2δ_i} / (λ_i (e^{2σ_i t − 2δ_i} − e^{−2δ_i}) + σ_i)
σ_i is the i-th diagonal entry of D_xy (input–output covariance) and λ_i that of D_x (input covariance).
The seed prints the opposite ("(σ_i) and (λ_i) are the diagonals of D_x and D_xy"); with that reading the
formula misses the flow by O(1). With the roles here, w_i → σ_i/λ_i, the least-squares coefficient, and
the transition times T_i = 1/σ_i order the components by the input–output covariance.

Every function takes NumPy arrays (broadcasting over i) and returns NumPy arrays.
"""

import numpy as np
import scipy.integrate

from implicit_bias.errors import ConfigError


def _positive(name, x):
    x = np.asarray(x, dtype=np.float64)
    if not np.all(x > 0):
        raise ConfigError(f"{name} must be > 0, got {x}")
    return x


def _times(t, sigma):
    """Times of shape (T,) against per-component arrays of shape (r,) broadcast to (T, r)."""
    t = np.asarray(t, dtype=np.float64)
    return t[:, None] if t.ndim == 1 and np.ndim(sigma) == 1 else t


# ---------------------------------------------------------------------------------------------
# continuous time, two layers


def w_continuous(t, sigma, lam, delta) -> np.ndarray:
    """w_i(t) = σ_i e^{2σ_i t − 2δ_i} / (λ_i (e^{2σ_i t − 2δ_i} − e^{−2δ_i}) + σ_i)   (seed 004, Thm 1).

    The squared singular value of each layer along u_i v_iᵀ: W_1(t)W_2(t) = U diag(w_i(t)) Vᵀ. It solves
    the logistic equation ẇ = 2w(σ − λw), w(0) = e^{−2δ}, written here in the overflow-free form
    σ w_0 / (λ w_0 + (σ − λ w_0) e^{−2σt}) (and w_0 / (1 + 2λ w_0 t) for σ = 0).
    """
    sigma, lam, delta = (np.asarray(x, dtype=np.float64) for x in (sigma, lam, delta))
    t = _times(t, sigma)
    w0 = np.exp(-2.0 * delta)
    safe = np.where(sigma == 0, 1.0, sigma)
    logistic = safe * w0 / (lam * w0 + (safe - lam * w0) * np.exp(-2.0 * safe * t))
    return np.where(sigma == 0, w0 / (1.0 + 2.0 * lam * w0 * t), logistic)


def W_continuous(t: float, U, V, sigma, lam, delta) -> np.ndarray:
    """W_1(t)W_2(t) = U diag(w_i(t)) Vᵀ (rectangular diag over the first min(p, d) pairs; λ_i, i ≤ min(p, d))."""
    r = np.size(sigma)
    w = w_continuous(t, sigma, np.asarray(lam)[:r], delta)
    r = w.shape[-1]
    return (np.asarray(U)[:, :r] * w) @ np.asarray(V)[:, :r].T


def transition_times(sigma, *, delta=1.0, eta=None) -> np.ndarray:
    """T_i = δ/σ_i (continuous time) or δ/(ησ_i) (GD steps); δ = 1 gives the seed's rescaled 1/σ_i, 1/(ησ_i).

    Seed 004: for 1/σ_k < t < 1/σ_{k+1}, W(δt) → W^{k,*} as δ → ∞; the discrete analogue with 1/(ησ_i).
    """
    sigma = _positive("sigma", sigma)
    T = np.asarray(delta, dtype=np.float64) / sigma
    return T if eta is None else T / float(eta)


def half_time(sigma, lam, delta) -> np.ndarray:
    """The time at which w_i(t) = ½ σ_i/λ_i (two layers): t = (2δ + ln(σ/λ − e^{−2δ})) / (2σ).

    = δ/σ + ln(σ/λ)/(2σ) + O(e^{−2δ}): the seed's T_i = δ/σ_i up to a δ-independent shift. Needs
    e^{−2δ} < σ/(2λ) (the component starts below half its limit).
    """
    sigma, lam = _positive("sigma", sigma), _positive("lam", lam)
    delta = np.asarray(delta, dtype=np.float64)
    w0 = np.exp(-2.0 * delta)
    if np.any(w0 >= sigma / (2 * lam)):
        raise ConfigError(
            "half_time needs e^{-2δ} < σ/(2λ): the component must start below half its limit"
        )
    return (2.0 * delta + np.log(sigma / lam - w0)) / (2.0 * sigma)


def half_time_depth(sigma: float, lam: float, delta: float, depth: int) -> float:
    """Time at which w = ½σ/λ for depth L from the balanced spectral init (every layer e^{−2δ/L}).

    Each layer's singular value a obeys ȧ = a^{L−1}(σ − λa^L), so w = a^L obeys ẇ = L w^{2−2/L}(σ − λw)
    and t = ∫_{w_0}^{σ/2λ} dw / (L w^{2−2/L}(σ − λw)), by quadrature in s = ln w. L = 2 gives
    ``half_time``; L = 1 gives ln(2(σ − λw_0)/σ)/λ (set by λ, not σ); L ≥ 3 ≈ w_0^{−(L−2)/L}/((L−2)σ).
    """
    if int(depth) != depth or depth < 1:
        raise ConfigError(f"depth must be an integer >= 1, got {depth}")
    sigma, lam = float(_positive("sigma", sigma)), float(_positive("lam", lam))
    s0, s1 = -2.0 * float(delta), np.log(sigma / (2 * lam))
    if s0 >= s1:
        raise ConfigError("the component must start below half its limit: e^{-2δ} < σ/(2λ)")
    L = int(depth)
    val, _ = scipy.integrate.quad(
        lambda s: np.exp(s * (2.0 / L - 1.0)) / (L * (sigma - lam * np.exp(s))),
        s0, s1, limit=500, epsabs=0, epsrel=1e-12,
    )  # fmt: skip
    return float(val)


# ---------------------------------------------------------------------------------------------
# reduced-rank solutions along the path


def staircase_limit(k: int, U, V, sigma, lam) -> np.ndarray:
    """Σ_{i among the k largest σ_i} (σ_i/λ_i) u_i v_iᵀ: where the two-layer flow sits for T_k < t < T_{k+1}.

    It equals the reduced-rank solution W^{k,*} when the σ-order agrees with the order of the singular
    values σ_i/√λ_i of the fitted values (see ``orders_agree``); always true for λ_i = const or Y = X.
    """
    sigma, lam = np.asarray(sigma, dtype=np.float64), np.asarray(lam, dtype=np.float64)
    r = sigma.size
    if int(k) != k or not 0 <= k <= r:
        raise ConfigError(f"requested rank k={k} must be in 0..min(p, d) = {r}")
    top = np.argsort(-sigma, kind="stable")[: int(k)]
    c = np.zeros(r)
    c[top] = sigma[top] / lam[:r][top]
    return (np.asarray(U)[:, :r] * c) @ np.asarray(V)[:, :r].T


def orders_agree(sigma, lam) -> bool:
    """Whether ordering by σ_i (learning order) equals ordering by σ_i/√λ_i (reduced-rank order).

    Under the assumption (ε = 0) the fitted values XW_ols have singular values √n σ_i/√λ_i, so W^{k,*}
    keeps the k largest σ_i/√λ_i while the dynamics learns the k largest σ_i first.
    """
    sigma, lam = (
        np.asarray(sigma, dtype=np.float64),
        np.asarray(lam, dtype=np.float64)[: np.size(sigma)],
    )
    return bool(
        np.array_equal(
            np.argsort(-sigma, kind="stable"), np.argsort(-sigma / np.sqrt(lam), kind="stable")
        )
    )


# ---------------------------------------------------------------------------------------------
# discrete time (GD), two layers, ε = 0


def discrete_step_bound(sigma) -> float:
    """η < 1/(2 max_i σ_i): the step-size condition under which the discrete bounds are proved here.

    For the scalar recursion w ← w(1 + η(σ − λw))² (GD from the spectral init with equal layers), the
    ratio z_{t+1}/z_t of z = 1/w − λ/σ equals 1 − ησ(2 + ηe)/(1 + ηe)² with e = σ − λw ∈ [0, σ], which
    lies in [1 − 2ησ, (1 + ησ)^{−2}]: positive (no overshoot of σ/λ, monotone learning) iff ησ < 1/2.
    The seed only says the condition involves an eigen-gap and the Lipschitz constant of the gradient.
    """
    return 1.0 / (2.0 * float(np.max(_positive("sigma", sigma))))


def check_discrete_step(eta: float, sigma) -> None:
    """ConfigError when η ≥ 1/(2 max σ_i) (the discrete bounds' step-size condition)."""
    bound = discrete_step_bound(sigma)
    if not 0 < eta < bound:
        raise ConfigError(
            f"step size eta={eta:g} violates the discrete-bounds condition 0 < η < 1/(2 max σ_i) = {bound:.6g}"
        )


def w_discrete(w0, sigma, lam, eta: float, n_steps: int) -> np.ndarray:
    """w^{(t)}, t = 0 … n_steps, of w ← w(1 + η(σ − λw))²: GD on the two-layer model from the spectral
    init with orthogonal Q reduces to this exactly (each layer's singular value a ← a(1 + η(σ − λa²))).
    A NumPy loop: the independent oracle for the matrix GD run.
    """
    w = np.asarray(w0, dtype=np.float64) * np.ones_like(np.asarray(sigma, dtype=np.float64))
    out = np.empty((n_steps + 1,) + w.shape)
    out[0] = w
    for k in range(n_steps):
        w = w * (1.0 + eta * (sigma - lam * w)) ** 2
        out[k + 1] = w
    return out


def w_discrete_bounds(t, sigma, lam, w0, eta: float, *, variant: str = "seed"):
    """(lower, upper) on w_i^{(t)} (seed 004, "Discrete dynamics", ε = 0):

        σ w₀ / ((σ − λw₀) e^{−c t} + λ w₀),
        seed:    c_lower = 2ησ − 4η²σ²,  c_upper = 2ησ + η²σ²
        proved:  e^{−c t} → (1 + ησ)^{−2t} (lower) and (1 − 2ησ)^t (upper)   [see ``discrete_step_bound``]
        printed: the seed's exponents with numerator w₀ instead of σw₀ (as printed; wrong at t = 0 unless σ = 1)

    The seed's slide drops the factor σ_i in the numerator (at t = 0 the printed bounds give w₀/σ, not w₀).
    """
    sigma, lam = _positive("sigma", sigma), _positive("lam", lam)
    t = _times(t, sigma)
    w0 = np.asarray(w0, dtype=np.float64)
    x = eta * sigma
    num = w0 if variant == "printed" else sigma * w0
    if variant in ("seed", "printed"):
        f_lo, f_hi = np.exp(-(2 * x - 4 * x**2) * t), np.exp(-(2 * x + x**2) * t)
    elif variant == "proved":
        f_lo, f_hi = (1 + x) ** (-2.0 * t), (1 - 2 * x) ** t
    else:
        raise ConfigError(f"variant must be 'seed', 'proved' or 'printed', got {variant!r}")
    lower = num / ((sigma - lam * w0) * f_lo + lam * w0)
    upper = num / ((sigma - lam * w0) * f_hi + lam * w0)
    return lower, upper


# ---------------------------------------------------------------------------------------------
# the limit δ → ∞ measured directly: how fast each component reaches its plateau value as δ grows


def plateau_rates(s, sigma, *, eta=None):
    """(g, learned): the rate g_i at which component i approaches its plateau value as δ → ∞ at a fixed
    rescaled time s (seed 004: W(δs) → W^{k,*} for 1/σ_k < s < 1/σ_{k+1}).

    The distance of w_i(δs) to its plateau value (σ_i/λ_i once learned, 0 before) is c_i e^{−2δ g_i}(1 + o(1))
    with a δ-independent c_i, so doubling δ divides it by e^{2δ g_i}:

        flow (s = t/δ):      g_i = |σ_i s − 1|, learned when σ_i s > 1 (T_i = 1/σ_i, the seed's);
        GD (s = steps/δ):    a = ln(1 + ησ), b = −½ ln(1 − 2ησ); unlearned 1 − a s (growth by (1 + ησ)² per
                             step), learned (s − 1/a)·b (contraction by 1 − 2ησ per step); the transition is
                             at s = 1/a = 1/ln(1 + ησ_i), the seed's 1/(ησ_i) to first order in η.

    g_i = 0 exactly at a transition; between transitions every g_i > 0 and W(δs) → W^{k,*} exponentially.
    """
    sigma = _positive("sigma", sigma)
    s = np.asarray(s, dtype=np.float64)
    if eta is None:
        learned = sigma * s > 1.0
        return np.abs(sigma * s - 1.0), learned
    a = np.log1p(eta * sigma)
    b = -0.5 * np.log1p(-2.0 * eta * sigma)
    learned = a * s > 1.0
    return np.where(learned, (s - 1.0 / a) * b, 1.0 - a * s), learned


def plateau_rate_remainder(s, sigma, lam, delta, *, eta=None) -> np.ndarray:
    """A bound on |ρ_i − g_i|, ρ_i = ln(D_i(δ)/D_i(2δ))/(2δ) the rate measured from the distances D_i of
    component i to its plateau value at δ and 2δ (same rescaled time s), g_i from ``plateau_rates``.

    With ln D_i(Δ) = K_i − 2Δ g_i + e_i(Δ) (K_i independent of Δ), |ρ_i − g_i| ≤ (|e_i(δ)| + |e_i(2δ)|)/(2δ).
    x = e^{−2Δg}, y = e^{−2Δ}, L = σ/λ:

        flow, unlearned: D = x/(1 + (λ/σ)(x − y))                   |e| ≤ (λ/σ) x
        flow, learned:   D = L² x (1 − y/L)/(1 + (L − y) x)          |e| ≤ L x − ln(1 − y/L)
        GD, unlearned:   ln w = −2Δ + 2k ln(1+ησ) + S, S = 2Σ_j ln(1 − ηλw_j/(1+ησ)): with w_j growing by at
                         least q = (1 + η(σ − λx̂))² per step up to x̂ = x(1+ησ)² (one step past k, for the
                         interpolation), |e| ≤ |S| ≤ 2ηλ x̂ q / ((1 + ησ − ηλx̂)(q − 1))
        GD, learned:     z = 1/w − λ/σ is linearized by its Koenigs function h (h(Φ(z)) = (1 − 2ησ) h(z)):
                         ln h(z_k) = ln h(z_0) + k ln(1 − 2ησ) exactly; |ln h(z) − ln z| ≤ c_h z with
                         c_h = η²σ³(3 + ησ)/(λ(1 − 2ησ)(1 − (1+ησ)^{−2})), z_k ≤ x̄ = e^{−2Δ(a s − 1)}(1+ησ)²
                         (the proved bound z_{t+1} ≤ z_t (1+ησ)^{−2}), D = L²z/(1 + Lz), and the start enters
                         through the growth phase as in the unlearned case with x̂ = y (times b/a):
                         |e| ≤ (L + c_h) x̄ + (b/a)·|S|(y). The periodic part of the conjugacy between the
                         two linearizations is exponentially small in 1/(ησ) and is not bounded here
                         (tests/test_regression_theory.py checks the bound against the exact recursion).

    For η → 0 the GD bounds reduce to the flow's. Returns inf where a bound does not apply (x̂ ≥ σ/λ).
    """
    sigma, lam = _positive("sigma", sigma), _positive("lam", lam)
    s = np.asarray(s, dtype=np.float64)
    g, learned = plateau_rates(s, sigma, eta=eta)
    L = sigma / lam

    def e_bound(Delta):
        x, y = np.exp(-2.0 * Delta * g), np.exp(-2.0 * Delta)
        if eta is None:
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(learned, L * x - np.log1p(-y / L), x / L)

        def growth_sum(xh):
            q = (1.0 + eta * (sigma - lam * xh)) ** 2
            with np.errstate(divide="ignore", invalid="ignore"):
                val = 2 * eta * lam * xh * q / ((1 + eta * sigma - eta * lam * xh) * (q - 1))
            return np.where((xh < L) & (q > 1), val, np.inf)

        a = np.log1p(eta * sigma)
        b = -0.5 * np.log1p(-2.0 * eta * sigma)
        unlearned = growth_sum(x * (1 + eta * sigma) ** 2)
        c_h = (
            eta**2
            * sigma**3
            * (3 + eta * sigma)
            / (lam * (1 - 2 * eta * sigma) * (1 - (1 + eta * sigma) ** -2.0))
        )
        z_bar = np.exp(-2.0 * Delta * (a * s - 1.0)) * (1 + eta * sigma) ** 2
        learned_b = (L + c_h) * z_bar + (b / a) * growth_sum(np.full_like(sigma, y))
        return np.where(learned, learned_b, unlearned)

    delta = float(delta)
    return (e_bound(delta) + e_bound(2.0 * delta)) / (2.0 * delta)


def log_distance_to_plateau(t, w, limit, learned, at) -> float:
    """ln of the distance of a component w(t) (rising from ≈ 0 towards ``limit``) to its plateau value
    (``limit`` if ``learned``, else 0) at time ``at``, interpolated linearly in the logit ln(w/(limit − w))
    between the two snapshots around it: exact for the logistic closed form of the flow, and for GD exact
    up to the curvature of the recursion's two linearizations (``plateau_rate_remainder``).
    """
    t, w = np.asarray(t, dtype=np.float64), np.asarray(w, dtype=np.float64)
    j = int(np.clip(np.searchsorted(t, at) - 1, 0, t.size - 2))
    with np.errstate(all="ignore"):  # w outside (0, limit): NaN or ±inf, which no comparison passes
        ell = np.log(w[j : j + 2] / (limit - w[j : j + 2]))
        frac = (at - t[j]) / (t[j + 1] - t[j])
        ell_at = ell[0] + frac * (ell[1] - ell[0])
        # distance to 0: w = limit·e^ℓ/(1 + e^ℓ); to limit: limit − w = limit/(1 + e^ℓ)
        return float(np.log(limit) + (ell_at if not learned else 0.0) - np.logaddexp(0.0, ell_at))


def one_layer_rate(s, lam, *, eta=None) -> np.ndarray:
    """The one-layer model (L = 1) from w_0 = e^{−2δ}: ẇ = σ − λw (flow) or w ← w − η(λw − σ) (GD), so
    σ/λ − w = (σ/λ − w_0)e^{−λt} or (σ/λ − w_0)(1 − ηλ)^k: at a fixed rescaled time s (t = sδ or k = sδ)
    the distance to the least-squares value σ/λ decays in δ at the rate λs/2 or −ln(1 − ηλ)s/2 (the
    convention of ``plateau_rates``: D ∝ e^{−2δ·rate}), with no transition: every component at once."""
    lam = _positive("lam", lam)
    s = np.asarray(s, dtype=np.float64)
    return lam * s / 2.0 if eta is None else -np.log1p(-eta * lam) * s / 2.0
