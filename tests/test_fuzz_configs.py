"""Property-based fuzz of every experiment's config domains (hypothesis).

Bad configs: for every field of every experiment, values outside the field's declared domain (NaN,
±inf, values that under- or overflow float64, out-of-range numbers on either side of each bound,
non-integers for integer fields, empty tuples, tuples with one bad element, garbage text). Each must
be refused by ``config.apply_overrides`` with a one-line ConfigError that names the field; a sample
goes through the CLI (exit code 2, no traceback, nothing written to the store). Good configs near
the bounds must validate (validated only: running them is the experiments' tests' job).
"""

import collections
import math
import re

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from typer.testing import CliRunner

from implicit_bias import config, experiments
from implicit_bias.cli import app
from implicit_bias.errors import ConfigError

FIELDS = [
    (name, field, dom)
    for name in experiments.names()
    for field, dom in config.domains(experiments.get(name).Config).items()
]
GARBAGE = ["abc", "", "1,,x", "None", "[]", "0x", "--1", "1e", "☃"]


def fuzz(n: int):
    """Deterministic (derandomized, no example database), no deadline: the counts are reproducible."""
    return settings(
        max_examples=n, deadline=None, database=None, derandomize=True,
        suppress_health_check=list(HealthCheck),
    )  # fmt: skip


def _below(dom, kind):
    """Numbers just below the lower bound (or anywhere below it)."""
    if dom.gt is not None:
        return _nums(kind, hi=dom.gt, hi_open=False)
    if dom.ge is not None:
        return _nums(kind, hi=dom.ge, hi_open=True)
    return None


def _above(dom, kind):
    if dom.lt is not None:
        return _nums(kind, lo=dom.lt, lo_open=False)
    if dom.le is not None:
        return _nums(kind, lo=dom.le, lo_open=True)
    return None


def _nums(kind, lo=None, hi=None, lo_open=False, hi_open=False):
    if kind is int:
        lo = None if lo is None else math.floor(lo) + (1 if lo_open or lo != int(lo) else 0)
        hi = None if hi is None else math.ceil(hi) - (1 if hi_open or hi != int(hi) else 0)
        return st.integers(min_value=lo, max_value=hi)
    return st.floats(
        min_value=lo, max_value=hi, exclude_min=lo_open and lo is not None,
        exclude_max=hi_open and hi is not None, allow_nan=False, allow_infinity=False,
    )  # fmt: skip


def bad_scalar(dom):
    """Values (Python or text) outside a scalar domain."""
    options = [st.sampled_from(["nan", "inf", "-inf", "1e400", "-1e400"] + GARBAGE)]
    options.append(st.sampled_from([math.nan, math.inf, -math.inf]))
    if dom.kind is float:
        options.append(st.sampled_from(["1e-400", "-2.5e-999"]))
        if dom.gt == 0 or dom.ge == 0:  # nonsense the user meant as a number
            options.append(st.sampled_from(["-1", "0" if dom.gt == 0 else "-1e-300"]))
    if dom.kind is int:
        options.append(st.sampled_from(["2.5", "1e-3", "0.5", 2.5, "true"]))
    for side in (_below(dom, dom.kind), _above(dom, dom.kind)):
        if side is not None:
            options.append(side)
            options.append(side.map(repr))
    return st.one_of(options)


def bad_value(dom):
    if dom.kind is not tuple:
        return bad_scalar(dom)
    good_item = good_scalar(dom.item)
    one_bad = st.tuples(
        st.lists(good_item, max_size=2), bad_scalar(dom.item).filter(_is_number_like),
        st.lists(good_item, max_size=2),
    ).map(lambda t: (*t[0], t[1], *t[2]))  # fmt: skip
    return st.one_of(
        st.sampled_from(["", "()", ",,,", "1,x", "nan", "(inf)"]),
        st.just(()),
        one_bad,
        one_bad.map(lambda t: ",".join(map(str, t))),
    )


def _is_number_like(v) -> bool:
    """Values that can sit in a tuple's text form without changing its length."""
    return isinstance(v, (int, float)) or (isinstance(v, str) and v and "," not in v)


def good_scalar(dom):
    """Values inside a scalar domain, concentrated at its bounds."""
    if dom.kind is bool:
        return st.booleans()
    if dom.choices is not None:
        return st.sampled_from(dom.choices)
    lo = dom.gt if dom.gt is not None else dom.ge
    hi = dom.lt if dom.lt is not None else dom.le
    if dom.kind is int:
        lo = -(10**6) if lo is None else math.floor(lo) + (1 if dom.gt is not None else 0)
        hi = 10**6 if hi is None else math.ceil(hi) - (1 if dom.lt is not None else 0)
        return st.one_of(st.integers(lo, min(lo + 3, hi)), st.integers(max(hi - 3, lo), hi))
    lo = -1e6 if lo is None else lo
    hi = 1e6 if hi is None else hi
    near = st.floats(
        min_value=lo, max_value=hi, exclude_min=dom.gt is not None,
        exclude_max=dom.lt is not None, allow_nan=False, allow_infinity=False,
    )  # fmt: skip
    edges = [v for v, open_ in ((lo, dom.gt is not None), (hi, dom.lt is not None)) if not open_]
    inner = [math.nextafter(lo, math.inf), math.nextafter(hi, -math.inf)]
    return st.one_of(near, st.sampled_from(edges + inner).filter(lambda v: lo <= v <= hi))


