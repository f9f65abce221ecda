"""Secrets known to the process, and their removal from logs, tracebacks and messages.

A :class:`Redactor` holds the secret strings the process knows — venue credentials (every
:class:`~live.venues.credentials.Credentials` registers its values when it is built), the API
tokens, the secret parts of the alert URLs, and any environment variable under the
``GREKKO_`` prefix whose name ends in ``_KEY``, ``_SECRET``, ``_TOKEN`` or ``_PASSWORD`` — and
masks them as ``***`` wherever text leaves the process::

    redactor = install_redaction()      # once, at the entry point (CLI, runner, alerts process)
    log.info("answer %s", body)         # every record is redacted when it is created
    redactor.redact(text)               # or by hand, e.g. before writing a file
    redactor.redact_obj({"reason": reason, "api_key": key})   # JSON-like: ... "api_key": "***"

Besides the exact values (and their URL-quoted, JSON-escaped forms), :meth:`Redactor.redact`
masks the values of credential-looking fields (``signature=``, ``"apiKey": "..."``,
``X-MBX-APIKEY: ...``, ``Authorization: Bearer ...``, ``token=`` ...), so a secret the process
was never told about is still hidden when it is labelled. Values shorter than
:data:`MIN_SECRET_LENGTH` characters are never treated as secrets (masking ``"1"`` everywhere
would garble every log line).

:func:`install_redaction` covers, process-wide:

- logging: a record factory redacts every record (message, arguments, traceback and stack
  text) as it is created, whatever logger it comes from — needed because a filter on a logger
  does not see records propagated from its children (``ccxt.base.exchange`` → ``ccxt``) — and
  a :class:`RedactingFilter` on the root logger, its handlers and the loggers of ccxt, aiohttp,
  urllib3, apprise and asyncio, for records built by other means. Records stay well-formed:
  the message is formatted first and checked, a clean record is left untouched, and a record
  with a secret keeps the shape of its ``args`` (formatters such as uvicorn's access log unpack
  them);
- uncaught exceptions: ``sys.excepthook`` and ``threading.excepthook`` render through the
  previous hook (Typer's pretty tracebacks included) into a buffer, then write it redacted;
- ccxt's verbose mode, which ``print``\\ s request headers (the API key among them): the
  ``log`` method of ccxt's exchange and websocket client classes prints redacted text
  (:func:`protect_ccxt`, applied again wherever ccxt is about to be used — credentials being
  built, every client the venues build — so the import order does not matter);
- with ``streams=True`` (the command-line tools' ``main``), ``sys.stdout`` and ``sys.stderr``:
  whatever the process prints (banners, tables, ccxt's prints) is masked.

The process-wide redactor (:func:`default_redactor`) is one shared registry on purpose: the
logging system and the exception hooks it serves are process-wide too.
"""

from __future__ import annotations

import base64
import contextlib
import importlib
import io
import json
import logging
import os
import re
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import quote, quote_plus, unquote, urlsplit

__all__ = [
    "ALERT_URLS_ENV",
    "DEFAULT_LOGGERS",
    "MASK",
    "MIN_SECRET_LENGTH",
    "RedactingFilter",
    "RedactingStream",
    "Redactor",
    "default_redactor",
    "install_redaction",
    "is_secret_env_name",
    "keyring_installed",
    "keyring_secret",
    "protect_ccxt",
    "register_secrets",
    "uninstall_redaction",
    "url_secrets",
]

MASK = "***"
"""What a secret is replaced with."""

MIN_SECRET_LENGTH = 6
"""Values shorter than this are not treated as secrets."""

ENV_PREFIX = "GREKKO_"
ALERT_URLS_ENV = "GREKKO_ALERT_URLS"
"""Apprise URLs of the alert targets, comma or space separated (they embed tokens)."""

_SECRET_SUFFIXES = ("_KEY", "_SECRET", "_TOKEN", "_PASSWORD")

