"""A question built from the package's own constructors: problem, model, method and baselines
(nothing is re-implemented here)."""

import dataclasses

import numpy as np

from implicit_bias.errors import ConfigError
from implicit_bias.explore.data import load_data, load_matrix
from implicit_bias.explore.question import Question


@dataclasses.dataclass
class HeldOut:
    """What the fit never saw, to score an estimate on: ``error(X) = ‖P(X) − t‖ / ‖t‖`` (a jnp
    function of the estimate), with ``what`` saying which entries these are. For completion,
    ``hidden`` marks the entries the loss does not see (the value range of the estimate there is a
    diagnostic: a blow-up on a bounded image shows as values far outside the observed range)."""

    what: str
    error: object
    hidden: np.ndarray | None = None


@dataclasses.dataclass
class Setup:
    problem: object
    model: object
    method: object
    params0: object
    truth: np.ndarray | None  # X* (or x, or the population W) when known
    extra: dict
    test: HeldOut | None = None
    notes: list = dataclasses.field(default_factory=list)  # what the data loader warned about


def _truth_matrix(q: Question) -> np.ndarray:
    from implicit_bias.problems.sensing import low_rank_truth

    n = q.n or 20
    n_cols = q.n_cols or n
    return low_rank_truth(q.seed, n, q.rank, psd=q.symmetric and n_cols == n, n_cols=n_cols)


def _count(observed: float, total: int) -> int:
    """--observed as a count: a fraction in (0, 1) of ``total``, or a whole count."""
    k = int(round(observed * total)) if 0 < observed < 1 else int(observed)
    if not 1 <= k <= total:
        raise ConfigError(f"--observed {observed:g} gives {k} of {total} entries; need 1 … {total}")
    return k


