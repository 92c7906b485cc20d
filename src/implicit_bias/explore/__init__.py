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

from implicit_bias.explore.build import (
    Setup,
    baselines,
    build_method,
    build_model,
    build_problem,
    setup,
)
from implicit_bias.explore.command import main, parse_seeds, read_spec, run_grid, summary
from implicit_bias.explore.data import load_data, load_entries
from implicit_bias.explore.question import (
    BASELINES,
    METHODS,
    MODELS,
    NAME,
    NO_THEORY,
    PROBLEMS,
    Question,
    question,
    validate,
)
from implicit_bias.explore.runs import execute, plot, run
from implicit_bias.explore.theory import theory_checks

__all__ = [
    "BASELINES", "METHODS", "MODELS", "NAME", "NO_THEORY", "PROBLEMS", "Question", "Setup",
    "baselines", "build_method", "build_model", "build_problem", "execute", "load_data",
    "load_entries", "main", "parse_seeds", "plot", "question", "read_spec", "run", "run_grid",
    "setup", "summary", "theory_checks", "validate",
]  # fmt: skip
