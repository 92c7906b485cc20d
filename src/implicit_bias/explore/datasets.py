"""Real data from packages for ``explore``: ``--data PACKAGE:NAME`` in place of a file path.

* ``skimage:camera`` (completion, full): the 512×512 cameraman photo as float64 in [0, 1], resized
  to n×n (anti-aliased) when n > 0; a complete matrix (``full``, ``truth``).
* ``sklearn:digits`` (regression): X the 8×8 digit images flattened (64 features in [0, 1]), Y the
  one-hot labels (10 outputs); the first n samples when n > 0.
* ``sklearn:linnerud`` (regression): X exercise (20×3), Y physiological (20×3), each column
  standardized (mean 0, variance 1); the first n samples when n > 0.
* ``scipy:dct`` (sparse): A = m distinct random rows of the orthonormal n×n DCT-II matrix times
  √(n/m) (columns of unit norm on average); x s-sparse; y = A x (n = 0 means 20).
* ``sklearn:digits-dictionary`` (sparse): A = the first n digit images as unit-norm columns
  (64 × n: a real, coherent dictionary; n = 0 means 128; m is ignored); x s-sparse; y = A x.

Each loader imports its package when called; a missing package is a one-line ``ConfigError`` naming
the extra that installs it (``pip install "implicit-bias[examples]"``). The s-sparse x has a random
support and magnitudes in [1, 2], with random signs when ``signed`` (all from
``np.random.default_rng(seed)``).
"""

import importlib

import numpy as np

from implicit_bias.errors import ConfigError

EXTRA = 'pip install "implicit-bias[examples]"'
SOURCES: dict = {}  # name → loader(problem, *, n, m, s, seed, signed) -> dict; loader.problems


def _source(name: str, *problems: str):
    def register(fn):
        fn.problems = problems
        fn.source = name
        SOURCES[name] = fn
        return fn

    return register


def _need(module: str, package: str, name: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"{name} needs {package}, which is not installed: {EXTRA}") from None


def _first(name: str, total: int, n: int) -> int:
    if not 0 <= n <= total:
        raise ConfigError(f"{name} has {total} samples: n = {int(n)} must be 0 (all) to {total}")
    return n or total


def _sparse_x(name: str, n: int, s: int, rng, signed: bool) -> np.ndarray:
    if not 1 <= s <= n:
        raise ConfigError(f"{name}: the sparsity s = {int(s)} must be between 1 and n = {int(n)}")
    x = np.zeros(n)
    support = rng.choice(n, size=s, replace=False)
    x[support] = rng.uniform(1.0, 2.0, size=s)
    if signed:
        x[support] *= rng.choice([-1.0, 1.0], size=s)
    return x


