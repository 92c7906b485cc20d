"""Ask your own question: any problem × parametrization × method, on random or user data, from one command.

    implicit-bias explore completion --n 100 --rank 5 --observed 2000 --model deep --depth 3 \\
        --init gaussian --scale 1e-3 --method flow --baseline nuclear
    implicit-bias explore sparse --n 1000 --m 200 --s 10 --model hadamard --depth 3 --alpha 1e-4 --baseline l1
    implicit-bias explore completion --entries my_ratings.csv --model deep --depth 4 --method gd --eta 0.05
    implicit-bias explore --spec study.toml --seeds 0-9          # a grid: runs on the local Dask cluster

A question is a frozen ``Question`` (a config like any experiment's): it is built from the problem,
model, method and baseline constructors of the package (nothing is re-implemented here), run by
``optim.fit``, and stored under ``results/explore/<config hash>/`` with rows (loss, spectrum or entries,
effective rank, distance to X* and to each baseline over time), checks and a figure, so ``query`` and
``report`` see it. The theory checks are chosen from the question (``theory_checks``): each names the
theorem whose hypotheses the question meets; otherwise the run says "no theory applies".

User data (``--data``/``--entries``): ``.npy``, ``.npz`` (named arrays), Matrix Market ``.mtx`` and CSV
``row,col,value`` (0-based indices, an optional header line). A bad file is refused with one line
naming the file and the problem (shape, NaN, index out of range, duplicate entries), before anything
is stored.
"""

import dataclasses
import hashlib
from pathlib import Path

import numpy as np

from implicit_bias import checks, config as config_mod, store
from implicit_bias.errors import ConfigError

NAME = "explore"
PROBLEMS = ("full", "sensing", "completion", "sparse", "regression")
MODELS = ("deep", "symmetric", "hadamard")
METHODS = ("gd", "flow", "sgd")
BASELINES = ("l2", "nuclear", "l1", "rrr")
NO_THEORY = "no theory applies"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Question:
    """One question: problem, model, method, baselines (every field is a flag of ``explore``)."""

    problem: str = "completion"
    # problem sizes (random instances); user data replaces them
    n: int = 0  # rows of X* (matrix problems; 0 = 20, or the data's), length of x (sparse), samples (regression)
    n_cols: int = 0  # columns of X* (0: square)
    rank: int = 2
    spectrum: tuple[
        float, ...
    ] = ()  # full observation: Ŵ = V diag(spectrum) Vᵀ (symmetric) or U diag Vᵀ
    symmetric: bool = (
        True  # full observation and the truth of sensing/completion: symmetric (PSD) X*
    )
    m: int = 0  # measurements (sensing) or rows of A (sparse)
    ensemble: str = "symmetric"  # sensing: "symmetric" or "gaussian"
    observed: int = 0  # completion: entries drawn uniformly
    s: int = 5  # sparse: nonzeros of x
    signed: bool = False  # sparse: signed x (and the signed Hadamard model)
    p: int = 6  # regression: features
    d: int = 4  # regression: outputs
    data: str = ""  # a user data file (.npy .npz .mtx .csv)
    data_sha256: str = ""  # its content hash (part of the config hash): set by ``question``
    # model
    model: str = "deep"
    depth: int = 2
    init: str = ""  # "" = identical (deep, full square) / gaussian (deep, else) / identity (symmetric); also perturbed orthogonal balanced spectral
    scale: float = 1e-3  # the initialization scale α
    width: int = 0  # hidden width (deep: 0 = square; symmetric: columns of U, 0 = n)
    # method
    method: str = "flow"
    eta: float = 0.1
    n_steps: int = 10_000
    t1: float = 0.0  # 0 = 1e12 (hadamard) or 1e8; the flow stops earlier, once L < rel_tol · L(0)
    rel_tol: float = 1e-10
    solver: str = ""  # "" = rosenbrock (matrix-free, stiff); or tsit5, dopri5, dopri8, kvaerno5
    lam: float = 0.0  # SGD weight decay
    batch_size: int = 1  # SGD entries per step
    n_saves: int = 60
    baselines: tuple[str, ...] = ()
    seed: int = 0


