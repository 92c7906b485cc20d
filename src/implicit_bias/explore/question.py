"""A question (``Question``, a frozen config like any experiment's): its fields, the automatic
defaults filled from them, and the checks of what combines with what."""

import dataclasses
import hashlib
from pathlib import Path

from implicit_bias.errors import ConfigError
from implicit_bias.explore.data import load_data

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
    solver: str = (
        ""  # "" = rosenbrock (matrix-free, stiff); or auto, tsit5, dopri5, dopri8, kvaerno5
    )
    lam: float = 0.0  # SGD weight decay
    batch_size: int = 1  # SGD entries per step
    n_saves: int = 60
    baselines: tuple[str, ...] = ()
    seed: int = 0


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
