"""The ``implicit-bias`` command: list | run | reproduce | report.

Thin by design: parse, call ``runner.execute`` / ``report.build``, print. JAX, cvxpy and matplotlib are
imported inside commands so that ``--help`` stays fast.
"""

import errno
import functools
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text


class _OneLineUsageErrors(typer.core.TyperGroup):
    """Click's usage errors (an unknown option, a missing or malformed value, an extra argument) end
    as every other bad input does: one line ``error: …`` on stderr and exit code 2, not a usage
    panel. ``--help`` and ``no_args_is_help`` are unchanged."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        click = typer.core._click  # the click that typer parses with (its own copy in typer ≥ 0.2x)

        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as e:  # the help was shown
            sys.exit(e.exit_code)
        except click.exceptions.ClickException as e:
            ctx = getattr(e, "ctx", None)
            where = f"{ctx.command_path}: " if ctx is not None else ""
            usage = isinstance(e, click.exceptions.UsageError) and ctx is not None
            hint = f" (see {ctx.command_path} --help)" if usage else ""
            text = " ".join(f"{where}{e.format_message()}{hint}".split())
            err_console.print(f"[bold red]error:[/bold red] {escape(text)}", soft_wrap=True)
            sys.exit(e.exit_code)
        except typer.Abort:
            err_console.print("Aborted!")
            sys.exit(1)
        except OSError as e:
            if e.errno == errno.EPIPE:  # the reader of our output went away (| head)
                sys.exit(1)
            raise
        sys.exit(rv if isinstance(rv, int) and not isinstance(rv, bool) else 0)

    # ``explore`` is built on demand (its module imports pandas and the explore package, ~0.3 s):
    # when a command line names it, when the top-level help lists the commands, or when a name is
    # unknown (so that "did you mean" can offer it); every other verb starts without it.
    def list_commands(self, ctx):
        names = [n for n in super().list_commands(ctx) if n != LAZY_COMMAND]
        at = names.index(LAZY_AFTER) + 1 if LAZY_AFTER in names else len(names)
        return [*names[:at], LAZY_COMMAND, *names[at:]]

    def get_command(self, ctx, cmd_name):
        if cmd_name not in self.commands:
            self._add_explore()
        return super().get_command(ctx, cmd_name)

    def resolve_command(self, ctx, args):
        if args and args[0] not in self.commands:
            self._add_explore()  # (an unknown name's "did you mean" lists every command)
        return super().resolve_command(ctx, args)

    def _add_explore(self) -> None:
        if LAZY_COMMAND in self.commands:
            return
        from implicit_bias.explore.command import register

        holder = typer.Typer(add_completion=False)
        register(holder, _friendly_errors)
        holder.command("_")(lambda: None)  # two commands: typer keeps "explore" a named one
        self.add_command(typer.main.get_command(holder).commands[LAZY_COMMAND], LAZY_COMMAND)
        # the help lists explore where it always stood (after query)
        self.commands = {n: self.commands[n] for n in self.list_commands(None)}


LAZY_COMMAND, LAZY_AFTER = "explore", "query"


app = typer.Typer(
    cls=_OneLineUsageErrors,
    add_completion=False,
    no_args_is_help=True,
    help="Simulate, measure and explain the implicit bias of gradient methods, checked against theory.",
)
console = Console(stderr=False)
err_console = Console(stderr=True)

EXIT_CHECK_FAILED, EXIT_BAD_INPUT, EXIT_RUN_FAILED = 1, 2, 3

Root = Annotated[Path, typer.Option("--root", help="Results store folder.")]


def _friendly_errors(fn):
    """Bad input ends in one clear line and exit code 2, never a traceback from deep inside JAX."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import warnings

        from implicit_bias.errors import BrokenRunWarning, ConfigError, StepSizeWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", StepSizeWarning)  # shown as the run's notes instead
            warnings.simplefilter("always", BrokenRunWarning)
            shown = warnings.showwarning

            def one_line(message, category, *rest, **kw):
                if issubclass(category, BrokenRunWarning):
                    from rich.markup import escape

                    err_console.print(
                        f"[yellow]warning:[/yellow] {escape(str(message))}", soft_wrap=True
                    )
                else:
                    shown(message, category, *rest, **kw)

            warnings.showwarning = one_line
            try:
                return fn(*args, **kwargs)
            except ConfigError as e:
                from rich.markup import escape

                err_console.print(f"[bold red]error:[/bold red] {escape(str(e))}", soft_wrap=True)
                raise typer.Exit(EXIT_BAD_INPUT) from None

    return wrapper