# ---------------------------------------------------------------------------------------------
# user data


def _fail(path, what: str):
    raise ConfigError(f"{path}: {what}")


def _finite(path, name, a) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if not np.isfinite(a).all():
        bad = np.argwhere(~np.isfinite(a))[0]
        _fail(path, f"{name} has a NaN or inf entry at index {tuple(int(i) for i in bad)}")
    return a


def _read(path: str) -> dict[str, np.ndarray]:
    """The arrays of a file: {'': array} for .npy/.mtx/.csv, the named arrays of an .npz."""
    p = Path(path)
    if not p.is_file():
        _fail(path, "no such file")
    suffix = p.suffix.lower()
    try:
        if suffix == ".npy":
            return {"": np.load(p, allow_pickle=False)}
        if suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        if suffix == ".mtx":
            import scipy.io
            import scipy.sparse

            M = scipy.io.mmread(str(p))
            if scipy.sparse.issparse(M):
                coo = M.tocoo()
                return {
                    "": np.asarray(M.todense()),
                    "entries": np.stack([coo.row, coo.col, coo.data], 1),
                }
            return {"": np.asarray(M)}
        if suffix in (".csv", ".txt"):
            lines = [ln for ln in p.read_text().splitlines() if ln.strip()]
            if (
                lines
                and not lines[0]
                .replace(",", "")
                .replace(".", "")
                .replace("-", "")
                .replace("e", "")
                .replace("+", "")
                .replace(" ", "")
                .isdigit()
            ):
                lines = lines[1:]  # a header line
            rows = [ln.split(",") for ln in lines]
            widths = {len(r) for r in rows}
            if len(widths) > 1:
                bad = next(i for i, r in enumerate(rows) if len(r) != len(rows[0]))
                _fail(
                    path,
                    f"line {bad + 1} has {len(rows[bad])} fields, the first has {len(rows[0])}",
                )
            try:
                return {"": np.array([[float(x) for x in r] for r in rows], dtype=np.float64)}
            except ValueError as e:
                _fail(path, f"not a number: {e}")
    except (OSError, ValueError) as e:
        _fail(path, f"cannot be read as {suffix}: {str(e).splitlines()[0]}")
    _fail(path, f"unknown file type {suffix!r}: use .npy, .npz, .mtx or .csv")


def _named(path, arrays: dict, *names: str) -> list[np.ndarray]:
    missing = [n for n in names if n not in arrays]
    if missing:
        _fail(
            path, f"needs arrays named {', '.join(names)} (an .npz); missing {', '.join(missing)}"
        )
    return [arrays[n] for n in names]


def load_entries(path: str, shape: tuple[int, int] | None = None):
    """(entries (k, 2) int, values (k,), shape) of a completion file: CSV/array rows (row, col, value)."""
    arrays = _read(path)
    T = arrays.get("entries", arrays.get("", next(iter(arrays.values()))))
    T = np.asarray(T, dtype=np.float64)
    if T.ndim != 2 or T.shape[1] != 3 or T.shape[0] == 0:
        _fail(path, f"expected rows (row, col, value), got an array of shape {T.shape}")
    _finite(path, "the (row, col, value) table", T)
    idx = T[:, :2]
    if not np.all(idx == np.round(idx)):
        line = int(np.argmax(np.any(idx != np.round(idx), axis=1)))
        _fail(path, f"row {line}: indices must be integers, got {tuple(idx[line])}")
    idx = idx.astype(np.int64)
    if (idx < 0).any():
        line = int(np.argmax((idx < 0).any(1)))
        _fail(
            path,
            f"row {line}: index out of range {tuple(map(int, idx[line]))} (indices are 0-based)",
        )
    if shape is None:
        shape = (int(idx[:, 0].max()) + 1, int(idx[:, 1].max()) + 1)
    out = (idx[:, 0] >= shape[0]) | (idx[:, 1] >= shape[1])
    if out.any():
        line = int(np.argmax(out))
        _fail(
            path,
            f"row {line}: index {tuple(map(int, idx[line]))} out of range for a {shape[0]}×{shape[1]} matrix",
        )
    flat = idx[:, 0] * shape[1] + idx[:, 1]
    uniq, first, counts = np.unique(flat, return_index=True, return_counts=True)
    if (counts > 1).any():
        dup = int(uniq[counts > 1][0])
        _fail(
            path,
            f"duplicate entry ({dup // shape[1]}, {dup % shape[1]}) ({int(counts[counts > 1][0])} times)",
        )
    return idx, T[:, 2], shape


