"""``grekko-live export``: a run's event log as JSON lines, or streamed to a Kafka topic."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from grekko_research.errors import ConfigError
from live.cli._app import console, err_console
from live.cli._options import EventsOpt, Overrides, RunOpt, StateDirOpt, VenueOpt
from live.cli._resolve import find_log

__all__ = ["export_command"]


def export_command(
    overrides: Overrides = None,
    run: RunOpt = None,
    events: EventsOpt = None,
    venue: VenueOpt = None,
    state_dir: StateDirOpt = None,
    kafka: Annotated[
        str | None,
        typer.Option(
            "--kafka",
            metavar="HOST:PORT",
            help="Stream to Kafka (bootstrap servers, comma separated)",
        ),
    ] = None,
    topic: Annotated[
        str | None,
        typer.Option(metavar="TOPIC", help="The topic (default: grekko.events.<run id>)"),
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", help="Keep streaming new events until stopped (SIGTERM)")
    ] = False,
    check: Annotated[
        bool,
        typer.Option("--check", help="Then read the topic back: de-duplicate, verify the chain"),
    ] = False,
    cursor: Annotated[
        Path | None,
        typer.Option(metavar="PATH", help="Cursor file (default: beside a SQLite log)"),
    ] = None,
    kafka_option: Annotated[
        list[str] | None,
        typer.Option(
            "--kafka-option", metavar="KEY=VALUE", help="A librdkafka setting (not a secret)"
        ),
    ] = None,
    replication: Annotated[
        int, typer.Option(help="Replication factor of a topic the export creates")
    ] = 1,
    alert_lag: Annotated[
        int, typer.Option(metavar="EVENTS", help="Alert when this many events behind")
    ] = 10_000,
    alert_after: Annotated[
        float, typer.Option(metavar="SECONDS", help="Alert when behind this long")
    ] = 60.0,
    out: Annotated[
        Path | None, typer.Option(metavar="FILE", help="JSON lines to this file (no --kafka)")
    ] = None,
) -> None:
    """Export a run's event log: JSON lines (one event a line, with its hash), or, with --kafka,
    to a Kafka topic per run, at least once.

    The Kafka export resumes after the last event the broker acknowledged (its cursor file);
    consumers drop duplicates by seq and can check the chain (--check does). With --follow it
    streams new events as the runner appends them (the runner never waits for Kafka; a backlog
    stays in the log and alerts through GREKKO_ALERT_URLS). SASL credentials come from
    GREKKO_KAFKA_SASL_USERNAME / GREKKO_KAFKA_SASL_PASSWORD.
    """
    path = find_log(overrides, events, venue, run, state_dir)
    if kafka is None:
        if follow or check or topic or cursor:
            raise ConfigError("--follow, --check, --topic and --cursor go with --kafka HOST:PORT")
        _export_lines(path, out)
        return
    _export_kafka(
        path, kafka, topic=topic, follow=follow, check=check, cursor=cursor,
        options=_options(kafka_option), replication=replication,
        alert_lag=alert_lag, alert_after=alert_after,
    )  # fmt: skip


def _options(items: list[str] | None) -> dict[str, str]:
    options = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--kafka-option takes KEY=VALUE, got {item!r}")
        options[key.strip()] = value.strip()
    return options


def _export_lines(path: str, out: Path | None) -> None:
    from live.events import EventStore, load_log_key
    from live.events.kafka import encode_event

    stream = open(out, "wb") if out is not None else sys.stdout.buffer  # noqa: SIM115
    n = 0
    try:
        with EventStore.open(path, key=load_log_key()) as store:
            for event in store.read():
                stream.write(encode_event(event)[1] + b"\n")
                n += 1
    finally:
        if out is not None:
            stream.close()
    if out is not None:
        err_console.print(f"{n} events written to {out}")


def _export_kafka(
    path: str,
    bootstrap: str,
    *,
    topic: str | None,
    follow: bool,
    check: bool,
    cursor: Path | None,
    options: dict[str, str],
    replication: int,
    alert_lag: int,
    alert_after: float,
) -> None:
    from live.events import EventStore, load_log_key
    from live.events.kafka import KafkaOutbox, KafkaSink, client_config, default_cursor, topic_for
    from live.runs import read_run

    if topic is None:
        topic = topic_for(read_run(path).run_id)
    sink = KafkaSink(
        bootstrap, topic, options, replication=replication,
        alert_lag_events=alert_lag, alert_after_s=alert_after,
    )  # fmt: skip
    key = load_log_key()  # the MAC of every event is checked before it is published
    outbox = KafkaOutbox(
        lambda: EventStore.open(path, key=key),
        sink,
        cursor if cursor is not None else default_cursor(path, topic),
        on_alert=_alerter(),
    )
    err_console.print(f"exporting {path} to Kafka topic {topic} at {bootstrap}", soft_wrap=True)
    if follow:
        previous = signal.signal(signal.SIGTERM, lambda *_: outbox.stop(timeout_s=0))
        try:
            outbox.run()
        except KeyboardInterrupt:
            outbox.stop(timeout_s=0)
        finally:
            signal.signal(signal.SIGTERM, previous)
    else:
        outbox.drain()
    status = outbox.status
    console.print(
        f"topic {topic}: acknowledged up to seq {status.acked_seq} of {status.head_seq} "
        f"({status.produced} messages sent this time, {status.failures} failed deliveries)",
        soft_wrap=True,
    )
    if check:
        from live.events.kafka_consumer import read_topic

        report = read_topic(client_config(bootstrap, options), topic)
        console.print(report.describe(), soft_wrap=True)
        with EventStore.open(path) as store:
            head = store.head()
        if not report.ok:
            raise typer.Exit(4)
        if head is not None and (report.head_seq, report.head_hash) != (head.seq, head.hash):
            err_console.print(
                f"the topic ends at seq {report.head_seq}, the log at seq {head.seq} "
                f"({'behind' if report.head_seq < head.seq else 'a different log'})"
            )
            raise typer.Exit(4)


def _alerter() -> Any:
    """Print outbox alerts, and send them through GREKKO_ALERT_URLS when it is set."""
    import os

    from live.alerts import Alert, AlertRouter
    from live.secrets import ALERT_URLS_ENV

    router = AlertRouter.from_env() if os.environ.get(ALERT_URLS_ENV) else None

    def alert(a: Any) -> None:
        err_console.print(f"[yellow]{a.kind}[/]: {a.text()}", soft_wrap=True)
        if router is not None:
            router.send(
                Alert(
                    f"{a.kind}:{a.topic}", a.severity, f"[{a.severity.upper()}] {a.kind}", a.text()
                )
            )

    return alert