DEFAULT_LOGGERS = (
    "",
    "ccxt",
    "ccxt.base.exchange",
    "aiohttp",
    "aiohttp.access",
    "aiohttp.client",
    "aiohttp.internal",
    "aiohttp.server",
    "aiohttp.web",
    "aiohttp.websocket",
    "apprise",
    "asyncio",
    "urllib3",
    "urllib3.connectionpool",
    "live",
    "grekko_research",
)
"""Loggers :func:`install_redaction` puts a :class:`RedactingFilter` on (``""``: the root)."""

# A labelled value: name, separator (=, :, "": " ...), optional auth scheme, then the value
# up to the next delimiter. Values that are already masked or say only whether something is
# set are left alone.
_FIELD = re.compile(
    r"(?i)(?<![a-z0-9])(authorization|x-mbx-apikey|signature|api[-_]?key|api[-_]?secret"
    r"|secret(?:[-_]?key)?|password|passphrase|private[-_]?key"
    r"|(?:access|api|auth|bearer|control|read|refresh)?[-_]?token)"
    r"(\"?'?\s*[:=]\s*\"?'?)((?:basic|bearer|token)\s+)?"
    r"(?!(?:\*+|set|unset|none|null|true|false)(?:[\s&\"',;})\]]|$))([^\s&\"',;}\]]+)"
)
# Keys of a JSON-like object whose (string) values are masked whatever they are.
_SECRET_KEY = re.compile(
    r"(?i)(api[-_]?key|apikey|api[-_]?secret|secret|password|passphrase|private[-_]?key"
    r"|token|signature|authorization)$"
)
_HOSTNAME = re.compile(r"(?i)^(localhost|(?:[a-z0-9-]+\.)+[a-z]{2,}|\d{1,3}(?:\.\d{1,3}){3})$")
_URL_PIECES = re.compile(r"[/:@?&=#;,+]+")


def keyring_installed() -> bool:
    """Whether the optional ``keyring`` package is importable (so :func:`keyring_secret` reads a
    keyring at all: a caller's error can say where else a secret may be put)."""
    try:
        importlib.import_module("keyring")
    except ImportError:
        return False
    return True


def keyring_secret(service: str, user: str) -> str | None:
    """The secret stored under ``service``/``user`` in the system keyring, or ``None``.

    ``keyring`` is an optional dependency: not installed, a locked or absent backend, or no
    entry all read as missing, so the caller falls back to (or asks for) the environment.
    """
    try:
        keyring = importlib.import_module("keyring")
    except ImportError:
        return None
    try:
        value = keyring.get_password(service, user)
    except Exception:  # a locked or absent backend: as if the entry were missing
        return None
    return str(value) if value else None


def is_secret_env_name(name: str) -> bool:
    """Whether the environment variable ``name`` holds a secret (``GREKKO_*_KEY`` ...)."""
    upper = name.upper()
    return upper.startswith(ENV_PREFIX) and upper.endswith(_SECRET_SUFFIXES)


def _token_like(piece: str, min_length: int) -> bool:
    """Whether a piece of an alert URL looks like a token rather than a word or a host."""
    if len(piece) < min_length or _HOSTNAME.match(piece):
        return False
    has_digit = any(c.isdigit() for c in piece)
    has_alpha = any(c.isalpha() for c in piece)
    return len(piece) >= 16 or (len(piece) >= 8 and has_digit and has_alpha)


def url_secrets(url: str, *, min_length: int = MIN_SECRET_LENGTH) -> tuple[str, ...]:
    """The secret parts of a notification URL (apprise syntax, any scheme).

    Services put their tokens anywhere: in the password (``mailto://user:pass@host``), the
    "host" (``tgram://bottoken/chat``), the path (``json://host/hook/TOKEN``,
    ``discord://id/token``) or the query. Returned: the password, and every piece of the URL
    that looks like a token (at least 16 characters, or 8 with letters and digits) and is
    not a host name or an IP address — plus the ``user:password`` pair in Basic-auth form.
    """
    _, sep, rest = url.partition("://")
    if not sep:
        rest = url
    found: list[str] = []
    user = password = None
    with contextlib.suppress(ValueError):
        parts = urlsplit(url if sep else "x://" + url)
        user, password = parts.username, parts.password
    if password:
        found += [password, unquote(password)]
        basic = f"{unquote(user or '')}:{unquote(password)}".encode()
        found.append(base64.b64encode(basic).decode())
    for piece in _URL_PIECES.split(rest):
        for candidate in {piece, unquote(piece)}:
            if _token_like(candidate, min_length):
                found.append(candidate)
    return tuple(dict.fromkeys(s for s in found if len(s) >= min_length))


