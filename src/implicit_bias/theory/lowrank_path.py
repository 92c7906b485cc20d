"""The α → 0 limit path of low-rank factorizations: greedy low-rank learning and closed forms.

Oracles for ``theory.oracles.limit_path`` (the ``LimitPath`` type is defined there), matrix
families (``family="low-rank"``). Times are rescaled, t ≈ t̃·τ(α), with τ(α) = log(1/α)/c at depth 2
and α^{2−N}/c at depth N ≥ 3 (``LimitPath.time_scale``).

**X = UUᵀ on sensing and completion: greedy low-rank learning.** Li, Luo & Lyu, "Towards resolving
the implicit bias of gradient descent for matrix factorization: greedy low-rank learning" (ICLR
2021). For the problem's loss f(X) (``MatrixSensing``: ½Σ(⟨A_i, X⟩ − y_i)²; ``MatrixCompletion``:
(s/2)Σ_{(i,j)∈I}(X_ij − y_ij)²) with its symmetrized gradient G(X) = sym ∇f(X), ``glrl`` runs

    W₀ = 0, U₀ ∈ R^{n×0}
    repeat k = 0, 1, …:  λ = λ_max(−G(W_k)), u its eigenvector; stop if λ ≤ tol·λ_max(−G(0))
        U ← [U_k, √ε u];  U_{k+1} = lim_{t→∞} of U̇ = −∇_U f(UUᵀ) = −2G(UUᵀ)U;  W_{k+1} = U_{k+1}U_{k+1}ᵀ

(SciPy LSODA until ‖G(W)U‖_F ≤ gtol·λ_max(−G(0))·‖U‖_F). Its last point is a global minimizer of f
over X ⪰ 0 (G(W) ⪰ 0 and G(W)W = 0, the KKT conditions), an interpolant when one exists. A top
eigenvalue within a relative ``tie_tol`` of the second raises ConfigError (the direction is not
determined). The width d of the model bounds the number of steps.

*Dependence on ε* (ε is relative to the scale λ_max(−G(0))/‖𝒜‖² of X). Where W_{k+1} is an isolated
local minimizer of f over rank-(k+1) PSD matrices, the limit is the same point for every small ε (ε
only picks the basin): on the n = 5, m = 12 instance of tests/test_lowrank_path.py the points for
ε = 10⁻², …, 10⁻¹⁰ are within 5e-10 of the ε = 10⁻¹² ones (the solver's precision). Where the
minimizers form a manifold (an interpolating set of positive dimension: m = 8 < 9 measurements for
rank 2 at n = 5; ``GLRL.rates`` is then ≈ 0), the limit depends on ε and converges as ε ↓ 0: the last
point moves by 5.7e-6, 8.8e-9, 1.3e-9, 6e-12 from ε = 10⁻², 10⁻⁴, 10⁻⁶, 10⁻⁸ to ε = 10⁻¹². ε = 10⁻⁸
is the default.

**Time scale of UUᵀ.** With U(0) = αU₀ and G₀ = G(0) = −sym 𝒜*(b) (𝒜*(y) for sensing), while X =
O(α²) the flow is linear, U = αe^{−2G₀t}U₀, so for U₀ = I X = α²e^{−4G₀t}: the top eigenvalue is
α²e^{4λ₁t} (λ₁ = λ_max(−G₀)) and reaches O(1) at 4λ₁t = 2 log(1/α). Hence τ(α) = log(1/α)/2 (c = 2)
and t̃₁ = 1/λ₁, exactly as for w^{⊙2} (the diagonal case); λ_max(X) crosses α itself exactly at
t̃ = t̃₁/2 (tests/test_lowrank_path.py, to 1e-6).

*Later jump times: commuting data.* When the symmetrized measurements commute (A_i = V D_i Vᵀ) and
U₀U₀ᵀ = I, the flow stays diagonal in V and is the vector flow x = u ⊙ u on ½‖Dx − b‖²: the path is
Algorithm 1 of Pesme & Flammarion for the positive model (``limit_path_diagonal``), each eigen-
direction integrating its own s_i = −∫∂_i f dt̃ and activating at s_i = 1. Exact. There the greedy
GLRL can pick another direction than the flow (it sees the current gradient only, not the history s):
``notes`` says whether the two paths agree.

*Later jump times: generic (non-commuting) data — a derived prediction, not a theorem.* Write
U(t) = αM(t)U₀ with Ṁ = −2G(t)M and let the singular values of M be e^{2τh_j} (exponents h_j in
units of τ; direction j is O(1) when h_j = 1). While the flow sits at the saddle W̄_k the unsaturated
part of M is multiplied by e^{2τ(t̃ − t̃_k)(−G_k)} on S_k = range(W̄_k)^⊥ (G_k = G(W̄_k) maps S_k to
itself and vanishes on range(W̄_k)). If the singular directions of M are in generic position relative
to the eigenvectors of G_k (no common invariant subspace: the non-commuting case), the singular values
of a product of matrices with exponentially separated scales multiply in sorted order, so

    h_{k+j}(t̃) = h_{k+j}(t̃_k) + μ_j^{(k)}·(t̃ − t̃_k),   j = 1, 2, …     (both lists sorted decreasing)

with μ^{(k)} the eigenvalues of −G_k on S_k, μ₁^{(k)} = GLRL's λ at step k + 1. The next jump is at
h_{k+1} = 1: t̃_{k+1} = t̃_k + (1 − h_{k+1}(t̃_k))/μ₁^{(k)}, starting from h = 0 (the exponents of the
log-norm of the product of matrix exponentials). Hence also: the direction that escapes is GLRL's (the
top eigenvector of −G_k on S_k), which is why GLRL is the α → 0 path for generic data and not for
commuting data. Measured against the flow (a log-QR integration exact at α = 10⁻³⁰, tests): the
jump-time errors fall like 1/log(1/α) (slopes ≈ −1 in log-log); constants grow when μ₁^{(k)} or the
Hessian at a saddle is small (slow valleys take Θ(1) of t̃ per unit of 1/log(1/α)). A step whose
saddle does not gain exactly one rank, or whose G_k commutes with G_{k−1}, ends the prediction: later
times are NaN and ``events[j]["time_predicted"]`` is False.

**Deep matrix, identical init (seed 000).** DeepMatrix W = W_N ⋯ W_1 with W_j(0) = αI on
½‖W − Ŵ‖², Ŵ = V diag(λ) Vᵀ symmetric: every layer stays V diag(d) Vᵀ and each eigenvalue follows
ḋ = −d^{N−1}(d^N − λ) (the per-layer gradient (W_N⋯W_{j+1})ᵀ∇L(W_{j−1}⋯W_1)ᵀ; no factor N, which
would be the gradient of the product w^{⊙N} of ``Hadamard``). For small d, ḋ ≈ λd^{N−1}: at N = 2,
d = αe^{λt} and d² = O(1) at t = log(1/α)/λ (c = 1); at N ≥ 3, d^{2−N} = α^{2−N} − (N − 2)λt blows
up at t = α^{2−N}/((N − 2)λ) (c = N − 2). So t̃_i = 1/λ_i for λ_i > 0 (equal eigenvalues jump
together), negative eigenvalues never escape (Λ₊), and the saddle after the k-th jump is the sum of
the top-k positive eigen-components. The exact times (``flow_time_to_reach``) differ by
O(1/log(1/α)) (N = 2) and O(α^{N−2}) (N ≥ 3) in t̃ (tests). With τ(α) = α^{2−N}/c this c is N − 2, not
the N(N − 2) of the Hadamard model.

**Deep linear regression, spectral init (seed 004).** Gidel, Bach & Lacoste-Julien (2019): under the
aligned assumption (Σ_x = U D_x Uᵀ, Σ_xy = U D_xy Vᵀ, ε = 0) from ``spectral_init(U, V, δ, widths)``
each component w_i = a_i^L (a_i the layers' common singular value, a_i(0) = e^{−2δ/L}) follows
ȧ = a^{L−1}(σ_i − λ_i a^L). This is the deep-matrix dynamics with λ → σ_i at the start, so with the
layer scale α = e^{−2δ/L} (``spectral_alpha``): c = 1 at L = 2 (τ = δ, t_i = δ/σ_i = the seed's
T_i, ``regression.transition_times``) and c = L − 2 at L ≥ 3 (τ = e^{2δ(L−2)/L}/(L − 2), as in
``half_time_depth``); t̃_i = 1/σ_i, and the saddles are the staircase Σ_{top k σ}(σ_i/λ_i)u_iv_iᵀ
(``regression.staircase_limit``). The times are of the form t̃·τ(α) once α is the layer scale.
"""

