"""A question (``Question``, a frozen config like any experiment's): its fields, the automatic
defaults filled from them, and the checks of what combines with what."""

import dataclasses
import hashlib
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from annotated_types import Ge, Le, Lt, MaxLen, MinLen

from implicit_bias.config import Count, Decay, Depth, Seed, Step, Tol
from implicit_bias.errors import ConfigError
from implicit_bias.explore.data import is_source, load_data, load_matrix

NAME = "explore"
PROBLEMS = ("full", "sensing", "completion", "sparse", "regression")
MODELS = ("deep", "symmetric", "hadamard")
METHODS = ("gd", "flow", "sgd")
BASELINES = ("l2", "nuclear", "l1", "rrr")
NO_THEORY = "no theory applies"


Problem = Literal["full", "sensing", "completion", "sparse", "regression"]
Size = Annotated[int, Ge(0), Le(100_000)]  # 0 = the default size (or the data's)
Init = Literal[
    "", "identical", "identity", "perturbed", "gaussian", "orthogonal", "balanced", "spectral"
]
Solver = Literal["", "rosenbrock", "auto", "tsit5", "dopri5", "dopri8", "kvaerno5"]
HoldOut = Annotated[float, Ge(0), Lt(1)]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Question:
    """One question: problem, model, method, baselines (every field is a flag of ``explore``).

    Each field declares its domain (``config.validate`` checks it, as for every experiment);
    ``validate`` adds what combines with what. ``FIELD_HELP`` says what each flag means."""

    problem: Problem = "completion"
    # problem sizes (random instances); user data replaces them
    n: Size = 0
    n_cols: Size = 0
    rank: Annotated[int, Ge(1), Le(10_000)] = 2
    spectrum: Annotated[tuple[float, ...], MinLen(0), MaxLen(10_000)] = ()
    symmetric: bool = True
    m: Size = 0
    ensemble: Literal["symmetric", "gaussian"] = "symmetric"
    observed: Annotated[float, Ge(0), Le(10**9)] = 0.0
    s: Annotated[int, Ge(1), Le(100_000)] = 5
    signed: bool = False
    p: Annotated[int, Ge(1), Le(100_000)] = 6
    d: Annotated[int, Ge(1), Le(100_000)] = 4
    data: str = ""
    data_sha256: str = ""  # the data's content hash (part of the config hash): set by ``question``
    truth: str = ""
    truth_sha256: str = ""  # the truth file's content hash: set by ``question``
    holdout: HoldOut = 0.0
    # model
    model: Literal["deep", "symmetric", "hadamard"] = "deep"
    depth: Depth = 2
    init: Init = ""
    scale: Annotated[float, Ge(0), Le(1e3)] = 1e-3
    width: Annotated[int, Ge(0), Le(100_000)] = 0
    # method
    method: Literal["gd", "flow", "sgd", "limit"] = "flow"
    eta: Step = 0.1
    n_steps: Count = 10_000
    t1: Annotated[float, Ge(0), Le(1e15)] = 0.0
    rel_tol: Tol = 1e-10
    solver: Solver = ""
    lam: Decay = 0.0
    batch_size: Count = 1
    n_saves: Annotated[int, Ge(2), Le(10_000)] = 60
    baselines: Annotated[tuple[Literal["l2", "nuclear", "l1", "rrr"], ...], MinLen(0)] = ()
    seed: Seed = 0


@dataclasses.dataclass(frozen=True, kw_only=True)
class EtaMap(Question):
    """A question over a grid of step sizes (``--eta a:b:n``, ``explore.etamap``): ``eta`` is the
    first, ``etas`` all of them. A question with one η stays a ``Question`` (its hash unchanged)."""

    etas: Annotated[tuple[float, ...], MinLen(2), MaxLen(200)] = (0.1, 0.2)