def _report_outcome(outcome, seed=None) -> None:
    status = {
        "ok": "[green]done[/green]",
        "cached": "[cyan]cached[/cyan]",
        "failed": "[bold red]FAILED[/bold red]",
    }[outcome.status]
    if getattr(outcome, "cached", False) and outcome.status == "failed":
        status = "[cyan]cached[/cyan] [bold red]FAILED[/bold red]"
    label = outcome.experiment if seed is None else f"{outcome.experiment} (seed {seed})"
    console.print(f"{label}: {status} in {outcome.elapsed:.1f} s → {outcome.path}")
    if outcome.checks:
        colour = "red" if outcome.n_failed_checks else "green"
        console.print(f"  [{colour}]{outcome.summary}[/{colour}]")
    if outcome.error:
        err_console.print(
            f"[bold red]{outcome.error['type']}:[/bold red] {outcome.error['message']}"
        )
    for note in outcome.notes:
        console.print(f"  [dim]·[/dim] {note}")


@app.command("list")
def list_cmd():
    """The experiments, one line each: name, seed and claim."""
    from implicit_bias import experiments

    table = Table(show_header=True)
    for col in ("experiment", "seed", "claim"):
        table.add_column(col, overflow="fold")
    for name in experiments.names():
        module = experiments.get(name)
        table.add_row(name, getattr(module, "SEED", ""), experiments.claim(module))
    console.print(table)


@app.command()
@_friendly_errors
def run(
    name: Annotated[str, typer.Argument(help="Experiment name (see `implicit-bias list`).")],
    set_: Annotated[
        list[str], typer.Option("--set", help="Override a config field: key=value.")
    ] = [],  # noqa: B006
    out: Annotated[
        Path | None, typer.Option(help="Run folder (default ROOT/NAME/<config hash>).")
    ] = None,
    root: Root = Path("results"),
    force: Annotated[bool, typer.Option(help="Recompute even if this config is stored.")] = False,
    fail_on_check: Annotated[
        bool,
        typer.Option(help="Exit 1 if a claim fails or is unconverged, or a sanity check fails."),
    ] = False,
    strict: Annotated[
        bool, typer.Option(help="Refuse step sizes above a theorem's bound.")
    ] = False,
):
    """Run one experiment and store config.json, rows.parquet, checks.json and figures."""
    from implicit_bias import config, experiments, progress, runner, store

    module = experiments.get(name)
    if out is not None:
        store.check_output_folder(out, "--out")
    else:
        store.check_output_folder(Path(root) / name, "--root")
    cfg = config.apply_overrides(module.Config(), config.parse_assignments(set_), experiment=name)
    with progress.reporting(console):
        outcome = runner.execute(name, cfg, root=root, out=out, force=force, strict=strict)
    _report_outcome(outcome)
    if outcome.checks:
        print_checks(outcome.checks, title=f"{name}: theory checks")
    if outcome.status == "failed":
        raise typer.Exit(EXIT_RUN_FAILED)
    if fail_on_check and outcome.n_failed_checks:
        raise typer.Exit(EXIT_CHECK_FAILED)


def _seed_of(cfg):
    return getattr(cfg, "seed", None)


def _seed_list(rate: dict, *statuses: str) -> str:
    seeds = [str(k) for k, st in rate["statuses"].items() if st in statuses]
    return f" (seed {', '.join(seeds)}: {'/'.join(statuses)})"