import dataclasses

import numpy as np
from scipy.integrate import solve_ivp

from implicit_bias.errors import ConfigError, SolverError
from implicit_bias.theory.limit_path import LimitPath, limit_path_diagonal

UUT = "UU^T"


# ---------------------------------------------------------------------------------------------
# the quadratic loss f(X) = ½‖M vec(X) − b‖² of a symmetric X


@dataclasses.dataclass(frozen=True)
class Quadratic:
    """f(X) = ½‖M vec(X) − b‖² over symmetric n×n X, M with symmetrized rows (m × n²)."""

    M: np.ndarray
    b: np.ndarray
    n: int

    def residual(self, X):
        return self.M @ np.asarray(X).ravel() - self.b

    def loss(self, X) -> float:
        return 0.5 * float(np.sum(self.residual(X) ** 2))

    def grad(self, X) -> np.ndarray:
        """The symmetrized gradient G(X) = sym ∇f(X) (M's rows are symmetric matrices)."""
        return (self.M.T @ self.residual(X)).reshape(self.n, self.n)

    @property
    def lipschitz(self) -> float:
        return float(np.linalg.norm(self.M, 2) ** 2)

    def matrices(self) -> np.ndarray:
        """The symmetric measurement matrices (m, n, n)."""
        return self.M.reshape(-1, self.n, self.n)


def _sym(A):
    return (A + np.swapaxes(A, -1, -2)) / 2


