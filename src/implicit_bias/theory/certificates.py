"""Duality certificates for the convex limits of the Hadamard flows (seed 003, issue 23 §1).

The flow of a Hadamard model from a positive start is a mirror flow: its limit minimizes a separable
potential Φ(z) = Σ_i ψ_i(z_i) − τᵀz over {Az = y} (and z ≥ 0 for the positive model), and along the
flow ∇Φ(x(t)) = Aᵀλ(t) with λ = −c ν, ν(t) = ∫₀ᵗ r ds, r = Ax − y (``optim/mirror.py``). So the run
itself supplies a dual point. The potentials, with s = ∇Φ(z) and their conjugates Φ*(s) = Σψ*_i:

    signed N = 2 ("hyperbolic", β = 2α²)     ψ = z arcsinh(z/β) − √(z² + β²)      ψ* = β cosh s
        x = u² − v², u(0) = v(0) = α: x = β sinh(s), s = −4Aᵀν (Woodworth et al. 2020)
    positive N = 2 ("entropy", x0 = x̃(0))   ψ = z log(z/x0) − z                   ψ* = x0 eˢ
        x = x0 exp(s), s = −4Aᵀν
    positive N ≥ 3 ("power", h = x0^{2/N−1}) ψ = k(2hz − N z^{2/N})               ψ* = (N−2)k (h − s/2k)^{−2/(N−2)}
        x^{2/N−1} = h − s/2k; with k = 1, s = −2N(N−2)Aᵀν (D_F(·, x̃(0)) of ``baselines.l1.bregman``);
        the seed's g(z) = 2‖z‖₁ − NΣz^{2/N}x0^{1−2/N} is k = x0^{1−2/N}, h = 1/k (the same minimizer
        for a uniform x0, another for a general one)
    signed N ≥ 3 ("signed_power", a = α^{2−N})  ψ* = (N−2)/2·[(a − s)^{−2/(N−2)} + (a + s)^{−2/(N−2)}]
        x = (a − s)^{−N/(N−2)} − (a + s)^{−N/(N−2)} (= u^N − v^N with u^{2−N} = a − s), s = −N(N−2)Aᵀν;
        ψ(z) = z s(z) − ψ*(s(z)), s(z) by Newton's method inside a bisection bracket

A tilt τ enters as ψ*(s + τ) (GD's limit below). Each ψ is strictly convex with a diagonal Hessian
h(z) = ψ''(z) that *decreases* in |z| (1/√(z²+β²), 1/z, 2k(1−2/N)z^{2/N−2}, 1/x'(s(z))).

The certificate (``certify``). Given any dual point λ, let x_λ = ∇Φ*(Aᵀλ) (the primal point λ
determines; for the exact flow x_λ = x(T)), r_λ = Ax_λ − y, and D(λ) = λᵀy − Φ*(Aᵀλ) the Lagrangian
dual. For every z in the domain, Fenchel–Young with equality at (x_λ, Aᵀλ) gives the identity

    Φ(z) = D(λ) + λᵀ(Az − y) + D_Φ(z, x_λ)                          (D_Φ the Bregman divergence)

so for the minimizer x* (feasible) Φ(x*) = D(λ) + D_Φ(x*, x_λ) ≤ Φ(x̂) for any feasible x̂, i.e.

    D_Φ(x*, x_λ) ≤ G := Φ(x̂) − D(λ) = D_Φ(x̂, x_λ)  (+ |λᵀ(Ax̂ − y)|, round-off of x̂'s feasibility)

with x̂ from x_λ by Newton's method for min Φ s.t. Az = y (``feasible_points``; its first step is
the correction Δ = −H⁻¹Aᵀ(AH⁻¹Aᵀ)⁺r_λ, H = ∇²Φ(x_λ), which minimizes ΔᵀHΔ and is relative on small
coordinates; damped steps keep x̂ > 0 in the positive domain), and the same from x(λ'), λ' from λ
by damped Newton ascent on D (``dual_newton``: x(λ') stays in the domain however far a small
coordinate must move, where the primal steps, cut at 99% of the way to 0, stall); the certificate
is the one of least bound over these x̂ (G = ∞ if no feasible x̂ is reached). G
is computed as D_Φ(x̂, x_λ), by Gauss–Legendre quadrature of ∫(b − t)h(t)dt where |x̂_i − x_λ,i| is
small against the distance to h's singularity (no cancellation), directly otherwise (with a
round-off allowance).

From D_Φ to a distance. With d = x* − x_λ, every term of D_Φ(x*, x_λ) = Σ_i D_ψ(x*_i, x_λ,i) is ≥ 0
and so ≤ G: inverting each D_ψ(·, x_λ,i) (monotone on either side) gives |d_i| ≤ r_i exactly
(``Potential.radii``), a box around x_λ. On it D_ψ(b, a) ≥ ½(b − a)² min_{[a,b]} h ≥ ½d_i² h_i with
h_i = h at the box's far end (h decreases in |z|), so dᵀHd ≤ 2G, H = diag h. Also Ad = −r_λ = AΔ for
Δ = x̂ − x_λ, so d − Δ ∈ null(A) and, by the triangle inequality in the H-norm,

    ‖d‖₂ ≤ min( ‖r‖₂ , ‖Δ‖ + (√(2G) + ‖H^{1/2}Δ‖) / √μ ),   μ = min_{n ∈ null(A), ‖n‖=1} nᵀHn

the *modulus*: the smallest curvature of Φ along null(A) over that box. It is bounded below without
an eigensolver (whose round-off scales with max h, up to 1e18 here): for S the k coordinates of
smallest curvature and O the rest, n ∈ null(A) has σ_min(A_S)‖n_S‖ ≤ ‖A_O‖‖n_O‖, so
μ ≥ (h_min ρ² + min_O h)/(1 + ρ²), ρ = ‖A_O‖/σ_min(A_S); k = 0 is the plain modulus min_i h (also
reported, ``modulus_box``). The best k is taken. Curvature along null(A) is what matters: a null
vector cannot live on the few large coordinates alone (σ_min(A_S) > 0), and on the small ones h is
large. The run's own point x (x(T), off its dual point by the integrator's error) is then within
‖x − x_λ‖ + that bound of x*.

GD on x = u² − v² (``gd_product``, ``gd_potential``). L = ½‖A(u² − v²) − y‖² has ∇_u L = 2u ⊙ g,
∇_v L = −2v ⊙ g, g = Aᵀr, so one GD step is u ← u(1 − 2ηg), v ← v(1 + 2ηg) and from u(0) = v(0) = α

    x_k = α²[∏(1 − 2ηg_j)² − ∏(1 + 2ηg_j)²] = −2α² ∏(1 − 4η²g_j²) · sinh(2 Σ_j artanh(2ηg_j))

(∏(1 ∓ 2ηg)² = P·exp(∓2Σ artanh(2ηg)), P = ∏(1 − 4η²g²)), exactly, for any gradient sequence (GD
or SGD) with |2ηg_j| < 1. So arcsinh(x_k/(2α_k²)) = −2Σ artanh(2ηg_j) with α_k² = α² P_k per
coordinate: the effective, smaller α_∞ of Even, Pesme, Gunasekar & Flammarion (NeurIPS 2023). Since
artanh(z) = z + ρ(z), ρ(z) = z³/3 + …, the mirror coordinate is −4ηAᵀΣr_j (in range(Aᵀ)) plus
τ = −2Σρ(2ηg_j) (not): the GD limit minimizes the *tilted* potential Φ_{α_∞}(z) − τᵀz over Az = y,
with the dual point λ = −4ηΣ_j r_j (∇(Φ_{α_K} − τ_Kᵀz)(x_K) = Aᵀλ_K holds exactly at every step).
τ is O((ηg)³), one order beyond log(α_∞/α) = O((ηg)²), but not negligible at large steps: with
max|2ηg| = 0.7 the potential Φ_{α_∞} without τ misses GD's limit by ~3e-2 (``sparse_signed``).
"""

