"""SGD with L2 regularization on matrix completion, exactly as seed 001 writes it.

Seed 001 (Wang & Jacot, "Implicit bias of SGD in L2-regularized linear DNNs: one-way jumps from high
to low rank"): with A_θ = W_L ⋯ W_1 and one observed entry (i_t, j_t) ∈ I drawn uniformly per step,

    θ_{t+1} = (1 − 2ηλ) θ_t − (η/2) ∇_θ (A*_{i_t j_t} − (A_θ)_{i_t j_t})²,

which is SGD on the regularized loss (1/2N) Σ_{(i,j)∈I} (A*_ij − (A_θ)_ij)² + λ‖θ‖², N = |I| (its
expected update is exactly the full-batch GD step on that loss). ``batch_size=b`` averages the
gradients of b entries drawn uniformly with replacement; ``batch_size=None`` uses all of I (full-batch
GD with the same weight decay, the seed's contrast). A ``schedule`` switches (η, λ) at given steps.

The whole run is one jitted ``lax.scan`` over snapshots, each a ``lax.scan`` of ``save_every`` steps;
the entries of a chunk are drawn in one ``randint`` call keyed by ``fold_in(key(seed), chunk)``
(``sampled_indices`` lists them). ``fit_batch`` over a list of methods that differ in ``seed`` (or η, λ)
runs many seeds in one ``vmap``.

    traj = fit(model, problem, SGD(eta=0.05, lam=1e-3, n_steps=10**6, seed=0), key)
"""

import dataclasses
import functools as ft
import numbers

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray

from implicit_bias import progress
from implicit_bias.errors import ConfigError
from implicit_bias.optim import recorder
from implicit_bias.optim.batching import Axes
from implicit_bias.optim.jit import jit
from implicit_bias.optim.trajectory import DIVERGED, OK, Trajectory

_HALF = "the decay factor 1 − 2ηλ is no longer positive"


def _check_decay(eta, lam, where: str) -> None:
    if not isinstance(eta, numbers.Real) or not isinstance(lam, numbers.Real):
        return  # traced (rebuilt by JAX): nothing to check
    if not eta > 0:
        raise ConfigError(f"{where}: step size eta must be > 0, got {eta}")
    if lam < 0:
        raise ConfigError(f"{where}: weight decay lam must be >= 0, got {lam}")
    if eta * lam >= 0.5:
        raise ConfigError(
            f"{where}: η·λ = {eta * lam:g} >= 1/2: {_HALF} (θ_(t+1) = (1 − 2ηλ)θ_t − …); "
            "lower eta or lam"
        )


