"""The keyed layer of the event log: the log key, per-event MACs and signed checkpoints.

The SHA-256 chain (:mod:`live.events._codec`) shows an edit to anyone, but anyone can also
recompute it after an edit ("re-hash to the head"), and no chain shows a cut tail. So a store
opened with a key adds:

* a **MAC per event**: HMAC-SHA256 under the key of the stored fields (``seq``, ``ts_ms``,
  ``kind``, ``stream``, the payload text, ``prev_hash``, ``hash``). Without the key, an edited
  or re-hashed event cannot get a valid MAC. Checking it hashes the stored bytes only, so a
  keyed store checks the MAC of every event it reads (the runner's restart reads them all).
* a **checkpoint per write**: after each committed transaction, one JSON line
  ``{"seq", "hash", "accepted", "mac"}`` appended to a file kept apart from the database (by
  default ``<log>.checkpoints`` beside a SQLite file). The log must still hold that ``seq``
  with that hash: a cut tail, or any rewrite of the chain up to it, fails. Before a log's
  first event is committed, its writer appends the *genesis* checkpoint (``seq`` 0, the
  genesis hash): from then on a log with events and no checkpoint file was tampered with,
  whereas a checkpoint behind the head (a concurrent writer between its commit and its
  checkpoint, or a crash there) is normal — the events after it are checked by MAC and link.

Checkpoints are not fsync'ed: a line lost in a power cut only moves the anchor back (the events
after it are still checked by their MACs); it never raises a false alarm.

The key: ``GREKKO_EVENTS_KEY`` (at least 32 characters), else the keyring entry
``grekko`` / ``events:key``, else a key file (``GREKKO_EVENTS_KEY_FILE``, default
``$XDG_CONFIG_HOME/grekko/events.key``, i.e. ``~/.config/grekko/events.key``) that
``grekko-live run`` creates with mode 0600 when none exists. It is registered with the
process's redactor and never printed.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import secrets as _random
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grekko_research.errors import ConfigError
from live.events._codec import Row
from live.events._errors import EventStoreError
from live.secrets import keyring_secret

__all__ = [
    "KEYRING_USER",
    "KEY_ENV",
    "KEY_FILE_ENV",
    "Checkpoint",
    "CheckpointFile",
    "LockedCheckpoints",
    "LogKey",
    "default_key_file",
    "load_log_key",
]

KEY_ENV = "GREKKO_EVENTS_KEY"
KEY_FILE_ENV = "GREKKO_EVENTS_KEY_FILE"
KEYRING_USER = "events:key"
_KEYRING_SERVICE = "grekko"
_MIN_KEY_CHARS = 32
_FIRST_TAIL_BYTES = 4096  # the end of the checkpoint file read to find the last checkpoint,
_TAIL_BYTES = 64 * 1024  # and how far back to look when that holds no readable line
_LOCK_WAIT_S = 30.0  # how long a writer waits for the checkpoint lock (SQLite's busy timeout)


@dataclass(frozen=True, slots=True)
class LogKey:
    """The secret of a log's MACs and checkpoints; ``repr`` shows only where it came from."""

    secret: bytes = field(repr=False)
    source: str = "given"
    _base: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.secret) < _MIN_KEY_CHARS:
            raise ConfigError(
                f"the event-log key ({self.source}) is too short: use at least "
                f"{_MIN_KEY_CHARS} characters"
            )
        from live.secrets import register_secrets

        register_secrets(self.secret.decode("utf-8", "replace"))
        # Keyed once; each MAC copies this state (half the cost of keying per event).
        object.__setattr__(self, "_base", hmac.new(self.secret, digestmod="sha256"))

    def __repr__(self) -> str:
        return f"LogKey(secret=***, source={self.source!r})"

    __str__ = __repr__

    def mac(self, row: Row) -> str:
        """The MAC (hex) of a stored event: HMAC-SHA256 of the UTF-8 bytes of
        ``f"{seq}\\n{ts_ms}\\n{len(kind)}:{kind}{len(stream)}:{stream}{len(prev_hash)}:{prev_hash}"
        f"{len(hash)}:{hash}{payload_text}"`` (lengths in characters: the fields cannot be
        shifted into one another)."""
        seq, ts_ms, kind, stream, payload, prev, digest = row[:7]
        text = (
            f"{seq}\n{ts_ms}\n{len(kind)}:{kind}{len(stream)}:{stream}{len(prev)}:{prev}"
            f"{len(digest)}:{digest}{payload}"
        )
        h = self._base.copy()
        h.update(text.encode("utf-8"))
        return str(h.hexdigest())

    def sign(self, body: Mapping[str, Any]) -> str:
        """The MAC (hex) of a checkpoint's fields (canonical JSON, sorted keys)."""
        text = json.dumps(dict(body), sort_keys=True, separators=(",", ":"))
        return hmac.new(self.secret, text.encode("utf-8"), hashlib.sha256).hexdigest()


