"""Messages of a public Telegram channel through telethon (Telegram's MTProto client).

``fetch`` reads 100 messages a page with ``get_messages`` (newest first, ``min_id`` = the
stored cursor, ``offset_id`` = the page token) and hands ``parse`` their ``to_dict()`` forms.
Rows (entity: the channel's username): ``text``, ``author`` (the post's signature, or the
channel), ``views``, ``forwards``, ``replies``; ``event_ms`` = ``published_ms`` = the
message ``date`` (an edited message keeps its first text's time: the edit's text was not
knowable then; the row is what the download saw, ``ingested_ms``). The cursor is the newest
message id. Keys: ``TELEGRAM_API_ID``, ``TELEGRAM_API_HASH`` and ``TELEGRAM_SESSION`` (a
telethon StringSession of a logged-in account, which also names the data centre to reach: no
login prompt in a download; a session that is not logged in is refused when the connector
starts). Telegram answers too-fast clients with FLOOD_WAIT (seconds to wait): telethon is told
not to sleep through it itself (``flood_sleep_threshold=0``), so the shared download loop
waits and retries with its injected clock; calls are spaced 1 s apart. The client asks for no
update stream (``receive_updates=False``): a download reads history only.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from grekko_research.alpha.connectors.base import (
    Connector,
    Page,
    Transient,
    env_key,
    ms,
    rows_frame,
)
from grekko_research.errors import ConfigError, DataError, ExchangeError

__all__ = ["Telegram", "parse_telegram"]

COLUMNS = ("text", "author", "views", "forwards", "replies")


def parse_telegram(payload: Any, *, entity: str, ingested_ms: int) -> pd.DataFrame:
    """Return the rows of a list of ``Message.to_dict()`` (service messages are skipped)."""
    if not isinstance(payload, list):
        raise DataError(f"telegram {entity}: payload is not a list of messages")
    records = []
    for i, m in enumerate(payload):
        if not isinstance(m, dict) or m.get("_") != "Message":
            continue  # MessageService (joins, pins) and empty slots carry no text
        try:
            t = ms(m["date"])
            replies = m.get("replies") or {}
            records.append(
                {
                    "id": f"{entity}:{int(m['id'])}",
                    "event_ms": t,
                    "published_ms": t,
                    "ingested_ms": ingested_ms,
                    "text": str(m.get("message") or ""),
                    "author": str(m.get("post_author") or entity),
                    "views": float(m.get("views") or 0),
                    "forwards": float(m.get("forwards") or 0),
                    "replies": float(replies.get("replies") or 0),
                    "message_id": int(m["id"]),
                }
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"telegram {entity}: message {i} is malformed ({exc!r})") from exc
    frame = rows_frame(records, (*COLUMNS, "message_id"))
    frame["message_id"] = frame["message_id"].astype("int64")
    return frame


class Telegram(Connector):
    """A channel's messages newer than the stored message id."""

    source = "telegram"
    env = ("TELEGRAM_API_ID", "TELEGRAM_API_HASH", "TELEGRAM_SESSION")
    min_interval_s = 1.0

    def __init__(self) -> None:
        from telethon.sessions import StringSession
        from telethon.sync import TelegramClient

        raw_id = env_key("TELEGRAM_API_ID", "telegram") or ""
        if not raw_id.isdigit():
            raise ConfigError("telegram: TELEGRAM_API_ID must be the app's numeric api_id")
        api_hash = env_key("TELEGRAM_API_HASH", "telegram")
        try:
            session = StringSession(env_key("TELEGRAM_SESSION", "telegram"))
        except ValueError as exc:  # not a StringSession's text (its content is not echoed)
            raise ConfigError("telegram: TELEGRAM_SESSION is not a telethon StringSession") from exc
        self.client = TelegramClient(
            session, int(raw_id), api_hash, flood_sleep_threshold=0, receive_updates=False
        )
        self.client.connect()
        if not self.client.is_user_authorized():
            self.client.disconnect()
            raise ConfigError(
                "telegram: TELEGRAM_SESSION is not logged in (the server does not know its "
                "auth key as a signed-in account); mint a new one, see docs/alpha.md"
            )

    def fetch(self, entity: str, *, since: str | None, token: str | None) -> Page:
        from telethon import errors

        try:
            messages = self.client.get_messages(
                entity, limit=100, min_id=int(since or 0), offset_id=int(token or 0)
            )
        except errors.FloodWaitError as exc:
            raise Transient(f"telegram {entity}: flood wait", float(exc.seconds)) from exc
        except errors.ServerError as exc:
            raise Transient(f"telegram {entity}: server error {exc.code}") from exc
        except errors.RPCError as exc:
            raise ExchangeError(f"telegram {entity}: {exc.message} ({exc.code})") from exc
        except ValueError as exc:  # telethon: the username resolves to nothing
            raise ConfigError(f"telegram {entity}: no such channel ({exc})") from exc
        except ConnectionError as exc:
            raise Transient(f"telegram {entity}: connection lost ({exc})") from exc
        payload = [m.to_dict() for m in messages]
        ids = [int(m.id) for m in messages]
        return Page(payload, str(min(ids)) if len(ids) == 100 else None)

    def parse(self, payload: Any, *, entity: str, ingested_ms: int) -> pd.DataFrame:
        return parse_telegram(payload, entity=entity, ingested_ms=ingested_ms)

    def cursor_after(self, rows: pd.DataFrame, since: str | None, *, entity: str) -> str | None:
        if not len(rows):
            return since
        newest = int(rows["message_id"].max())
        return str(max(newest, int(since or 0)))

    def close(self) -> None:
        self.client.disconnect()
