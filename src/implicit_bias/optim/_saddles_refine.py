"""Step 2 of ``optim.saddles``: a plateau's snapshot refined to the critical point it sits at
(module docstring of ``optim.saddles``)."""

import jax
import jax.numpy as jnp
import numpy as np

from implicit_bias.optim._saddles_common import (
    EPS,
    _factor_kind,
    _flat,
    _flat_derivs,
    _flat_grad,
    _flat_hvp,
    _is_hadamard,
    _loss_of,
    _model_out,
    _np_ravel,
    _np_tree,
    _unflatten_like,
    _value,
)


def _hadamard_lift(model, x):
    """Params with model(params) = x: every factor |x|^{1/N} on the support (u/v by sign)."""
    root = np.abs(x) ** (1.0 / model.depth)
    shape = model.param_shape()
    if model.signed:
        parts = np.stack([np.where(x > 0, root, 0.0), np.where(x < 0, root, 0.0)])[:, None, :]
        return np.broadcast_to(parts, shape).copy()
    return np.broadcast_to(np.where(x > 0, root, 0.0), shape).copy()


def _refine_hadamard(model, problem, x_mid, scale=None):
    """(params, x*) by sign-constrained least squares on nested supports (module docstring); a
    larger support must be nearer by more than 1e-9·``scale`` (the run's largest |x_i|)."""
    from scipy.optimize import lsq_linear

    A = np.asarray(problem.A, dtype=np.float64)
    y = np.asarray(problem.y, dtype=np.float64)
    m, n = A.shape
    order = np.argsort(-np.abs(x_mid), kind="stable")
    k_max = min(int(np.sum(np.abs(x_mid) > 0)), m, n)
    best_x, best_d = np.zeros(n), float(np.linalg.norm(x_mid))
    tie = 1e-9 * max(float(scale or 0.0), float(np.max(np.abs(x_mid), initial=0.0)), 1e-300)
    rises = 0
    for k in range(1, k_max + 1):
        S = order[:k]
        AS = A[:, S]
        sv = np.linalg.svd(AS, compute_uv=False)
        if sv[-1] <= 1e-10 * sv[0]:  # dependent columns: the minimizer is not unique
            break
        signs = np.sign(x_mid[S]) if model.signed else np.ones(k)
        lb = np.where(signs > 0, 0.0, -np.inf)
        ub = np.where(signs > 0, np.inf, 0.0)
        res = lsq_linear(AS, y, bounds=(lb, ub), method="bvls", tol=1e-14,
                         max_iter=100 * k + 100)  # fmt: skip
        x = np.zeros(n)
        x[S] = np.where(signs > 0, np.maximum(res.x, 0.0), np.minimum(res.x, 0.0))
        d = float(np.linalg.norm(x - x_mid))
        if d < best_d - tie:
            best_x, best_d, rises = x, d, 0
        else:
            rises += 1
            if rises >= 3:
                break
    return _hadamard_lift(model, best_x), best_x


def _top_left(M, k):
    U, _, _ = np.linalg.svd(M, full_matrices=True)
    return U[:, :k]


def _subspaces(kind, params, k):
    """The orthonormal bases Q of the rank-k subspace through the snapshot (module docstring)."""
    if kind == "symmetric":
        U = np.asarray(params)
        _, _, Vt = np.linalg.svd(U, full_matrices=True)
        return (Vt[:k].T,)
    Ws = [np.asarray(W) for W in params]
    Qs, prefix = [], Ws[0]
    for j in range(len(Ws) - 1):
        if j > 0:
            prefix = Ws[j] @ prefix
        Qs.append(_top_left(prefix, k))
    return tuple(Qs)


def _phi0(kind, params, Qs):
    if kind == "symmetric":
        return (np.asarray(params) @ Qs[0],)
    Ws = [np.asarray(W) for W in params]
    N = len(Ws)
    phis = [Qs[0].T @ Ws[0]]
    for j in range(1, N - 1):
        phis.append(Qs[j].T @ Ws[j] @ Qs[j - 1])
    phis.append(Ws[-1] @ Qs[-1])
    return tuple(phis)


def _embed(kind, phis, Qs):
    if kind == "symmetric":
        return phis[0] @ Qs[0].T
    N = len(phis)
    Ws = [Qs[0] @ phis[0]]
    for j in range(1, N - 1):
        Ws.append(Qs[j] @ phis[j] @ Qs[j - 1].T)
    Ws.append(phis[-1] @ Qs[-1].T)
    return tuple(Ws)