@app.command()
@_friendly_errors
def reproduce(
    root: Root = Path("results"),
    only: Annotated[list[str], typer.Option(help="Run only these experiments.")] = [],  # noqa: B006
    force: Annotated[bool, typer.Option(help="Recompute stored runs.")] = False,
    fail_on_check: Annotated[
        bool,
        typer.Option(help="Exit 1 if a claim fails or is unconverged, or a sanity check fails."),
    ] = False,
    report_out: Annotated[
        Path | None, typer.Option("--report", help="Report file (default ROOT/report.html).")
    ] = None,
    tiny: Annotated[
        bool,
        typer.Option(help="Each experiment at its TINY config: a smoke run in about a minute."),
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Experiments run side by side in this many processes (default: one per core)."
        ),
    ] = None,
    seeds: Annotated[
        str | None,
        typer.Option(
            help="Run every experiment at each of these seeds ('0-4' or '0,2,3'), each a stored "
            "run; the report shows each claim's pass rate across them. Default: each config's seed."
        ),
    ] = None,
):
    """Run every experiment at its default size (at each of --seeds), then write the HTML report."""
    from implicit_bias import (
        checks as checks_mod,
        config,
        experiments,
        progress,
        report,
        runner,
        store,
    )
    from implicit_bias.sweep import parse_seeds

    names = only or experiments.reproduced()
    modules = {name: experiments.get(name) for name in names}  # fail fast on a typo
    _check_workers(workers)
    store.check_writable(root, what="--root", run_folder=False)
    store.check_output_folder(root, "--root")
    # the report is written after every run: its path is checked now, not after an hour of work
    store.check_output_file(report_out or Path(root) / "report.html", "--report")
    cfgs = {n: experiments.tiny_config(m) if tiny else m.Config() for n, m in modules.items()}
    seed_list = tuple(dict.fromkeys(parse_seeds(seeds))) if seeds is not None else None
    if seed_list is None:
        jobs = list(cfgs.items())
    else:
        jobs = [
            (n, config.apply_overrides(cfgs[n], {"seed": s}, experiment=n))
            for n in names
            for s in seed_list
        ]
    keys = [(n, config.config_hash(n, c)) for n, c in jobs]
    seed_of = {k: _seed_of(c) for k, (_, c) in zip(keys, jobs)}
    workers = workers or runner.n_cores()
    with progress.reporting(console, transient=True) as bar:
        overall = bar.add_task("reproduce", total=len(jobs))
        if workers > 1 and len(jobs) > 1:
            done = runner.execute_parallel(jobs, root=root, force=force, n_workers=workers)
        else:
            done = ((n, runner.execute(n, c, root=root, force=force)) for n, c in jobs)
        by_key = {}
        for name, outcome in done:
            key = (name, outcome.path.name)
            by_key[key] = outcome
            _report_outcome(outcome, seed_of.get(key) if seed_list else None)
            bar.advance(overall)
        outcomes = [by_key[k] for k in keys]
    path = report.build(root, report_out)
    all_checks = [c for o in outcomes for c in o.checks]
    n_failed = sum(o.n_failed_checks for o in outcomes)
    failed_runs = [
        o.experiment + (f" (seed {seed_of[k]})" if seed_list else "")
        for k, o in zip(keys, outcomes)
        if o.status == "failed"
    ]
    colour = "green" if not (n_failed or failed_runs) else "red"
    runs = f"{len(names)} experiments" + (
        f" × {len(seed_list)} seeds = {len(outcomes)} runs" if seed_list else ""
    )
    console.print(
        f"[{colour}]{runs}: {checks_mod.summary_line(all_checks)}"
        f"{'; failed runs: ' + ', '.join(failed_runs) if failed_runs else ''}[/{colour}]"
    )
    if seed_list and len(seed_list) > 1:
        rates = []
        for n in names:
            by_seed = {seed_of[k]: o.checks for k, o in zip(keys, outcomes) if k[0] == n}
            rates += checks_mod.pass_rates(by_seed)
        every = sum(r["passed"] == r["n"] for r in rates)
        failing = [r for r in rates if r["failed"]]
        idle = [r for r in rates if not r["failed"] and r["passed"] < r["n"]]
        console.print(
            f"[{'green' if not failing else 'red'}]claims passing at every seed: "
            f"{every}/{len(rates)}; failing at some seed: {len(failing)}; "
            f"not compared at some seed (outside the theorem or unconverged): {len(idle)}[/]"
            + "".join(
                f"\n  [red]fails at {r['failed']}/{r['n']}[/red] {r['name']}"
                + _seed_list(r, "fail")
                for r in failing
            )
            + "".join(
                f"\n  [yellow]compared at {r['compared']}/{r['n']}[/yellow] {r['name']}"
                + _seed_list(r, "outside", "unconverged")
                for r in idle
            )
        )
    console.print(f"report: {path.resolve()}")
    if failed_runs:
        raise typer.Exit(EXIT_RUN_FAILED)
    if fail_on_check and n_failed:
        raise typer.Exit(EXIT_CHECK_FAILED)