def load_data(q: Question) -> dict:
    """The user's arrays for ``q.problem``, checked (shapes, NaN): a one-line ConfigError otherwise."""
    path = q.data
    if q.problem == "completion":
        shape = (q.n, q.n_cols or q.n) if q.n else None
        idx, values, shape = load_entries(path, shape)
        return {"entries": idx, "values": values, "shape": shape}
    arrays = _read(path)
    if q.problem == "full":
        W = _finite(
            path, "the target", arrays.get("", arrays.get("X", next(iter(arrays.values()))))
        )
        if W.ndim != 2:
            _fail(path, f"the target must be a matrix, got shape {W.shape}")
        return {"X": W}
    if q.problem == "sensing":
        A, X = (_finite(path, n, a) for n, a in zip(("A", "X"), _named(path, arrays, "A", "X")))
        if A.ndim != 3 or X.ndim != 2 or A.shape[1:] != X.shape:
            _fail(path, f"A must be (m, a, b) and X (a, b); got A {A.shape}, X {X.shape}")
        return {"A": A, "X": X}
    if q.problem == "sparse":
        A, y = (_finite(path, n, a) for n, a in zip(("A", "y"), _named(path, arrays, "A", "y")))
        if A.ndim != 2 or y.shape != (A.shape[0],):
            _fail(path, f"A must be (m, n) and y (m,); got A {A.shape}, y {y.shape}")
        return {"A": A, "y": y}
    X, Y = (_finite(path, n, a) for n, a in zip(("X", "Y"), _named(path, arrays, "X", "Y")))
    if X.ndim != 2 or Y.ndim != 2 or X.shape[0] != Y.shape[0]:
        _fail(path, f"X must be (n, p) and Y (n, d) with the same n; got X {X.shape}, Y {Y.shape}")
    return {"X": X, "Y": Y}


def question(**fields) -> Question:
    """A Question from flags; with a data file, its content hash joins the config (and the file is
    checked now: a bad file stops here, before anything runs or is stored)."""
    fields = {k: v for k, v in fields.items() if v is not None}
    q = _auto(Question(**fields))
    validate(q)
    if q.data:
        load_data(q)
        digest = hashlib.sha256(Path(q.data).read_bytes()).hexdigest()[:16]
        q = dataclasses.replace(q, data=str(Path(q.data).resolve()), data_sha256=digest)
    return q