def _rank_k_point(kind, model, problem, params_mid, k, dense_max=2000):
    """(θ*, isolated): the rank-k critical point through the snapshot's leading subspaces, and
    whether it is isolated (no zero eigenvalue of the restricted Hessian beyond the gauge's, within
    ``certify``'s tolerance). The embedding θ = Eφ
    is linear, so the restricted gradient and Hessian are Eᵀ∇L and EᵀHE (no compilation per k);
    ``trust-exact`` on φ, then Newton steps with the pseudo-inverse (the GL(k) gauge of the
    factors makes the restricted Hessian singular, which slows trust-region steps to a linear rate
    near the end)."""
    from scipy.optimize import minimize

    if k == 0:
        return jax.tree.map(np.zeros_like, _np_tree(params_mid)), True
    Qs = _subspaces(kind, params_mid, k)
    x0, unravel = _np_ravel(_phi0(kind, params_mid, Qs))
    E = np.stack([_flat(_embed(kind, unravel(e), Qs)) for e in np.eye(x0.size)], axis=1)
    _, unravel_theta = _np_ravel(params_mid)
    memo = {}

    def vgh(x):
        key = x.tobytes()
        if key not in memo:
            memo.clear()
            theta = unravel_theta(E @ x)
            if E.shape[0] <= dense_max:
                v, g, H = (np.asarray(a) for a in _flat_derivs(model, problem, theta))
                H = E.T @ H @ E
            else:
                v, g = _value(model, problem, theta), np.asarray(_flat_grad(model, problem, theta))
                H = E.T @ np.stack([np.asarray(_flat_hvp(model, problem, theta, jnp.asarray(c)))
                                    for c in E.T], axis=1)  # fmt: skip
            memo[key] = (float(v), E.T @ g, 0.5 * (H + H.T))
        return memo[key]

    res = minimize(lambda x: vgh(x)[:2], x0, jac=True, hess=lambda x: vgh(x)[2],
                   method="trust-exact", options=dict(gtol=1e-9, maxiter=200))  # fmt: skip
    x = np.asarray(res.x)
    for _ in range(8):
        _, g, H = vgh(x)
        w, V = np.linalg.eigh(H)
        keep = np.abs(w) > 1e-9 * max(float(np.max(np.abs(w))), 1e-300)
        step = -V[:, keep] @ ((V[:, keep].T @ g) / w[keep])
        x_new = x + step
        if np.linalg.norm(vgh(x_new)[1]) >= np.linalg.norm(g):
            break
        x = x_new
    _, g, H = vgh(x)
    w = np.linalg.eigvalsh(H)
    # zero within certify's tolerance (backward error of the eigensolver + first-order shift)
    tol = 100 * w.size * EPS * float(np.max(np.abs(w))) + 10 * float(np.linalg.norm(g))
    gauge = k * (k - 1) // 2 if kind == "symmetric" else (len(Qs) * k * k)
    isolated = int(np.sum(np.abs(w) <= tol)) <= gauge
    return unravel_theta(E @ x), isolated