def quadratic_of(problem) -> Quadratic:
    """The loss of a MatrixSensing, MatrixCompletion or FullObservation problem on symmetric X."""
    from implicit_bias.problems.completion import MatrixCompletion
    from implicit_bias.problems.full import FullObservation
    from implicit_bias.problems.sensing import MatrixSensing

    if isinstance(problem, MatrixSensing):
        A = np.asarray(problem.A, dtype=np.float64)
        if A.shape[1] != A.shape[2]:
            raise ConfigError(f"X = UUᵀ is square: the measurements are {A.shape[1:]}")
        m, n = A.shape[0], A.shape[1]
        return Quadratic(_sym(A).reshape(m, n * n), np.asarray(problem.y, dtype=np.float64), n)
    if isinstance(problem, MatrixCompletion):
        n1, n2 = problem.shape
        if n1 != n2:
            raise ConfigError(f"X = UUᵀ is square: the completion problem is {n1}×{n2}")
        rows, cols = np.asarray(problem.rows), np.asarray(problem.cols)
        E = np.zeros((rows.size, n1, n1))
        E[np.arange(rows.size), rows, cols] = 1.0
        root = np.sqrt(float(problem.scale))
        return Quadratic(root * _sym(E).reshape(rows.size, n1 * n1),
                         root * np.asarray(problem.y, dtype=np.float64), n1)  # fmt: skip
    if isinstance(problem, FullObservation):
        W = np.asarray(problem.W_hat, dtype=np.float64)
        if W.shape[0] != W.shape[1] or not np.allclose(W, W.T, atol=1e-12 * max(1, abs(W).max())):
            raise ConfigError("X = UUᵀ on full observation needs a square symmetric target Ŵ")
        n = W.shape[0]
        return Quadratic(np.eye(n * n), W.ravel(), n)
    raise ConfigError(f"no quadratic loss for {type(problem).__name__}")


# ---------------------------------------------------------------------------------------------
# greedy low-rank learning


@dataclasses.dataclass(frozen=True)
class GLRL:
    """The steps of greedy low-rank learning.

    points      (K+1, n, n) W_0 = 0, …, W_K
    factors     the limit factors U_k (n × k)
    lambdas     (K,) λ_max(−G(W_{k−1})) at step k (the rate at which the new direction grows)
    directions  (K, n) the eigenvector u added at step k
    spectra     list of K arrays: the eigenvalues (decreasing) of −G(W_{k−1}) on range(W_{k−1})^⊥
    ranks       (K+1,) rank of W_k
    grads       (K+1, n, n) the symmetrized gradient G(W_k) at each point
    top_gap     (K,) the relative gap (λ₁ − λ₂)/λ₁ of −G(W_{k−1}) at step k
    rates       (K+1,) ρ_k: the smallest Hessian eigenvalue of U ↦ f(UUᵀ) at U_k off the gauge
                directions U_kΩ (Ω skew): the flow approaches W_k like e^{−ρ_k t} (NaN at W_0)
    loss        (K+1,) f(W_k)
    stopped     why the loop ended: "stationary" (λ_max(−G(W_K)) ≤ tol: a minimizer over X ⪰ 0) or
                "width" (K = d columns)
    eps         the ε used (absolute: relative ε × the scale of X)
    """

    points: np.ndarray
    factors: tuple
    lambdas: np.ndarray
    directions: np.ndarray
    spectra: tuple
    ranks: np.ndarray
    loss: np.ndarray
    stopped: str
    eps: float
    top_gap: np.ndarray  # (K,) relative gap (λ₁ − λ₂)/λ₁ of −G(W_{k−1}) at step k
    grads: np.ndarray  # (K+1, n, n) G(W_k)
    rates: np.ndarray  # (K+1,) slowest rate of the flow at W_k (NaN at W_0 = 0)


def _rank(W, rel=1e-9) -> int:
    """The numerical rank: positive eigenvalues of a square (symmetric part), singular values of a
    rectangular W (seed 004's p×d staircase)."""
    W = np.asarray(W)
    if W.ndim == 2 and W.shape[0] != W.shape[1]:
        sv = np.linalg.svd(W, compute_uv=False)
        return int(np.sum(sv > rel * max(sv.max(initial=0.0), 1e-300)))
    ev = np.linalg.eigvalsh((W + W.T) / 2)
    return int(np.sum(ev > rel * max(ev.max(initial=0.0), 1e-300)))


def _complement_spectrum(G, W, r):
    """Eigenvalues (decreasing) of −G on range(W)^⊥, where W has rank r."""
    _, V = np.linalg.eigh((W + W.T) / 2)
    P = V[:, : W.shape[0] - r]  # eigenvectors of the n − r smallest eigenvalues of W
    return np.sort(np.linalg.eigvalsh(P.T @ (-G) @ P))[::-1]


def flow_to_limit(q: Quadratic, U0, *, scale: float, rtol=1e-10, gtol=1e-10, horizon=None,
                  max_time=None):  # fmt: skip
    """U(∞) of U̇ = −2G(UUᵀ)U from U0 (SciPy LSODA in doubling chunks) and the time it took.

    Converged when ‖G(UUᵀ)U‖_F ≤ gtol·scale·‖U‖_F (``scale`` = λ_max(−G(0))); SolverError past
    ``max_time`` (default 10⁶/scale; ``glrl`` passes 10⁴ × the step's escape time).
    """
    U = np.array(U0, dtype=np.float64)
    n, k = U.shape
    horizon = 10.0 / scale if horizon is None else float(horizon)
    max_time = 1e6 / scale if max_time is None else float(max_time)
    small = float(np.min(np.linalg.norm(U, axis=0))) if k else 1.0
    atol = max(small, 1e-300) * 1e-6 * rtol

    def rhs(t, u):
        V = u.reshape(n, k)
        return (-2.0 * q.grad(V @ V.T) @ V).ravel()

    def stationary(V):
        return np.linalg.norm(q.grad(V @ V.T) @ V) <= gtol * scale * max(np.linalg.norm(V), 1e-300)

    total, T = 0.0, horizon
    while not stationary(U):
        if total > max_time:
            raise SolverError(
                f"the flow on UUᵀ ({k} columns) did not reach a stationary point (‖G(W)U‖ ≤ "
                f"{gtol:g}·λ₁·‖U‖) by t = {total:.3g}: a degenerate (non-isolated or sublinear) limit"
            )
        sol = solve_ivp(rhs, (0.0, T), U.ravel(), method="LSODA", rtol=rtol, atol=atol)
        if not sol.success:
            raise SolverError(f"LSODA failed on the UUᵀ flow ({k} columns): {sol.message}")
        U = sol.y[:, -1].reshape(n, k)
        total += T
        T *= 2.0
    return U, total


