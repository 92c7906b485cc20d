"""Step 3 of ``optim.saddles``: the Hessian certificate of a critical point and, at index 0, the
descent curve that tells a degenerate saddle from a minimum (module docstring of ``optim.saddles``)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from implicit_bias.optim._saddles_common import (
    EPS,
    _e2e_gradient,
    _factor_kind,
    _flat_derivs,
    _flat_grad,
    _flat_hvp,
    _model_out,
    _np_tree,
    _value,
)


@dataclasses.dataclass(frozen=True)
class Certificate:
    """The Hessian at a point: eigenvalues (all, or the n_eig smallest), their eigenvectors, the
    largest eigenvalue, the tolerance, index, zeros."""

    values: np.ndarray
    vectors: np.ndarray
    lambda_max: float
    tol: float
    index: int
    n_zero: int
    exact: bool


def certify(model, problem, params, *, dense_max=2000, n_eig=20, tol=None) -> Certificate:
    """The Hessian certificate of ``params`` (module docstring, step 3)."""
    from scipy.sparse.linalg import LinearOperator, eigsh

    g = np.asarray(_flat_grad(model, problem, params))
    p = g.size
    if p <= dense_max:
        H = np.asarray(_flat_derivs(model, problem, params)[2], dtype=np.float64)
        H = 0.5 * (H + H.T)
        values, vectors = np.linalg.eigh(H)
        lam_max = float(np.max(np.abs(values))) if p else 0.0
        exact = True
    else:
        op = LinearOperator((p, p), dtype=np.float64, matvec=lambda v: np.asarray(
            _flat_hvp(model, problem, params, jnp.asarray(v))))  # fmt: skip
        k = min(n_eig, p - 1)
        values, vectors = eigsh(op, k=k, which="SA", tol=1e-10)
        order = np.argsort(values)
        values, vectors = values[order], vectors[:, order]
        top = eigsh(op, k=1, which="LA", tol=1e-10, return_eigenvectors=False)
        lam_max = float(max(abs(top[0]), abs(values[0])))
        exact = False
    if tol is None:
        tol = 100 * p * EPS * lam_max + 10 * float(np.linalg.norm(g))
    index = int(np.sum(values < -tol))
    n_zero = int(np.sum(np.abs(values) <= tol))
    if not exact and index < values.size:
        exact = True  # a non-negative eigenvalue was reached: every negative one was found
    return Certificate(values=values, vectors=vectors, lambda_max=lam_max, tol=float(tol),
                       index=index, n_zero=n_zero, exact=exact)  # fmt: skip


def _descent_curve(model, problem, params):
    """(direction d, order N) with L(θ + s d) − L(θ) = s^N⟨∇_X L, D⟩ + O(s^{2N}) and
    ⟨∇_X L, D⟩ < 0, or None when the model has no such curve here (module docstring)."""
    from implicit_bias.models.hadamard import Hadamard

    X = _model_out(model, params)
    G = np.asarray(_e2e_gradient(problem, X), dtype=np.float64)
    Xn = np.asarray(X, dtype=np.float64)
    if isinstance(model, Hadamard):
        zero = Xn == 0
        allowed = zero & ((G != 0) if model.signed else (G < 0))
        if not allowed.any():
            return None
        i = int(np.argmax(np.where(allowed, np.abs(G), -1.0)))
        d = np.zeros(model.param_shape())
        if model.signed:
            d[0 if G[i] < 0 else 1, :, i] = 1.0
        else:
            d[:, i] = 1.0
        return d / np.linalg.norm(d), model.depth
    kind = _factor_kind(model)
    if kind == "symmetric":
        U = np.asarray(params)
        S = -(G + G.T) / 2
        w, V = np.linalg.eigh(S)
        if w[-1] <= 0:
            return None
        _, sv, Vt = np.linalg.svd(U, full_matrices=True)
        if U.shape[1] > sv.size or sv[-1] <= 1e-12 * max(sv[0], 1e-300):
            z = Vt[-1]
        else:
            return None
        d = np.outer(V[:, -1], z)
        return d, 2
    if kind == "deep":
        Ws = [np.asarray(W) for W in params]
        a_, s_, bt = np.linalg.svd(-G)
        if s_[0] <= 0:
            return None
        a, b = a_[:, 0], bt[0]
        scale = max(max(np.linalg.norm(W, 2) for W in Ws), 1e-300)
        qs = [b]
        for j in range(len(Ws) - 1):  # q_j ∈ null(W_{j+1}) ∩ null(W_jᵀ), hidden layer j+1
            M = np.vstack([Ws[j + 1], Ws[j].T])
            _, sv, Vt = np.linalg.svd(M, full_matrices=True)
            if sv.size == Vt.shape[0] and sv[-1] > 1e-10 * scale:
                return None
            qs.append(Vt[-1])
        qs.append(a)
        d = tuple(np.outer(qs[j + 1], qs[j]) for j in range(len(Ws)))
        return d, len(Ws)
    return None


def _curve_descends(model, problem, params, curve, L_ref):
    """Whether L falls below L(θ) − 1e3·ε·L_ref somewhere on θ + s·d, s^N ∈ [1e-10, 1]·scale."""
    d, N = curve
    L0 = float(_value(model, problem, params))
    X = np.asarray(_model_out(model, params))
    scale = max(float(np.linalg.norm(X)), 1.0)
    best = 0.0
    for t in np.geomspace(1e-10, 1.0, 41) * scale:
        s = t ** (1.0 / N)
        p = jax.tree.map(lambda a, b: a + s * b, _np_tree(params), d)
        best = min(best, float(_value(model, problem, p)) - L0)
    return best < -1e3 * EPS * max(L_ref, abs(L0), 1e-300)