def validate(q: Question) -> None:
    for name, value, allowed in (
        ("problem", q.problem, PROBLEMS),
        ("model", q.model, MODELS),
        ("method", q.method, METHODS),
    ):
        if value not in allowed:
            raise ConfigError(f"unknown {name} {value!r}; choose one of {', '.join(allowed)}")
    for b in q.baselines:
        if b not in BASELINES:
            raise ConfigError(f"unknown baseline {b!r}; choose from {', '.join(BASELINES)}")
    vector = q.problem == "sparse"
    if vector != (q.model == "hadamard"):
        raise ConfigError(
            f"model {q.model!r} does not fit problem {q.problem!r}: sparse recovery takes the hadamard "
            "model, matrix problems take deep or symmetric"
        )
    if q.model == "symmetric" and q.problem not in ("full", "sensing", "completion"):
        raise ConfigError("the symmetric model X = UUᵀ needs a square matrix problem")
    if q.method == "sgd" and (q.problem != "completion" or q.model != "deep"):
        raise ConfigError("SGD (seed 001) is defined here for completion with the deep model")
    allowed = {
        "full": {"l2", "nuclear"},
        "sensing": {"l2", "nuclear"},
        "completion": {"l2", "nuclear"},
        "sparse": {"l2", "l1"},
        "regression": {"l2", "rrr"},
    }[q.problem]
    for b in q.baselines:
        if b not in allowed:
            raise ConfigError(
                f"baseline {b!r} does not apply to {q.problem}; choose from {', '.join(sorted(allowed))}"
            )


# ---------------------------------------------------------------------------------------------
# building the question from the package's constructors


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


def _auto(q: Question) -> Question:
    """Fill the automatic defaults (init, solver) from the question."""
    init = q.init or (
        "identity" if q.model == "symmetric"
        else "identical" if q.problem == "full" and q.n_cols in (0, q.n) and q.symmetric and not q.data
        else "gaussian"
    )  # fmt: skip
    # the flows of a small start are stiff near the limit and slow across plateaus: the matrix-free
    # Rosenbrock solver (stiff.py) reaches rel_tol where Tsit5 runs into max_steps and Kvaerno5
    # factors a dense Jacobian (issue 13); no explore model preconditions its gradient
    solver = q.solver or "rosenbrock"
    t1 = q.t1 or (1e12 if q.model == "hadamard" else 1e8)
    return dataclasses.replace(q, init=init, solver=solver, t1=t1)


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


# ---------------------------------------------------------------------------------------------
# theory checks chosen from the question