@app.command()
@_friendly_errors
def sweep(
    target: Annotated[str, typer.Argument(help="Experiment name, or a sweep file (.toml).")],
    grid: Annotated[list[str], typer.Option(help="key=v1,v2,… (repeat for a product).")] = [],  # noqa: B006
    seeds: Annotated[str | None, typer.Option(help="Seeds: '0-9' or '1,4,7'.")] = None,
    set_: Annotated[list[str], typer.Option("--set", help="Fixed override key=value.")] = [],  # noqa: B006
    root: Root = Path("results"),
    scheduler: Annotated[
        str | None, typer.Option(help="Address of an existing Dask scheduler.")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Local worker processes (default: one per core).")
    ] = None,
    max_batch: Annotated[int | None, typer.Option(help="At most this many runs per task.")] = None,
    figures: Annotated[bool, typer.Option(help="Also draw each run's figures.")] = False,
    strict: Annotated[
        bool, typer.Option(help="Refuse step sizes above a theorem's bound (stored runs too).")
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", help="Start a sweep of more than 10,000 runs.")
    ] = False,
    dashboard: Annotated[
        bool, typer.Option(help="Serve Dask's dashboard on 127.0.0.1:8787 (local cluster).")
    ] = False,
    tls_ca: Annotated[
        Path | None, typer.Option(help="CA certificate (PEM) of a tls:// scheduler.")
    ] = None,
    tls_cert: Annotated[Path | None, typer.Option(help="This client's certificate (PEM).")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="This client's private key (PEM).")] = None,
):
    """Run the product of a grid × seeds on Dask; resumable; runs land in the store.

    Exit codes: 0 every run stored and none failed; 2 bad input; 3 a run failed or is missing."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from implicit_bias import cluster as cluster_mod, config, store, sweep as sweep_mod

    if target.endswith(".toml"):
        if grid or seeds or set_:
            raise _usage("a sweep file already fixes the grid, seeds and overrides")
        spec = sweep_mod.load_spec(_input_file(Path(target), "sweep file"))
    else:
        spec = sweep_mod.SweepSpec(
            experiment=target,
            grid=sweep_mod.parse_grid(grid),
            seeds=sweep_mod.parse_seeds(seeds if seeds is not None else "0"),
            fixed=config.parse_assignments(set_),
        )
    _check_workers(workers)
    store.check_output_folder(root, "--root")
    if max_batch is not None and max_batch < 1:
        raise _usage(f"--max-batch must be an integer >= 1, got {max_batch}")
    if scheduler is not None:
        cluster_mod.check_address(scheduler)
    security = cluster_mod.security(tls_ca, tls_cert, tls_key)
    if spec.n_runs > sweep_mod.CONFIRM_ABOVE and not yes:
        raise _usage(
            f"this sweep has {spec.n_runs:,} runs (more than {sweep_mod.CONFIRM_ABOVE:,}); "
            "pass --yes to start it"
        )
    cfgs = sweep_mod.expand(spec)  # validates every config before anything starts
    client = cluster_mod.connect(scheduler, security=security) if scheduler else None
    console.print(f"sweep {spec.id}: {len(cfgs)} runs of {spec.experiment} → {root}")
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[red]{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("runs", total=len(cfgs), failed=0)

        def on_progress(done, total, failed):
            bar.update(task, completed=done, failed=failed)

        try:
            record = sweep_mod.run_sweep(
                spec, root=root, client=client, n_workers=workers, max_batch=max_batch,
                plot=figures, strict=strict, on_progress=on_progress, dashboard=dashboard,
                on_note=lambda text: err_console.print(f"[yellow]{text}[/yellow]"),
            )  # fmt: skip
        finally:
            if client is not None:
                client.close()
    ok = record["status"] == "complete" and not record["n_failed"]
    colour = "green" if ok else "red"
    console.print(
        f"[{colour}]{record['status']}: {record['n_done']} of {record['n_runs']} runs stored, "
        f"{record['n_failed']} failed, {record['n_missing']} missing[/{colour}]"
    )
    if record.get("failed_runs"):
        table = Table(title="failed runs", show_header=True)
        table.add_column("run", no_wrap=True)
        table.add_column("error", overflow="fold")
        for run in record["failed_runs"]:
            table.add_row(run["hash"], run["error"])
        err_console.print(table)
    for err in record.get("task_errors", []):
        err_console.print(f"[red]task error:[/red] {err}")
    if not ok:
        raise typer.Exit(EXIT_RUN_FAILED)


def _check_workers(workers: int | None) -> None:
    from implicit_bias.sweep import MAX_WORKERS

    if workers is not None and not 1 <= workers <= MAX_WORKERS:
        raise _usage(f"--workers must be an integer from 1 to {MAX_WORKERS}, got {workers}")


def _usage(message: str):
    from implicit_bias.errors import ConfigError

    return ConfigError(message)


MAX_INPUT_BYTES = 1 << 20  # a sweep file is a few lines of TOML


def _input_file(path: Path, what: str) -> Path:
    """A small regular file to read, or one line: never a FIFO or a device (/dev/zero would be
    read forever), a folder or a file of more than ``MAX_INPUT_BYTES``."""
    import os
    import stat

    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise _usage(f"{what} {path}: no such file") from None
    except (OSError, ValueError) as e:
        raise _usage(f"cannot read {what} {path}: {getattr(e, 'strerror', None) or e}") from None
    if stat.S_ISDIR(st.st_mode):
        raise _usage(f"{what} {path} is a folder, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise _usage(f"{what} {path} is not a regular file (a device, pipe or socket)")
    if st.st_size > MAX_INPUT_BYTES:
        raise _usage(f"{what} {path} has {st.st_size:,} bytes: more than {MAX_INPUT_BYTES:,}")
    return path


def _store_to_read(root: Path) -> Path:
    """``--root`` of a verb that reads the store: a folder (or nothing yet), never a file."""
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise _usage(f"--root: {root} is a file, not a results store folder")
    return root


@app.command()
@_friendly_errors
def query(
    sql: Annotated[
        str,
        typer.Argument(
            help="SQL over the views runs, rows, checks, estimates, sweeps, sweep_runs."
        ),
    ],
    root: Root = Path("results"),
    csv: Annotated[
        Path | None, typer.Option(help="Write the result as CSV to this file (- for stdout).")
    ] = None,
    limit: Annotated[int, typer.Option(help="Rows to print.")] = 50,
    timeout: Annotated[
        float, typer.Option(help="Stop the query after this many seconds (0: no limit).")
    ] = 60.0,
):
    """Query the results store with DuckDB (read-only)."""
    import math

    import duckdb

    from implicit_bias import query as query_mod, store

    root = _store_to_read(root)
    if limit < 0:
        raise _usage(f"--limit must be an integer >= 0, got {limit}")
    if not (math.isfinite(timeout) and timeout >= 0):
        raise _usage(f"--timeout must be a number of seconds >= 0 (0: no limit), got {timeout}")
    if not sql.strip():
        raise _usage('the SQL is empty: give a statement, e.g. "SELECT * FROM runs"')
    csv_path = None
    if csv is not None and str(csv) != "-":
        csv_path = store.check_output_file(csv, "--csv")
        if not csv_path.parent.is_dir():
            raise _usage(f"--csv: no folder {csv_path.parent} to write {csv.name} into")
    def fetch(result):  # a table to print needs no DataFrame (pandas is 0.2 s of start-up)
        if csv is not None:
            import pandas as pd

            return pd.DataFrame() if result is None else result.df()
        if result is None:
            return [], []
        return [d[0] for d in result.description], result.fetchall()

    try:
        out = query_mod.run_sql(sql, root, timeout=timeout or None, fetch=fetch)
    except query_mod.QueryTimeout:
        raise _usage(
            f"query stopped after {timeout:g} s (--timeout {timeout:g}; raise it, or --timeout 0 "
            "for no limit)"
        ) from None
    except duckdb.Error as e:
        raise _usage(f"query failed: {' '.join(str(e).split())}") from None
    if csv is not None and str(csv) == "-":
        sys.stdout.write(out.to_csv(index=False))
        return
    if csv_path is not None:
        store.write_output_file(csv_path, out.to_csv(index=False), "--csv")
        columns = list(out.columns)
        values = list(out.head(limit).itertuples(index=False, name=None))
        n_rows = len(out)
    else:
        columns, values = out
        n_rows = len(values)
    if not columns or n_rows == 0:
        console.print("no rows" + (f" ({len(columns)} columns)" if columns else ""))
        return
    if limit == 0:
        console.print(f"{n_rows} rows (none printed: --limit 0)")
        return
    table, hidden = result_table(columns, values[:limit], console.width)
    console.print(table)
    if hidden:
        console.print(
            Text(
                f"{len(hidden)} more columns not shown: {', '.join(hidden)} "
                "(select fewer columns, or --csv)",
                style="dim",
            ),
            no_wrap=True,
            overflow="ellipsis",
        )
    if n_rows > limit:
        console.print(f"[dim]{n_rows - limit} more rows (use --limit or --csv)[/dim]")


from implicit_bias.tables import print_checks, result_table  # noqa: E402  (kept importable here)


@app.command("report")
@_friendly_errors
def report_cmd(
    root: Root = Path("results"),
    out: Annotated[
        Path | None, typer.Option(help="Output HTML file (default ROOT/report.html).")
    ] = None,
):
    """Build the self-contained HTML report from the store (no recomputation)."""
    from implicit_bias import report, store

    root = _store_to_read(root)
    if out is not None:
        store.check_output_file(out, "--out")
    else:
        store.check_output_file(root / "report.html", "--root")
    path = report.build(root, out)
    console.print(f"report: {path.resolve()}")


@app.command()
@_friendly_errors
def verify(
    root: Root = Path("results"),
    repair: Annotated[
        bool,
        typer.Option(
            help="Move broken runs and parts aside (ROOT/EXPERIMENT/.broken-…, "
            "ROOT/compacted/…/.broken-…); a rerun recomputes them."
        ),
    ] = False,
):
    """Check every stored run and compacted part against its manifest; list the broken ones.

    Exit code 0 when every run is sound (or every broken one was moved aside), 1 otherwise. Only
    folders named by a config hash and broken parts are moved; a copy (RUN.bak, a part's file or
    manifest copied under another name) or another folder is named and left."""
    from implicit_bias import store

    if not _store_to_read(root).is_dir():
        raise _usage(f"--root: no store at {root}")
    if repair:  # broken runs are moved aside inside the store
        store.check_output_folder(root, "--root")
    n_runs = len(store.run_folders(root))
    broken = store.broken_runs(root)
    from implicit_bias import compact as compact_mod  # compacted runs: each part's checksums

    n_runs += compact_mod.n_runs(root)
    in_parts = compact_mod.verify_parts(root)
    moved = 0
    for k, (path, why) in enumerate(broken + in_parts):
        line = f"[red]broken[/red] {escape(str(path))}: {escape(why)}"
        if repair:  # only run folders and parts move: a copy or a folder of yours stays
            if k >= len(broken):  # a part's manifest (or a stray file among the parts)
                aside, done = compact_mod.repair(root, path, why)
            else:
                aside, done = store.repair(path)
            moved += aside is not None
            line += f" → {escape(done)}"
        console.print(line, soft_wrap=True)
    broken += in_parts
    left = len(broken) - moved
    colour = "green" if not broken else ("yellow" if repair and not left else "red")
    summary = f"{n_runs} runs checked, {len(broken)} broken"
    if moved:
        summary += f", {moved} moved aside (rerun to recompute them)"
    if repair and left:
        summary += f", {left} left where they are (see above)"
    console.print(f"[{colour}]{summary}[/{colour}]", soft_wrap=True)
    if left:
        raise typer.Exit(EXIT_CHECK_FAILED)


@app.command()
@_friendly_errors
def compact(root: Root = Path("results")):
    """Fold finished run folders into the store's compacted Parquet tables (and remove them).

    Idempotent and safe to interrupt: rerun it and the store is the same. Queries, report and the
    single-run readers see compacted runs as before (``implicit-bias plot RUN`` draws one's figures)."""
    from implicit_bias import compact as compact_mod, store

    if not _store_to_read(root).is_dir():
        raise _usage(f"--root: no store at {root}")
    store.check_output_folder(root, "--root")
    done = compact_mod.compact(
        root,
        on_note=lambda text: err_console.print(f"[yellow]{escape(text)}[/yellow]", soft_wrap=True),
    )
    console.print(
        f"compacted {done['runs']} runs into {done['parts']} parts, removed {done['removed']} "
        f"run folders; {compact_mod.n_runs(root)} runs compacted in {root}"
    )
    if done["lost"]:
        err_console.print(
            f"[red]{len(done['lost'])} runs of broken parts have no folder left[/red] (rerun "
            f"their sweeps to recompute them), e.g. {done['lost'][0]}"
        )
        raise typer.Exit(EXIT_CHECK_FAILED)


@app.command()
@_friendly_errors
def plot(
    run: Annotated[
        str, typer.Argument(help="A run: its hash (or a unique prefix), or its folder.")
    ],
    root: Root = Path("results"),
    out: Annotated[Path, typer.Option(help="Folder to write the PNG files into.")] = Path("."),
):
    """Draw one stored run's figures on demand (a run of a sweep stores its data, not its PNGs)."""
    from implicit_bias import compact as compact_mod

    path = compact_mod.find_run(_store_to_read(root), run)
    written = compact_mod.draw_run(path, out)
    for f in written:
        console.print(f"figure: {escape(str(f))}")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("interrupted: finished runs are stored; rerun to resume")
        sys.exit(130)


if __name__ == "__main__":
    main()
