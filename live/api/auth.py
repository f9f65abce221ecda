"""Bearer tokens of the status API: two scopes, constant-time checks, redacted logs.

Tokens come from the environment only (``GREKKO_API_READ_TOKEN``, ``GREKKO_API_CONTROL_TOKEN``;
several per variable, separated by commas or whitespace, to rotate without downtime). A
control token also grants read. :class:`ApiTokens` keeps SHA-256 digests, never the tokens,
and compares a presented token with *every* configured digest through
:func:`hmac.compare_digest` without stopping at a match, so neither the time taken nor the
length compared says which token (or how much of one) matched.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from grekko_research.errors import ConfigError

__all__ = [
    "CONTROL_TOKEN_ENV",
    "METRICS_PUBLIC_ENV",
    "MIN_TOKEN_LENGTH",
    "READ_TOKEN_ENV",
    "ApiTokens",
    "RedactTokens",
    "Scope",
    "bearer_token",
]

READ_TOKEN_ENV = "GREKKO_API_READ_TOKEN"
CONTROL_TOKEN_ENV = "GREKKO_API_CONTROL_TOKEN"
METRICS_PUBLIC_ENV = "GREKKO_API_METRICS_PUBLIC"
MIN_TOKEN_LENGTH = 16
"""Shorter tokens are refused: a guessable token is no token."""

Scope = Literal["read", "control"]


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


@dataclass(frozen=True, repr=False, eq=False)
class ApiTokens:
    """The configured tokens (as digests) and whether ``/metrics`` is public.

    Build it with :meth:`from_env` or :meth:`of`; the constructor takes digests.
    """

    read_digests: tuple[bytes, ...] = ()
    control_digests: tuple[bytes, ...] = ()
    metrics_public: bool = False

    @classmethod
    def of(
        cls,
        read: Iterable[str] = (),
        control: Iterable[str] = (),
        *,
        metrics_public: bool = False,
    ) -> ApiTokens:
        """Hash the given tokens.

        Raises
        ------
        ConfigError
            If a token is shorter than :data:`MIN_TOKEN_LENGTH` or holds whitespace or a comma
            (the message never quotes the token).
        """
        read, control = list(read), list(control)
        for scope, tokens in (("read", read), ("control", control)):
            for token in tokens:
                if len(token) < MIN_TOKEN_LENGTH or re.search(r"[\s,]", token):
                    raise ConfigError(
                        f"an API {scope} token is shorter than {MIN_TOKEN_LENGTH} characters "
                        "or holds whitespace or a comma"
                    )
        return cls(
            tuple(_digest(t) for t in read), tuple(_digest(t) for t in control), metrics_public
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ApiTokens:
        """Read ``GREKKO_API_READ_TOKEN``, ``GREKKO_API_CONTROL_TOKEN`` (comma- or
        whitespace-separated lists) and ``GREKKO_API_METRICS_PUBLIC`` (``1``/``true``/``yes``)."""
        env = os.environ if environ is None else environ

        def split(name: str) -> list[str]:
            return [t for t in re.split(r"[\s,]+", env.get(name, "")) if t]

        public = env.get(METRICS_PUBLIC_ENV, "").strip().lower() in ("1", "true", "yes", "on")
        return cls.of(split(READ_TOKEN_ENV), split(CONTROL_TOKEN_ENV), metrics_public=public)

    @property
    def configured(self) -> bool:
        """Whether any token is configured (with none, every protected route answers 401)."""
        return bool(self.read_digests or self.control_digests)

    def scope_of(self, presented: str | None) -> Scope | None:
        """Return the scope a presented token grants: ``"control"``, ``"read"`` or ``None``.

        Every configured digest is compared, whatever matched before.
        """
        if not presented:
            return None
        candidate = _digest(presented)
        read = control = False
        for d in self.read_digests:
            read |= hmac.compare_digest(candidate, d)
        for d in self.control_digests:
            control |= hmac.compare_digest(candidate, d)
        return "control" if control else "read" if read else None

    def allows(self, presented: str | None, scope: Scope) -> bool:
        """Return whether the presented token grants ``scope`` (control implies read)."""
        got = self.scope_of(presented)
        return got == "control" or (got == "read" and scope == "read")

    def __repr__(self) -> str:
        return (
            f"ApiTokens(read={len(self.read_digests)}, control={len(self.control_digests)}, "
            f"metrics_public={self.metrics_public})"
        )


def bearer_token(authorization: str | None) -> str | None:
    """Return the token of an ``Authorization: Bearer <token>`` header value, else ``None``."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


_TOKEN_IN_TEXT = re.compile(r"((?:^|[?&\s])(?:access_)?token=)[^&\s\"']*", re.IGNORECASE)


class RedactTokens(logging.Filter):
    """Replace ``token=…`` query values in log records (uvicorn logs websocket paths with their
    query string) by ``token=***``."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _TOKEN_IN_TEXT.sub(r"\1***", message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True