def saddle_rate(q: Quadratic, U) -> float:
    """ρ: the smallest eigenvalue of the Hessian of F(U) = f(UUᵀ) (the flow U̇ = −∇F linearized) at
    U on the complement of the gauge directions UΩ (Ω skew: F is invariant under U ↦ UQ)."""
    U = np.asarray(U, dtype=np.float64)
    n, k = U.shape
    G = q.grad(U @ U.T)
    H = np.empty((n * k, n * k))
    for j in range(n * k):
        V = np.zeros(n * k)
        V[j] = 1.0
        V = V.reshape(n, k)
        D = (U @ V.T + V @ U.T).ravel()
        H[:, j] = (2 * G @ V + 2 * (q.M.T @ (q.M @ D)).reshape(n, n) @ U).ravel()
    H = (H + H.T) / 2
    gauge = [(U @ (np.eye(k)[:, [a]] @ np.eye(k)[[b]] - np.eye(k)[:, [b]] @ np.eye(k)[[a]])).ravel()
             for a in range(k) for b in range(a + 1, k)]  # fmt: skip
    if gauge:
        W, sv, _ = np.linalg.svd(np.array(gauge).T, full_matrices=True)
        r = int(np.sum(sv > 1e-10 * max(sv.max(), 1e-300)))
        C = W[:, r:]  # orthonormal basis of the complement of the gauge directions
        H = C.T @ H @ C
    return float(np.linalg.eigvalsh(H).min())


def glrl(problem, *, max_rank: int | None = None, eps: float = 1e-8, tol: float = 1e-6,
         tie_tol: float = 1e-6, rtol: float = 1e-10, gtol: float = 1e-11) -> GLRL:  # fmt: skip
    """Greedy low-rank learning (Li, Luo & Lyu 2021, module docstring) on ``problem``'s loss.

    ``problem``: MatrixSensing, MatrixCompletion or FullObservation (square), or a ``Quadratic``.
    ``max_rank``: the model's width d (at most that many steps). ``eps``: the new column's squared
    scale relative to λ_max(−G(0))/‖𝒜‖². ``tol``: stop when λ_max(−G(W_k)) ≤ tol·λ_max(−G(0)).
    ``tie_tol``: a top eigenvalue within this relative distance of the second is a tie (ConfigError).
    """
    q = problem if isinstance(problem, Quadratic) else quadratic_of(problem)
    n = q.n
    max_rank = n if max_rank is None else int(min(max_rank, n))
    W = np.zeros((n, n))
    lam0 = float(np.linalg.eigvalsh(-q.grad(W))[-1])
    if lam0 <= 0:
        raise ConfigError(
            "λ_max(−∇f(0)) ≤ 0: the flow on UUᵀ from a vanishing initialization never leaves 0"
        )
    eps_abs = eps * lam0 / q.lipschitz
    U = np.zeros((n, 0))
    points, factors, lambdas, dirs, spectra, ranks, losses, gaps = [W], [U], [], [], [], [0], [], []
    losses.append(q.loss(W))
    stopped = "width"
    for k in range(max_rank):
        G = q.grad(W)
        lam, vecs = np.linalg.eigh(-G)
        if lam[-1] <= tol * lam0:
            stopped = "stationary"
            break
        gap = (lam[-1] - lam[-2]) / abs(lam[-1]) if n > 1 else 1.0
        if gap <= tie_tol:
            raise ConfigError(
                f"GLRL step {k + 1}: the top eigenvalue of −∇f(W_{k}) is degenerate, λ₁ = "
                f"{lam[-1]:.10g} and λ₂ = {lam[-2]:.10g} (relative gap {gap:.2g} ≤ tie_tol "
                f"{tie_tol:g}): a tie, the direction GLRL adds is not determined"
            )
        spectra.append(_complement_spectrum(G, W, ranks[-1]))
        u = vecs[:, -1]
        horizon = np.log(1 / eps) / (4 * lam[-1]) + 10 / lam0  # the escape takes ~log(1/ε)/(4λ)
        U, _ = flow_to_limit(q, np.hstack([U, np.sqrt(eps_abs) * u[:, None]]), scale=lam0,
                             rtol=rtol, gtol=gtol, horizon=horizon, max_time=1e4 * horizon)  # fmt: skip
        W = U @ U.T
        points.append(W)
        factors.append(U)
        lambdas.append(float(lam[-1]))
        dirs.append(u)
        ranks.append(_rank(W))
        losses.append(q.loss(W))
        gaps.append(gap)
    else:
        if np.linalg.eigvalsh(-q.grad(W))[-1] <= tol * lam0:
            stopped = "stationary"
    return GLRL(
        points=np.array(points),
        factors=tuple(factors),
        lambdas=np.array(lambdas),
        directions=np.array(dirs).reshape(len(dirs), n),
        spectra=tuple(spectra),
        ranks=np.array(ranks),
        loss=np.array(losses),
        stopped=stopped,
        eps=eps_abs,
        top_gap=np.array(gaps),
        grads=np.array([q.grad(P) for P in points]),
        rates=np.array([np.nan] + [saddle_rate(q, F) for F in factors[1:]]),
    )