def _refine_rank(kind, model, problem, params_mid, scale=None, dense_max=2000):
    """The rank-k critical point nearest (in the product) to the snapshot.

    The rank with the largest gap log(σ_k/σ_{k+1}) of the snapshot's product (σ_0 = ``scale``, the
    run's largest product norm; singular values below √ε·scale count as 0) is tried first; a rank k
    whose truncation error ‖σ_{k+1:}‖ already exceeds the best distance is skipped (Eckart–Young: no
    rank-k point is nearer), no rank above the snapshot's numerical rank #{σ_i > √ε·scale} is tried
    (a component the run does not have; the rank-3 saddles of loss ~1e-16 that lie ~1e-5 from X* in
    ``sensing_glrl``'s instance at seed 2 are nearer to a snapshot 2e-3 from X* by 4e-6, and were
    chosen when its σ₃ = 2e-15 still let rank 3 compete), the search upward stops two ranks above
    the guess, and a higher rank
    must be nearer by more than 1e-9·scale (else the lower rank is kept). A rank-k result whose
    k-th component changes the loss by at most 1e3·ε·L_ref when removed is dropped: the component
    is at the loss's round-off, and at a rank-deficient minimum the restricted optimizer stops on
    that flat direction instead of removing it (a GD run on sensing, measured: σ₃ = 5e-9 kept, and
    the minimum certified as a saddle of index 4; the Rosenbrock run of ``sensing_glrl`` at α =
    1e-6: σ₃ = 1.7e-7, removing it changes L by 7e-15 = 30ε·L(0)). A non-isolated result (more
    zero eigenvalues of the restricted Hessian than the gauge, within ``certify``'s tolerance)
    competes only when no isolated rank was found (module docstring, step 2). The gap guess is only
    the first rank tried: mid-plateau the escaping component already stands above the unactivated
    ones (the rank-1 saddle of ``sensing_glrl`` at α = 1e-12 has its largest gap at rank 2)."""
    X_mid = np.asarray(_model_out(model, params_mid))
    k_max = min(np.shape(params_mid)) if kind == "symmetric" else min(model.widths)
    sv = np.linalg.svd(X_mid, compute_uv=False)[:k_max]
    top = max(float(scale or 0.0), float(sv[0]) if sv.size else 0.0, 1e-300)
    logs = np.log(np.maximum(np.concatenate([[top], sv, [0.0]]), np.sqrt(EPS) * top))
    tie = 1e-9 * top
    L_ref = max(float(_loss_of(problem, np.zeros_like(X_mid))), float(_loss_of(problem, X_mid)))
    guess = int(np.argmax(logs[:-1] - logs[1:]))
    tail = np.sqrt(np.cumsum((sv**2)[::-1])[::-1])  # ‖σ_{k+1:}‖ for k = 0, 1, …
    lower = np.concatenate([tail, [0.0]])
    best = {True: ((-1, None), np.inf), False: ((-1, None), np.inf)}  # isolated or not: (k, θ), d
    k_max = min(k_max, int(np.sum(sv > np.sqrt(EPS) * top)))  # the snapshot's numerical rank
    for k in [guess] + [k for k in range(k_max + 1) if k != guess]:
        if lower[k] >= best[True][1] - tie:
            continue
        if k > guess + 2:
            break
        p, isolated = _rank_k_point(kind, model, problem, params_mid, k, dense_max)
        X = np.asarray(_model_out(model, p), dtype=np.float64)
        if k:
            a_, s_, bt_ = np.linalg.svd(X)
            drop = float(_loss_of(problem, X - s_[k - 1] * np.outer(a_[:, k - 1], bt_[k - 1])))
            if abs(drop - float(_loss_of(problem, X))) <= 1e3 * EPS * L_ref:
                continue  # the k-th component is at the loss's round-off: not a rank-k point
        d = float(np.linalg.norm(X - X_mid))
        (kb, _), best_d = best[isolated]
        if d < best_d - tie or (d <= best_d + tie and 0 <= k < kb):
            best[isolated] = (k, p), d
    return (best[True] if best[True][0][1] is not None else best[False])[0][1]


def _refine_newton(model, problem, params_mid, max_iter=50):
    """Newton steps θ ← θ − H⁺∇L by MINRES on HVPs: the nearby critical point of any index."""
    from scipy.sparse.linalg import LinearOperator, minres

    p = _np_tree(params_mid)
    for _ in range(max_iter):
        g = np.asarray(_flat_grad(model, problem, p))
        if np.linalg.norm(g) <= 1e-13 * max(1.0, np.linalg.norm(_flat(p))):
            break
        n = g.size
        op = LinearOperator((n, n), dtype=np.float64, matvec=lambda v, p=p: np.asarray(
            _flat_hvp(model, problem, p, jnp.asarray(v))))  # fmt: skip
        step, _ = minres(op, -g, rtol=1e-12, maxiter=10 * n)
        p = _unflatten_like(p, _flat(p) + step)
    return p


def refine(model, problem, params_mid, *, scale=None, dense_max=2000):
    """The critical point near ``params_mid`` (module docstring, step 2): params θ*. ``scale``:
    the run's largest product norm (guides the rank search of the factorized models)."""
    if _is_hadamard(model, problem):
        x_mid = np.asarray(_model_out(model, params_mid), dtype=np.float64)
        return _refine_hadamard(model, problem, x_mid, scale)[0]
    kind = _factor_kind(model)
    if kind is not None:
        return _refine_rank(kind, model, problem, params_mid, scale, dense_max)
    return _refine_newton(model, problem, params_mid)
