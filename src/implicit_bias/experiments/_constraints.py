"""Constraints between config fields that several experiments share, for their Config's ``check``.

Each raises a ConfigError (``config.ConstraintError``) naming both fields and why they must agree;
``config.validate`` calls a Config's ``check`` after every field's own domain, so ``run --set``,
sweep grids, sweep files and the Python API refuse such a config before any work.
"""

from implicit_bias.config import require

__all__ = [
    "require", "s_le_n", "divides", "decay_ok", "fifty_saves", "step_below_bound",
    "strictly_decreasing", "regression_shapes", "completion_sizes",
]  # fmt: skip


def s_le_n(cfg) -> None:
    require(cfg.s <= cfg.n, f"s = {cfg.s} must be <= n = {cfg.n} (an s-sparse vector in R^n)")


def completion_sizes(cfg, rank_field: str = "rank") -> None:
    """``rank`` ≤ n and m ≤ n²: an n×n matrix of that rank, m of its entries observed."""
    rank = getattr(cfg, rank_field)
    require(
        rank <= cfg.n,
        f"{rank_field} = {rank} must be <= n = {cfg.n} (an n×n matrix of rank `{rank_field}`)",
    )
    require(
        cfg.m <= cfg.n**2,
        f"m = {cfg.m} must be <= n² = {cfg.n**2} (m entries of the n×n matrix are observed)",
    )


def divides(every: int, every_name: str, steps: int, steps_name: str) -> None:
    require(
        every <= steps and steps % every == 0,
        f"{every_name} = {every} must divide {steps_name} = {steps} (a snapshot every "
        f"{every_name} steps, the last one at step {steps_name})",
    )


def decay_ok(eta: float, eta_name: str, lam: float, lam_name: str) -> None:
    require(
        eta * lam < 0.5,
        f"{eta_name} · {lam_name} = {eta:g} · {lam:g} = {eta * lam:g} must be < 1/2 (the weight-decay "
        "factor 1 − 2ηλ must stay positive)",
    )


def fifty_saves(steps: int, name: str) -> None:
    """A run that saves a snapshot every ``steps // 50`` steps."""
    every = steps // 50
    require(
        every >= 1 and steps % every == 0,
        f"{name} = {steps} must be >= 50 and a multiple of {name} // 50 = {every} (the run saves "
        f"a snapshot every {name} // 50 steps)",
    )


def step_below_bound(eta: float, values, name: str) -> None:
    bound = 1.0 / (2.0 * max(values))
    require(
        eta < bound,
        f"eta = {eta:g} must be below 1/(2 max {name}) = {bound:.6g} (the step-size condition "
        f"of the discrete bounds, with {name} = {tuple(values)})",
    )


def strictly_decreasing(values, name: str) -> None:
    require(
        all(a > b for a, b in zip(values, values[1:])),
        f"{name} = {tuple(values)} must be strictly decreasing",
    )


def regression_shapes(cfg) -> None:
    """Seed 004's aligned data: diag D_xy (``sigma``) has min(p, d) entries, p = len(lam), and the
    hidden layer is at least that wide (else the flow cannot reach W^{r,*} and every claim fails)."""
    r = min(len(cfg.lam), cfg.d)
    require(
        len(cfg.sigma) == r,
        f"sigma has {len(cfg.sigma)} entries but must have min(len(lam), d) = min({len(cfg.lam)}, "
        f"{cfg.d}) = {r} (the diagonal of the p×d matrix D_xy, p = len(lam))",
    )
    require(
        cfg.hidden >= r,
        f"hidden = {cfg.hidden} must be >= len(sigma) = {r} (a narrower hidden layer caps the "
        "rank of W below that of the closed form)",
    )