def exponent_times(steps: GLRL, d: int | None = None, *, commute_tol: float = 1e-8):
    """The jump times t̃_k of the generic (non-commuting) exponent rule (module docstring).

    Returns (times (K+1,), predicted (K,) bools). A step whose saddle does not gain exactly one
    rank, or whose gradient commutes with the previous saddle's (no mixing), ends the prediction:
    its time and every later one are NaN.
    """
    K = len(steps.lambdas)
    n = steps.points.shape[1]
    d = n if d is None else int(min(d, n))
    h = np.zeros(d)  # exponents of the singular values of M, in units of τ (1 = saturated)
    t = 0.0
    times, predicted, ok = [0.0], [], True
    for k in range(K):
        G = steps.grads[k]
        if k > 0:
            G_prev = steps.grads[k - 1]
            comm = np.linalg.norm(G @ G_prev - G_prev @ G)
            ok = ok and comm > commute_tol * np.linalg.norm(G) * np.linalg.norm(G_prev)
        ok = ok and steps.ranks[k] == k and steps.ranks[k + 1] == k + 1
        if not ok:
            times.append(np.nan)
            predicted.append(False)
            continue
        mu = steps.spectra[k]
        free = h[k:]  # the unsaturated exponents, sorted decreasing, paired with μ sorted decreasing
        delta = (1.0 - free[0]) / mu[0]
        free = free + mu[: free.size] * delta
        free[0] = 1.0
        h[k:] = np.sort(free)[::-1]
        t += delta
        times.append(t)
        predicted.append(True)
    return np.array(times), np.array(predicted, dtype=bool)


def common_eigenbasis(q: Quadratic, *, tol: float = 1e-10, seed: int = 0):
    """V with VᵀS_iV diagonal for every symmetric measurement S_i, or None if they do not commute.

    V diagonalizes a random combination Σ w_i S_i (distinct eigenvalues for generic w); the family
    commutes iff every VᵀS_iV is diagonal (to ``tol`` × max ‖S_i‖)."""
    S = q.matrices()
    w = np.random.default_rng(seed).standard_normal(S.shape[0])
    _, V = np.linalg.eigh(np.einsum("k,kij->ij", w, S))
    Z = np.einsum("ai,kab,bj->kij", V, S, V)
    off = Z - np.einsum("kii->ki", Z)[:, :, None] * np.eye(q.n)
    scale = max(float(np.abs(S).max()), 1e-300)
    return V if np.abs(off).max() <= tol * scale else None


# ---------------------------------------------------------------------------------------------
# the limit paths


def _rank_events(points, times, extra):
    ranks = [_rank(P) if np.any(P) else 0 for P in points]
    events = []
    for j in range(1, len(points)):
        ev = dict(jump=j, time=float(times[j]), rank=ranks[j],
                  change=f"rank {ranks[j - 1]}→{ranks[j]}")  # fmt: skip
        ev.update(extra[j - 1])
        events.append(ev)
    return tuple(events)


def limit_path_symmetric(problem, *, d: int | None = None, init: str = "identity",
                         eps: float = 1e-8, tol: float = 1e-6, tie_tol: float = 1e-6,
                         rtol: float = 1e-10, gtol: float = 1e-11) -> LimitPath:  # fmt: skip
    """The α → 0 path of X = UUᵀ from αU₀ (d columns) on a sensing/completion problem.

    Commuting measurements (and U₀U₀ᵀ = I: ``init="identity"``, d ≥ n): Algorithm 1 (positive) in
    the common eigenbasis, exact. Otherwise: GLRL's saddles with the exponent-rule times (a derived
    prediction for generic data; module docstring). ``notes`` says which, and what was assumed.
    """
    q = quadratic_of(problem)
    n = q.n
    d = n if d is None else int(d)
    V = common_eigenbasis(q)
    if V is not None:
        if init != "identity" or d < n:
            raise ConfigError(
                "commuting measurements: the limit's part off the diagonal of the common "
                "eigenbasis depends on U₀ (X_t = e^{A*(s)}X₀e^{A*(s)}, seed 002), so the path is "
                f"covered only for U₀U₀ᵀ = I (init='identity' with d ≥ n); got init={init!r}, d={d}"
            )
        return _commuting_path(q, V, eps=eps, tol=tol, tie_tol=tie_tol, rtol=rtol, gtol=gtol)
    steps = glrl(q, max_rank=d, eps=eps, tol=tol, tie_tol=tie_tol, rtol=rtol, gtol=gtol)
    times, predicted = exponent_times(steps, d)
    extra = [dict(eigenvalue=float(lam), time_predicted=bool(p), direction=u)
             for lam, p, u in zip(steps.lambdas, predicted, steps.directions)]  # fmt: skip
    end = ("a minimizer of f over X ⪰ 0 (λ_max(−∇f) ≤ tol)" if steps.stopped == "stationary"
           else f"the width d = {d} (a rank-≤{d} stationary point; f = {steps.loss[-1]:.3g})")  # fmt: skip
    notes = (
        "Greedy low-rank learning (Li, Luo & Lyu 2021), X = UUᵀ, ε = "
        f"{eps:g} (relative); saddles are GLRL's limits, ended at {end}. Times: t̃₁ = 1/λ₁ exact; "
        "later times from the exponent rule for generic (non-commuting) data: a derived prediction "
        "whose error falls like 1/log(1/α) on the instances of tests/test_lowrank_path.py, not a "
        "theorem"
    )
    if not predicted.all():
        notes += (
            f"; times from jump {int(np.argmin(predicted)) + 1} on are not predicted (NaN): a "
            "step without exactly one new rank, or a gradient commuting with the previous one"
        )
    return LimitPath(
        points=steps.points,
        times=times,
        events=_rank_events(steps.points, times, extra),
        loss=steps.loss,
        family="low-rank",
        parametrization=UUT,
        depth=2,
        c=2.0,
        s=None,
        notes=notes,
    )