FIELD_HELP = {
    "problem": "full | sensing | completion | sparse | regression",
    "n": "rows of X* (matrix problems; 0 = 20, or the data's), length of x (sparse), samples (regression); with a package image (skimage:camera): its side after resizing",
    "n_cols": "columns of X* (0: square)",
    "rank": "rank of the random X*",
    "spectrum": "full observation: Ŵ = V diag(spectrum) Vᵀ (symmetric) or U diag Vᵀ; comma-separated",
    "symmetric": "full observation and the random truth of sensing/completion: symmetric (PSD) X* (true/false)",
    "m": "measurements (sensing) or rows of A (sparse)",
    "ensemble": "sensing: symmetric or gaussian measurement matrices",
    "observed": "completion: entries observed — a count (≥ 1) or a fraction in (0, 1); with a complete data matrix, they are drawn from it and the rest is hidden (the truth)",
    "s": "sparse: nonzeros of x",
    "signed": "sparse: signed x and the signed Hadamard model u^N − v^N (true/false)",
    "p": "regression: features",
    "d": "regression: outputs",
    "data": "a data file (.npy .npz .mtx .csv/.tsv) or a package source (skimage:camera, sklearn:digits, sklearn:linnerud, scipy:dct, sklearn:digits-dictionary)",
    "truth": "a file with the hidden truth (the full matrix of a completion, x of a sparse problem): test error on what the fit never saw",
    "holdout": "a fraction in [0, 1) of the given entries / measurements / samples held out to measure the test error",
    "model": "deep (W_N ⋯ W_1), symmetric (UUᵀ) or hadamard (u^N, or u^N − v^N with --signed)",
    "depth": "N, the number of factors",
    "init": "identical | identity | perturbed | gaussian | orthogonal | balanced | spectral (default: identical on a full square symmetric target, identity for UUᵀ, gaussian otherwise)",
    "scale": "the initialization scale α",
    "width": "hidden width (deep: 0 = square; symmetric: columns of U, 0 = n)",
    "method": "flow (exact gradient flow), gd, sgd, or limit (the α → 0 path: the saddles the flow from a vanishing start visits and the jump times, from the oracle that covers the question; no simulation)",
    "eta": "gd/sgd: the step size η; gd: a grid a:b:n (linear) or a:b:n:log (geometric) draws a regime map over η",
    "n_steps": "gd/sgd: the number of steps",
    "t1": "flow: the time horizon (0 = 1e12 for hadamard, 1e8 otherwise); the flow stops earlier once L < rel_tol · L(0)",
    "rel_tol": "flow: stop once the loss is below rel_tol · L(0)",
    "solver": "flow: rosenbrock (default: matrix-free, stiff), auto, tsit5, dopri5, dopri8, kvaerno5",
    "lam": "sgd: the weight decay λ",
    "batch_size": "sgd: entries per step",
    "n_saves": "snapshots along the run (log-spaced)",
    "baselines": "l2, nuclear (matrix problems), l1 (sparse), rrr (regression: every reduced-rank solution W^{k,*})",
    "seed": "the random instance, the init and the holdout split",
}

# which fields mean something for which problem / model / method (a flag set away from its
# default where it does not apply is refused, never ignored)
APPLIES = {
    "n_cols": ("problem", {"full", "sensing", "completion"}),
    "rank": ("problem", {"full", "sensing", "completion"}),
    "spectrum": ("problem", {"full"}),
    "symmetric": ("problem", {"full", "sensing", "completion"}),
    "m": ("problem", {"sensing", "sparse"}),
    "ensemble": ("problem", {"sensing"}),
    "observed": ("problem", {"completion"}),
    "s": ("problem", {"sparse"}),
    "signed": ("problem", {"sparse"}),
    "p": ("problem", {"regression"}),
    "d": ("problem", {"regression"}),
    "truth": ("problem", {"completion", "sparse"}),
    "holdout": ("problem", {"completion", "sparse", "sensing", "regression"}),
    "width": ("model", {"deep", "symmetric"}),
    "init": ("model", {"deep", "symmetric"}),
    "eta": ("method", {"gd", "sgd"}),
    "n_steps": ("method", {"gd", "sgd"}),
    "t1": ("method", {"flow"}),
    "rel_tol": ("method", {"flow"}),
    "solver": ("method", {"flow"}),
    "lam": ("method", {"sgd"}),
    "batch_size": ("method", {"sgd"}),
    "n_saves": ("method", {"gd", "flow", "sgd"}),
}


