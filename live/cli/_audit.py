"""``grekko-live audit export|verify|retain`` and ``grekko-live report trades|pnl|tax``:
compliance records of a live run (docs/compliance.md)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from live.cli._app import console
from live.cli._options import EventsOpt, Overrides, RunOpt, StateDirOpt, VenueOpt
from live.cli._resolve import find_log

__all__ = ["audit_app", "report_app"]

audit_app = typer.Typer(
    help="Audit records: export a run's self-verifying bundle, verify one offline, apply the "
    "retention policy.",
    no_args_is_help=True,
)
report_app = typer.Typer(
    help="Trade ledger, realised P&L (FIFO/LIFO/HIFO) and tax exports of a live run's log.",
    no_args_is_help=True,
)


@audit_app.command("export")
def export_command(
    overrides: Overrides = None,
    run: RunOpt = None,
    events: EventsOpt = None,
    venue: VenueOpt = None,
    state_dir: StateDirOpt = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="New bundle folder [<run>/audit-<head seq>].")
    ] = None,
) -> None:
    """Write the run's audit bundle: log copy, checkpoints, events as JSONL, config, code
    version and a manifest of hashes; `grekko-live audit verify` checks it offline."""
    from live.compliance.audit import export_bundle, verify_bundle
    from live.events import EventStore, load_log_key

    target, run_dir = _log_and_folder(overrides, events, venue, run, state_dir)
    key = load_log_key()
    if out is None:
        with EventStore.open(target, checkpoints=False) as store:
            head = store.head()
        out = _folder_for(target, run_dir, "--out") / f"audit-{head.seq if head else 0}"
    export_bundle(target, out, key=key, run_dir=run_dir)
    report = verify_bundle(out, key=key)
    console.print(report.describe(), soft_wrap=True)
    console.print(f"Wrote {out}", soft_wrap=True)
    if not report.ok:
        raise typer.Exit(4)


@audit_app.command("verify")
def verify_bundle_command(
    bundle: Annotated[Path, typer.Argument(help="An audit bundle folder.")],
) -> None:
    """Check an audit bundle offline: files against the manifest, the hash chain, the log copy
    (exit 4 on any problem)."""
    from live.compliance.audit import verify_bundle
    from live.events import load_log_key

    report = verify_bundle(bundle, key=load_log_key())
    console.print(report.describe(), soft_wrap=True)
    if not report.ok:
        raise typer.Exit(4)


@audit_app.command("retain")
def retain_command(
    policy: Annotated[
        Path | None,
        typer.Option("--policy", help="Retention policy [conf/compliance/retention.yaml]."),
    ] = None,
    apply: Annotated[
        bool, typer.Option("--apply", help="Archive and delete (default: a plan).")
    ] = False,
) -> None:
    """Apply the retention policy: archive runs older than archive_after_days as audit
    bundles (recorded in a hash-chained index), delete originals after delete_after_days."""
    from live.compliance.retention import apply_policy, load_retention

    plan = apply_policy(load_retention(policy), apply=apply)
    for line in plan:
        console.print(line, soft_wrap=True)
    if not plan:
        console.print("nothing to archive or delete")


def _report(kind: str) -> Callable[..., None]:
    def command(
        overrides: Overrides = None,
        run: RunOpt = None,
        events: EventsOpt = None,
        venue: VenueOpt = None,
        state_dir: StateDirOpt = None,
        out: Annotated[
            Path | None, typer.Option("--out", help="Output folder [<run>/report].")
        ] = None,
        currency: Annotated[
            str | None, typer.Option("--currency", help="Reporting currency.")
        ] = None,
        rate: Annotated[
            str | None, typer.Option("--rate", help="Constant quote->reporting rate.")
        ] = None,
        rates: Annotated[Path | None, typer.Option("--rates", help="CSV timestamp,rate.")] = None,
        method: Annotated[str, typer.Option("--method", help="fifo | lifo | hifo")] = "fifo",
    ) -> None:
        from grekko_research.cli.report import render
        from live.compliance.ledger import ledger_from_events
        from live.events import EventStore

        target, run_dir = _log_and_folder(overrides, events, venue, run, state_dir)
        with EventStore.open(target, checkpoints=False) as store:
            entries = ledger_from_events(store.read())
            source = store.target  # a database URL without its password
        folder = out or _folder_for(target, run_dir, "--out") / "report"
        render(kind, entries, {"events": source}, folder,
               currency=currency, rate=rate, rates=rates, method=method)  # fmt: skip

    return command


for _kind, _help in {
    "trades": "Write the run's normalised trade ledger (ledger.csv).",
    "pnl": "Realised P&L under FIFO, LIFO and HIFO (pnl.json, disposals).",
    "tax": "Tax report under --method: disposals, Koinly and CoinTracking CSV exports.",
}.items():
    report_app.command(_kind, help=_help)(_report(_kind))


def _log_and_folder(
    overrides: list[str] | None,
    events: str | None,
    venue: str | None,
    run: str | None,
    state_dir: Path | None,
) -> tuple[str, Path | None]:
    """The run's log (a file or a database URL) and its run folder (``None``: a database log
    whose run has no folder here)."""
    from live.cli._resolve import run_folder

    target = find_log(overrides, events, venue, run, state_dir)
    folder = run_folder(target, state_dir, overrides)
    return target, folder if folder.is_dir() else None


def _folder_for(target: str, run_dir: Path | None, option: str) -> Path:
    """Where a command writes by default: the run folder; a database log whose run has no
    folder under the state folder needs ``option``."""
    from grekko_research.errors import ConfigError

    if run_dir is None:
        raise ConfigError(
            f"the log {target.split('://', 1)[0]}://… has no run folder under the state folder "
            f"(--state-dir): give {option}"
        )
    return run_dir