def _commuting_path(q: Quadratic, V, *, eps, tol, tie_tol, rtol, gtol) -> LimitPath:
    S = q.matrices()
    D = np.einsum("ai,kab,bi->ki", V, S, V)  # f(V diag(x) Vᵀ) = ½‖Dx − b‖²
    try:
        diag = limit_path_diagonal(D, q.b, parametrization="positive", depth=2, tie_tol=tie_tol)
    except ConfigError as e:
        raise ConfigError(f"commuting measurements (the eigen-directions v_i of their common "
                          f"basis are the coordinates): {e}") from None  # fmt: skip
    points = np.einsum("ai,ki,bi->kab", V, diag.points, V)
    extra = []
    for ev in diag.events:
        zeroed = "".join(f" −v{j}" for j in ev["zeroed"])
        extra.append(dict(coordinate=ev["coordinate"], zeroed=ev["zeroed"], time_predicted=True,
                          direction=V[:, ev["coordinate"]], activated=f"+v{ev['coordinate']}{zeroed}"))  # fmt: skip
    events = _rank_events(points, diag.times, extra)
    events = tuple(dict(e, change=f"{e['change']} ({e['activated']})") for e in events)
    agree = "GLRL not compared"
    try:
        # GLRL in the common eigenbasis, where its iterates stay exactly diagonal (in the original
        # basis round-off would leak into the single new column and mix eigen-directions)
        n = q.n
        rows = np.zeros((D.shape[0], n, n))
        rows[:, np.arange(n), np.arange(n)] = D
        steps = glrl(Quadratic(rows.reshape(D.shape[0], n * n), q.b, n), eps=eps, tol=tol,
                     tie_tol=tie_tol, rtol=rtol, gtol=gtol)  # fmt: skip
        greedy = np.einsum("ai,kij,bj->kab", V, steps.points, V)
        same = (len(greedy) == len(points)
                and np.abs(greedy - points).max() <= 1e-6 * max(1.0, abs(points).max()))  # fmt: skip
        agree = ("greedy GLRL visits the same saddles" if same else
                 f"greedy GLRL differs: it visits {len(greedy) - 1} saddles ending at "
                 f"‖W_GLRL − W̄_K‖_F = {np.linalg.norm(greedy[-1] - points[-1]):.3g}; the flow "
                 "follows Algorithm 1 (each direction integrates its own s), not the current top "
                 "eigenvector")  # fmt: skip
    except (ConfigError, SolverError) as e:
        agree = f"greedy GLRL undetermined here ({str(e).split(':')[0]})"
    return LimitPath(
        points=points,
        times=diag.times,
        events=events,
        loss=np.array([q.loss(P) for P in points]),
        family="low-rank",
        parametrization=UUT,
        depth=2,
        c=2.0,
        s=diag.s,
        notes="X = UUᵀ from αI, commuting measurements: the flow is x = u ⊙ u in the common "
        "eigenbasis V (s = −∫∇_x f dt̃ per direction); Pesme & Flammarion's Algorithm 1 for the "
        f"positive model, exact times; {agree}",
    )


def _spectral_path(vals, vecs_left, vecs_right, *, coef=None, tie_tol=1e-12, max_rank=None):
    """Jumps at t̃ = 1/v for the positive values v (equal values jump together); saddle k = the sum of
    the first k groups of coef_i·l_i r_iᵀ (coef defaults to the values)."""
    vals = np.asarray(vals, dtype=np.float64)
    coef = vals if coef is None else np.asarray(coef, dtype=np.float64)
    order = np.argsort(-vals, kind="stable")
    order = [i for i in order if vals[i] > 0][: (None if max_rank is None else max_rank)]
    shape = (vecs_left.shape[0], vecs_right.shape[0])
    points, times, groups = [np.zeros(shape)], [0.0], []
    for i in order:
        if groups and vals[i] >= vals[groups[-1][0]] * (1 - tie_tol):
            groups[-1].append(i)
        else:
            groups.append([i])
    for g in groups:
        P = points[-1] + sum(coef[i] * np.outer(vecs_left[:, i], vecs_right[:, i]) for i in g)
        points.append(P)
        times.append(1.0 / vals[g[0]])
    return np.array(points), np.array(times), groups


