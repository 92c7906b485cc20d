"""Step 1 of ``optim.saddles``: the log-time speed of a run and its plateaus (module docstring of
``optim.saddles``)."""

import jax
import numpy as np

from implicit_bias.errors import ConfigError
from implicit_bias.optim._saddles_common import _value


def _check_trajectory(traj, model, problem, min_snapshots):
    if np.ndim(traj.t) != 1:
        raise ConfigError(
            "saddles() analyses one run, got a batched trajectory (t has shape "
            f"{np.shape(traj.t)}): use traj.member(i).saddles(model, problem)"
        )
    final = traj.final
    obs = traj.observed
    t = np.asarray(traj.t, dtype=np.float64)
    same = jax.tree.structure(obs) == jax.tree.structure(final) and all(
        np.shape(o)[1:] == np.shape(f) and np.shape(o)[0] == t.shape[0]
        for o, f in zip(jax.tree.leaves(obs), jax.tree.leaves(final))
    )
    if not same:
        raise ConfigError(
            "saddles() needs the parameters at every snapshot, but this trajectory's observed "
            "values are not the parameters (it was recorded with an observe= other than the "
            "identity): rerun fit without observe= (or with observe=implicit_bias.optim.identity)"
        )
    n_pos = int(np.sum(t > 0))
    if n_pos < min_snapshots:
        raise ConfigError(
            f"saddles() needs at least {min_snapshots} snapshots at t > 0 to see plateaus in "
            f"log t, got {n_pos}: rerun with more n_saves (and spacing='log' for a small start)"
        )
    loss = np.asarray(traj.loss, dtype=np.float64)
    if not np.all(np.isfinite(loss)):
        raise ConfigError("the trajectory has non-finite losses: use the part before divergence")
    # the observed values must reproduce the recorded loss: otherwise they are not these params
    # (a scaled observer) or the model/problem differ from the run's
    for j in sorted({int(t.shape[0] // 2), t.shape[0] - 1}):
        p = jax.tree.map(lambda x, j=j: np.asarray(x[j]), obs)
        L = float(_value(model, problem, p))
        if not abs(L - loss[j]) <= 1e-6 * max(abs(loss[j]), 1e-12 * loss.max(), 1e-300):
            raise ConfigError(
                f"snapshot {j}: L(observed) = {L:.10g} but the recorded loss is {loss[j]:.10g}: "
                "the observed values are not this run's parameters for this model and problem "
                "(an observe= other than the identity, or another model/problem)"
            )


def _state_signal(model, X, signal):
    """The per-snapshot state vector z: the model outputs X (one per snapshot) or their singular
    values."""
    if signal == "spectrum":
        if X.ndim != 3:
            raise ConfigError(
                f"signal='spectrum' needs a matrix-valued model, {type(model).__name__} gives "
                f"shape {X.shape[1:]}: use signal='support' or 'loss'"
            )
        return np.linalg.svd(X, compute_uv=False)
    if X.ndim != 2:
        raise ConfigError(
            f"signal='support' needs a vector-valued model, {type(model).__name__} gives shape "
            f"{X.shape[1:]}: use signal='spectrum' or 'loss'"
        )
    return X


def log_speed(t, loss, z=None, *, loss_floor=1e-10, speed_floor=1e-3, which="loss"):
    """log₁₀ of the log-time speed of each interval between snapshots at t > 0 (module docstring).

    ``which``: "loss", "state" (needs ``z``, one row per snapshot) or "auto" (the mean of both logs).
    """
    u = np.log(t)
    du = np.diff(u)
    out = []
    if which in ("loss", "auto"):
        F = loss_floor * max(float(np.max(loss)), 1e-300)
        out.append(np.abs(np.diff(np.log(loss + F))) / du)
    if which in ("state", "auto"):
        scale = max(float(np.max(np.linalg.norm(z, axis=1))), 1e-300)
        out.append(np.linalg.norm(np.diff(z, axis=0), axis=1) / (du * scale))
    logs = [np.log10(np.maximum(s, speed_floor)) for s in out]
    return np.mean(logs, axis=0)


def prominent_peaks(s, prominence: float) -> list[int]:
    """Indices of the local maxima of ``s`` (a flat top counts once, at its middle; the ends count
    when they are above their neighbour) whose prominence is at least ``prominence``: the height
    above the higher of the two lowest points between the peak and a strictly higher sample (or
    the end of the signal, below which nothing counts) on each side. SciPy's
    ``signal.find_peaks(prominence=…)`` on the signal padded with −∞, without importing
    ``scipy.signal`` (seconds on a busy machine)."""
    n = s.shape[0]
    ext = np.concatenate([[-np.inf], s, [-np.inf]])
    candidates, i = [], 1
    while i <= n:
        if ext[i] > ext[i - 1]:
            j = i
            while j + 1 <= n and ext[j + 1] == ext[i]:
                j += 1
            if ext[j + 1] < ext[i]:
                candidates.append((i + j) // 2 - 1)
            i = j + 1
        else:
            i += 1
    peaks = []
    for p in candidates:
        h = s[p]
        bases = []
        for step in (-1, 1):
            q, low = p, h
            while 0 <= q + step < n and s[q + step] <= h:
                q += step
                low = min(low, s[q])
            bases.append(-np.inf if not 0 <= q + step < n else low)
        if h - max(bases) >= prominence:
            peaks.append(int(p))
    return peaks


def find_plateaus(s, prominence: float = 0.5):
    """Plateaus of a log-speed signal ``s`` (one value per interval): a list of (i0, i1, floor)
    interval ranges (inclusive), from the valleys between the prominent peaks of ``s``."""
    M = s.shape[0]
    peaks = prominent_peaks(s, prominence)
    bounds = [-1] + peaks + [M]
    found = []
    for left, right in zip(bounds[:-1], bounds[1:]):
        lo, hi = left + 1, right - 1
        if hi < lo:
            continue
        seg = s[lo : hi + 1]
        j = lo + int(np.argmin(seg))
        floor = float(s[j])
        tops = [s[p] for p in (left, right) if 0 <= p < M]
        top = min(tops) if tops else float(np.max(s))
        level = floor + 0.5 * (top - floor) if top > floor else floor
        i0 = j
        while i0 > lo and s[i0 - 1] <= level:
            i0 -= 1
        i1 = j
        while i1 < hi and s[i1 + 1] <= level:
            i1 += 1
        found.append((i0, i1, floor))
    return found