def theory_checks(q: Question, s: Setup, traj, X_end, base: dict) -> tuple[list, list[str]]:
    """The checks of every theorem whose hypotheses the question meets, each labelled with it."""
    found, applied = [], []
    loss = np.asarray(traj.loss)
    if (
        q.problem == "full"
        and q.model == "deep"
        and q.init == "identical"
        and q.symmetric
        and not q.data
    ):
        from implicit_bias.optim.reduction import PATH
        from implicit_bias.theory import deep_matrix as th

        applied.append("seed 000, Thm 2.2 (identical init on a symmetric target)")
        W_hat = np.asarray(s.problem.W_hat)
        lam, V = th.eigh(W_hat)
        found.append(checks.sanity("the exact scalar reduction (7) ran", traj.path == PATH,
                                   predicted=PATH, observed=traj.path))  # fmt: skip
        if q.method == "gd":
            d = th.scalar_recursion(np.array([q.scale]), lam, np.array([q.eta]), q.depth, q.n_steps,
                                    s.method.save_steps())  # fmt: skip
            eig = np.einsum("ij,sik,kj->sj", V, np.asarray(traj.observed), V)
            k = min(len(eig), len(d))
            dev = float(np.max(np.abs(eig[:k] - d[:k] ** q.depth)) / np.max(np.abs(lam)))
            found.append(checks.at_most(
                "eigenvalues of W(k) = d_k^N of the NumPy scalar recursion (7)", 1e-10, dev,
                kind="claim", source="seed 000, eq. (7)",
                basis="float64 round-off accumulated over the steps (dmf_identical's bound)",
            ))  # fmt: skip
        limit = th.limit_identical(W_hat)
        L_inf = 0.5 * float(np.sum(np.minimum(lam, 0.0) ** 2))
        tol = 1e-3 * float(np.max(np.abs(lam)))
        found.append(checks.at_most(
            "‖W_∞ − VΛ₊Vᵀ‖_F", tol, float(np.linalg.norm(X_end - limit)), kind="claim",
            source="seed 000, Thm 2.2", loss=float(loss[-1]) - L_inf, loss_tol=tol**2 / 8,
            basis="a converged run (excess loss L − L_∞ ≤ tol²/8) that stays diagonal in V is within tol/2",
        ))  # fmt: skip
    if (q.problem == "sensing" and q.model == "symmetric" and q.init in ("identity", "identical")
            and q.scale <= 1e-2 and not q.data):  # fmt: skip
        from implicit_bias.baselines.nuclear import min_nuclear_norm
        from implicit_bias.theory import sensing as th

        applied.append("seed 002, Gunasekar et al. 2017 (UUᵀ from small αI → min nuclear norm)")
        X_nn = base["nuclear"] if "nuclear" in base else min_nuclear_norm(s.problem, psd=True).X
        ratio = th.nuclear_ratio(X_end, X_nn)
        found.append(checks.at_most(
            "‖X_∞‖_*/‖X_NN‖_* − 1", 1e-2, abs(ratio - 1.0), kind="claim",
            source="seed 002 (Gunasekar et al. 2017, Conjecture; Thm for commuting A_i)",
            loss=float(loss[-1]), loss_tol=1e-8 * float(loss[0]),
            basis="the conjecture is a limit α → 0; 1e-2 is the gap sensing_gaussian measures at α ≤ 1e-2",
        ))  # fmt: skip
    if q.problem == "sparse" and q.model == "hadamard" and not q.signed and q.depth >= 2:
        from implicit_bias.models.hadamard import x_tilde0
        from implicit_bias.theory import sparse as th

        A, y = np.asarray(s.problem.A), np.asarray(s.problem.y)
        Q = th.Q_value(A, y, nonneg=True)
        beta1, beta_min = th.betas(x_tilde0(s.model, s.params0))
        eps = th.epsilon(beta1, beta_min, Q, q.depth)
        applied.append(
            "seed 003, Chou, Maly & Rauhut 2022 (Hadamard flow from a uniform start: ε bound)"
        )
        hyp = checks.hypothesis("β₁ < Q (the start is smaller than the ℓ1 minimum)", beta1 < Q,
                                predicted=f"β₁ < Q = {Q:.6g}", observed=beta1)  # fmt: skip
        found.append(hyp)
        found.append(checks.at_most(
            "(‖x̃_∞‖₁ − Q)/Q ≤ ε", eps, th.l1_gap(X_end, Q), kind="claim",
            source="seed 003, Thm (positive case)", loss=float(loss[-1]),
            loss_tol=1e-8 * float(loss[0]), requires=(hyp.name,),
            basis="the theorem's own bound ε(β₁, β_min, Q, N)",
        ))  # fmt: skip
    if q.problem == "regression" and q.init == "spectral" and q.depth == 2 and q.method == "flow":
        from implicit_bias.theory import regression as th

        applied.append("seed 004, Gidel et al. 2019 Thm (two-layer flow from a spectral init: T_i)")
        sigma, U, V = s.extra["sigma"], s.extra["U"], s.extra["V"]
        delta = -0.5 * q.depth * np.log(q.scale)
        t = np.asarray(traj.t)
        W_t = np.asarray(traj.observed)
        w = np.einsum("pi,spd,di->si", U[:, : len(sigma)], W_t, V[:, : len(sigma)])
        cf = np.stack([th.w_continuous(tk, sigma, np.ones(len(sigma)), delta) for tk in t])
        dev = float(np.max(np.abs(w - cf)) / np.max(sigma))
        found.append(checks.at_most(
            "components w_i(t) = closed form (T_i = δ/σ_i transitions)", 1e-5, dev, kind="claim",
            source="seed 004, Thm (continuous)", basis="ODE solver tolerances rtol 1e-8 (dlr_closed_form)",
        ))  # fmt: skip
    return found, applied


# ---------------------------------------------------------------------------------------------
# run, rows, plot (the experiment interface, so the runner's store writer serves it)