def _split_urls(value: str) -> list[str]:
    return [u for u in re.split(r"[\s,]+", value) if u]


def _variants(secret: str) -> set[str]:
    """The forms a secret takes in text: as is, URL-quoted, JSON-escaped, line by line."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}
    if "\n" in secret:  # a PEM key: its body lines are secret on their own
        forms.update(line.strip() for line in secret.splitlines() if len(line.strip()) >= 16)
    return forms


class Redactor:
    """The secret strings of a process and how to mask them.

    Parameters
    ----------
    secrets
        Initial secret values; empty and short ones are ignored.
    min_length
        Values shorter than this are not secrets.
    mask
        The replacement text.
    fields
        Also mask the values of credential-looking fields (``signature=…``, ``"apiKey": …``).

    Thread-safe: secrets may be added while other threads redact.
    """

    def __init__(
        self,
        secrets: Iterable[str | None] = (),
        *,
        min_length: int = MIN_SECRET_LENGTH,
        mask: str = MASK,
        fields: bool = True,
    ) -> None:
        self.min_length = min_length
        self.mask = mask
        self.fields = fields
        self._secrets: set[str] = set()
        self._forms: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()
        self.log_filter = RedactingFilter(self)
        self.add(*secrets)

    def __repr__(self) -> str:  # never the values
        return f"Redactor({len(self._secrets)} secrets)"

    @property
    def count(self) -> int:
        """How many secret values are registered."""
        return len(self._secrets)

    def add(self, *values: str | None) -> int:
        """Register secret values (``None``, empty and short ones are skipped); return how many
        were new."""
        new = [
            v
            for v in values
            if isinstance(v, str) and len(v) >= self.min_length and v not in self._secrets
        ]
        if not new:
            return 0
        with self._lock:
            for value in new:
                self._secrets.add(value)
                self._forms.update(f for f in _variants(value) if len(f) >= self.min_length)
            alternatives = sorted(self._forms, key=len, reverse=True)
            self._pattern = re.compile("|".join(map(re.escape, alternatives)))
        return len(new)

    def add_url(self, url: str) -> int:
        """Register the secret parts of a notification URL (see :func:`url_secrets`)."""
        return self.add(*url_secrets(url, min_length=self.min_length))

    def add_env(self, environ: Mapping[str, str] | None = None) -> int:
        """Register the secrets of the environment (``os.environ`` by default).

        ``GREKKO_*_KEY``, ``_SECRET``, ``_TOKEN``, ``_PASSWORD``: the whole value;
        ``GREKKO_ALERT_URLS``: each URL's secret parts; any other ``GREKKO_*`` value that is a
        URL: its password (``postgresql://user:pw@host/db``).
        """
        env = os.environ if environ is None else environ
        added = 0
        for name, value in env.items():
            if not name.upper().startswith(ENV_PREFIX) or not value:
                continue
            if is_secret_env_name(name):
                added += self.add(value, value.strip())
            elif name.upper() == ALERT_URLS_ENV:
                added += sum(self.add_url(u) for u in _split_urls(value))
            elif "://" in value:
                for url in _split_urls(value):
                    with contextlib.suppress(ValueError):
                        added += self.add(urlsplit(url).password)
        return added

    def redact(self, text: object) -> str:
        """``text`` (made a string) with every known secret and labelled credential masked."""
        out = text if isinstance(text, str) else str(text)
        pattern = self._pattern
        if pattern is not None:
            out = pattern.sub(self.mask, out)
        if self.fields:
            out = _FIELD.sub(lambda m: m[1] + m[2] + (m[3] or "") + self.mask, out)
        return out

    def redact_obj(self, obj: Any) -> Any:
        """A copy of a JSON-like object with strings redacted and secret-named keys masked.

        Mappings become dicts, lists stay lists, tuples stay tuples; other values are returned
        as they are.
        """
        if isinstance(obj, str):
            return self.redact(obj)
        if isinstance(obj, Mapping):
            out: dict[Any, Any] = {}
            for key, value in obj.items():
                name = self.redact(key) if isinstance(key, str) else key
                secret = isinstance(key, str) and _SECRET_KEY.search(key) is not None
                masked = secret and isinstance(value, str) and value != ""
                out[name] = self.mask if masked else self.redact_obj(value)
            return out
        if isinstance(obj, list):
            return [self.redact_obj(v) for v in obj]
        if isinstance(obj, tuple):
            return tuple(self.redact_obj(v) for v in obj)
        return obj

    def format_exception(
        self,
        exc: BaseException | type[BaseException] | None,
        value: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> str:
        """The traceback of ``exc`` (or of ``(type, value, tb)``) as text, redacted."""
        if value is None and isinstance(exc, BaseException):
            lines = traceback.format_exception(exc)
        else:
            lines = traceback.format_exception(exc, value, tb)  # type: ignore[arg-type]
        return self.redact("".join(lines))

    def protect(self, *loggers: str | logging.Logger) -> None:
        """Put this redactor's :class:`RedactingFilter` on each logger (idempotent)."""
        for item in loggers:
            logger = item if isinstance(item, logging.Logger) else logging.getLogger(item)
            if self.log_filter not in logger.filters:
                logger.addFilter(self.log_filter)

    def redact_record(self, record: logging.LogRecord) -> None:
        """Redact a log record in place: message with its arguments, traceback, stack.

        The message is formatted first and the result checked: a record without a secret is
        left as it is (its ``msg`` and ``args`` intact, for formatters that unpack ``args``,
        as uvicorn's access log does). Otherwise each argument is masked on its own, keeping
        the shape of ``args`` (a tuple of the same length, or a mapping with the same keys);
        only when that is not enough (a secret made by formatting itself, a bad format
        string) does the record become the masked text with empty ``args``.
        """
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep the pieces, still redacted
            message = f"{record.msg!s} {record.args!r}"
            record.msg, record.args = self.redact(message), ()
        else:
            masked = self.redact(message)
            if masked != message:
                self._mask_args(record, masked)
        if record.exc_info and record.exc_info[0] is not None:
            exc_type, exc, tb = record.exc_info
            record.exc_text = self.format_exception(exc_type, exc, tb).rstrip("\n")
            # Handlers that render exc_info themselves (rich) would show the raw text.
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)

    def _mask_arg(self, value: Any) -> Any:
        """``value`` if its text holds no secret (numbers stay numbers), else its masked text."""
        if isinstance(value, int | float | bool | type(None)):
            return value
        text = value if isinstance(value, str) else str(value)
        masked = self.redact(text)
        return value if masked == text else masked

    def _mask_args(self, record: logging.LogRecord, masked: str) -> None:
        """Mask ``record``'s message and arguments one by one, keeping the shape of ``args``."""
        msg = self.redact(record.msg) if isinstance(record.msg, str) else record.msg
        args = record.args
        if isinstance(args, Mapping):
            new_args: Any = {k: self._mask_arg(v) for k, v in args.items()}
        elif isinstance(args, tuple):
            new_args = tuple(self._mask_arg(v) for v in args)
        else:
            new_args = args
        record.msg, record.args = msg, new_args
        try:
            ok = self.redact(record.getMessage()) == record.getMessage()
        except Exception:
            ok = False
        if not ok:  # masking the parts did not mask the whole: keep the masked text only
            record.msg, record.args = masked, ()