def limit_path_uut_full(W_hat, *, d: int | None = None, tie_tol: float = 1e-12) -> LimitPath:
    """X = UUᵀ (d columns) on ½‖X − Ŵ‖², Ŵ symmetric: diagonal in Ŵ's eigenbasis, each positive
    eigenvalue λ_i escapes at t̃ = 1/λ_i (τ = log(1/α)/2), saddles = top-k eigen-components."""
    W_hat = np.asarray(W_hat, dtype=np.float64)
    if W_hat.ndim != 2 or W_hat.shape[0] != W_hat.shape[1] or not np.allclose(
        W_hat, W_hat.T, atol=1e-12 * max(1.0, abs(W_hat).max())
    ):
        raise ConfigError(f"X = UUᵀ on full observation needs a square symmetric Ŵ, got {W_hat.shape}")
    lam, V = np.linalg.eigh((W_hat + W_hat.T) / 2)
    if lam.max() <= 0:
        raise ConfigError("Ŵ has no positive eigenvalue: the flow from αU₀ never leaves 0")
    points, times, groups = _spectral_path(lam, V, V, tie_tol=tie_tol, max_rank=d)
    extra = [dict(eigenvalue=float(lam[g[0]]), directions=tuple(int(i) for i in g),
                  time_predicted=True) for g in groups]  # fmt: skip
    return LimitPath(
        points=points,
        times=times,
        events=_rank_events(points, times, extra),
        loss=np.array([0.5 * np.sum((P - W_hat) ** 2) for P in points]),
        family="low-rank",
        parametrization=UUT,
        depth=2,
        c=2.0,
        notes="X = UUᵀ on ½‖X − Ŵ‖², Ŵ symmetric: ∇f = X − Ŵ keeps the flow diagonal in Ŵ's "
        "eigenbasis; t̃_i = 1/λ_i for λ_i > 0 (equal ones jump together; U₀ with Uᵀ₀v_i ≠ 0), "
        "saddles = top-k positive eigen-components (at most d)",
    )


def deep_clock(depth: int) -> float:
    """c of the deep-matrix / spectral-regression clock: 1 at depth 2, N − 2 at N ≥ 3."""
    return 1.0 if depth == 2 else float(depth - 2)


def limit_path_deep_full(W_hat, depth: int, *, tie_tol: float = 1e-12) -> LimitPath:
    """DeepMatrix from W_j(0) = αI on ½‖W − Ŵ‖² (seed 000, Ŵ symmetric): the closed form."""
    W_hat = np.asarray(W_hat, dtype=np.float64)
    if W_hat.ndim != 2 or W_hat.shape[0] != W_hat.shape[1]:
        raise ConfigError(
            f"the deep-matrix limit path covers square symmetric targets (seed 000); got {W_hat.shape}"
        )
    if not np.allclose(W_hat, W_hat.T, atol=1e-12 * max(1.0, abs(W_hat).max())):
        raise ConfigError(
            "the deep-matrix limit path covers symmetric targets Ŵ = VΛVᵀ (seed 000: the flow from "
            "αI stays diagonal in V); a non-symmetric Ŵ is not covered"
        )
    if int(depth) != depth or depth < 2:
        raise ConfigError(f"the limit path needs depth N >= 2 (depth 1 is linear), got {depth}")
    depth = int(depth)
    lam, V = np.linalg.eigh((W_hat + W_hat.T) / 2)
    if lam.max() <= 0:
        raise ConfigError("Ŵ has no positive eigenvalue: the flow from αI never leaves 0 (Λ₊ = 0)")
    points, times, groups = _spectral_path(lam, V, V, tie_tol=tie_tol)
    loss = np.array([0.5 * np.sum((P - W_hat) ** 2) for P in points])
    extra = [dict(eigenvalue=float(lam[g[0]]), directions=tuple(int(i) for i in g),
                  time_predicted=True) for g in groups]  # fmt: skip
    return LimitPath(
        points=points,
        times=times,
        events=_rank_events(points, times, extra),
        loss=loss,
        family="low-rank",
        parametrization="deep matrix",
        depth=depth,
        c=deep_clock(depth),
        notes=f"DeepMatrix depth {depth} from W_j(0) = αI on ½‖W − Ŵ‖², Ŵ symmetric (seed 000): "
        "exact scalar flows ḋ = −d^{N−1}(d^N − λ_i); t̃_i = 1/λ_i for λ_i > 0 (equal ones jump "
        "together), negative eigenvalues never escape; saddles = top-k positive eigen-components",
    )


def spectral_alpha(delta, depth: int):
    """The layer scale α = e^{−2δ/L} of seed 004's spectral init (product e^{−2δ})."""
    return np.exp(-2.0 * np.asarray(delta, dtype=np.float64) / depth)


def aligned_spectrum(problem, *, tol: float = 1e-8):
    """(U, V, σ, λ) with Σ_xy = U diag(σ) Vᵀ and Σ_x u_i = λ_i u_i for σ_i > 0 (seed 004's ε = 0)."""
    Sx = np.asarray(problem.Sigma_x, dtype=np.float64)
    Sxy = np.asarray(problem.Sigma_xy, dtype=np.float64)
    U, sigma, Vt = np.linalg.svd(Sxy, full_matrices=False)
    lam = np.einsum("ai,ab,bi->i", U, Sx, U)
    live = sigma > tol * max(sigma.max(initial=0.0), 1e-300)
    resid = np.linalg.norm(Sx @ U[:, live] - U[:, live] * lam[live], axis=0)
    if resid.size and resid.max() > tol * max(np.linalg.norm(Sx, 2), 1e-300):
        raise ConfigError(
            "the staircase limit path (seed 004) covers aligned data, Σ_x = U D_x Uᵀ and Σ_xy = "
            f"U D_xy Vᵀ with ε = 0; here Σ_x u_i ≠ λ_i u_i (residual {resid.max():.2g}) for the "
            "singular vectors u_i of Σ_xy (misaligned data, or tied σ_i with an arbitrary basis)"
        )
    return U, Vt.T, sigma, lam