def _rows(t, series, values, i=None) -> list[dict]:
    values = np.asarray(values)
    if values.ndim == 1:
        return [{"t": float(a), "series": series, "i": -1 if i is None else i, "value": float(v)}
                for a, v in zip(t, values)]  # fmt: skip
    rows = []
    for j in range(values.shape[1]):
        rows += _rows(t, series, values[:, j], j)
    return rows


def run(q: Question):
    """Build, fit, measure and check one question: an ``experiments.Result``."""
    from implicit_bias.experiments import Result
    from implicit_bias.metrics import effective_rank
    from implicit_bias.optim import fit

    s = setup(q)
    base = baselines(q, s, q.baselines)
    traj = fit(
        s.model,
        s.problem,
        s.method,
        params0=s.params0,
        observe=s.model,
        label=f"explore {q.problem}",
    )
    t = np.asarray(traj.t)
    X = np.asarray(traj.observed)
    X_end = X[-1]
    rows = _rows(t, "loss", traj.loss)
    if X.ndim == 3:
        sv = np.linalg.svd(X, compute_uv=False)
        rows += _rows(t, "singular_value", sv[:, : min(sv.shape[1], 10)])
        rows += _rows(t, "effective_rank", [float(effective_rank(x)) for x in X])
    else:
        top = np.argsort(-np.abs(X_end))[: min(X.shape[1], 10)]
        rows += _rows(t, "entry", X[:, top])
    ref = {"truth": s.truth} if s.truth is not None else {}
    for name, B in {**ref, **base}.items():
        scale = max(float(np.linalg.norm(B)), 1e-300)
        dist = np.linalg.norm((X - B[None]).reshape(len(X), -1), axis=1) / scale
        rows += _rows(t, f"distance_to_{name}", dist)
    found = [
        checks.sanity("the loss decreased", bool(traj.loss[-1] < traj.loss[0]),
                      predicted="L(end) < L(0)", observed=f"{float(traj.loss[0]):.3g} → {float(traj.loss[-1]):.3g}"),
    ]  # fmt: skip
    theory, applied = theory_checks(q, s, traj, X_end, base)
    found += theory
    notes = [f"path: {traj.path}", "theory: " + ("; ".join(applied) if applied else NO_THEORY)]
    if s.truth is None:
        notes.append("the truth is unknown (user data): no distance to X*")
    return Result(rows=rows, checks=found, notes=notes)


def plot(rows, cfg: Question) -> dict:
    """One figure: loss; spectrum (or entries); effective rank; distances to X* and the baselines."""
    import matplotlib.pyplot as plt

    df = rows
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    xlabel = "time t" if cfg.method == "flow" else "step"
    loss = df[df.series == "loss"]
    pos = loss.value > 0
    axes[0].loglog(loss.t[pos & (loss.t > 0)], loss.value[pos & (loss.t > 0)])
    axes[0].set(
        xlabel=xlabel,
        ylabel="loss",
        title=f"{cfg.problem}: {cfg.model} N={cfg.depth}, {cfg.method}",
    )
    spec = df[df.series.isin(["singular_value", "entry"])]
    for i, g in spec.groupby("i"):
        axes[1].semilogx(g.t[g.t > 0], g.value[g.t > 0], lw=1)
    axes[1].set(
        xlabel=xlabel,
        ylabel="singular values" if (df.series == "singular_value").any() else "largest entries",
    )
    for series, g in df[df.series.str.startswith("distance_to_")].groupby("series"):
        axes[2].loglog(g.t[g.t > 0], g.value[g.t > 0], label=series.removeprefix("distance_to_"))
    er = df[df.series == "effective_rank"]
    if len(er):
        ax = axes[2].twinx()
        ax.semilogx(er.t[er.t > 0], er.value[er.t > 0], "k:", label="effective rank")
        ax.set_ylabel("effective rank (dotted)")
    axes[2].set(xlabel=xlabel, ylabel="relative distance")
    if axes[2].get_legend_handles_labels()[0]:
        axes[2].legend(fontsize=8)
    fig.tight_layout()
    return {"explore": fig}