@_source("skimage:camera", "completion", "full")
def _camera(problem, *, n=0, m=0, s=0, seed=0, signed=True) -> dict:
    """The cameraman photo as a float64 matrix in [0, 1]; resized to n×n (anti-aliased) when n > 0."""
    _need("skimage", "scikit-image", "skimage:camera")
    import skimage.data
    import skimage.transform

    M = skimage.data.camera().astype(np.float64) / 255.0
    if n < 0:
        raise ConfigError(f"skimage:camera: the size n = {int(n)} must be positive (0 = 512)")
    if n:
        M = skimage.transform.resize(M, (n, n), anti_aliasing=True)
    M = np.clip(np.asarray(M, dtype=np.float64), 0.0, 1.0)
    if problem == "full":
        return {"X": M, "truth": M}
    rows, cols = M.shape
    entries = np.stack(np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij"), -1)
    return {
        "entries": entries.reshape(-1, 2).astype(np.int64),
        "values": M.ravel().copy(),
        "shape": (int(rows), int(cols)),
        "full": M,
        "notes": [],
        "truth": M,
    }


def _digits(name):
    return _need("sklearn.datasets", "scikit-learn", name).load_digits()


@_source("sklearn:digits", "regression")
def _digits_regression(problem, *, n=0, m=0, s=0, seed=0, signed=True) -> dict:
    """X: the 8×8 digit images flattened and scaled to [0, 1] (64 features); Y: one-hot labels (10)."""
    d = _digits("sklearn:digits")
    k = _first("sklearn:digits", len(d.target), n)
    X = np.asarray(d.data[:k], dtype=np.float64) / 16.0
    Y = np.eye(10)[np.asarray(d.target[:k])]
    return {"X": X, "Y": Y}


@_source("sklearn:linnerud", "regression")
def _linnerud(problem, *, n=0, m=0, s=0, seed=0, signed=True) -> dict:
    """X: the exercise data (chins, situps, jumps), Y: the physiological data (weight, waist,
    pulse) of 20 people (the first n with n > 0), each column standardized (mean 0, variance 1)."""
    d = _need("sklearn.datasets", "scikit-learn", "sklearn:linnerud").load_linnerud()
    k = _first("sklearn:linnerud", len(d.data), n)
    if k < 2:
        raise ConfigError("sklearn:linnerud: standardizing needs n >= 2 samples")

    def standardize(a):
        a = np.asarray(a[:k], dtype=np.float64)
        sd = a.std(axis=0)
        return (a - a.mean(axis=0)) / np.where(sd > 0, sd, 1.0)

    return {"X": standardize(d.data), "Y": standardize(d.target)}


@_source("scipy:dct", "sparse")
def _dct(problem, *, n=0, m=0, s=0, seed=0, signed=True) -> dict:
    """A: m distinct random rows of the orthonormal n×n DCT-II matrix times √(n/m) (mean squared
    column norm 1); x: s-sparse; y = A x. n = 0 means 20."""
    fft = _need("scipy.fft", "scipy", "scipy:dct")
    n = n or 20
    if not 1 <= m <= n:
        raise ConfigError(f"scipy:dct: give the number of measurements m, 1 <= m <= n = {int(n)}")
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(n, size=m, replace=False))
    # row k of the orthonormal DCT-II matrix D is the inverse transform of e_k (D⁻¹ = Dᵀ): m × n
    # numbers, never the n × n matrix (n = 100 000 would be 80 GB)
    E = np.zeros((m, n))
    E[np.arange(m), rows] = 1.0
    A = fft.idct(E, norm="ortho", axis=1) * np.sqrt(n / m)
    x = _sparse_x("scipy:dct", n, s, rng, signed)
    return {"A": A, "y": A @ x, "truth": x}


@_source("sklearn:digits-dictionary", "sparse")
def _digits_dictionary(problem, *, n=0, m=0, s=0, seed=0, signed=True) -> dict:
    """A: the first n digit images as columns (64 × n), each scaled to unit ℓ2 norm (a real,
    coherent dictionary; n = 0 means 128); x: s-sparse; y = A x."""
    d = _digits("sklearn:digits-dictionary")
    k = _first("sklearn:digits-dictionary", len(d.target), n or 128)
    A = np.asarray(d.data[:k], dtype=np.float64).T
    A = A / np.linalg.norm(A, axis=0)
    x = _sparse_x("sklearn:digits-dictionary", k, s, np.random.default_rng(seed), signed)
    return {"A": A, "y": A @ x, "truth": x}


def load_source(name: str, problem: str, *, n=0, m=0, s=0, seed=0, signed=True) -> dict:
    """The data set ``name`` (a key of ``SOURCES``) for ``problem``: the keys ``load_data`` returns
    for that problem, plus ``truth`` where it is known. ``n``, ``m``, ``s``, ``seed`` and ``signed``
    are read by the sources that use them (see the module docstring)."""
    if name not in SOURCES:
        raise ConfigError(f"unknown data source {name!r}; known: {', '.join(sorted(SOURCES))}")
    loader = SOURCES[name]
    if problem not in loader.problems:
        raise ConfigError(
            f"{name} serves the {' and '.join(loader.problems)} problem"
            f"{'s' if len(loader.problems) > 1 else ''}, not {problem}"
        )
    return loader(problem, n=int(n), m=int(m), s=int(s), seed=int(seed), signed=bool(signed))