@ft.partial(
    jax.tree_util.register_dataclass,
    data_fields=["eta", "lam", "seed"],
    meta_fields=["n_steps", "batch_size", "schedule", "save_every"],
)
@dataclasses.dataclass(frozen=True, kw_only=True)
class SGD:
    """θ ← (1 − 2ηλ)θ − (η/2)∇_θ (A*_ij − (A_θ)_ij)², one uniform entry (i, j) ∈ I per step (seed 001).

    eta, lam     step size η and weight decay λ (traced: vmap over them does not recompile); ηλ < 1/2
    n_steps      number of steps
    batch_size   entries per step, drawn uniformly with replacement (gradients averaged);
                 None = every observed entry (full-batch GD on the same regularized loss)
    schedule     ((step, η, λ), …): from ``step`` on use (η, λ); steps increasing
    save_every   snapshot every so many steps (default: n_steps // 200, at least 1); must divide n_steps
    seed         the PRNG seed of the entry sampling (traced: vmap over seeds)
    """

    eta: float
    n_steps: int
    lam: float = 0.0
    batch_size: int | None = 1
    schedule: tuple[tuple[int, float, float], ...] = ()
    save_every: int | None = None
    seed: int = 0

    def __post_init__(self):
        _check_decay(self.eta, self.lam, "SGD")
        if not isinstance(self.n_steps, int):  # rebuilt by JAX during tracing
            return
        if self.n_steps < 1:
            raise ConfigError(f"n_steps must be >= 1, got {self.n_steps}")
        if self.batch_size is not None and (
            not isinstance(self.batch_size, int) or self.batch_size < 1
        ):
            raise ConfigError(f"batch_size must be an integer >= 1 or None, got {self.batch_size}")
        if self.save_every is None:
            every = max(1, self.n_steps // 200)
            while self.n_steps % every:
                every -= 1
            object.__setattr__(self, "save_every", every)
        if self.save_every < 1 or self.n_steps % self.save_every:
            raise ConfigError(
                f"save_every={self.save_every} must be >= 1 and divide n_steps={self.n_steps}"
            )
        schedule = tuple(tuple(s) for s in self.schedule)
        object.__setattr__(self, "schedule", schedule)
        last = 0
        for entry in schedule:
            if len(entry) != 3:
                raise ConfigError(f"schedule entries are (step, eta, lam), got {entry!r}")
            step, eta, lam = entry
            if not (isinstance(step, int) and last < step < self.n_steps):
                raise ConfigError(
                    f"schedule steps must be increasing integers in (0, n_steps={self.n_steps}), "
                    f"got {step!r} after {last}"
                )
            _check_decay(eta, lam, f"schedule at step {step}")
            last = step

    def rates(self, t: Int[Array, ""]) -> tuple[Float[Array, ""], Float[Array, ""]]:
        """(η_t, λ_t) at step t under the schedule."""
        eta, lam = jnp.asarray(self.eta, float), jnp.asarray(self.lam, float)
        for step, e, l in self.schedule:
            eta = jnp.where(t >= step, e, eta)
            lam = jnp.where(t >= step, l, lam)
        return eta, lam

    def solve(self, model, problem, params0, observe, *, axes=None, label="SGD", watch=None):
        """Run from ``params0`` (the engine's method protocol); returns (Trajectory, None).

        ``watch`` (a ``theory.sgd.Region``) also tracks B_r membership at EVERY step inside the jitted
        loop; the statistics (see ``watch_update``) are then in ``traj.observed["watch"]`` (last value).
        """
        n_saves = self.n_steps // self.save_every
        with progress.task(label, total=None):
            traj = _solve_jit(model, problem, self, params0, n_saves, axes=axes, observe=observe,
                              watch=watch)  # fmt: skip
        if axes is not None or int(traj.status) != DIVERGED:
            return traj, None
        # a single run diverged: replay its last chunk step by step for the exact step
        start = int(traj.diverged_step) - self.save_every
        step, last = _replay(model, problem, self, traj.final, start)
        return dataclasses.replace(traj, diverged_step=jnp.asarray(step)), last


# ---------------------------------------------------------------------------------------------
# the update


def chunk_indices(key: PRNGKeyArray, c, every: int, N: int, b: int) -> Int[Array, "every b"]:
    """The observation indices of the ``every`` steps of chunk c: uniform on {0, …, N−1}, i.i.d.

    Drawn in one call per chunk (a per-step ``fold_in`` + ``randint`` costs 7× the whole 2×2 step
    under vmap); so the stream is a function of (seed, save_every).
    """
    return jax.random.randint(jax.random.fold_in(key, c), (every, b), 0, N)


def sampled_indices(seed: int, n_steps: int, save_every: int, N: int, b: int = 1) -> np.ndarray:
    """All indices SGD(seed=seed, save_every=save_every, batch_size=b) draws: shape (n_steps, b)."""
    key = jax.random.key(seed)
    chunks = [chunk_indices(key, c, save_every, N, b) for c in range(n_steps // save_every)]
    return np.concatenate([np.asarray(x) for x in chunks])


def _vjp(model, params):
    vjp = getattr(model, "vjp", None)
    if vjp is not None:
        return vjp(params)
    X, pullback = jax.vjp(model, params)
    return X, lambda G: pullback(G)[0]


def sgd_step(model, problem, params, idx, eta, lam):
    """θ ← (1 − 2ηλ)θ − (η/2) ∇_θ (1/b) Σ_k (A*_{i_k j_k} − (A_θ)_{i_k j_k})² over the entries ``idx``.

    (η/2)∇_θ (A*_ij − (A_θ)_ij)² = η ∇_θ⟨G, A_θ⟩ with G = ((A_θ)_ij − A*_ij) e_i e_jᵀ: the model's
    pullback of a one-entry matrix. ``idx=None`` means every observed entry, weight 1/N each.
    """
    X, pullback = _vjp(model, params)
    rows, cols, y = problem.rows, problem.cols, problem.y
    if idx is not None:
        rows, cols, y = rows[idx], cols[idx], y[idx]
    if idx is None:  # every entry: G = (1/N) Σ r_ij e_i e_jᵀ by one scatter
        r = X[rows, cols] - y
        G = jnp.zeros(X.shape, X.dtype).at[rows, cols].add(r / r.shape[0])
        return _update(params, pullback(G), eta, lam)
    # G = Σ_k (r_k / b) e_{i_k} e_{j_k}ᵀ from one-hot rows and columns: under vmap on a CPU this
    # fuses better than a gather/scatter pair (measured ≈1.2× faster at 2×2, 256 seeds)
    E_i = (rows[:, None] == jnp.arange(X.shape[0])[None, :]).astype(X.dtype)  # (b, a)
    E_j = (cols[:, None] == jnp.arange(X.shape[1])[None, :]).astype(X.dtype)  # (b, c)
    r = jnp.sum((E_i @ X) * E_j, axis=1) - y  # (A_θ)_{i_k j_k} − A*_{i_k j_k}
    G = (E_i * (r / r.shape[0])[:, None]).T @ E_j
    return _update(params, pullback(G), eta, lam)


def _update(params, g, eta, lam):
    decay = 1.0 - 2.0 * eta * lam
    return jax.tree.map(lambda w, gw: decay * w - eta * gw, params, g)


def regularized_loss(model, problem, params, lam) -> Float[Array, ""]:
    """(1/2N) Σ_{(i,j)∈I} (A*_ij − (A_θ)_ij)² + λ‖θ‖² (seed 001)."""
    X = model(params)
    r = X[problem.rows, problem.cols] - problem.y
    sq = sum(jnp.sum(w**2) for w in jax.tree.leaves(params))
    return 0.5 * jnp.mean(r**2) + lam * sq


@jax.jit
def _one_step(model, problem, method, params, t, idx):
    eta, lam = method.rates(t)
    new = sgd_step(model, problem, params, idx, eta, lam)
    return new, regularized_loss(model, problem, new, lam)


def _replay(model, problem, method, params, start: int) -> tuple[int, float]:
    """The exact step at which the loss stops being finite, from the last finite snapshot at ``start``."""
    _, lam = method.rates(start)
    last = float(regularized_loss(model, problem, params, lam))
    every, N = method.save_every, problem.rows.shape[0]
    if method.batch_size is not None:
        key = jax.random.key(method.seed)
        idx = chunk_indices(key, start // every, every, N, method.batch_size)
    for t in range(start, start + every):
        step_idx = None if method.batch_size is None else idx[t - start]
        params, loss = _one_step(model, problem, method, params, t, step_idx)
        if not np.isfinite(float(loss)):
            return t + 1, last
        last = float(loss)
    return start + method.save_every, last


# ---------------------------------------------------------------------------------------------
# B_r membership at every step (seed 001: θ_t ∈ B_r ⇒ θ_{t+1} ∈ B_r)

K_EVENTS = 8  # exits recorded with their step per run (the count is exact beyond that)


def watch_init(params0, region) -> dict:
    """The watch state before step 1: b_level of θ_0 (see ``theory.sgd.b_level``)."""
    from implicit_bias.theory.sgd import b_level

    lvl = b_level(params0, region)
    inside = lvl <= region.r
    none = jnp.full(K_EVENTS, -1, int)
    return {
        "level": lvl,  # b_level now
        "level0": lvl,
        "max_level_after_entry": jnp.where(inside, lvl, -jnp.inf),
        "first_in": jnp.where(inside, 0, -1),  # first step with θ_t ∈ B_r (−1: never)
        "steps_in": inside.astype(int),  # steps spent in B_r
        "n_exit": jnp.asarray(0),  # steps t with θ_{t−1} ∈ B_r and θ_t ∉ B_r
        "exit_step": none,  # the first K_EVENTS such t
        "exit_to": jnp.full(K_EVENTS, jnp.nan),  # b_level after the exit (inf: in no B_r)
        "exit_why": none,  # the conditions of B_r that failed at the exit (theory.sgd.WHY_* mask)
        "exit_cond": jnp.zeros(K_EVENTS, bool),  # noise_condition held at the exit's step
        "n_up": jnp.asarray(0),  # steps where b_level rose (an exit from some B_r', any r')
        "first_up": jnp.asarray(-1),
        "n_in_noisy": jnp.asarray(0),
    }


def noise_condition(old, new, eta, lam, eps1) -> Array:
    """The step's stochastic gradient is small enough for B_r's balancedness to be closed (derived).

    With W_ℓ' = aW_ℓ − ηG_ℓ, a = 1 − 2ηλ, the first-order terms of the imbalance cancel for a product
    model (W_{ℓ+1}ᵀG_{ℓ+1} = G_ℓW_ℓᵀ), so D_ℓ' = a²D_ℓ + η²(G_{ℓ+1}ᵀG_{ℓ+1} − G_ℓG_ℓᵀ) and
    ‖D_ℓ'‖_F ≤ a²√ε₁ + 2η²g² with g² = max_ℓ ‖G_ℓ‖_F². The step keeps ‖D_ℓ‖_F² ≤ ε₁ when
    2η²g² ≤ (1 − a²)√ε₁. G_ℓ = (aW_ℓ − W_ℓ')/η is read off the step itself.
    """
    a = 1.0 - 2.0 * eta * lam
    g2 = jnp.max(jnp.stack([jnp.sum(((a * Wo - Wn) / eta) ** 2) for Wo, Wn in zip(old, new)]))
    return 2.0 * eta**2 * g2 <= (1.0 - a**2) * jnp.sqrt(eps1)


def watch_update(w: dict, params, t, region, old=None, eta=None, lam=None) -> dict:
    """Fold θ_t (after step t ≥ 1, from θ_{t−1} = ``old`` with step size η and decay λ) into the watch."""
    from implicit_bias.theory.sgd import region_state

    lvl, why = region_state(params, region)
    was_in, inside = w["level"] <= region.r, lvl <= region.r
    cond = noise_condition(old, params, eta, lam, region.eps1)
    exit_ = was_in & ~inside
    up = lvl > w["level"]
    k = jnp.minimum(w["n_exit"], K_EVENTS - 1)
    record = exit_ & (w["n_exit"] < K_EVENTS)
    entered = w["first_in"] >= 0
    return {
        "level": lvl,
        "level0": w["level0"],
        "max_level_after_entry": jnp.where(
            entered | inside,
            jnp.maximum(w["max_level_after_entry"], lvl),
            w["max_level_after_entry"],
        ),  # fmt: skip
        "first_in": jnp.where(~entered & inside, t, w["first_in"]),
        "steps_in": w["steps_in"] + inside.astype(int),
        "n_exit": w["n_exit"] + exit_.astype(int),
        "exit_step": w["exit_step"].at[k].set(jnp.where(record, t, w["exit_step"][k])),
        "exit_to": w["exit_to"].at[k].set(jnp.where(record, lvl, w["exit_to"][k])),
        "exit_why": w["exit_why"].at[k].set(jnp.where(record, why, w["exit_why"][k])),
        "exit_cond": w["exit_cond"].at[k].set(jnp.where(record, cond, w["exit_cond"][k])),
        "n_up": w["n_up"] + up.astype(int),
        "first_up": jnp.where((w["first_up"] < 0) & up, t, w["first_up"]),
        # steps taken from inside B_r whose noise was above the derived balancedness bound
        "n_in_noisy": w["n_in_noisy"] + (was_in & ~cond).astype(int),
    }


def _sgd_solve(model, problem, method: SGD, params0, n_saves, *, observe, watch=None):
    key = jax.random.key(method.seed)
    N = problem.rows.shape[0]
    every = method.save_every

    def step(pw, t_idx):
        p, w = pw
        t, idx = t_idx
        eta, lam = method.rates(t)
        new = sgd_step(model, problem, p, idx, eta, lam)
        if watch is not None:
            w = watch_update(w, new, t + 1, watch, old=p, eta=eta, lam=lam)
        p = new
        return (p, w), None

    def chunk(carry, c):
        p, w, good, ok = carry
        if method.batch_size is None:
            idx = None
        else:
            idx = chunk_indices(key, c, every, N, method.batch_size)
        (p, w), _ = jax.lax.scan(step, (p, w), (c * every + jnp.arange(every), idx))
        _, lam = method.rates((c + 1) * every - 1)
        loss = regularized_loss(model, problem, p, lam)
        ok = ok & jnp.isfinite(loss)
        good = jax.tree.map(lambda a, b: jnp.where(ok, a, b), p, good)
        return (p, w, good, ok), (loss, observe(p), ok)

    w0 = None if watch is None else watch_init(params0, watch)
    carry0 = (params0, w0, params0, jnp.asarray(True))
    (_, w_end, final, ok), (losses, obs, oks) = jax.lax.scan(chunk, carry0, jnp.arange(n_saves))
    _, lam0 = method.rates(0)
    steps = every * jnp.arange(n_saves + 1.0)
    valid = jnp.concatenate([jnp.ones(1, bool), oks])
    first_bad = jnp.argmin(valid)  # the snapshot at which the loss was first not finite
    observed = jax.tree.map(lambda o0, o: jnp.concatenate([o0[None], o]), observe(params0), obs)
    if watch is not None:
        observed = {"snap": observed, "watch": w_end}
    return Trajectory(
        t=jnp.where(valid, steps, jnp.nan),
        loss=jnp.concatenate([regularized_loss(model, problem, params0, lam0)[None], losses]),
        observed=observed,
        final=final,
        n_evals=jnp.where(ok, method.n_steps, steps[first_bad]).astype(int),
        status=jnp.where(ok, OK, DIVERGED),
        diverged_step=jnp.where(ok, -1, steps[first_bad]).astype(int),
        method="SGD",
    )


@jit(static_argnames=("n_saves", "axes", "observe", "watch"))
def _solve_jit(model, problem, method, params0, n_saves, *, axes, observe, watch=None):
    fn = ft.partial(_sgd_solve, observe=observe, watch=watch)
    if axes is not None:
        fn = jax.vmap(fn, in_axes=(axes.model, axes.problem, axes.method, axes.params, None))
    return fn(model, problem, method, params0, n_saves)


def run_seeds(
    model, problem, method: SGD, params0, seeds, observe, *, etas=None, lams=None, watch=None
):
    """Many SGD runs in one ``vmap``: ``params0`` stacked (leading axis B) or shared, one seed each.

    ``etas``/``lams`` (length B) vary the step size / weight decay per member. Returns a batched
    Trajectory as NumPy arrays (leading axis B). Unlike ``fit_batch`` no per-member host work is done.
    With ``watch=Region(...)`` B_r membership is tracked at every step and ``(traj, stats)`` is
    returned: ``traj.observed`` as without it, ``stats`` the per-run dict of ``watch_update``.
    """
    seeds = np.asarray(seeds)
    B = seeds.shape[0]
    etas = np.full(B, method.eta, float) if etas is None else np.asarray(etas, float)
    lams = np.full(B, method.lam, float) if lams is None else np.asarray(lams, float)
    if etas.shape != (B,) or lams.shape != (B,):
        raise ConfigError(
            f"etas and lams must have one value per seed ({B}), got {etas.shape}, {lams.shape}"
        )
    for e, l in zip(etas, lams):
        _check_decay(float(e), float(l), "run_seeds")
    methods = dataclasses.replace(
        method, eta=jnp.asarray(etas), lam=jnp.asarray(lams), seed=jnp.asarray(seeds)
    )
    leaves = jax.tree.leaves(params0)
    stacked = leaves[0].ndim == 3 and leaves[0].shape[0] == B
    axes = Axes(model=None, problem=None, method=0, params=0 if stacked else None)
    traj, _ = methods.solve(model, problem, params0, observe, axes=axes, label=f"SGD ×{B}",
                            watch=watch)  # fmt: skip
    traj = jax.tree.map(np.asarray, traj)
    if watch is not None:
        stats = traj.observed["watch"]
        traj = dataclasses.replace(traj, observed=traj.observed["snap"])
    # the runner's sharpness rows (λ_max of L, the loss without the weight-decay term λ‖θ‖²/2,
    # whose Hessian adds λI); ``record`` is a no-op outside ``recorder.recording()``
    start = params0 if stacked else jax.tree.map(lambda x: np.broadcast_to(x, (B, *np.shape(x))), params0)
    recorder.record(model, problem, methods, traj, f"SGD ×{B}", start, observe)
    return traj if watch is None else (traj, stats)


# ---------------------------------------------------------------------------------------------
# every exit from B_r, counted per step and per condition (issue 23)


def replay_exits(model, problem, params0, seeds, etas, lams, n_steps: int, save_every: int,
                 region, batch_size: int = 1) -> dict:  # fmt: skip
    """Replay SGD runs step by step (the same indices as ``run_seeds``: ``sampled_indices(seed,
    n_steps, save_every, …)``) and count EVERY exit from B_r (θ_{t−1} ∈ B_r, θ_t ∉ B_r), by the
    condition that fails at θ_t (balancedness, rank, ‖W_ℓ‖² ≤ C; an exit can fail several) and by
    whether the derived step-size condition (ii) (``optim.sgd.noise_condition``) held at that step.

    ``params0`` stacked over runs (leading axis), ``seeds``, ``etas``, ``lams`` one per run. Returns
    per-run integer arrays: ``exits``, ``balance``, ``rank``, ``bound``, ``exits_ii`` (within (ii)),
    ``balance_ii``, ``rank_ii``, ``bound_ii``, ``steps_in`` (steps taken from inside B_r) and
    ``steps_in_ii``; ``region`` is a ``theory.sgd.Region``. The watch inside ``run_seeds`` records only the first 8 exits' conditions.
    """
    from implicit_bias.theory.sgd import WHY_BALANCE, WHY_BOUND, WHY_RANK, region_state

    seeds = np.asarray(seeds)
    if seeds.size == 0:
        z = np.zeros(0, int)
        keys = ("exits", "balance", "rank", "bound", "exits_ii", "balance_ii", "rank_ii",
                "bound_ii", "steps_in", "steps_in_ii")  # fmt: skip
        return {k: z for k in keys}
    N = int(problem.rows.shape[0])
    idx = np.stack([sampled_indices(int(s), n_steps, save_every, N, batch_size)
                    for s in seeds])  # fmt: skip

    def one(p, ids, eta, lam):
        def step(p, i):
            new = sgd_step(model, problem, p, i, eta, lam)
            lvl_old = region_state(p, region)[0]
            lvl_new, why = region_state(new, region)
            inside = lvl_old <= region.r
            ex = inside & ~(lvl_new <= region.r)
            cond = noise_condition(p, new, eta, lam, region.eps1)
            bits = [ex & ((why & b) > 0) for b in (WHY_BALANCE, WHY_RANK, WHY_BOUND)]
            out = (ex, *bits, ex & cond, *[b & cond for b in bits], inside, inside & cond)
            return new, tuple(x.astype(jnp.int32) for x in out)

        _, out = jax.lax.scan(step, p, ids)
        return tuple(x.sum() for x in out)

    res = jax.jit(jax.vmap(one))(params0, idx, jnp.asarray(etas, float), jnp.asarray(lams, float))
    keys = ("exits", "balance", "rank", "bound", "exits_ii", "balance_ii", "rank_ii", "bound_ii",
            "steps_in", "steps_in_ii")  # fmt: skip
    return {k: np.asarray(v) for k, v in zip(keys, res)}