# ---------------------------------------------------------------------------------------------
# execute (store) and grids


class _Module:
    """What ``runner.run_and_store`` needs of an experiment module."""

    run = staticmethod(run)
    plot = staticmethod(plot)


def execute(
    q: Question, *, root=store.DEFAULT_ROOT, force: bool = False, plot_figures: bool = True
):
    """Run ``q`` unless stored; store it under ``root/explore/<hash>`` like an experiment run."""
    from implicit_bias import runner

    path = store.run_path(Path(root), NAME, config_mod.config_hash(NAME, q))
    return runner.run_and_store(NAME, _Module, q, path, force=force, plot=plot_figures)


def parse_seeds(text: str) -> list[int]:
    out = []
    for part in str(text).split(","):
        a, _, b = part.partition("-")
        try:
            out += list(range(int(a), int(b) + 1)) if b else [int(a)]
        except ValueError:
            raise ConfigError(f"seeds must look like 0-9 or 0,2,5, got {text!r}") from None
    return out


def read_spec(path: str) -> list[Question]:
    """A study file: ``[question]`` (fixed fields) and ``[grid]`` (lists, their product) as TOML."""
    import itertools
    import tomllib

    try:
        spec = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: {e}") from None
    unknown = set(spec) - {"question", "grid", "seeds"}
    if unknown:
        raise ConfigError(
            f"{path}: unknown sections {sorted(unknown)}; use [question], [grid] and seeds"
        )
    fixed, grid = spec.get("question", {}), spec.get("grid", {})
    fields = {f.name for f in dataclasses.fields(Question)}
    for k in [*fixed, *grid]:
        if k not in fields:
            raise ConfigError(f"{path}: unknown field {k!r}; fields: {', '.join(sorted(fields))}")
    keys = list(grid)
    out = []
    for values in itertools.product(
        *(grid[k] if isinstance(grid[k], list) else [grid[k]] for k in keys)
    ):
        merged = {**fixed, **dict(zip(keys, values))}
        merged = {k: tuple(v) if isinstance(v, list) else v for k, v in merged.items()}
        out.append(question(**merged))
    return out


def run_grid(questions: list[Question], *, root=store.DEFAULT_ROOT, n_workers=None, force=False):
    """Every question on the local Dask cluster (one process per core); yields (Question, Outcome)."""
    from distributed import Client, as_completed

    from implicit_bias.cluster import local_cluster

    cluster = local_cluster(n_workers)
    client = Client(cluster)
    try:
        futures = {
            client.submit(execute, q, root=Path(root).resolve(), force=force, pure=False): q
            for q in questions
        }
        for future in as_completed(futures):
            yield futures[future], future.result()
    finally:
        client.close()
        cluster.close()


def summary(outcome) -> list[str]:
    """The lines ``explore`` prints for one stored run."""
    cfg = store.read_config(outcome.path)
    rows = store.read_rows(outcome.path)
    lines = [f"stored: {outcome.path} ({outcome.status}, {cfg.get('elapsed_s', 0):.1f} s)"]
    loss = rows[rows.series == "loss"].sort_values("t").value.to_numpy()
    if loss.size:
        lines.append(f"loss: {loss[0]:.3g} → {loss[-1]:.3g}")
    er = rows[rows.series == "effective_rank"].sort_values("t").value.to_numpy()
    if er.size:
        lines.append(f"effective rank: {er[0]:.3g} → {er[-1]:.3g}")
    for series in sorted(s for s in rows.series.unique() if s.startswith("distance_to_")):
        v = rows[rows.series == series].sort_values("t").value.to_numpy()
        lines.append(
            f"relative distance to {series.removeprefix('distance_to_')}: {v[0]:.3g} → {v[-1]:.3g}"
        )
    lines += [n for n in cfg.get("notes", []) if n.startswith("theory:")]
    fmt = lambda x: f"{x:.4g}" if isinstance(x, float) else str(x)  # noqa: E731
    for c in outcome.checks:
        label = f" [{c['source']}]" if c.get("source") else ""
        status = c.get("status") or ("pass" if c["passed"] else "fail")
        lines.append(
            f"  {status:>11}  {c['name']}{label}: {fmt(c.get('observed'))} (predicted {fmt(c.get('predicted'))})"
        )
    return lines


