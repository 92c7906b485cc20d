"""Theory checks: one record per statement a run tests.

Every check has a ``kind``:

    claim       a statement of a seed (or of the paper it cites); ``source`` names it
                ("seed 000, Thm 2.2"). Only claims count as evidence for a theorem.
    hypothesis  a precondition of a theorem (step size under bound (8), β/(c−1) < α, ηλ < ½, …).
    sanity      the machinery worked (solver status, data constructed as intended).

A claim names the hypotheses it relies on in ``requires``; when one of them fails, the claim is
reported as *outside the theorem* (its own verdict is kept, but it confirms nothing). A claim about a
limit (X_∞, x̂_∞, W^(∞)) records the training ``loss`` it was evaluated at and the ``loss_tol`` below
which the run counts as converged; above it the claim is *unconverged*: shown, never compared.
``basis`` says where the tolerance comes from (a theorem's bound, an O(η) or O(hᵖ) discretization
error, a solver tolerance, a confidence bound) — never from the observed data.

A *certified* claim (``certified``) is proved by a duality certificate instead of compared with a
tolerance: it stores the primal and dual values, the gap, the feasibility ‖Ax − y‖, the modulus and
the certified bound in ``certificate``, and passes when the bound is within the accuracy it asserts.

``status(check)`` is one of "pass", "fail", "unconverged", "outside" (after ``resolve``).
"""

import dataclasses
import math

KINDS = ("claim", "hypothesis", "sanity")
STATUSES = ("pass", "fail", "unconverged", "outside")


def _num(x):
    """Plain Python numbers (and strings) for JSON; NaN stays NaN."""
    if isinstance(x, str) or x is None:
        return x
    try:
        return float(x)
    except (TypeError, ValueError):
        return str(x)


@dataclasses.dataclass(frozen=True)
class Check:
    """A statement, what theory predicts, what the run observed, the tolerance, and the verdict.

    ``passed`` is the comparison's own verdict; ``status`` (set by ``resolve``) adds whether the
    claim was evaluated inside its theorem's hypotheses and at a converged run.
    """

    name: str
    predicted: float | str | None
    observed: float | str | None
    tolerance: float | str | None
    passed: bool
    detail: str = ""
    kind: str = "claim"
    source: str = ""
    basis: str = ""
    loss: float | None = None
    loss_tol: float | None = None
    requires: tuple[str, ...] = ()
    status: str = ""
    # certified claims: primal, dual, gap, feasibility, modulus, bound, accuracy, … (``certified``)
    certificate: dict | None = dataclasses.field(default=None, hash=False)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"check {self.name!r}: kind must be one of {KINDS}, not {self.kind!r}")
        object.__setattr__(self, "requires", tuple(self.requires))
        if not self.status:
            object.__setattr__(self, "status", _own_status(self))

    @property
    def converged(self) -> bool | None:
        """None when the check is not about a limit; else whether loss ≤ loss_tol."""
        if self.loss is None or self.loss_tol is None:
            return None
        return bool(math.isfinite(float(self.loss)) and float(self.loss) <= float(self.loss_tol))

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for k in ("predicted", "observed", "tolerance", "loss", "loss_tol"):
            d[k] = _num(d[k])
        d["passed"] = bool(d["passed"])
        d["requires"] = list(self.requires)
        if self.certificate is None:
            del d["certificate"]  # stored only for certified claims (``normalize`` restores None)
        else:
            d["certificate"] = {k: _num(v) for k, v in self.certificate.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Check":
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in fields})


def _own_status(c: Check) -> str:
    if c.kind == "claim" and c.converged is False:
        return "unconverged"
    return "pass" if c.passed else "fail"


def resolve(found: list[Check]) -> list[Check]:
    """Set each claim's status from its hypotheses: a claim whose ``requires`` names a hypothesis
    that failed (or that is missing from ``found``) is "outside" its theorem."""
    hyps = {c.name: c for c in found if c.kind == "hypothesis"}
    out = []
    for c in found:
        status = _own_status(c)
        if c.kind == "claim" and status != "unconverged":
            missing = [h for h in c.requires if h not in hyps]
            if missing:
                raise ValueError(f"claim {c.name!r} requires unknown hypotheses {missing}")
            if any(not hyps[h].passed for h in c.requires):
                status = "outside"
        out.append(dataclasses.replace(c, status=status))
    return out


