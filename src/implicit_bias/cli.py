"""The ``implicit-bias`` command: list | run | reproduce | report.

Thin by design: parse, call ``runner.execute`` / ``report.build``, print. JAX, cvxpy and matplotlib are
imported inside commands so that ``--help`` stays fast.
"""

import functools
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
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


def print_checks(checks: list[dict], title: str = "checks") -> None:
    table = Table(title=title, show_lines=False)
    for col in ("check", "predicted", "observed", "tolerance", "result"):
        table.add_column(col, overflow="fold")
    for c in checks:
        fmt = lambda x: "" if x is None else (f"{x:.6g}" if isinstance(x, float) else str(x))  # noqa: E731
        verdict = "[green]pass[/green]" if c["passed"] else "[bold red]FAIL[/bold red]"
        table.add_row(
            c["name"],
            fmt(c.get("predicted")),
            fmt(c.get("observed")),
            fmt(c.get("tolerance")),
            verdict,
        )
    console.print(table)


def _report_outcome(outcome) -> None:
    status = {
        "ok": "[green]done[/green]",
        "cached": "[cyan]cached[/cyan]",
        "failed": "[bold red]FAILED[/bold red]",
    }[outcome.status]
    if getattr(outcome, "cached", False) and outcome.status == "failed":
        status = "[cyan]cached[/cyan] [bold red]FAILED[/bold red]"
    console.print(f"{outcome.experiment}: {status} in {outcome.elapsed:.1f} s → {outcome.path}")
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
    fail_on_check: Annotated[bool, typer.Option(help="Exit 1 if a theory check fails.")] = False,
    strict: Annotated[
        bool, typer.Option(help="Refuse step sizes above a theorem's bound.")
    ] = False,
):
    """Run one experiment and store config.json, rows.parquet, checks.json and figures."""
    from implicit_bias import config, experiments, progress, runner

    module = experiments.get(name)
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