def _auto(q: Question) -> Question:
    """Fill the automatic defaults (init, solver) from the question."""
    init = q.init or (
        "" if q.model == "hadamard"  # its start is uniform, u = v = α·1 (no init to choose)
        else "identity" if q.model == "symmetric"
        else "identical" if q.problem == "full" and q.n_cols in (0, q.n) and q.symmetric and not q.data
        else "gaussian"
    )  # fmt: skip
    # the flows of a small start are stiff near the limit and slow across plateaus: the matrix-free
    # Rosenbrock solver (optim/stiff.py) reaches rel_tol where Tsit5 runs into max_steps and Kvaerno5
    # factors a dense Jacobian (issue 13); no explore model preconditions its gradient. A Hadamard
    # model on sparse recovery takes the exact mirror-coordinate path with it (optim/_mirror_path.py)
    solver = q.solver or "rosenbrock"
    t1 = q.t1 or (1e12 if q.model == "hadamard" else 1e8)
    return dataclasses.replace(q, init=init, solver=solver, t1=t1)


def question(**fields) -> Question:
    """A Question from flags, spec files or Python values: every value is converted and checked by
    the experiments' declared-range validator (``config.apply_overrides``), then what combines with
    what (``validate``); a data or truth file is read now and its content hash joins the config, so
    a bad file stops here, before anything runs or is stored."""
    from implicit_bias import config as config_mod

    fields = {k: v for k, v in fields.items() if v is not None}
    from implicit_bias.explore import etamap

    etas = fields.pop("etas", None)
    if etamap.is_grid(fields.get("eta")):  # --eta a:b:n: a regime map over η
        etas = etamap.parse_eta_grid(fields["eta"])
    if etas is not None:
        etas = tuple(float(e) for e in etas)
        fields["eta"] = etas[0]
    q = config_mod.apply_overrides(Question(), fields, experiment=NAME)
    if etas is not None:
        etamap.check_map(q)
        q = config_mod.validate(EtaMap(**{f.name: getattr(q, f.name) for f in dataclasses.fields(q)},
                                       etas=etas), experiment=NAME)  # fmt: skip
    for name in ("data", "truth"):  # an empty --data "$FILE" would silently mean no file
        if name in fields and not getattr(q, name).strip():
            raise ConfigError(f"--{name} is empty: give a file or a package source (PACKAGE:NAME)")
    q = _auto(q)
    validate(q, set_fields=set(fields))
    if q.data:
        _check_memory(_with_data_sizes(q, load_data(q)))
        q = dataclasses.replace(q, data=_where(q.data), data_sha256=_digest(q.data))
    if q.truth:
        load_matrix(q.truth, "the truth")  # a missing or unreadable truth stops here, in one line
        q = dataclasses.replace(q, truth=_where(q.truth), truth_sha256=_digest(q.truth))
    return q


def _with_data_sizes(q: Question, D: dict) -> Question:
    """``q`` with the sizes its data fixes (for the memory check: an entries table's indices may
    declare a matrix far larger than the file)."""
    shape = lambda a: tuple(int(s) for s in np.shape(a))  # noqa: E731
    if "shape" in D:  # completion
        a, b = (int(s) for s in D["shape"])
        return dataclasses.replace(q, n=a, n_cols=b)
    if q.problem == "full":
        a, b = shape(D["X"])
        return dataclasses.replace(q, n=a, n_cols=b)
    if q.problem == "sensing":
        m, a, b = shape(D["A"])
        return dataclasses.replace(q, m=m, n=a, n_cols=b)
    if q.problem == "sparse":
        m, a = shape(D["A"])
        return dataclasses.replace(q, m=m, n=a)
    (n, p), (_, d) = shape(D["X"]), shape(D["Y"])
    return dataclasses.replace(q, n=n, p=p, d=d)