def normalize(d: dict) -> dict:
    """A stored check as a dict with every field: runs stored before checks had a kind and a status
    read as claims whose status is their own verdict (no source, basis or loss recorded)."""
    out = dict(d)
    out.setdefault("detail", "")
    out["kind"] = out.get("kind") or "claim"
    out["source"] = out.get("source") or ""
    out["basis"] = out.get("basis") or ""
    out.setdefault("loss", None)
    out.setdefault("loss_tol", None)
    out["certificate"] = out.get("certificate") or None
    out["requires"] = list(out.get("requires") or ())
    out["passed"] = bool(out.get("passed"))
    if not out.get("status"):
        converged = None
        if out["loss"] is not None and out["loss_tol"] is not None:
            loss = float(out["loss"])
            converged = math.isfinite(loss) and loss <= float(out["loss_tol"])
        if out["kind"] == "claim" and converged is False:
            out["status"] = "unconverged"
        else:
            out["status"] = "pass" if out["passed"] else "fail"
    return out


LABELS = {
    ("claim", "pass"): "pass",
    ("claim", "fail"): "FAIL",
    ("claim", "unconverged"): "unconverged",
    ("claim", "outside"): "outside the theorem",
    ("hypothesis", "pass"): "met",
    ("hypothesis", "fail"): "not met",
    ("sanity", "pass"): "pass",
    ("sanity", "fail"): "FAIL",
}


def label(d: dict | Check) -> str:
    """How a check's status reads in the CLI and the report: pass, FAIL, unconverged, outside the
    theorem (claims); met, not met (hypotheses: an unmet one is information, not a failure)."""
    d = normalize(d.to_dict() if isinstance(d, Check) else d)
    return LABELS.get((d["kind"], d["status"]), d["status"])


def is_failure(d: dict | Check) -> bool:
    """Whether this check counts against its run (see ``failures``)."""
    d = normalize(d.to_dict() if isinstance(d, Check) else d)
    if d["kind"] == "claim":
        return d["status"] in ("fail", "unconverged")
    return d["kind"] == "sanity" and not d["passed"]


def counts(found: list[dict | Check]) -> dict[str, int]:
    """Counts by kind and status: claims_passed/claims_total count only claims evaluated inside
    their theorem at a converged run; outside and unconverged claims are counted apart;
    claims_certified counts the passing claims proved by a certificate (``certified``)."""
    ds = [normalize(c.to_dict() if isinstance(c, Check) else c) for c in found]

    def status(d):
        return d["status"]

    def kind(d):
        return d["kind"]

    claims = [d for d in ds if kind(d) == "claim"]
    inside = [d for d in claims if status(d) in ("pass", "fail")]
    hyps = [d for d in ds if kind(d) == "hypothesis"]
    sanity = [d for d in ds if kind(d) == "sanity"]
    return {
        "claims_passed": sum(status(d) == "pass" for d in inside),
        "claims_total": len(inside),
        "claims_outside": sum(status(d) == "outside" for d in claims),
        "claims_unconverged": sum(status(d) == "unconverged" for d in claims),
        "claims_certified": sum(status(d) == "pass" and bool(d["certificate"]) for d in claims),
        "hypotheses_met": sum(bool(d.get("passed")) for d in hyps),
        "hypotheses_total": len(hyps),
        "sanity_passed": sum(bool(d.get("passed")) for d in sanity),
        "sanity_total": len(sanity),
    }


def failures(found: list[dict | Check]) -> int:
    """What makes a run's checks fail: claims that fail inside their theorem, unconverged claims,
    and failed sanity checks (an unmet hypothesis is information, not a failure)."""
    return failures_in(counts(found))