import dataclasses

import numpy as np

from implicit_bias.errors import ConfigError

KINDS = ("hyperbolic", "entropy", "power", "signed_power")
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(24)
_T = 0.5 * (_NODES + 1.0)  # nodes on [0, 1]
_W = 0.5 * _WEIGHTS
EPS = np.finfo(np.float64).eps


@dataclasses.dataclass(frozen=True, eq=False)
class Potential:
    """Φ(z) = Σ_i ψ_i(z_i) − τᵀz (module docstring). ``scale``: β (hyperbolic), x0 (entropy), h
    (power), a = α^{2−N} (signed_power); ``weight``: k (power); ``tilt``: τ."""

    kind: str
    scale: np.ndarray
    depth: int = 2
    weight: np.ndarray | None = None
    tilt: np.ndarray | None = None
    name: str = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ConfigError(f"potential kind must be one of {KINDS}, got {self.kind!r}")
        scale = np.asarray(self.scale, dtype=np.float64)
        if not np.all(scale > 0):
            raise ConfigError(f"the scale of the {self.kind} potential must be positive")
        object.__setattr__(self, "scale", scale)
        for f in ("weight", "tilt"):
            v = getattr(self, f)
            default = 1.0 if f == "weight" else 0.0
            v = np.broadcast_to(default if v is None else np.asarray(v, dtype=np.float64),
                                scale.shape).copy()  # fmt: skip
            object.__setattr__(self, f, v)
        if self.kind in ("power", "signed_power") and self.depth < 3:
            raise ConfigError(f"the {self.kind} potential is for depth N >= 3, got {self.depth}")

    @property
    def signed(self) -> bool:
        return self.kind in ("hyperbolic", "signed_power")

    # --- ψ, ψ', ψ'', ψ*, (ψ*)' without the tilt -------------------------------------------------

    def _psi(self, z):
        z = np.asarray(z, dtype=np.float64)
        c, k, N = self.scale, self.weight, self.depth
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.kind == "hyperbolic":
                return z * np.arcsinh(z / c) - np.hypot(z, c)
            if self.kind == "entropy":
                zp = np.where(z > 0, z, 1.0)
                return np.where(z > 0, z * np.log(zp / c) - z, np.where(z == 0, 0.0, np.inf))
            if self.kind == "power":
                zp = np.maximum(z, 0.0)
                return np.where(z >= 0, k * (2 * c * zp - N * zp ** (2 / N)), np.inf)
            s = self._dpsi(z)
            return z * s - self._conj(s)

    def _dpsi(self, z):
        z = np.asarray(z, dtype=np.float64)
        c, k, N = self.scale, self.weight, self.depth
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.kind == "hyperbolic":
                return np.arcsinh(z / c)
            if self.kind == "entropy":
                return np.log(z / c)
            if self.kind == "power":
                return 2 * k * (c - z ** (2 / N - 1))
        # signed_power: solve x(s) = z on (−a, a), x increasing: Newton kept inside a bisection
        # bracket (quadratic convergence; a bisection step wherever Newton would leave it)
        q = N / (N - 2)
        lo, hi = -c * np.ones_like(z), c * np.ones_like(z)
        s = np.clip(z / (2 * q * c ** (-q - 1)), 0.5 * lo, 0.5 * hi)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            for _ in range(200):
                f = self._dconj(s) - z
                lo, hi = np.where(f < 0, s, lo), np.where(f > 0, s, hi)
                slope = q * ((c - s) ** (-q - 1) + (c + s) ** (-q - 1))
                newton = s - f / slope
                inside = np.isfinite(newton) & (newton > lo) & (newton < hi)
                nxt = np.where(f == 0, s, np.where(inside, newton, 0.5 * (lo + hi)))
                if np.all(np.abs(nxt - s) <= 2 * EPS * np.maximum(np.abs(s), 1e-300)):
                    return nxt
                s = nxt
        return s

    def hessian(self, z) -> np.ndarray:
        """h(z) = ψ''(z), the diagonal of ∇²Φ (decreasing in |z|; inf at 0 for the positive kinds)."""
        z = np.asarray(z, dtype=np.float64)
        c, k, N = self.scale, self.weight, self.depth
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if self.kind == "hyperbolic":
                return 1.0 / np.hypot(z, c)
            if self.kind == "entropy":
                return np.where(z > 0, 1.0 / np.where(z > 0, z, 1.0), np.inf)
            if self.kind == "power":
                return np.where(z > 0, 2 * k * (1 - 2 / N) * np.where(z > 0, z, 1.0) ** (2 / N - 2),
                                np.inf)  # fmt: skip
            s = self._dpsi(z)
            q = N / (N - 2)
            return 1.0 / (q * ((c - s) ** (-q - 1) + (c + s) ** (-q - 1)))

    def _conj(self, s):
        s = np.asarray(s, dtype=np.float64)
        c, k, N = self.scale, self.weight, self.depth
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if self.kind == "hyperbolic":
                return c * np.cosh(s)
            if self.kind == "entropy":
                return c * np.exp(s)
            if self.kind == "power":
                base = c - s / (2 * k)
                return np.where(base > 0, (N - 2) * k * np.abs(base) ** (-2 / (N - 2)), np.inf)
            p = -2 / (N - 2)
            ok = np.abs(s) < c
            val = 0.5 * (N - 2) * (np.abs(c - s) ** p + np.abs(c + s) ** p)
            return np.where(ok, val, np.inf)

    def _dconj(self, s):
        s = np.asarray(s, dtype=np.float64)
        c, k, N = self.scale, self.weight, self.depth
        q = N / (N - 2) if N > 2 else 0.0
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if self.kind == "hyperbolic":
                return c * np.sinh(s)
            if self.kind == "entropy":
                return c * np.exp(s)
            if self.kind == "power":
                base = c - s / (2 * k)
                return np.where(base > 0, np.abs(base) ** (-q), np.nan)
            ok = np.abs(s) < c
            return np.where(ok, np.abs(c - s) ** (-q) - np.abs(c + s) ** (-q), np.nan)

    def _radius(self, a):
        """Distance from a to the nearest singularity of h (complex plane), where known (else 0:
        the divergence is then computed directly, with a round-off allowance)."""
        if self.kind == "hyperbolic":
            return np.hypot(a, self.scale)
        if self.kind in ("entropy", "power"):
            return np.maximum(a, 0.0)
        return np.zeros_like(a)

    # --- the potential with its tilt --------------------------------------------------------------

    def value(self, z) -> float:
        """Φ(z) = Σψ_i(z_i) − τᵀz (inf outside the domain)."""
        z = np.asarray(z, dtype=np.float64)
        return float(np.sum(self._psi(z)) - np.sum(self.tilt * z))

    def grad(self, z) -> np.ndarray:
        """∇Φ(z) = ψ'(z) − τ (the mirror coordinate)."""
        return self._dpsi(z) - self.tilt

    def conj(self, s) -> float:
        """Φ*(s) = Σψ*_i(s_i + τ_i) (inf outside its domain)."""
        return float(np.sum(self._conj(np.asarray(s, dtype=np.float64) + self.tilt)))

    def grad_conj(self, s) -> np.ndarray:
        """∇Φ*(s) = (ψ*)'(s + τ): the primal point of the mirror coordinate s (NaN outside)."""
        return self._dconj(np.asarray(s, dtype=np.float64) + self.tilt)

    def in_domain(self, z) -> bool:
        z = np.asarray(z, dtype=np.float64)
        ok = np.all(np.isfinite(z))
        return bool(ok and (self.signed or np.all(z >= 0)))

    def divergence_terms(self, b, a, *, at_a=None) -> tuple[np.ndarray, np.ndarray]:
        """Per coordinate (D_ψ(b_i, a_i), a bound on its round-off): ∫_a^b (b − t)h(t)dt by 24-point
        Gauss–Legendre where |b − a| ≤ radius(a)/4 (h analytic on a disc 4× the segment: error far
        below 1e-16 relative), else ψ(b) − ψ(a) − ψ'(a)(b − a) directly; inf outside the domain.
        ``at_a``: (ψ(a), ψ'(a)) if already known."""
        a = np.asarray(a, dtype=np.float64)
        b = np.asarray(b, dtype=np.float64)
        d = b - a
        near = np.abs(d) <= 0.25 * self._radius(a)
        quad = np.zeros_like(d)
        with np.errstate(invalid="ignore", over="ignore"):
            if np.any(near):
                t = a[None, :] + _T[:, None] * d[None, :]  # (24, n): broadcasts with the scale
                quad = d**2 * ((_W * (1 - _T)) @ self.hessian(t))
            pa, ga = (self._psi(a), self._dpsi(a)) if at_a is None else at_a
            pb = self._psi(b)
            direct = pb - pa - ga * d
            slack = 8 * EPS * (np.abs(pa) + np.abs(pb) + np.abs(ga * d))
        D = np.where(near, quad, direct)
        err = np.where(near, 8 * EPS * np.abs(quad), slack)
        bad = ~np.isfinite(D) | (~self.signed & (b < 0))
        return np.where(bad, np.inf, np.maximum(D, 0.0)), np.where(bad, np.inf, err)

    def divergence(self, b, a) -> tuple[float, float]:
        """(D_Φ(b, a), a bound on its round-off error): the sum of ``divergence_terms``."""
        D, err = self.divergence_terms(b, a)
        return float(np.sum(D)), float(np.sum(err))

    def radii(self, a, G: float) -> tuple[np.ndarray, np.ndarray]:
        """(r⁻, r⁺) per coordinate: every b with D_ψ(b_i, a_i) ≤ G has b_i − a_i ∈ [−r⁻_i, r⁺_i] (D is
        monotone on each side of a; bisection, keeping the end where D − round-off > G). For the
        positive kinds r⁻ stops at the domain's edge a_i."""
        a = np.asarray(a, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            at_a = (self._psi(a), self._dpsi(a))

        def outside(t):
            D, err = self.divergence_terms(a + t, a, at_a=at_a)
            return D - err > G

        out = []
        for sign in (-1.0, 1.0):
            edge = np.full_like(a, np.inf) if (self.signed or sign > 0) else a.copy()
            hi = np.minimum(np.maximum(np.abs(a), 1e-300), edge)
            for _ in range(2100):  # double until D > G (or the domain's edge)
                grow = ~outside(sign * hi) & (hi < edge)
                if not np.any(grow):
                    break
                hi = np.where(grow, np.minimum(2 * hi, edge), hi)
            at_edge = ~outside(sign * hi)  # D ≤ G up to the edge: the radius is the edge
            lo = np.zeros_like(a)
            for _ in range(64):  # [0, hi] with hi ≤ 2× the root (or its first guess): to 2⁻⁶⁴
                mid = 0.5 * (lo + hi)
                o = outside(sign * mid)
                hi, lo = np.where(o, mid, hi), np.where(o, lo, mid)
            out.append(np.where(at_edge, edge, hi))
        return out[0], out[1]


def hyperbolic(alpha, *, tilt=None) -> Potential:
    """Signed N = 2 from u(0) = v(0) = α (α may be a vector: GD's α_∞): β = 2α²."""
    return Potential("hyperbolic", 2 * np.asarray(alpha, dtype=np.float64) ** 2, tilt=tilt,
                     name="hyperbolic entropy Φ_α")  # fmt: skip


def entropy(x0) -> Potential:
    """Positive N = 2 from x̃(0) = x0: Φ(z) = Σ z log(z/x0) − z (D_F(·, x0) up to a constant)."""
    return Potential("entropy", x0, name="relative entropy D_F(·, x̃(0))")


def power(x0, depth: int, *, form: str = "divergence") -> Potential:
    """Positive N ≥ 3 from x̃(0) = x0: D_F(·, x0) ∝ Σ(2 z x0^{2/N−1} − N z^{2/N}) ("divergence"), or
    the seed's g(z) = 2‖z‖₁ − NΣz^{2/N}x0^{1−2/N} ("seed")."""
    x0 = np.asarray(x0, dtype=np.float64)
    if form == "divergence":
        return Potential("power", x0 ** (2 / depth - 1), depth=depth, name="D_F(·, x̃(0))")
    if form == "seed":
        # 2z − N w z^{2/N}, w = x0^{1−2/N}: k = w, kh = 1 (= D_F times the constant w iff x0 is)
        w = x0 ** (1 - 2 / depth)
        return Potential("power", 1.0 / w, depth=depth, weight=w, name="the seed's g")
    raise ConfigError(f"form must be 'divergence' or 'seed', got {form!r}")


def signed_power(alpha, depth: int) -> Potential:
    """Signed N ≥ 3 from u(0) = v(0) = α: a = α^{2−N}."""
    return Potential("signed_power", np.asarray(alpha, dtype=np.float64) ** (2.0 - depth),
                     depth=depth, name=f"signed depth-{depth} potential")  # fmt: skip


def for_model(model, params0=None, *, form: str = "divergence") -> Potential:
    """The potential whose minimizer over {Az = y} (z ≥ 0) is the flow limit of a Hadamard ``model``
    (identical factors) from ``params0`` (default α·1; the signed kinds need u(0) = v(0) uniform)."""
    N = int(model.depth)
    p = np.asarray(model.init_params() if params0 is None else params0, dtype=np.float64)
    if model.signed:
        u0, v0 = p[0, 0], p[1, 0]
        if not (np.all(u0 == v0) and np.ptp(u0) == 0):
            raise ConfigError("the signed potentials here need u(0) = v(0) = α·1")
        alpha = np.full(u0.shape, float(u0[0]))
        return hyperbolic(alpha) if N == 2 else signed_power(alpha, N)
    x0 = p[0] ** N
    return entropy(x0) if N == 2 else power(x0, N, form=form)


def dual_from_nu(potential: Potential, nu) -> np.ndarray:
    """The flow's dual point λ = −cν from its integrated residual ν(T) (``mirror_flow``'s nu_final)."""
    N = potential.depth
    if potential.kind in ("hyperbolic", "entropy"):
        c = 4.0
    elif potential.kind == "power":
        if not np.allclose(potential.weight, 1.0):
            raise ConfigError("dual_from_nu: the flow's dual point is for the D_F form (k = 1)")
        c = 2.0 * N * (N - 2)
    else:
        c = float(N * (N - 2))
    return -c * np.asarray(nu, dtype=np.float64)


def dual_from_point(potential: Potential, A, x) -> np.ndarray:
    """A dual point recomputed from a run's final x (any solver): the λ whose Aᵀλ is nearest to the
    mirror coordinate ∇Φ(x) in the H⁻¹-weighted norm (H = ∇²Φ(x)): small coordinates, whose mirror
    coordinate an integrator knows least well, weigh least."""
    A = np.asarray(A, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    if not potential.signed:
        x = np.maximum(x, np.finfo(np.float64).tiny)
    s = potential.grad(x)
    w = 1.0 / np.sqrt(potential.hessian(x))
    lam, *_ = np.linalg.lstsq(w[:, None] * A.T, w * s, rcond=None)
    return lam


@dataclasses.dataclass(frozen=True)
class Certificate:
    """What ``certify`` proves: ‖x − x*‖₂ ≤ bound, x* = argmin Φ over {Az = y} (z ≥ 0).

    primal Φ(x̂) of the feasible correction x̂, dual D(λ), gap G ≥ Φ(x̂) − Φ(x*) ≥ D_Φ(x*, x_λ) (computed
    as D_Φ(x̂, x_λ) + round-off), feasibility ‖Ax − y‖ of the run's point, modulus μ (smallest
    curvature of Φ along null(A) over the box |z − x_λ| ≤ radius), modulus_box (min_i h over that box,
    the plain strong-convexity modulus), distance F ≥ ‖x_λ − x*‖, offset ‖x − x_λ‖, bound = offset +
    distance."""

    primal: float
    dual: float
    gap: float
    feasibility: float
    modulus: float
    modulus_box: float
    radius: float
    distance: float
    offset: float
    bound: float
    lam: np.ndarray = dataclasses.field(repr=False)
    x_lam: np.ndarray = dataclasses.field(repr=False)

    def as_dict(self) -> dict:
        """The scalar fields (for ``checks.certified``)."""
        return {f.name: float(getattr(self, f.name)) for f in dataclasses.fields(self)
                if f.name not in ("lam", "x_lam")}  # fmt: skip


def null_modulus(A, h) -> float:
    """A lower bound on min {nᵀdiag(h)n : An = 0, ‖n‖ = 1} (module docstring): the best split of the
    coordinates into the k of smallest curvature S (σ_min(A_S) > 0) and the rest O."""
    A = np.asarray(A, dtype=np.float64)
    h = np.asarray(h, dtype=np.float64)
    m, n = A.shape
    if np.any(~np.isfinite(h)):  # curvature inf (a positive coordinate at 0): bound by the rest
        h = np.where(np.isfinite(h), h, np.finfo(np.float64).max)
    order = np.argsort(h, kind="stable")
    best = float(h[order[0]])
    for k in range(1, min(m, n - 1) + 1):
        S, O = order[:k], order[k:]
        sig = np.linalg.svd(A[:, S], compute_uv=False)
        smin = float(sig[-1])
        if smin <= 1e3 * EPS * float(sig[0]) or smin == 0.0:
            break
        rho2 = (float(np.linalg.norm(A[:, O], 2)) / smin) ** 2
        best = max(best, (float(h[order[0]]) * rho2 + float(h[O].min())) / (1.0 + rho2))
    return best


def _newton_primal(potential: Potential, A, y, z, s_lam, tol: float, max_steps: int):
    """Infeasible-start Newton for min Φ(z) − s_λᵀz s.t. Az = y (the same minimizer as Φ on the
    affine set, s_λ ∈ range(Aᵀ)) from z; (the iterate of least Φ met that is feasible to ``tol``,
    or None; its Φ; steps). The start itself is not among them: ``feasible_points`` offers it as a
    candidate of its own. It stops where an iterate or step is not finite (a start far off the
    mirror manifold, e.g. a truncated run, can send Newton to 1e50)."""
    with np.errstate(all="ignore"):  # non-finite values are tested for explicitly
        return _newton_primal_steps(potential, A, y, z, s_lam, tol, max_steps)


def _newton_primal_steps(potential, A, y, z, s_lam, tol, max_steps):
    # Φ ranks only the Newton iterates, each feasible to the round-off of its own solve: the
    # start, feasible merely to ``tol``, can have a lower Φ than min Φ on {Az = y} and would win
    # while its gap carries |λᵀ(Az − y)| ~ |λ|·tol (regime_diagonal: gap 1.8e-13 instead of 3e-17,
    # bound 1.2e-6 instead of 6e-9); ``certify`` compares candidates by their bounds instead
    best, best_val = None, np.inf
    for k in range(1, max_steps + 1):
        Hinv = 1.0 / potential.hessian(z)
        # a positive coordinate at 0 (underflow) stays there
        g = np.where(Hinv > 0, potential.grad(z) - s_lam, 0.0)  # off the dual point: small
        if not (np.all(np.isfinite(Hinv)) and np.all(np.isfinite(g))):
            break  # diverged (a start far off the mirror manifold): no further candidate
        D = np.sqrt(Hinv)
        AD = A * D[None, :]
        v, *_ = np.linalg.lstsq(AD, (y - A @ z) + AD @ (D * g), rcond=None)
        p = v - D * g  # the step in the H-scaled coordinates (ΔᵀHΔ = ‖p‖²)
        step = D * p  # minimizes the quadratic model subject to A(z + step) = y
        # D·v carries v's round-off, ~ε‖v‖ on every coordinate, i.e. ~ε·max D/D_i relative to the
        # step D_i²(Aᵀw − g)_i (v = (AD)ᵀw): pure noise where D_i < ε·max D (entropy coordinates at
        # 1e-187, D ~ 1e-93). Below √ε·max D the step is taken as H⁻¹(Aᵀw − g) from the multiplier
        # w (least squares on (AD)ᵀw = v): relative there, and as H⁻¹_i < ε·max H⁻¹ those
        # coordinates' part of A·step is at the round-off level of the rest
        small = D < np.sqrt(EPS) * np.max(D)
        if np.any(small):
            w, *_ = np.linalg.lstsq(AD.T, v, rcond=None)
            step = np.where(small, Hinv * (A.T @ w - g), step)
        if not np.all(np.isfinite(step)):
            break
        t = 1.0
        if not potential.signed:
            neg = step < 0
            if np.any(neg):
                t = min(1.0, 0.99 * float(np.min(z[neg] / -step[neg])))
        z = z + t * step
        if t == 1.0 and np.linalg.norm(A @ z - y) <= tol and potential.in_domain(z):
            val = potential.value(z)
            if val < best_val:
                best, best_val = z.copy(), val
            if float(np.linalg.norm(p)) ** 2 <= 1e-3 * EPS * max(abs(val), 1.0):
                return best, best_val, k
    return best, best_val, max_steps


def dual_newton(potential: Potential, A, y, lam, *, max_steps: int = 100) -> np.ndarray:
    """Damped Newton ascent on the dual D(λ) = λᵀy − Φ*(Aᵀλ) from λ (Boyd & Vandenberghe §9.5 on
    −D): the step Δλ solves AH⁻¹Aᵀ Δλ = r = y − Ax(λ) (H = ∇²Φ at x(λ) = ∇Φ*(Aᵀλ)), its length t
    halved from 1 until the Armijo condition D(λ + tΔλ) ≥ D(λ) + t·rᵀΔλ/4 holds. Where the rise
    t·rᵀΔλ/4 is below D's round-off at the new point, 64ε(|λ|ᵀ|y| + |x|ᵀ|A|ᵀ|λ| + Φ*(Aᵀλ)) (the
    products λᵀy and Aᵀλ, the latter moving Φ* by x = ∇Φ* per unit), D cannot tell (followed on
    noise, a flat dual direction leads to |λ| ~ 1e8): the full step is taken if it lowers ‖r‖
    (Newton's iteration for r(λ) = 0, quadratic near the solution), else the ascent stops; at most
    ``max_steps`` steps. Every x(λ) lies in Φ's domain, so the path can move a small coordinate by
    many orders of magnitude (x_i ∝ exp(Aᵀλ)_i for the entropy) where the primal Newton step,
    linear in z, is cut to 99% of the way to 0. Returns the last λ (the given one if D(λ) is not
    finite)."""
    with np.errstate(all="ignore"):  # non-finite values are tested for explicitly
        return _dual_newton_steps(potential, A, y, np.array(lam, dtype=np.float64), max_steps)


def _dual_newton_steps(potential, A, y, lam, max_steps):
    absA = np.abs(A)

    def dual(l):
        s = A.T @ l
        conj = potential.conj(s)
        x = potential.grad_conj(s)  # ∂Φ*/∂s: what s's round-off, ε|A|ᵀ|λ|, moves Φ* by
        err = np.abs(l) @ np.abs(y) + np.abs(x) @ (absA.T @ np.abs(l)) + abs(conj)
        return float(l @ y - conj), 64 * EPS * float(err)

    d0, _ = dual(lam)
    if not np.isfinite(d0):
        return lam
    for _ in range(max_steps):
        x = potential.grad_conj(A.T @ lam)
        r = y - A @ x
        D = np.sqrt(1.0 / potential.hessian(x))
        if not (np.all(np.isfinite(D)) and np.all(np.isfinite(r))):
            return lam
        AD = A * D[None, :]
        v, *_ = np.linalg.lstsq(AD, r, rcond=None)
        step, *_ = np.linalg.lstsq(AD.T, v, rcond=None)  # (AD)(AD)ᵀ step = r
        dec = float(r @ step)  # the Newton decrement squared, ΔλᵀMΔλ
        t = 1.0
        while True:
            d1, noise = dual(lam + t * step)
            if not 0.25 * t * dec > noise:  # D cannot tell: a full step if it lowers ‖r‖
                t = 1.0
                d1, _ = dual(lam + step)
                x1 = potential.grad_conj(A.T @ (lam + step))
                if not (np.isfinite(d1) and np.linalg.norm(y - A @ x1) < np.linalg.norm(r)):
                    return lam
                break
            if np.isfinite(d1) and d1 >= d0 + 0.25 * t * dec:
                break
            t *= 0.5
        lam, d0 = lam + t * step, d1
    return lam


def feasible_points(potential: Potential, A, y, x_lam, lam, *, max_steps: int = 60) -> list:
    """Points x̂ with Ax̂ = y (to round-off) in Φ's domain, near argmin Φ (none, one or two): Newton's
    method for min Φ(z) s.t. Az = y from the infeasible start x_λ (Boyd & Vandenberghe §10.3),
    each step kept inside the positive domain (at most 99% of the way to 0); its first full step
    is the correction Δ = −H⁻¹Aᵀ(AH⁻¹Aᵀ)⁺r_λ that minimizes ΔᵀHΔ. And the same from x(λ') for λ'
    from ``dual_newton`` (from λ): where closing the residual r_λ moves small coordinates by large
    factors (seed 3 of sparse_bregman, N = 2: the stopped flow's coordinates of the size of r_λ,
    ~1e-9, must move by factors e^{±30}, and those at 1e-187 with them), the primal steps from x_λ
    are cut to 99% of the way to 0 one after another, while x(λ') is feasible to round-off (tried
    only where the first did not converge: its Newton decrement stayed above ~ε|Φ|). Each is the
    feasible point of least Φ met on its path; any feasible x̂ gives a valid certificate."""
    A = np.asarray(A, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    lam = np.asarray(lam, dtype=np.float64)
    z = np.asarray(x_lam, dtype=np.float64).copy()
    tol = 1e3 * EPS * (np.linalg.norm(A, 2) * np.linalg.norm(z) + np.linalg.norm(y))
    first, _, steps = _newton_primal(potential, A, y, z, A.T @ lam, tol, max_steps)
    found = [first]
    if first is not None and steps < max_steps:  # converged: the minimizer to round-off
        return found
    lam2 = dual_newton(potential, A, y, lam)
    s2 = A.T @ lam2
    z2 = potential.grad_conj(s2)
    if np.all(np.isfinite(z2)):
        if np.linalg.norm(A @ z2 - y) <= tol and potential.in_domain(z2):
            found.append(z2.copy())  # x(λ') itself, feasible to tol (seed 3: to 1.5e-13)
        found.append(_newton_primal(potential, A, y, z2.copy(), s2, tol, max_steps)[0])
    return [x for x in found if x is not None]


def feasible_point(potential: Potential, A, y, x_lam, lam, *, max_steps: int = 60):
    """The point of ``feasible_points`` of least Φ (None if there is none)."""
    found = feasible_points(potential, A, y, x_lam, lam, max_steps=max_steps)
    return min(found, key=potential.value) if found else None


def certify(potential: Potential, A, y, x, lam) -> Certificate:
    """The certificate of ``x`` (the run's point) as the minimizer of ``potential`` over {Az = y}
    (z ≥ 0 for the positive kinds), from the dual point ``lam`` (module docstring): the one of
    least bound over the feasible points x̂ of ``feasible_points`` (each bound is valid)."""
    A = np.asarray(A, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    lam = np.asarray(lam, dtype=np.float64)
    s = A.T @ lam
    x_lam = potential.grad_conj(s)
    feas = float(np.linalg.norm(A @ x - y))
    inf = float("inf")
    dual = float(lam @ y - potential.conj(s))
    offset = float(np.linalg.norm(x - x_lam))
    best = Certificate(inf, dual, inf, feas, 0.0, 0.0, inf, inf, offset, inf, lam, x_lam)
    if not (np.all(np.isfinite(x_lam)) and np.isfinite(dual)):
        return best
    for x_hat in feasible_points(potential, A, y, x_lam, lam):
        cert = _certify_with(potential, A, y, x_hat, lam, x_lam, dual, feas, offset)
        if cert.bound < best.bound:
            best = cert
    return best


def _certify_with(potential, A, y, x_hat, lam, x_lam, dual, feas, offset) -> Certificate:
    """``certify``'s bound from one feasible point x̂."""
    primal = potential.value(x_hat)
    D, err = potential.divergence(x_hat, x_lam)
    G = D + err + abs(float(lam @ (A @ x_hat - y)))
    delta = x_hat - x_lam  # a particular solution of Ad = −r_λ
    r_minus, r_plus = potential.radii(x_lam, G)  # each D_ψ(x*_i, x_λ,i) ≤ G bounds |d_i|
    reach = np.maximum(r_minus, r_plus)
    far = np.abs(x_lam) + reach if potential.signed else x_lam + r_plus  # h is least there
    h = potential.hessian(far)
    mu = null_modulus(A, h)
    d_norm = float(np.linalg.norm(delta))
    h_norm = float(np.sqrt(np.sum(h * delta**2)))
    F = d_norm + (np.sqrt(2 * G) + h_norm) / np.sqrt(mu) if mu > 0 else float("inf")
    dist = min(float(np.linalg.norm(reach)), F)
    return Certificate(primal=primal, dual=dual, gap=G, feasibility=feas, modulus=mu,
                       modulus_box=float(np.min(h)), radius=float(np.max(reach)), distance=dist,
                       offset=offset, bound=offset + dist, lam=lam, x_lam=x_lam)  # fmt: skip


def lp_certificate(A, y, Q: float, lam, *, nonneg: bool) -> dict:
    """The ℓ1 LP's own certificate for Q = min ‖z‖₁ over {Az = y} (z ≥ 0 with ``nonneg``): primal Q,
    dual λᵀy, gap Q − λᵀy, and the dual infeasibility max(Aᵀλ) − 1 (``nonneg``) or ‖Aᵀλ‖∞ − 1 (≤ 0
    up to HiGHS's tolerance: then λᵀy ≤ ‖z'‖₁ for every feasible z' by weak duality)."""
    A = np.asarray(A, dtype=np.float64)
    lam = np.asarray(lam, dtype=np.float64)
    s = A.T @ lam
    infeas = float(np.max(s) if nonneg else np.max(np.abs(s))) - 1.0
    dual = float(lam @ np.asarray(y, dtype=np.float64))
    return {"primal": float(Q), "dual": dual, "gap": float(Q) - dual, "dual_infeasibility": infeas}


def lp_line(cert: dict) -> str:
    """The ℓ1 LP certificate in one line."""
    return (f"ℓ1 LP certificate: Q = {cert['primal']:.10g}, dual λᵀy = {cert['dual']:.10g}, gap "
            f"{cert['gap']:.1e}, dual infeasibility {max(cert['dual_infeasibility'], 0.0):.1e}")  # fmt: skip


# ---------------------------------------------------------------------------------------------
# GD on u^{⊙2} − v^{⊙2} (module docstring)


def gd_product(g, alpha, eta) -> np.ndarray:
    """The GD iterates x_k = −2α²∏_{j<k}(1 − 4η²g_j²)·sinh(2Σ_{j<k} artanh(2ηg_j)), k = 1 … K, from
    the gradients g (K, n) of the loss in x (g_j = Aᵀr_j for GD, a mini-batch's for SGD)."""
    g = np.asarray(g, dtype=np.float64)
    z = 2 * eta * g
    if np.any(np.abs(z) >= 1):
        raise ConfigError("the product formula needs |2ηg| < 1 at every step (u, v stay positive)")
    logP = np.cumsum(np.log1p(-(z**2)), axis=0)
    S = np.cumsum(np.arctanh(z), axis=0)
    return -2 * alpha**2 * np.exp(logP) * np.sinh(2 * S)


def effective_alpha(log_P, alpha) -> np.ndarray:
    """α_∞ = α·∏(1 − 4η²g_j²)^{1/2} per coordinate, from log P = Σ_j log(1 − 4η²g_j²)."""
    return alpha * np.exp(0.5 * np.asarray(log_P, dtype=np.float64))


def gd_potential(alpha, log_P, tilt_sum) -> Potential:
    """The potential GD's limit minimizes: Φ_{α_∞}(z) − τᵀz with α_∞ from ``log_P`` and
    τ = −2Σ_j(artanh(2ηg_j) − 2ηg_j) (``tilt_sum`` = Σ_j(artanh(2ηg_j) − 2ηg_j)); the dual point is
    λ = −4ηΣ_j r_j."""
    return hyperbolic(effective_alpha(log_P, alpha), tilt=-2 * np.asarray(tilt_sum))