@app.command()
@_friendly_errors
def reproduce(
    root: Root = Path("results"),
    only: Annotated[list[str], typer.Option(help="Run only these experiments.")] = [],  # noqa: B006
    force: Annotated[bool, typer.Option(help="Recompute stored runs.")] = False,
    fail_on_check: Annotated[bool, typer.Option(help="Exit 1 if a theory check fails.")] = False,
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
):
    """Run every experiment at its default size, then write the HTML report."""
    from implicit_bias import experiments, progress, report, runner, store

    names = only or experiments.names()
    modules = {name: experiments.get(name) for name in names}  # fail fast on a typo
    _check_workers(workers)
    store.check_writable(root, what="--root", run_folder=False)
    cfgs = {n: experiments.tiny_config(m) if tiny else m.Config() for n, m in modules.items()}
    workers = workers or runner.n_cores()
    outcomes = []
    with progress.reporting(console, transient=True) as bar:
        overall = bar.add_task("reproduce", total=len(names))
        if workers > 1 and len(names) > 1:
            done = runner.execute_parallel(cfgs, root=root, force=force, n_workers=workers)
        else:
            done = ((n, runner.execute(n, cfgs[n], root=root, force=force)) for n in names)
        by_name = {}
        for name, outcome in done:
            by_name[name] = outcome
            _report_outcome(outcome)
            bar.advance(overall)
        outcomes = [by_name[n] for n in names]
    path = report.build(root, report_out)
    n_checks = sum(len(o.checks) for o in outcomes)
    n_failed = sum(o.n_failed_checks for o in outcomes)
    failed_runs = [o.experiment for o in outcomes if o.status == "failed"]
    colour = "green" if not (n_failed or failed_runs) else "red"
    console.print(
        f"[{colour}]{len(outcomes)} experiments, {n_checks - n_failed} of {n_checks} checks pass"
        f"{', failed runs: ' + ', '.join(failed_runs) if failed_runs else ''}[/{colour}]"
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

    from implicit_bias import config, sweep as sweep_mod

    if target.endswith(".toml"):
        if grid or seeds or set_:
            raise _usage("a sweep file already fixes the grid, seeds and overrides")
        spec = sweep_mod.load_spec(Path(target))
    else:
        spec = sweep_mod.SweepSpec(
            experiment=target,
            grid=sweep_mod.parse_grid(grid),
            seeds=sweep_mod.parse_seeds(seeds if seeds is not None else "0"),
            fixed=config.parse_assignments(set_),
        )
    _check_workers(workers)
    if max_batch is not None and max_batch < 1:
        raise _usage(f"--max-batch must be an integer >= 1, got {max_batch}")
    if scheduler is not None:
        sweep_mod.check_address(scheduler)
    security = sweep_mod.security(tls_ca, tls_cert, tls_key)
    if spec.n_runs > sweep_mod.CONFIRM_ABOVE and not yes:
        raise _usage(
            f"this sweep has {spec.n_runs:,} runs (more than {sweep_mod.CONFIRM_ABOVE:,}); "
            "pass --yes to start it"
        )
    cfgs = sweep_mod.expand(spec)  # validates every config before anything starts
    client = sweep_mod.connect(scheduler, security=security) if scheduler else None
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


@app.command()
@_friendly_errors
def query(
    sql: Annotated[
        str, typer.Argument(help="SQL over the views runs, rows, checks, sweeps, sweep_runs.")
    ],
    root: Root = Path("results"),
    csv: Annotated[
        Path | None, typer.Option(help="Write the result as CSV to this file (- for stdout).")
    ] = None,
    limit: Annotated[int, typer.Option(help="Rows to print.")] = 50,
):
    """Query the results store with DuckDB (read-only)."""
    import duckdb

    from implicit_bias import query as query_mod

    if csv is not None and str(csv) != "-":
        if csv.is_dir():
            raise _usage(f"--csv: {csv} is a folder, not a file")
        parent = csv.resolve().parent
        if not parent.is_dir():
            raise _usage(f"--csv: no folder {parent} to write {csv.name} into")
    try:
        df = query_mod.query(sql, root)
    except duckdb.Error as e:
        raise _usage(f"query failed: {e}") from None
    if csv is not None and str(csv) == "-":
        sys.stdout.write(df.to_csv(index=False))
        return
    if csv is not None:
        df.to_csv(csv, index=False)
    table = Table(show_header=True)
    for col in df.columns:
        table.add_column(str(col), overflow="fold")
    for row in df.head(limit).itertuples(index=False):
        table.add_row(*(f"{v:.6g}" if isinstance(v, float) else str(v) for v in row))
    console.print(table)
    if len(df) > limit:
        console.print(f"[dim]{len(df) - limit} more rows (use --limit or --csv)[/dim]")


@app.command("report")
@_friendly_errors
def report_cmd(
    root: Root = Path("results"),
    out: Annotated[
        Path | None, typer.Option(help="Output HTML file (default ROOT/report.html).")
    ] = None,
):
    """Build the self-contained HTML report from the store (no recomputation)."""
    from implicit_bias import report

    if out is not None and out.is_dir():
        raise _usage(f"--out: {out} is a folder, not a file")
    path = report.build(root, out)
    console.print(f"report: {path.resolve()}")


@app.command()
@_friendly_errors
def verify(
    root: Root = Path("results"),
    repair: Annotated[
        bool, typer.Option(help="Move broken runs aside (ROOT/EXPERIMENT/.broken-…).")
    ] = False,
):
    """Check every stored run against its manifest; list the broken ones (which file, why).

    Exit code 0 when every run is sound (or every broken one was moved aside), 1 otherwise."""
    from implicit_bias import store

    if not Path(root).is_dir():
        raise _usage(f"--root: no store at {root}")
    n_runs = len(store.run_folders(root))
    broken = store.broken_runs(root)
    for path, why in broken:
        line = f"[red]broken[/red] {path}: {why}"
        if repair:
            line += f" → moved to {store.quarantine(path).name}"
        console.print(line, soft_wrap=True)
    colour = "green" if not broken else ("yellow" if repair else "red")
    console.print(
        f"[{colour}]{n_runs} runs checked, {len(broken)} broken"
        f"{', moved aside (rerun to recompute them)' if repair and broken else ''}[/{colour}]"
    )
    if broken and not repair:
        raise typer.Exit(EXIT_CHECK_FAILED)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("interrupted: finished runs are stored; rerun to resume")
        sys.exit(130)


if __name__ == "__main__":
    main()