def limit_path_spectral_regression(problem, depth: int, *, max_rank: int | None = None,
                                   tie_tol: float = 1e-12) -> LimitPath:  # fmt: skip
    """Seed 004's staircase: deep linear regression from the spectral init, aligned data."""
    if int(depth) != depth or depth < 2:
        raise ConfigError(
            f"the staircase needs depth L >= 2 (L = 1 is the linear model: no saddles), got {depth}"
        )
    depth = int(depth)
    U, V, sigma, lam = aligned_spectrum(problem)
    if sigma.max() <= 0:
        raise ConfigError("Σ_xy = 0: the flow from the spectral init never leaves 0")
    points, times, groups = _spectral_path(sigma, U, V, coef=sigma / lam, tie_tol=tie_tol,
                                           max_rank=max_rank)  # fmt: skip
    Sx, Sxy = np.asarray(problem.Sigma_x), np.asarray(problem.Sigma_xy)
    yy = float(np.sum(np.asarray(problem.Y) ** 2)) / (2 * problem.X.shape[0])
    # ½n⁻¹‖Y − XW‖² = ½ tr(WᵀΣ_xW) − tr(WᵀΣ_xy) + ½n⁻¹‖Y‖²
    loss = np.array([0.5 * np.sum(P * (Sx @ P)) - np.sum(P * Sxy) + yy for P in points])
    extra = [dict(sigma=float(sigma[g[0]]), directions=tuple(int(i) for i in g),
                  time_predicted=True) for g in groups]  # fmt: skip
    return LimitPath(
        points=points,
        times=times,
        events=_rank_events(points, times, extra),
        loss=loss,
        family="low-rank",
        parametrization="deep linear (spectral init)",
        depth=depth,
        c=deep_clock(depth),
        notes=f"seed 004 (Gidel, Bach & Lacoste-Julien 2019), depth {depth}, aligned data (ε = 0), "
        "from spectral_init(U, V, δ, widths) with one δ and orthogonal Q: the layer scale is α = "
        "e^{−2δ/L} (spectral_alpha), so flow_times(spectral_alpha(δ, L)) are the transition times "
        "(= δ/σ_i at L = 2, the seed's T_i); t̃_i = 1/σ_i, saddles = staircase_limit(k); the "
        "model's own init field is not read (the spectral init is passed as params0)",
    )


# ---------------------------------------------------------------------------------------------
# dispatch


def dispatch(problem, model, **options) -> LimitPath | None:
    """The oracle that covers (problem, model), or None.

    * SymmetricFactor on MatrixSensing / MatrixCompletion: ``limit_path_symmetric`` (GLRL, or
      Algorithm 1 for commuting data); options: eps, tol, tie_tol, rtol, gtol; on FullObservation
      (symmetric Ŵ): ``limit_path_uut_full``, the eigen-decomposition;
    * DeepMatrix on FullObservation: ``limit_path_deep_full`` (identical init αI, symmetric Ŵ);
    * DeepMatrix on Regression (seed 004's model, ``models.spectral.deep_linear``, with the
      spectral init passed as params0): ``limit_path_spectral_regression``.
    Covered model, wrong setting (init, shapes, symmetry, alignment): ConfigError saying what is.
    """
    from implicit_bias.models.deep_matrix import DeepMatrix
    from implicit_bias.models.symmetric import SymmetricFactor
    from implicit_bias.problems.completion import MatrixCompletion
    from implicit_bias.problems.full import FullObservation
    from implicit_bias.problems.regression import Regression
    from implicit_bias.problems.sensing import MatrixSensing

    def allowed(*keys):
        bad = sorted(set(options) - set(keys))
        if bad:
            raise ConfigError(f"unknown option(s) {bad} for this limit path; it takes {list(keys)}")

    if isinstance(model, SymmetricFactor):
        if not isinstance(problem, (MatrixSensing, MatrixCompletion, FullObservation)):
            return None
        if tuple(problem.shape) != (model.n, model.n):
            raise ConfigError(f"the model is {model.n}×{model.n}, the problem {tuple(problem.shape)}")
        if isinstance(problem, FullObservation):
            allowed("tie_tol")
            return limit_path_uut_full(problem.W_hat, d=model.d,
                                       tie_tol=options.get("tie_tol", 1e-12))  # fmt: skip
        allowed("eps", "tol", "tie_tol", "rtol", "gtol")
        model.check_problem(problem)  # the engine's refusals (non-symmetric A_i), d < rank X* warns
        return limit_path_symmetric(problem, d=model.d, init=model.init, **options)
    if isinstance(model, DeepMatrix):
        if isinstance(problem, FullObservation):
            if model.init != "identical":
                raise ConfigError(
                    f"the deep-matrix limit path covers the identical initialization W_j(0) = αI "
                    f"(seed 000); got init={model.init!r} (the perturbed init (9) lets negative "
                    "eigenvalues escape, Thm 3.1; random inits have no closed form)"
                )
            if tuple(problem.shape) != tuple(model.shape):
                raise ConfigError(f"the model is {model.shape}, the target {tuple(problem.shape)}")
            allowed("tie_tol")
            return limit_path_deep_full(problem.W_hat, model.depth,
                                        tie_tol=options.get("tie_tol", 1e-12))  # fmt: skip
        if isinstance(problem, Regression):
            if tuple(problem.shape) != tuple(model.shape):
                raise ConfigError(
                    f"the model's product is {model.shape}, the regression's W is {problem.shape}"
                )
            allowed("tie_tol")
            return limit_path_spectral_regression(problem, model.depth,
                                                  max_rank=min(model.widths),
                                                  tie_tol=options.get("tie_tol", 1e-12))  # fmt: skip
        return None
    return None