def _where(data: str) -> str:
    return data if is_source(data) else str(Path(data).resolve())


def _digest(data: str) -> str:
    """The content hash of a data file, or of a source's name and its package's version."""
    if is_source(data):
        from importlib import metadata

        package = {"skimage": "scikit-image", "sklearn": "scikit-learn", "scipy": "scipy"}.get(
            data.split(":")[0]
        )
        try:
            version = metadata.version(package) if package else ""
        except metadata.PackageNotFoundError:
            version = ""
        text = f"{data}@{version}".encode()
    else:
        text = Path(data).read_bytes()
    return hashlib.sha256(text).hexdigest()[:16]


def _not_applying(q: Question, set_fields: set[str]) -> None:
    for name, (axis, where) in APPLIES.items():
        if name in set_fields and getattr(q, axis) not in where:
            raise ConfigError(
                f"--{name.replace('_', '-')} does not apply to {axis} {getattr(q, axis)!r} "
                f"(it goes with {axis} {', '.join(sorted(where))})"
            )


def _not_with_data(q: Question, set_fields: set[str]) -> None:
    """Fields that describe the random instance, refused where the data (or a given spectrum) fixes
    them instead: a flag that would be silently ignored."""
    defaults = Question()
    given = lambda name: name in set_fields and getattr(q, name) != getattr(defaults, name)  # noqa: E731
    if q.spectrum:
        for name in ("rank", "n_cols"):
            if given(name):
                raise ConfigError(f"--{name.replace('_', '-')} does not apply with --spectrum (it "
                                  "fixes the target: its length is n)")  # fmt: skip
    if not q.data:
        return
    fixed = {"rank", "spectrum", "symmetric", "ensemble", "p", "d"}
    if is_source(q.data):
        fixed |= {"n_cols"}
    else:
        fixed |= {"m", "s"}
        if q.problem != "completion":
            fixed |= {"n", "n_cols"}
        elif not q.n:
            fixed |= {"n_cols"}
    for name in sorted(fixed):
        if given(name):
            raise ConfigError(
                f"--{name.replace('_', '-')} describes the random instance; with --data {q.data} "
                "the data fixes it (drop the flag)"
            )