def good_value(dom):
    if dom.kind is tuple:
        return st.lists(good_scalar(dom.item), min_size=max(1, dom.min_len), max_size=3).map(tuple)
    return good_scalar(dom)


BAD = st.sampled_from(FIELDS).flatmap(lambda c: st.tuples(st.just(c), bad_value(c[2])))
GOOD = st.sampled_from(FIELDS).flatmap(lambda c: st.tuples(st.just(c), good_value(c[2])))


def test_every_field_declares_a_domain_and_defaults_are_inside_it():
    for name in experiments.names():
        module = experiments.get(name)
        config.validate(module.Config(), experiment=name)
        experiments.tiny_config(module)  # TINY overrides validate too
    numeric = [(n, f) for n, f, d in FIELDS if (d.item or d).kind in (int, float)]
    unbounded = [
        (n, f) for n, f, d in FIELDS
        if (d.item or d).kind is int and (d.item or d).ge is None and (d.item or d).gt is None
    ]  # fmt: skip
    assert len(numeric) > 200 and not unbounded, unbounded


def test_fuzz_bad_configs_are_one_line_errors_naming_the_field():
    counts = collections.Counter()

    @fuzz(400)
    @given(cases=st.lists(BAD, min_size=3, max_size=3))  # 3 configs per example: 1,200 in all
    def check(cases):
        for case in cases:
            one(case)

    def one(case):
        (name, field, _), value = case
        module = experiments.get(name)
        try:
            config.apply_overrides(module.Config(), {field: value}, experiment=name)
        except ConfigError as e:
            ok = re.search(rf"\b{field}\b", str(e)) and "\n" not in str(e)
            counts["ConfigError naming the field" if ok else "ConfigError, field not named"] += 1
            assert ok, (name, field, value, str(e))
            return
        except Exception as e:  # noqa: BLE001 - any other exception is a finding
            counts[f"other exception: {type(e).__name__}"] += 1
            raise AssertionError(f"{name}.{field}={value!r}: {type(e).__name__}: {e}") from e
        counts["accepted"] += 1
        raise AssertionError(f"{name}.{field}={value!r} was accepted")

    check()
    print("bad-config fuzz outcomes:", dict(counts))
    assert sum(counts.values()) >= 1000
    assert set(counts) == {"ConfigError naming the field"}


def test_fuzz_good_configs_near_the_bounds_validate():
    n = collections.Counter()

    @fuzz(250)
    @given(cases=st.lists(GOOD, min_size=4, max_size=4))  # 4 configs per example: 1,000 in all
    def check(cases):
        for case in cases:
            one(case)

    def one(case):
        (name, field, _), value = case
        module = experiments.get(name)
        try:
            cfg = config.apply_overrides(module.Config(), {field: value}, experiment=name)
        except config.ConstraintError as e:  # inside its domain, but not with the other defaults
            assert re.search(rf"\b{field}\b", str(e)) and "\n" not in str(e), (name, field, str(e))
            n["refused by a constraint between fields"] += 1
            return
        assert getattr(cfg, field) == value
        if not isinstance(value, tuple):  # and as text, as the CLI gives it
            again = config.apply_overrides(module.Config(), {field: repr(value)}, experiment=name)
            assert getattr(again, field) == value
        n["validated"] += 1

    check()
    print("good-config fuzz:", dict(n))
    # about a fifth of the single-field moves to a bound break a cross-field rule with the other
    # defaults (763–805 validated of 1,000 in measured runs; the draw depends on test order)
    assert n["validated"] >= 600 and sum(n.values()) >= 1000


cli = CliRunner()


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_fuzz_bad_configs_through_the_cli_exit_2_and_write_nothing(command, tmp_path):
    seen = collections.Counter()

    @fuzz(40)
    @given(case=st.sampled_from(FIELDS).flatmap(
        lambda c: st.tuples(st.just(c), bad_value(c[2]).map(_as_text))))  # fmt: skip
    def check(case):
        (name, field, _), text = case
        if field == "seed" and command == "sweep":
            args = ["sweep", name, "--seeds", text]
        elif command == "sweep":
            args = ["sweep", name, "--grid", f"{field}={text};{text}"]  # ';' keeps commas inside
        else:
            args = ["run", name, "--set", f"{field}={text}"]
        result = cli.invoke(app, [*args, "--root", str(tmp_path / "store")])
        out = result.output
        assert result.exit_code == 2, (args, out)
        assert "Traceback" not in out and out.count("error:") == 1, (args, out)
        assert not (tmp_path / "store").exists(), args
        seen["exit 2, one error line, nothing stored"] += 1

    check()
    print(f"CLI {command} fuzz:", dict(seen))
    assert seen["exit 2, one error line, nothing stored"] >= 40


def _as_text(v) -> str:
    if isinstance(v, tuple):
        return ",".join(map(str, v))
    return str(v)
