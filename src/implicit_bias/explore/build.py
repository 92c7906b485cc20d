"""A question built from the package's own constructors: problem, model, method and baselines
(nothing is re-implemented here)."""

import dataclasses

import numpy as np

from implicit_bias.errors import ConfigError
from implicit_bias.explore.data import load_data
from implicit_bias.explore.question import Question


@dataclasses.dataclass
class Setup:
    problem: object
    model: object
    method: object
    params0: object
    truth: np.ndarray | None  # X* (or x, or the population W) when known
    extra: dict


def _truth_matrix(q: Question) -> np.ndarray:
    from implicit_bias.problems.sensing import low_rank_truth

    n = q.n or 20
    n_cols = q.n_cols or n
    return low_rank_truth(q.seed, n, q.rank, psd=q.symmetric and n_cols == n, n_cols=n_cols)


def build_problem(q: Question):
    """(problem, truth, extra) from the problem modules' own constructors."""
    from implicit_bias.problems import make

    data = load_data(q) if q.data else None
    if q.problem == "full":
        if data is not None:
            return make.full(data["X"]), data["X"], {}
        if q.spectrum:
            if q.symmetric:
                p = make.full(spectrum=q.spectrum, seed=q.seed)
            else:
                from implicit_bias.problems.full import random_orthogonal

                k = len(q.spectrum)
                U, V = random_orthogonal(q.seed, k), random_orthogonal(q.seed + 1, k)
                p = make.full((U * np.asarray(q.spectrum, float)) @ V.T)
        elif q.symmetric:
            p = make.full(_truth_matrix(q))
        else:
            p = make.full(shape=(q.n or 20, q.n_cols or q.n or 20), rank=q.rank, seed=q.seed)
        return p, np.asarray(p.W_hat), {}
    if q.problem == "sensing":
        if data is not None:
            return make.sensing(data["X"], A=data["A"]), data["X"], {}
        if q.m < 1:
            raise ConfigError("sensing: give the number of measurements --m")
        ensemble = {"gaussian": "general", "symmetric": "symmetric"}.get(q.ensemble, q.ensemble)
        p = make.sensing(_truth_matrix(q), m=q.m, ensemble=ensemble, seed=q.seed)
        return p, np.asarray(p.X_star), {}
    if q.problem == "completion":
        if data is not None:
            shape = data["shape"]
            X = np.zeros(shape)  # unknown: only the observed values are
            p = make.completion(X, entries=data["entries"], values=data["values"])
            return p, None, {}
        if q.observed < 1:
            raise ConfigError(
                "completion: give how many entries to observe (--observed) or --entries FILE"
            )
        p = make.completion(_truth_matrix(q), observed=q.observed, seed=q.seed)
        return p, np.asarray(p.X_star), {}
    if q.problem == "sparse":
        from implicit_bias.problems.linear import make_sparse

        if data is not None:
            return make.sparse(A=data["A"], y=data["y"]), None, {}
        if q.m < 1:
            raise ConfigError("sparse: give the number of measurements --m")
        inst = make_sparse(m=q.m, n=q.n or 20, s=q.s, signed=q.signed, seed=q.seed)
        return inst.problem, inst.x, {}
    # regression
    if data is not None:
        return make.regression(data["X"], data["Y"]), None, {}
    from implicit_bias.problems.regression import aligned

    r = min(q.p, q.d)
    sigma = np.linspace(1.0, 0.5, r) ** np.arange(1, r + 1)  # distinct, decreasing σ_i
    inst = aligned(sigma=sigma, lam=np.ones(q.p), d=q.d, n=max(q.n or 20, q.p), seed=q.seed)
    W = np.linalg.lstsq(np.asarray(inst.problem.X), np.asarray(inst.problem.Y), rcond=None)[0]
    return inst.problem, W, {"U": inst.U, "V": inst.V, "sigma": sigma}


