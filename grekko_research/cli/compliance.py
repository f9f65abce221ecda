"""``grekko compliance …``: build, inspect and check the sanctions list the live senders screen
against (docs/compliance.md)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from grekko_research.cli.render import console, new_table
from grekko_research.errors import ConfigError, DataError

if TYPE_CHECKING:
    from grekko_research.compliance.sanctions import SanctionsList

__all__ = ["app"]

app = typer.Typer(
    help="Sanctions screening: refresh the OFAC list, show its status, check addresses.",
    no_args_is_help=True,
)

FolderOpt = Annotated[
    Path | None,
    typer.Option("--dir", help="List folder [env GREKKO_COMPLIANCE_DIR; <home>/compliance]."),
]


def _folder(folder: Path | None) -> Path:
    from grekko_research.compliance.sanctions import default_folder

    return folder if folder is not None else default_folder()


@app.command("refresh")
def refresh_command(
    source: Annotated[
        str | None,
        typer.Option("--from", help="A downloaded SDN_ADVANCED.XML file instead of the URL."),
    ] = None,
    url: Annotated[str | None, typer.Option("--url", help="Download from this URL.")] = None,
    folder: FolderOpt = None,
    timeout: Annotated[float, typer.Option(help="Download timeout, seconds.")] = 120.0,
) -> None:
    """Build a new versioned sanctions list from OFAC's SDN advanced XML and make it current.

    Reads --from FILE, else downloads --url (default: OFAC's Sanctions List Service). The list
    keeps every "Digital Currency Address - <chain>" feature, the publication date and the
    source's SHA-256; a file without addresses or date is refused and the current list kept.
    """
    from grekko_research.compliance.sanctions import (
        OFAC_SDN_ADVANCED_URL,
        build_list,
        save_list,
    )

    if source is not None and url is not None:
        raise ConfigError("give --from FILE or --url, not both")
    now_ms = int(time.time() * 1000)
    if source is not None:
        path = Path(source)
        if not path.is_file():
            raise DataError(f"--from {source}: no such file")
        with path.open("rb") as stream:
            sanctions = build_list(stream, source=str(path.resolve()), now_ms=now_ms)
    else:
        sanctions = _download(url or OFAC_SDN_ADVANCED_URL, timeout, now_ms)
    target = _folder(folder)
    written = save_list(target, sanctions)
    table = new_table(title="Sanctions list refreshed")
    table.add_column("field")
    table.add_column("value")
    table.add_row("version", sanctions.version)
    table.add_row("published", sanctions.publish_date)
    table.add_row("source", sanctions.source)
    table.add_row("source sha256", sanctions.source_sha256)
    table.add_row("addresses", str(len(sanctions.entries)))
    for chain, n in sanctions.chains().items():
        table.add_row(f"  {chain}", str(n))
    console.print(table)
    console.print(f"Wrote {written} (current: {target / 'current.json'})")


def _download(url: str, timeout: float, now_ms: int) -> SanctionsList:
    import tempfile
    import urllib.request

    from grekko_research.compliance.sanctions import build_list

    if not url.startswith("https://"):
        raise ConfigError(f"--url {url}: only https:// is accepted")
    with tempfile.TemporaryFile() as tmp:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                while chunk := resp.read(1 << 20):
                    tmp.write(chunk)
        except OSError as e:
            raise DataError(
                f"download of {url} failed: {e}; the current list is unchanged (use --from "
                "FILE with a copy fetched another way)"
            ) from None
        tmp.seek(0)
        return build_list(tmp, source=url, now_ms=now_ms)


@app.command("status")
def status_command(
    folder: FolderOpt = None,
    max_age_hours: Annotated[float, typer.Option(help="Refresh age limit, hours.")] = 24.0,
    max_publication_age_days: Annotated[
        float, typer.Option(help="Publication age limit, days.")
    ] = 30.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the current list and whether the live senders would accept it (exit 1 if not)."""
    from grekko_research.compliance.sanctions import (
        SanctionsListUnavailable,
        check_fresh,
        load_current,
        versions,
    )

    target = _folder(folder)
    problem = None
    try:
        sanctions = load_current(target)
        check_fresh(sanctions, int(time.time() * 1000), max_age_hours=max_age_hours,
                    max_publication_age_days=max_publication_age_days)  # fmt: skip
    except SanctionsListUnavailable as e:
        problem = str(e)
        sanctions = None
    info = {
        "folder": str(target),
        "usable": problem is None,
        "problem": problem,
        "versions": list(versions(target)) if target.is_dir() else [],
    }
    if sanctions is not None:
        info |= {"version": sanctions.version, "published": sanctions.publish_date,
                 "refreshed_ms": sanctions.refreshed_ms, "source": sanctions.source,
                 "source_sha256": sanctions.source_sha256, "addresses": len(sanctions.entries),
                 "chains": sanctions.chains()}  # fmt: skip
    if as_json:
        typer.echo(json.dumps(info, indent=1))
    else:
        table = new_table(title=f"Sanctions list in {target}")
        table.add_column("field")
        table.add_column("value")
        for key, value in info.items():
            if key != "chains":
                table.add_row(key, str(value))
        console.print(table)
    if problem is not None:
        raise typer.Exit(1)


@app.command("check")
def check_command(
    addresses: Annotated[list[str], typer.Argument(help="Addresses to screen.")],
    folder: FolderOpt = None,
) -> None:
    """Screen addresses against the current list (exit 1 if any is listed)."""
    from grekko_research.compliance.sanctions import load_current

    sanctions = load_current(_folder(folder))
    listed = 0
    table = new_table(title=f"Screened against {sanctions.version}")
    for col in ("address", "listed", "party", "chain"):
        table.add_column(col)
    for address in addresses:
        entry = sanctions.lookup(address)
        listed += entry is not None
        table.add_row(address, "YES" if entry else "no", entry.party if entry else "",
                      entry.chain if entry else "")  # fmt: skip
    console.print(table)
    if listed:
        raise typer.Exit(1)