# ---------------------------------------------------------------------------------------------
# the command


def _parser():
    import argparse

    ap = argparse.ArgumentParser(
        prog="implicit-bias explore",
        description="Ask your own question: a problem, a model, a method and baselines; stored and "
        "reported like an experiment, with the theory checks that apply.",
    )
    ap.add_argument("problem", nargs="?", choices=PROBLEMS)
    defaults = Question()
    for f in dataclasses.fields(Question):
        if f.name in ("problem", "data_sha256", "baselines", "data"):
            continue
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        if isinstance(default, bool):
            ap.add_argument(flag, type=lambda v: v.lower() in ("1", "true", "yes"), default=None,
                            help=f"true/false (default {default})")  # fmt: skip
        elif isinstance(default, tuple):
            ap.add_argument(flag, type=lambda v: tuple(float(x) for x in v.split(",")), default=None,
                            help="comma-separated numbers")  # fmt: skip
        else:
            ap.add_argument(flag, type=type(default), default=None, help=f"default {default}")
    ap.add_argument("--alpha", dest="scale", type=float, help="same as --scale")
    ap.add_argument("--data", "--entries", dest="data", help="a data file (.npy .npz .mtx .csv)")
    ap.add_argument(
        "--baseline", action="append", default=None, help="l2, nuclear, l1, rrr (repeat)"
    )
    ap.add_argument("--spec", help="a TOML study file: [question] fields and a [grid] of lists")
    ap.add_argument("--seeds", help="seeds for every question, e.g. 0-9")
    ap.add_argument("--root", default=str(store.DEFAULT_ROOT), help="results store folder")
    ap.add_argument(
        "--workers", type=int, default=None, help="Dask workers for a grid (default: cores)"
    )
    ap.add_argument("--force", action="store_true", help="recompute a stored question")
    return ap


def main(argv: list[str], echo=print) -> int:
    """``implicit-bias explore ...``: returns the exit code (1 if a theory check failed)."""
    args = _parser().parse_args(argv)
    root = Path(args.root)
    fields = {k: v for k, v in vars(args).items()
              if k not in ("spec", "seeds", "root", "workers", "force", "baseline")}  # fmt: skip
    if args.baseline:
        fields["baselines"] = tuple(b for item in args.baseline for b in item.split(","))
    if args.spec:
        questions = read_spec(args.spec)
    else:
        if args.problem is None:
            raise ConfigError(
                "give a problem (full, sensing, completion, sparse, regression) or --spec FILE"
            )
        questions = [question(**fields)]
    if args.seeds:
        seeds = parse_seeds(args.seeds)
        questions = [dataclasses.replace(q, seed=s) for q in questions for s in seeds]
    failed = 0
    if len(questions) == 1:
        outcomes = [(questions[0], execute(questions[0], root=root, force=args.force))]
    else:
        echo(f"{len(questions)} questions on the local Dask cluster")
        outcomes = run_grid(questions, root=root, n_workers=args.workers, force=args.force)
    for q, outcome in outcomes:
        if len(questions) > 1:
            echo(
                f"— {q.problem} model={q.model} depth={q.depth} scale={q.scale:g} method={q.method} seed={q.seed}"
            )
        for line in summary(outcome):
            echo(line)
        failed += checks.failures(outcome.checks) + (outcome.status == "failed")
    return 1 if failed else 0