def build_model(q: Question, problem, extra):
    """(model, params0) from the models' own constructors and initializations."""
    import jax

    key = jax.random.key(q.seed)
    shape = tuple(problem.shape)
    if q.model == "hadamard":
        from implicit_bias.models.hadamard import Hadamard

        m = Hadamard(depth=q.depth, n=shape[0], signed=q.signed, alpha=q.scale)
        return m, m.init_params()
    if q.model == "symmetric":
        from implicit_bias.models.symmetric import SymmetricFactor

        if shape[0] != shape[1]:
            raise ConfigError(f"the symmetric model X = UUᵀ needs a square problem, got {shape}")
        init = {"identical": "identity"}.get(q.init, q.init)
        m = SymmetricFactor(n=shape[0], d=q.width or shape[0], init=init, alpha=q.scale)
        return m, m.init_params(key)
    from implicit_bias.models.deep_matrix import DeepMatrix

    if q.problem == "regression":
        from implicit_bias.models.spectral import deep_linear, spectral_init

        hidden = q.width or min(shape)
        widths = (shape[0], *([hidden] * (q.depth - 1)), shape[1])  # (p, r, …, d): seed 004's order
        if q.init == "spectral":
            if "U" not in extra:
                raise ConfigError(
                    "the spectral init needs the aligned random data (not a data file)"
                )
            delta = (
                -0.5 * q.depth * np.log(q.scale)
            )  # W(0) = U diag(e^{−2δ}) Vᵀ with e^{−2δ/L} = scale
            model = deep_linear(widths)
            return model, spectral_init(extra["U"], extra["V"], delta, widths)
        model = DeepMatrix(depth=q.depth, widths=widths[::-1], init=q.init, alpha=q.scale)
        return model, model.init_params(key)
    n_out, n_in = shape
    width = q.width or max(shape)
    widths = (n_in, *([width] * (q.depth - 1)), n_out) if (q.width or n_out != n_in) else None
    m = (
        DeepMatrix(depth=q.depth, widths=widths, init=q.init, alpha=q.scale)
        if widths
        else DeepMatrix(depth=q.depth, n=n_in, init=q.init, alpha=q.scale)
    )
    return m, m.init_params(key)


def build_method(q: Question, problem=None, model=None, params0=None):
    from implicit_bias.optim import GD, SGD, GradientFlow

    if q.method == "gd":
        return GD(eta=q.eta, n_steps=q.n_steps, n_saves=min(q.n_saves, q.n_steps), spacing="log")
    if q.method == "flow":
        L0 = float(problem.loss(model(params0)))
        return GradientFlow(
            t1=q.t1,
            n_saves=q.n_saves,
            spacing="log",
            t_first=min(1e-2, q.t1 / 10),
            loss_tol=q.rel_tol * L0,
            solver=q.solver,
            max_steps=200_000,
            atol=min(1e-10, 1e-8 * q.scale),
        )  # fmt: skip  (the start's own scale)
    every = max(1, q.n_steps // q.n_saves)
    while q.n_steps % every:  # SGD snapshots every save_every steps, a divisor of n_steps
        every -= 1
    return SGD(
        eta=q.eta,
        n_steps=q.n_steps,
        lam=q.lam,
        batch_size=q.batch_size,
        save_every=every,
        seed=q.seed,
    )


def setup(q: Question) -> Setup:
    problem, truth, extra = build_problem(q)
    model, params0 = build_model(q, problem, extra)
    return Setup(problem, model, build_method(q, problem, model, params0), params0, truth, extra)


def baselines(q: Question, s: Setup, names) -> dict[str, np.ndarray]:
    """Each baseline's solution, from ``baselines/`` (NumPy)."""
    out = {}
    p = s.problem
    for b in names:
        if b == "l2":
            if q.problem == "sparse":
                from implicit_bias.theory.sensing import min_l2

                out[b] = min_l2(np.asarray(p.A), np.asarray(p.y))
            elif q.problem == "regression":
                out[b] = np.linalg.pinv(np.asarray(p.X)) @ np.asarray(p.Y)
            elif q.problem == "full":
                out[b] = np.asarray(p.W_hat)
            else:
                from implicit_bias.baselines.nuclear import min_frobenius

                out[b] = min_frobenius(p).X
        elif b == "nuclear":
            from implicit_bias.baselines.nuclear import min_nuclear_norm

            out[b] = (
                np.asarray(p.W_hat)
                if q.problem == "full"
                else min_nuclear_norm(p, psd=q.model == "symmetric").X
            )
        elif b == "l1":
            from implicit_bias.baselines.l1 import basis_pursuit

            out[b] = basis_pursuit(np.asarray(p.A), np.asarray(p.y), nonneg=not q.signed)
        elif b == "rrr":
            from implicit_bias.baselines.regression import reduced_rank

            out[b] = reduced_rank(p, k=min(q.rank, *p.shape))
    return out