def _split(q: Question, k: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    """A seeded split of k items into (train, test) with a ``q.holdout`` share held out."""
    n_test = int(round(q.holdout * k))
    if n_test < 1 or n_test >= k:
        raise ConfigError(
            f"--holdout {q.holdout:g} of the {k} {what} leaves {n_test} for testing and "
            f"{k - n_test} to fit; both must be ≥ 1"
        )
    perm = np.random.default_rng(q.seed).permutation(k)
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def _relative(P, target: np.ndarray):
    """error(X) = ‖P(X) − target‖ / ‖target‖ as a jnp function."""
    import jax.numpy as jnp

    t = jnp.asarray(target)
    scale = max(float(np.linalg.norm(target)), 1e-300)
    return lambda X: jnp.linalg.norm(P(X) - t) / scale


def _entries_test(rows, cols, values, what, shape, train_rows, train_cols) -> HeldOut:
    rows, cols = np.asarray(rows), np.asarray(cols)
    hidden = np.ones(shape, bool)
    hidden[np.asarray(train_rows), np.asarray(train_cols)] = False
    return HeldOut(what, _relative(lambda X: X[rows, cols], np.asarray(values)), hidden)


def _completion(q: Question):
    from implicit_bias.problems import make

    if not q.data:
        X = _truth_matrix(q)
        if q.observed == 0:
            raise ConfigError(
                "completion: give how many entries to observe (--observed, a count or a fraction) "
                "or --data FILE"
            )
        p = make.completion(X, observed=_count(q.observed, X.size), seed=q.seed)
        return p, X, _unobserved(p, X), []
    D = load_data(q)
    notes = list(D.get("notes", []))
    full = D.get("full")
    if full is not None:
        if q.observed == 0:
            raise ConfigError(
                f"{q.data}: a complete {full.shape[0]}×{full.shape[1]} matrix — give --observed "
                "(a count or a fraction) to see some entries and hide the rest"
            )
        p = make.completion(full, observed=_count(q.observed, full.size), seed=q.seed)
        return p, full, _unobserved(p, full), notes
    if q.observed:
        raise ConfigError(
            f"{q.data} already says which entries are observed; --observed draws from a complete "
            "matrix (use --holdout to test on some of yours)"
        )
    idx, values, shape = np.asarray(D["entries"]), np.asarray(D["values"]), tuple(D["shape"])
    zeros = np.zeros(shape)  # unknown: only the observed values are
    if q.holdout:
        train, test = _split(q, len(values), "observed entries")
        p = make.completion(zeros, entries=idx[train], values=values[train])
        r, c = idx[test, 0], idx[test, 1]
        held = _entries_test(r, c, values[test], f"{len(test)} held-out entries", shape,
                             idx[train, 0], idx[train, 1])  # fmt: skip
        return p, None, held, notes
    p = make.completion(zeros, entries=idx, values=values)
    if q.truth:
        T = load_matrix(q.truth, "the truth")
        if T.shape != shape:
            raise ConfigError(f"{q.truth}: the truth has shape {'×'.join(map(str, T.shape))}, the data "
                              f"{shape[0]}×{shape[1]}")  # fmt: skip
        off = np.abs(T[idx[:, 0], idx[:, 1]] - values) > 1e-9 * max(
            1.0, float(np.abs(values).max())
        )
        if off.any():
            notes.append(f"the truth differs from the data at {int(off.sum())} observed entries")
        return p, T, _unobserved(p, T), notes
    held = HeldOut("no hidden truth: --truth FILE or --holdout FRACTION measure a test error", None,
                   ~np.asarray(p.mask()))  # fmt: skip
    return p, None, held, notes


def _unobserved(p, X: np.ndarray) -> HeldOut:
    hidden = ~np.asarray(p.mask())
    if not hidden.any():
        return HeldOut("every entry is observed", None, hidden)
    r, c = np.nonzero(hidden)
    return _entries_test(r, c, X[r, c], f"{r.size} unobserved entries of X*", X.shape,
                         np.asarray(p.rows), np.asarray(p.cols))  # fmt: skip


def _vector_truth(q: Question, D: dict, n: int):
    if q.truth:
        x = load_matrix(q.truth, "the truth").reshape(-1)
        if x.shape != (n,):
            raise ConfigError(f"{q.truth}: the truth has {x.size} entries, the problem's x has {n}")
        return x
    return D.get("truth")


def build_problem(q: Question):
    """(problem, truth, extra, test, notes) from the problem modules' own constructors."""
    from implicit_bias.problems import make

    if q.problem == "completion":
        p, truth, test, notes = _completion(q)
        return (
            p,
            truth,
            {},
            (test if test.error is not None or test.hidden is not None else None),
            notes,
        )
    data = load_data(q) if q.data else None
    notes = list((data or {}).get("notes", []))
    if q.problem == "full":
        if data is not None:
            return make.full(data["X"]), data["X"], {}, None, notes
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
        return p, np.asarray(p.W_hat), {}, None, notes
    if q.problem == "sensing":
        if data is not None:
            A, X = data["A"], data["X"]
            if q.holdout:
                train, test = _split(q, A.shape[0], "measurements")
                y_test = np.einsum("kab,ab->k", A[test], X)
                held = HeldOut(
                    f"{len(test)} held-out measurements", _relative(_measure(A[test]), y_test)
                )
                return make.sensing(X, A=A[train]), X, {}, held, notes
            return (
                make.sensing(X, A=A),
                X,
                {},
                HeldOut("the truth X*", _relative(lambda W: W, X)),
                notes,
            )
        if q.m < 1:
            raise ConfigError("sensing: give the number of measurements --m")
        ensemble = {"gaussian": "general", "symmetric": "symmetric"}.get(q.ensemble, q.ensemble)
        X = _truth_matrix(q)
        p = make.sensing(X, m=q.m, ensemble=ensemble, seed=q.seed)
        return p, X, {}, HeldOut("the truth X*", _relative(lambda W: W, X)), notes
    if q.problem == "sparse":
        from implicit_bias.problems.linear import make_sparse

        if data is not None:
            A, y = data["A"], data["y"]
            x = _vector_truth(q, data, A.shape[1])
            if q.holdout:
                train, test = _split(q, A.shape[0], "measurements (rows of A)")
                held = HeldOut(
                    f"{len(test)} held-out measurements", _relative(_measure(A[test]), y[test])
                )
                return make.sparse(A=A[train], y=y[train]), x, {}, held, notes
            held = HeldOut("the truth x", _relative(lambda z: z, x)) if x is not None else None
            return make.sparse(A=A, y=y), x, {}, held, notes
        if q.m < 1:
            raise ConfigError("sparse: give the number of measurements --m")
        inst = make_sparse(m=q.m, n=q.n or 20, s=q.s, signed=q.signed, seed=q.seed)
        x = np.asarray(inst.x)
        return inst.problem, x, {}, HeldOut("the truth x", _relative(lambda z: z, x)), notes
    # regression
    if data is not None:
        X, Y = data["X"], data["Y"]
        if q.holdout:
            train, test = _split(q, X.shape[0], "samples")
            held = HeldOut(f"{len(test)} held-out samples (prediction error)",
                           _relative(_measure(X[test]), Y[test]))  # fmt: skip
            return make.regression(X[train], Y[train]), None, {}, held, notes
        return make.regression(X, Y), None, {}, None, notes
    from implicit_bias.problems.regression import aligned

    r = min(q.p, q.d)
    sigma = np.linspace(1.0, 0.5, r) ** np.arange(1, r + 1)  # distinct, decreasing σ_i
    inst = aligned(sigma=sigma, lam=np.ones(q.p), d=q.d, n=max(q.n or 20, q.p), seed=q.seed)
    W = np.linalg.lstsq(np.asarray(inst.problem.X), np.asarray(inst.problem.Y), rcond=None)[0]
    held = HeldOut("the least-squares W of the population", _relative(lambda V: V, W))
    return inst.problem, W, {"U": inst.U, "V": inst.V, "sigma": sigma}, held, notes


def _measure(A: np.ndarray):
    """W ↦ A(W): the measurements of held-out rows (sensing: ⟨A_k, W⟩; sparse, regression: A @ W)."""
    import jax.numpy as jnp

    A = jnp.asarray(A)
    if A.ndim == 3:
        return lambda W: jnp.einsum("kab,ab->k", A, W)
    return lambda W: A @ W


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


def loss_floor(problem) -> float:
    """min L: 0 where the estimate can interpolate, ½‖XW_ls − Y‖² (least squares, the minimum over
    every W) for regression, whose data need not be fit exactly. The flow stops once
    L − L_min < rel_tol · (L(0) − L_min)."""
    if hasattr(problem, "X") and hasattr(problem, "Y"):
        X, Y = np.asarray(problem.X), np.asarray(problem.Y)
        return float(problem.loss(np.linalg.pinv(X) @ Y))
    return 0.0


def build_method(q: Question, problem=None, model=None, params0=None):
    from implicit_bias.optim import GD, SGD, GradientFlow

    if q.method == "gd":
        return GD(eta=q.eta, n_steps=q.n_steps, n_saves=min(q.n_saves, q.n_steps), spacing="log")
    if q.method == "limit":  # no simulation: theory.limit_path (explore/limit.py)
        return None
    if q.method == "flow":
        L0 = float(problem.loss(model(params0)))
        floor = loss_floor(problem)
        return GradientFlow(
            t1=q.t1,
            n_saves=q.n_saves,
            spacing="log",
            t_first=min(1e-2, q.t1 / 10),
            loss_tol=floor + q.rel_tol * (L0 - floor),
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
    problem, truth, extra, test, notes = build_problem(q)
    model, params0 = build_model(q, problem, extra)
    method = build_method(q, problem, model, params0)
    return Setup(problem, model, method, params0, truth, extra, test, notes)


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
        elif b == "rrr":  # the whole family W^{k,*}, k = 1 … min(p, d) (seed 004)
            from implicit_bias.baselines.regression import reduced_rank_path

            stack, _ = reduced_rank_path(p)
            for k in range(1, len(stack)):
                out[f"rrr{k}"] = stack[k]
    return out


def describe(q: Question) -> str:
    """The problem as read, before any solving: its shape, what is observed, the value range, the
    test set, the model's parameter count and the memory it needs (one paragraph)."""
    import jax

    from implicit_bias.explore.question import _size as size, footprint

    problem, truth, extra, test, notes = build_problem(q)
    model, params0 = build_model(q, problem, extra)
    shape = tuple(problem.shape)
    where = q.data or "a random instance"
    if q.problem == "completion":
        k, total = len(np.asarray(problem.y)), int(np.prod(shape))
        y = np.asarray(problem.y)
        what = (f"a {shape[0]}×{shape[1]} matrix from {where}: {k:,} of {total:,} entries observed "
                f"({k / total:.1%}), values in [{y.min():.4g}, {y.max():.4g}]")  # fmt: skip
    elif q.problem == "sparse":
        A = np.asarray(problem.A)
        what = f"x of length {A.shape[1]} from {A.shape[0]} measurements y = Ax ({where})"
    elif q.problem == "regression":
        X = np.asarray(problem.X)
        what = (f"{X.shape[0]} samples of {X.shape[1]} features → {shape[1]} outputs ({where}); "
                f"W is {shape[0]}×{shape[1]}")  # fmt: skip
    elif q.problem == "sensing":
        what = f"a {shape[0]}×{shape[1]} matrix from {len(np.asarray(problem.y))} measurements ({where})"
    else:
        what = f"every entry of a {shape[0]}×{shape[1]} target observed ({where})"
    n_params = sum(int(np.size(x)) for x in jax.tree.leaves(params0))
    a, b = (shape + (1,))[:2]
    need = footprint(dataclasses.replace(q, n=a, n_cols=b if len(shape) > 1 else 0))
    test_text = (f"test error on {test.what}" if test is not None and test.error is not None
                 else "no test error (" + (test.what if test is not None else "no truth known") + ")")  # fmt: skip
    from implicit_bias.optim import _mirror_path

    solver = q.solver
    if q.method == "flow" and solver in _mirror_path.SOLVERS and _mirror_path.why_not(
        model, problem, params0) is None:  # fmt: skip
        solver = "exact, in mirror coordinates: an m-dimensional ODE"
    method = {"flow": f"the gradient flow ({solver}) until L − L_min < {q.rel_tol:g}·(L(0) − L_min) "
                      f"or t = {q.t1:g}",
              "gd": (f"GD at {len(q.etas)} step sizes η = {q.etas[0]:g} … {q.etas[-1]:g} (a regime map)"
                     if getattr(q, "etas", ()) else f"GD, η = {q.eta:g}") + f", {q.n_steps:,} steps",
              "sgd": f"SGD, η = {q.eta:g}, λ = {q.lam:g}, {q.n_steps:,} steps",
             "limit": "the α → 0 limit path (an oracle: no simulation)"}[q.method]  # fmt: skip
    start = "a uniform start" if q.model == "hadamard" else q.init
    text = (f"{q.problem}: {what}; {test_text}. Model {q.model} N={q.depth} from {start} α = "
            f"{q.scale:g}: {n_params:,} parameters, about {size(need)}. "
            f"Method: {method}.")  # fmt: skip
    import textwrap

    return "\n".join(
        [textwrap.fill(text, 80), *(textwrap.fill(f"warning: {n}", 80) for n in notes)]
    )