def footprint(q: Question) -> int:
    """A lower estimate of the bytes a question needs: its data, the model's parameters times the
    solver's working copies, the snapshots and SGD's index chunks (float64)."""
    a = q.n or 20
    b = q.n_cols or a
    if q.problem == "sparse":
        data = q.m * a
        params = 2 * a
        kept = q.n_saves * a + 2 * a  # x at every snapshot, the estimate
    else:
        if q.problem == "regression":
            data = a * (q.p + q.d)
            params = q.depth * max(q.p, q.d, q.width) ** 2
            r, c = q.p, q.d
        else:
            data = {"full": a * b, "completion": 3 * a * b, "sensing": (q.m + 1) * a * b}[q.problem]
            w = q.width or max(a, b)
            params = q.depth * w * max(a, b, w) if q.model == "deep" else a * w
            r, c = a, b
        # every snapshot keeps the matrix (small ones) or its singular values; the estimate
        kept = q.n_saves * (r * c if r * c <= 2**16 else min(r, c)) + 2 * r * c
    copies = 12 if q.method == "flow" else 4  # Rosenbrock: stages, CG vectors, error estimate
    chunk = max(1, q.n_steps // q.n_saves) * q.batch_size if q.method == "sgd" else 0
    return 8 * (data + copies * params + kept + chunk)


def _memory() -> int:
    import os

    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 2**62


def validate(q: Question, *, set_fields: set[str] = frozenset()) -> None:
    """What combines with what (each field's own range is ``config.validate``'s): a one-line
    ConfigError naming the fields."""
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
    if q.method == "limit" and not _limit_covered(q):
        raise ConfigError(
            f"--method limit: no limit-path oracle covers {q.model} on {q.problem}; covered: "
            "hadamard on sparse (depth ≥ 2), symmetric on sensing/completion (greedy low-rank "
            "learning), deep on full (a symmetric target), the spectral regression (seed 004)"
        )
    _not_applying(q, set_fields)
    _not_with_data(q, set_fields)
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
    if len(set(q.baselines)) != len(q.baselines):
        raise ConfigError(f"--baseline lists one twice: {', '.join(q.baselines)}")
    if q.observed > 1 and q.observed != int(q.observed):
        raise ConfigError(
            f"--observed is a count (≥ 1, whole) or a fraction in (0, 1), got {q.observed:g}"
        )
    if q.truth and q.holdout:
        raise ConfigError("give --truth or --holdout, not both (both define the test entries)")
    if q.holdout and not q.data:
        raise ConfigError(
            "--holdout splits user data (--data); a random instance knows its truth already"
        )
    if q.truth and not q.data:
        raise ConfigError("--truth goes with --data (a random instance knows its truth already)")
    if not q.data:
        a = q.n or 20
        b = q.n_cols or a
        if q.problem in ("full", "sensing", "completion") and q.rank > min(a, b):
            raise ConfigError(f"--rank {q.rank} exceeds min(n, n_cols) = {min(a, b)}")
        if q.problem == "completion" and q.observed > a * b:
            raise ConfigError(f"--observed {q.observed:g} exceeds the {a}×{b} = {a * b} entries")
        if q.problem == "sparse" and q.s > a:
            raise ConfigError(f"--s {q.s} exceeds the length n = {a} of x")
        if q.problem == "full" and q.spectrum and q.n and len(q.spectrum) != q.n:
            raise ConfigError(f"--spectrum has {len(q.spectrum)} values but --n is {q.n}")
    if q.model == "symmetric" and q.depth != 2:
        raise ConfigError("the symmetric model X = UUᵀ has depth 2; drop --depth")
    if q.depth >= 2 and q.scale == 0 and q.init != "spectral":
        raise ConfigError(
            f"--scale 0 at depth {q.depth}: every factor starts at 0, a critical point the "
            "dynamics never leave; give --scale > 0"
        )
    if q.problem == "regression" and not q.data and q.n and q.n < q.p:
        raise ConfigError(f"--n {q.n} samples is fewer than the --p {q.p} features of the random X")
    _check_memory(q)


def _limit_covered(q: Question) -> bool:
    """Whether ``theory.limit_path`` has an oracle for this question (checked before building it)."""
    if q.model == "hadamard":
        return q.problem == "sparse" and q.depth >= 2
    if q.model == "symmetric":
        return q.problem in ("sensing", "completion", "full")
    if q.model == "deep":
        return (q.problem == "full" and q.symmetric) or (q.problem == "regression" and q.init == "spectral")
    return False


def _check_memory(q: Question) -> None:
    need, have = footprint(q), _memory()
    if need > 0.8 * have:
        where = f" ({q.data}: {_sizes(q)})" if q.data else ""
        raise ConfigError(
            f"this question{where} needs at least {_size(need)} (data, {q.model} "
            f"parameters × the {q.method}'s working copies, snapshots); this machine has "
            f"{_size(have)}"
        )


def _size(n_bytes: float) -> str:
    """1.5 GiB, 3.2 TiB, … (binary units)."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n_bytes < 1024 or unit == "PiB":
            return f"{n_bytes:.0f} {unit}" if unit == "bytes" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1024


def _sizes(q: Question) -> str:
    if q.problem == "regression":
        return f"{q.n} samples, {q.p} features, {q.d} outputs"
    if q.problem == "sparse":
        return f"A is {q.m}×{q.n}"
    return f"a {q.n}×{q.n_cols} matrix" + (
        f", {q.m} measurements" if q.problem == "sensing" else ""
    )