def failures_in(n: dict[str, int]) -> int:
    """``failures`` from a run's ``counts`` (no second pass over its checks)."""
    return (
        n["claims_total"] - n["claims_passed"]
        + n["claims_unconverged"]
        + n["sanity_total"] - n["sanity_passed"]
    )  # fmt: skip


def summary_line(found: list[dict | Check]) -> str:
    """ "claims 96/101 · certified 12 · hypotheses met 30/34 · sanity 40/40" (+ outside /
    unconverged counts); "certified C" counts the passing claims proved by a certificate."""
    n = counts(found)
    line = (
        f"claims {n['claims_passed']}/{n['claims_total']} · "
        f"certified {n['claims_certified']} · "
        f"hypotheses met {n['hypotheses_met']}/{n['hypotheses_total']} · "
        f"sanity {n['sanity_passed']}/{n['sanity_total']}"
    )
    extra = []
    if n["claims_outside"]:
        extra.append(f"{n['claims_outside']} outside the theorem")
    if n["claims_unconverged"]:
        extra.append(f"{n['claims_unconverged']} unconverged")
    return line + (f" ({', '.join(extra)})" if extra else "")


def pass_rates(by_seed: dict) -> list[dict]:
    """Each claim's pass rate across seeds: ``by_seed`` maps a seed to that run's checks (dicts or
    Checks). One record per claim name, in the order first seen: name, source, passed (status
    "pass"), failed (status "fail"), compared (passed + failed: the seeds where the claim was
    evaluated; "outside" the theorem and "unconverged" are not evaluations), n (seeds run), and
    statuses {seed: status, or "missing" where that run lacks the claim}.
    """
    rates: dict[str, dict] = {}
    per_seed = {}
    for seed, found in by_seed.items():
        ds = [normalize(c.to_dict() if isinstance(c, Check) else c) for c in found]
        per_seed[seed] = {d["name"]: d for d in ds if d["kind"] == "claim"}
        for name, d in per_seed[seed].items():
            rates.setdefault(name, {"name": name, "source": d["source"]})
    for r in rates.values():
        statuses = {
            seed: (claims[r["name"]]["status"] if r["name"] in claims else "missing")
            for seed, claims in per_seed.items()
        }
        passed = sum(s == "pass" for s in statuses.values())
        failed = sum(s == "fail" for s in statuses.values())
        r.update(passed=passed, failed=failed, compared=passed + failed, n=len(statuses),
                 statuses=statuses)  # fmt: skip
    return list(rates.values())


# ---------------------------------------------------------------------------------------------
# constructors. Keyword arguments shared by all: kind, source, basis, detail, loss, loss_tol,
# requires (see the module docstring).


def _make(name, predicted, observed, tolerance, passed, **kw) -> Check:
    return Check(name, predicted, observed, tolerance, bool(passed), **kw)


def close(name, predicted, observed, tol, *, rel: bool = False, **kw) -> Check:
    """|observed − predicted| ≤ tol (relative to |predicted| with ``rel``)."""
    predicted, observed = float(predicted), float(observed)
    err = abs(observed - predicted)
    scale = abs(predicted) if rel else 1.0
    passed = math.isfinite(err) and err <= tol * scale
    kind = "relative" if rel else "absolute"
    return _make(name, predicted, observed, f"{tol:g} ({kind})", passed, **kw)


def at_most(name, bound, observed, **kw) -> Check:
    """observed ≤ bound (an upper bound from a theorem, or a tolerance on an error)."""
    observed = float(observed)
    passed = math.isfinite(observed) and observed <= bound
    return _make(name, f"≤ {float(bound):.6g}", observed, None, passed, **kw)


def at_least(name, bound, observed, **kw) -> Check:
    """observed ≥ bound."""
    observed = float(observed)
    passed = math.isfinite(observed) and observed >= bound
    return _make(name, f"≥ {float(bound):.6g}", observed, None, passed, **kw)


def holds(name, passed: bool, *, predicted: str, observed: str, **kw) -> Check:
    """A qualitative claim (an ordering, a monotonicity) with its evidence in words."""
    return _make(name, predicted, observed, None, passed, **kw)


