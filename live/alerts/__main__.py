"""``python -m live.alerts --events PATH``: alert on a run's event log from its own process."""

from __future__ import annotations

import argparse
import sys
from urllib.parse import urlsplit

from grekko_research.errors import GrekkoError
from live.alerts._follow import follow
from live.alerts._router import AlertRouter, Outcome
from live.secrets import ALERT_URLS_ENV, install_redaction


def main(argv: list[str] | None = None) -> int:
    """Tail the log until interrupted; print one line per alert outcome on stderr."""
    parser = argparse.ArgumentParser(
        prog="python -m live.alerts",
        description=f"Send alerts for a run's event log to the apprise URLs in ${ALERT_URLS_ENV}.",
    )
    parser.add_argument("--events", required=True, help="event log path or postgresql:// URL")
    parser.add_argument("--after-seq", type=int, default=None,
                        help="alert on events after this seq (default: new events only)")  # fmt: skip
    parser.add_argument("--poll", type=float, default=1.0, help="seconds between reads")
    parser.add_argument("--big-fill", default=None, help="alert on fills of this notional")
    parser.add_argument("--min-interval", type=float, default=60.0, help="seconds per key")
    parser.add_argument("--dedup-window", type=float, default=600.0, help="seconds")
    args = parser.parse_args(argv)
    redactor = install_redaction()
    if "://" in args.events:  # a PostgreSQL URL may carry a password
        redactor.add(urlsplit(args.events).password)

    def report(outcome: Outcome) -> None:
        line = f"{outcome.status}: {outcome.alert.title}"
        if outcome.errors:
            line += " (" + "; ".join(outcome.errors) + ")"
        print(redactor.redact(line), file=sys.stderr, flush=True)

    try:
        router = AlertRouter.from_env(
            big_fill_notional=args.big_fill,
            min_interval_s=args.min_interval,
            dedup_window_s=args.dedup_window,
        )
        if not router.targets:
            print(f"error: set {ALERT_URLS_ENV} (apprise URLs)", file=sys.stderr)
            return 2
        where = redactor.redact(args.events)
        print(f"alerting {router.targets} on {where}", file=sys.stderr, flush=True)
        follow(args.events, router, after_seq=args.after_seq, poll_s=args.poll, on_outcome=report)
    except GrekkoError as e:
        print(redactor.redact(f"error: {e}"), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