def default_key_file(environ: Mapping[str, str] | None = None) -> Path:
    """``GREKKO_EVENTS_KEY_FILE``, else ``$XDG_CONFIG_HOME/grekko/events.key``."""
    env = os.environ if environ is None else environ
    if env.get(KEY_FILE_ENV):
        return Path(env[KEY_FILE_ENV]).expanduser()
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "grekko" / "events.key"


def load_log_key(
    *,
    create: bool = False,
    environ: Mapping[str, str] | None = None,
    use_keyring: bool = True,
) -> LogKey | None:
    """Return the event-log key from the environment, the keyring or the key file.

    Parameters
    ----------
    create
        Create the key file (32 random bytes, hex, mode 0600) when no key exists anywhere;
        ``grekko-live run`` does, read-only commands do not.
    environ
        Mapping to read instead of ``os.environ`` (tests).
    use_keyring
        Whether to ask the optional ``keyring`` package.

    Returns
    -------
    LogKey or None
        ``None`` when there is no key and ``create`` is false.

    Raises
    ------
    ConfigError
        If the key is too short, or the key file is readable by others or cannot be created;
        messages name the variable or file, never the key.
    """
    env = os.environ if environ is None else environ
    if env.get(KEY_ENV):
        return LogKey(env[KEY_ENV].encode("utf-8"), f"env {KEY_ENV}")
    if use_keyring:
        stored = keyring_secret(_KEYRING_SERVICE, KEYRING_USER)
        if stored:
            return LogKey(stored.encode("utf-8"), f"keyring {_KEYRING_SERVICE}/{KEYRING_USER}")
    path = default_key_file(env)
    if path.exists():
        return _read_key_file(path)
    if not create:
        return None
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it meanwhile
        return _read_key_file(path)
    except OSError as e:
        raise ConfigError(
            f"cannot create the event-log key file {path} ({e.strerror}): set {KEY_ENV} "
            f"or {KEY_FILE_ENV}"
        ) from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(_random.token_hex(32) + "\n")
    return _read_key_file(path, created=True)


def _read_key_file(path: Path, *, created: bool = False) -> LogKey:
    mode = path.stat().st_mode
    if mode & 0o077:
        raise ConfigError(
            f"the event-log key file {path} is readable by others (mode {mode & 0o777:o}): "
            f"chmod 600 {path}"
        )
    text = path.read_text(encoding="utf-8").strip()
    return LogKey(text.encode("utf-8"), f"file {path}" + (" (created)" if created else ""))


# --------------------------------------------------------------------------- checkpoints


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One line of the checkpoint file.

    ``accepted`` is the ``seq`` up to which an operator accepted the log as it stood
    (:meth:`~live.events.EventStore.accept`): events up to it are no longer checked against
    their MACs. ``mac`` is ``None`` for a checkpoint written without a key. ``line`` numbers
    the line in the file (1-based; 0 when not known).
    """

    seq: int
    hash: str
    accepted: int = 0
    mac: str | None = None
    line: int = 0

    def body(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash, "accepted": self.accepted}


class CheckpointFile:
    """The append-only JSON-lines file of a log's checkpoints.

    Writers append under :meth:`locked` (an exclusive ``flock`` on the file, held from before
    the write transaction until the checkpoint line is written), so the lines of writers
    sharing the file follow the commit order and a writer reads the last one before its own.
    Readers take no lock: a checkpoint is only ever written after what it vouches for is
    committed, and the genesis checkpoint (``seq`` 0) before the log's first event, so a
    reader that reads the checkpoint first and the log second never sees the log behind it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, cp: Checkpoint, key: LogKey | None) -> None:
        """Append ``cp``, signed with ``key`` if given, taking the lock for the one write."""
        with self.locked() as handle:
            handle.append(cp, key)

    @contextmanager
    def locked(self) -> Iterator[LockedCheckpoints]:
        """Open (creating, mode 0600) and lock the file until the block ends."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as e:
            raise EventStoreError(f"cannot open the checkpoint file {self.path}: {e}") from e
        try:
            _lock(fd, self.path)
            yield LockedCheckpoints(self.path, fd)
        finally:
            os.close(fd)  # releases the lock (the descriptor is this lock's only one)

    def last(self) -> Checkpoint | None:
        """The last readable checkpoint (``None`` for no file or none readable).

        Reads only the file's end (4 KiB, else 64 KiB). A line cut by a crash (no newline, or
        mangled by a later append) is skipped: unreadable lines can come from crashes, and
        skipping one gives an attacker nothing that deleting it would not (signatures are
        checked by the caller). A line being appended is not seen until it is whole.
        """
        try:
            with open(self.path, "rb") as f:
                return _last_in(f.fileno())
        except FileNotFoundError:
            return None

    def all(self) -> list[bytes]:
        """Every complete line (for a full verification)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        return data.split(b"\n")[:-1]