def hypothesis(name, passed: bool, *, predicted: str, observed, **kw) -> Check:
    """A theorem's precondition, e.g. ``hypothesis("η below bound (8)", eta <= b, predicted=f"≤ {b}",
    observed=eta, source="seed 000, Thm 2.2")``."""
    return _make(name, predicted, observed, None, passed, kind="hypothesis", **kw)


def sanity(name, passed: bool, *, predicted: str, observed, **kw) -> Check:
    """The machinery worked (a solver's status, a construction's property)."""
    return _make(name, predicted, observed, None, passed, kind="sanity", **kw)


def certified(
    name,
    *,
    primal,
    dual,
    feasibility,
    bound,
    accuracy,
    modulus=None,
    gap=None,
    certificate: dict | None = None,
    **kw,
) -> Check:
    """A claim proved by a duality certificate: passes when the certified ``bound`` (a distance to
    the minimizer, or a gap) is ≤ ``accuracy``, what the claim asserts (its ``basis`` says why).

    ``primal`` is the objective at a feasible point, ``dual`` the dual value at the run's dual point,
    ``gap`` (default primal − dual: pass it when computed more accurately), ``feasibility`` ‖Ax − y‖
    of the run's point, ``modulus`` the strong-convexity modulus the bound uses; ``certificate``
    adds further numbers to the stored record. A certified claim records no loss: an unconverged or
    displaced run fails it (its gap, hence its bound, is too large) rather than being set aside.
    """
    gap = float(primal) - float(dual) if gap is None else gap
    record = {"primal": primal, "dual": dual, "gap": gap, "feasibility": feasibility,
              "modulus": modulus, "bound": bound, "accuracy": accuracy, **(certificate or {})}  # fmt: skip
    record = {k: _num(v) for k, v in record.items()}
    bound = float(bound)
    passed = math.isfinite(bound) and bound <= accuracy
    line = certificate_line(record)
    detail = kw.pop("detail", "")
    return _make(name, f"≤ {float(accuracy):.3g} (certified)", bound, None, passed,
                 detail=f"{line}; {detail}" if detail else line, certificate=record, **kw)  # fmt: skip


def certificate_line(cert: dict) -> str:
    """A certificate in one line: primal, dual, gap, feasibility, modulus → the bound vs accuracy."""

    def f(v, fmt=".3g"):
        return "n/a" if v is None else format(float(v), fmt)

    mod = "" if cert.get("modulus") is None else f" · modulus μ = {f(cert['modulus'])}"
    if cert.get("modulus_box") is not None:  # theory.certificates: μ along null(A), and min h
        mod += f" (along null(A); plain min ∇²Φ {f(cert['modulus_box'])})"
    return (
        f"certificate: primal {f(cert.get('primal'), '.10g')} · dual {f(cert.get('dual'), '.10g')} · "
        f"gap {f(cert.get('gap'), '.2e')} · ‖Ax − y‖ {f(cert.get('feasibility'), '.2e')}{mod} → "
        f"bound {f(cert.get('bound'), '.2e')} (accuracy {f(cert.get('accuracy'), '.2g')})"
    )


def binomial_lower(successes: int, trials: int, confidence: float = 0.95) -> float:
    """One-sided Clopper–Pearson lower confidence bound on a success rate: the p with
    P(Bin(trials, p) ≥ successes) = 1 − confidence (0 when successes = 0)."""
    from scipy.stats import beta

    if trials <= 0:
        raise ValueError("binomial_lower needs at least one trial")
    if successes <= 0:
        return 0.0
    return float(beta.ppf(1.0 - confidence, successes, trials - successes + 1))


def binomial_upper(successes: int, trials: int, confidence: float = 0.95) -> float:
    """One-sided Clopper–Pearson upper confidence bound on a success rate."""
    from scipy.stats import beta

    if trials <= 0:
        raise ValueError("binomial_upper needs at least one trial")
    if successes >= trials:
        return 1.0
    return float(beta.ppf(confidence, successes + 1, trials - successes))