class RedactingFilter(logging.Filter):
    """A logging filter that redacts every record it sees (it never drops one)."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        self.redactor.redact_record(record)
        return True


_DEFAULT = Redactor()


def default_redactor() -> Redactor:
    """The process-wide redactor (what credentials register with and hooks use by default)."""
    return _DEFAULT


def register_secrets(*values: str | None) -> int:
    """Register secret values with the process-wide redactor; return how many were new.

    Also makes sure ccxt's verbose output is masked (:func:`protect_ccxt`): credentials are
    built when ccxt is about to be used, whether or not their values were already known (from
    the environment, at :func:`install_redaction`, perhaps before ccxt was imported).
    """
    added = _DEFAULT.add(*values)
    protect_ccxt()
    return added


def _active_redactor() -> Redactor:
    state = _INSTALLED
    return state.redactor if state is not None else _DEFAULT


# ccxt classes whose ``log`` is patched, with the original method (for uninstall).
_CCXT_PATCHED: dict[type, Callable[..., Any]] = {}
_CCXT_CLASSES = (
    ("ccxt.base.exchange", "Exchange"),
    ("ccxt.async_support.base.ws.client", "Client"),
)


def protect_ccxt() -> int:
    """Make ccxt's verbose-mode ``log`` (a bare ``print``) print masked text; idempotent.

    Patches the classes of ccxt loaded so far (its exchanges and its websocket client), so it
    is called wherever ccxt is about to be used — :func:`install_redaction`,
    :func:`register_secrets` and every client the venues build — whatever the import order.
    The masking uses the installed redactor, else the process-wide one. Returns how many
    classes were newly patched.
    """
    patched = 0
    with _CCXT_LOCK:
        for module, name in _CCXT_CLASSES:
            found = getattr(sys.modules.get(module), name, None)
            # The class that defines ``log`` (ccxt's Exchange inherits it from BaseExchange).
            cls = next((k for k in getattr(found, "__mro__", ()) if "log" in vars(k)), None)
            if cls is None or cls in _CCXT_PATCHED:
                continue
            original = vars(cls)["log"]

            def log(self: Any, *args: Any, _original: Any = original) -> None:
                redactor = _active_redactor()
                _original(self, *(redactor.redact(a) for a in args))

            log.__grekko_redacting__ = True  # type: ignore[attr-defined]
            cls.log = log
            _CCXT_PATCHED[cls] = original
            patched += 1
    return patched


def _unprotect_ccxt() -> None:
    with _CCXT_LOCK:
        for cls, original in _CCXT_PATCHED.items():
            cls.log = original  # type: ignore[attr-defined]
        _CCXT_PATCHED.clear()


class RedactingStream:
    """A text stream that masks secrets in everything written to it (``sys.stdout``/``stderr``
    of the command-line tools), delegating everything else to the wrapped stream.

    Each ``write`` is masked on its own: ``print`` and the tools' consoles write whole texts,
    so a secret is not split across calls in practice.
    """

    def __init__(self, stream: Any, redactor: Redactor) -> None:
        self.stream = stream
        self.redactor = redactor

    def write(self, text: str) -> int:
        self.stream.write(self.redactor.redact(text) if isinstance(text, str) else text)
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:  # flush, fileno, isatty, encoding, buffer ...
        return getattr(self.stream, name)


# ---------------------------------------------------------------------------- installation


@dataclass
class _Installation:
    redactor: Redactor
    record_factory: Callable[..., logging.LogRecord]
    excepthook: Callable[..., Any]
    threading_hook: Callable[..., Any]
    loggers: list[logging.Logger] = field(default_factory=list)
    handlers: list[logging.Handler] = field(default_factory=list)
    streams: list[tuple[str, Any, RedactingStream]] = field(default_factory=list)


_INSTALLED: _Installation | None = None
_INSTALL_LOCK = threading.Lock()
_CCXT_LOCK = threading.Lock()


def _through_buffer(redactor: Redactor, hook: Callable[[], Any], fallback: str) -> None:
    """Run an exception hook with stderr captured, then write what it wrote, redacted."""
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stderr(buffer):
            hook()
        text = buffer.getvalue()
    except Exception:
        text = fallback
    sys.stderr.write(redactor.redact(text or fallback))
    sys.stderr.flush()


def install_redaction(
    redactor: Redactor | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    loggers: Iterable[str] = DEFAULT_LOGGERS,
    streams: bool = False,
) -> Redactor:
    """Redact secrets from logging, uncaught exceptions and ccxt's verbose output, process-wide.

    Registers the environment's secrets (see :meth:`Redactor.add_env`) first. Calling it again
    registers the environment again and keeps the hooks; installing another redactor replaces
    the first one's hooks. Undo with :func:`uninstall_redaction` (tests).

    ``streams`` also wraps ``sys.stdout`` and ``sys.stderr`` in a :class:`RedactingStream`, so
    whatever the process prints is masked (what the command-line tools' ``main`` do; left
    off for libraries and tests, whose streams belong to someone else).

    Returns
    -------
    Redactor
        The redactor in use (the process-wide one by default).
    """
    global _INSTALLED
    redactor = redactor or _DEFAULT
    with _INSTALL_LOCK:
        redactor.add_env(environ)
        if _INSTALLED is not None and _INSTALLED.redactor is redactor:
            if streams:
                _wrap_streams(_INSTALLED)
            protect_ccxt()
            return redactor
    if _INSTALLED is not None:
        uninstall_redaction()
    with _INSTALL_LOCK:
        previous_factory = logging.getLogRecordFactory()
        previous_hook = sys.excepthook
        previous_thread_hook = threading.excepthook
        state = _Installation(redactor, previous_factory, previous_hook, previous_thread_hook)

        def record_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous_factory(*args, **kwargs)
            redactor.redact_record(record)
            return record

        def excepthook(
            exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
        ) -> None:
            _through_buffer(
                redactor,
                lambda: previous_hook(exc_type, exc, tb),
                "".join(traceback.format_exception(exc_type, exc, tb)),
            )

        def threading_hook(args: threading.ExceptHookArgs) -> None:
            fallback = "".join(
                traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback)
            )
            _through_buffer(redactor, lambda: previous_thread_hook(args), fallback)

        logging.setLogRecordFactory(record_factory)
        sys.excepthook = excepthook
        threading.excepthook = threading_hook
        for name in loggers:
            logger = logging.getLogger(name)
            if redactor.log_filter not in logger.filters:
                logger.addFilter(redactor.log_filter)
                state.loggers.append(logger)
        for handler in logging.getLogger().handlers:
            if redactor.log_filter not in handler.filters:
                handler.addFilter(redactor.log_filter)
                state.handlers.append(handler)
        if streams:
            _wrap_streams(state)
        _INSTALLED = state
    protect_ccxt()
    return redactor


def _wrap_streams(state: _Installation) -> None:
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None or isinstance(stream, RedactingStream):
            continue
        wrapper = RedactingStream(stream, state.redactor)
        setattr(sys, name, wrapper)
        state.streams.append((name, stream, wrapper))


def uninstall_redaction() -> None:
    """Undo :func:`install_redaction` (the registered secrets stay registered)."""
    global _INSTALLED
    with _INSTALL_LOCK:
        state, _INSTALLED = _INSTALLED, None
        if state is None:
            return
        logging.setLogRecordFactory(state.record_factory)
        sys.excepthook = state.excepthook
        threading.excepthook = state.threading_hook
        for logger in state.loggers:
            logger.removeFilter(state.redactor.log_filter)
        for handler in state.handlers:
            handler.removeFilter(state.redactor.log_filter)
        for name, stream, wrapper in state.streams:
            if getattr(sys, name) is wrapper:  # unless someone replaced it since
                setattr(sys, name, stream)
    _unprotect_ccxt()