class LockedCheckpoints:
    """The checkpoint file while this writer holds its lock (:meth:`CheckpointFile.locked`)."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd

    def last(self) -> Checkpoint | None:
        """The last readable checkpoint, as :meth:`CheckpointFile.last`."""
        return _last_in(self._fd)

    def append(self, cp: Checkpoint, key: LogKey | None) -> None:
        """Append ``cp`` as one line, signed with ``key`` if given."""
        body = cp.body()
        body["mac"] = key.sign(cp.body()) if key is not None else None
        data = (json.dumps(body, separators=(",", ":")) + "\n").encode("ascii")
        try:
            os.write(self._fd, data)
        except OSError as e:
            raise EventStoreError(f"cannot write the checkpoint file {self.path}: {e}") from e


def _lock(fd: int, path: Path) -> None:
    """Take the exclusive lock, waiting at most ``_LOCK_WAIT_S`` like SQLite's busy timeout: a
    writer stopped while holding it makes the others fail with an error, not hang."""
    deadline = time.monotonic() + _LOCK_WAIT_S
    pause = 0.0001
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise EventStoreError(
                    f"the checkpoint file {path} has been locked by another writer of the log "
                    f"for {_LOCK_WAIT_S:.0f} s (stopped in the middle of a write?)"
                ) from None
            time.sleep(pause)
            pause = min(2 * pause, 0.001)  # a write holds it for about one commit
        except OSError as e:
            raise EventStoreError(f"cannot lock the checkpoint file {path}: {e}") from e


def _last_in(fd: int) -> Checkpoint | None:
    size = os.fstat(fd).st_size
    for want in (_FIRST_TAIL_BYTES, _TAIL_BYTES):
        start = max(0, size - want)
        tail = os.pread(fd, size - start, start)
        lines = tail.split(b"\n")[:-1]  # the piece after the last newline is incomplete
        for i in range(len(lines) - 1, -1, -1):
            try:
                return parse_checkpoint(lines[i], i + 1 if start == 0 else 0)
            except ValueError:
                continue
        if start == 0:
            break
    return None


def parse_checkpoint(raw: bytes, line: int) -> Checkpoint:
    """Parse one line of the checkpoint file; ``ValueError`` names what is wrong."""
    try:
        obj = json.loads(raw)
        seq, digest = obj["seq"], obj["hash"]
        accepted, mac = obj.get("accepted", 0), obj.get("mac")
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"line {line or '?'} is not a checkpoint ({e})") from None
    if (
        not isinstance(seq, int)
        or not isinstance(accepted, int)
        or not isinstance(digest, str)
        or not (mac is None or isinstance(mac, str))
    ):
        raise ValueError(f"line {line or '?'} has fields of the wrong type")
    if seq < 0 or accepted < 0:
        raise ValueError(f"line {line or '?'} has a negative seq or accepted")
    return Checkpoint(seq, digest, accepted, mac, line)


def signature_ok(cp: Checkpoint, key: LogKey) -> bool:
    """Whether ``cp`` carries a valid MAC under ``key``."""
    return cp.mac is not None and hmac.compare_digest(cp.mac, key.sign(cp.body()))
