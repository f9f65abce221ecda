"""The redactor: which values are secrets, how they are masked, and the process-wide hooks
(logging from any logger, uncaught exceptions in the main and other threads, ccxt's verbose
prints) that :func:`live.secrets.install_redaction` sets up."""

from __future__ import annotations

import json
import logging
import secrets
import sys
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import ccxt
import pytest

from live.secrets import (
    MASK,
    Redactor,
    default_redactor,
    install_redaction,
    uninstall_redaction,
    url_secrets,
)
from live.venues import Credentials, scrub


def canary(prefix: str = "cnry") -> str:
    return prefix + secrets.token_hex(12)


@pytest.fixture
def installed() -> Iterator[Redactor]:
    redactor = Redactor()
    install_redaction(redactor, environ={})
    try:
        yield redactor
    finally:
        uninstall_redaction()


def test_values_and_their_encoded_forms_are_masked() -> None:
    value = "s3cr3t/with+odd=chars&more"
    pem = "-----BEGIN KEY-----\nMHcCAQEEIBmxvQ2sdA8p3kRDmzz\nAoGCCqGSM49AwEHoUQDQgAE\n-----END KEY-----"
    r = Redactor([value, pem, "1", "", None, "short"])
    assert r.count == 2
    text = f"raw {value} quoted {quote(value, safe='')} json {json.dumps(pem)} line MHcCAQEEIBmxvQ2sdA8p3kRDmzz"
    out = r.redact(text)
    assert value not in out and quote(value, safe="") not in out and "MHcCAQ" not in out
    assert out.count(MASK) == 4
    assert r.redact("1 short 1") == "1 short 1"  # too short to be secrets
    assert "s3cr3t" not in repr(r)


def test_labelled_credentials_are_masked_even_when_unknown() -> None:
    r = Redactor()
    text = (
        "GET /api?timestamp=1&signature=deadbeef42 {'X-MBX-APIKEY': 'AKFAKE1'} "
        '{"apiKey": "AK2", "secret":"S3"} Authorization: Bearer eyJhbGciOi token=tok99 '
        "password=set api_key=None"
    )
    out = r.redact(text)
    for leaked in ("deadbeef42", "AKFAKE1", "AK2", '"S3"', "eyJhbGciOi", "tok99"):
        assert leaked not in out
    assert "timestamp=1" in out and "Bearer ***" in out
    assert "password=set" in out and "api_key=None" in out  # says nothing secret


def test_redact_obj_masks_secret_keys_and_values() -> None:
    key = canary()
    r = Redactor([key])
    got = r.redact_obj(
        {"reason": f"key {key} refused", "api_secret": "anything", "nested": [(key, 3)],
         "token": None, "qty": 1.5}
    )  # fmt: skip
    assert got == {"reason": "key *** refused", "api_secret": MASK, "nested": [(MASK, 3)],
                   "token": None, "qty": 1.5}  # fmt: skip


def test_secrets_of_the_environment_and_of_urls() -> None:
    key, tok, hook, pw, db = (canary(p) for p in ("k", "t", "h", "p", "d"))
    r = Redactor()
    r.add_env(
        {
            "GREKKO_BINANCE_API_KEY": key,
            "GREKKO_API_CONTROL_TOKEN": tok,
            "GREKKO_ALERT_URLS": f"json://u:{pw}@127.0.0.1:9/x/{hook}, tgram://123456789:{tok}x/42",
            "GREKKO_EVENT_STORE": f"postgresql://grekko:{db}@db.local/grekko",
            "GREKKO_DATA_DIR": "/data/grekko-store",  # not a secret
            "OTHER_API_KEY": "not-ours-0123456789",  # outside the prefix
        }
    )
    text = f"{key} {tok} {hook} {pw} {db} {tok}x /data/grekko-store not-ours-0123456789 grekko 127.0.0.1"
    assert (
        r.redact(text)
        == "*** *** *** *** *** *** /data/grekko-store not-ours-0123456789 grekko 127.0.0.1"
    )
    assert url_secrets("https://hooks.slack.com/services/T0AAA1111/B0BBB2222/abcdefghijklmnopqrstuvwx") == (
        "T0AAA1111", "B0BBB2222", "abcdefghijklmnopqrstuvwx"
    )  # fmt: skip
    assert url_secrets("json://localhost:8080/alerts") == ()


def test_credentials_register_with_the_process_redactor() -> None:
    key, secret = canary("key"), canary("sec")
    creds = Credentials(key, secret)
    assert key not in repr(creds)
    assert default_redactor().redact(f"{key}:{secret}") == "***:***"
    assert scrub(f"failed for {key}") == "failed for ***"  # venue error messages too


def test_every_logger_is_redacted_once_installed(
    installed: Redactor, caplog: pytest.LogCaptureFixture
) -> None:
    secret = canary()
    installed.add(secret)
    caplog.set_level(logging.DEBUG)
    # A handler added later, on a logger nobody filters: records propagated from a child skip
    # the filters of the loggers they pass, so only the record factory can reach them.
    late: list[tuple[str, str | None, Any]] = []  # what the handler saw when it emitted
    handler = logging.Handler()
    handler.emit = lambda r: late.append((r.getMessage(), r.exc_text, r.exc_info))  # type: ignore[method-assign]
    logging.getLogger("some.library").addHandler(handler)
    try:
        raise RuntimeError(f"boom with {secret}")
    except RuntimeError:
        logging.getLogger("some.library.deep").debug("arg %s", secret, exc_info=True)
    finally:
        logging.getLogger("some.library").removeHandler(handler)
    ((message, exc_text, exc_info),) = late
    assert message == "arg ***" and "boom with ***" in str(exc_text)
    assert exc_info is None  # a handler rendering exc_info itself would show it raw
    logging.getLogger("ccxt.base.exchange").debug("GET x, Request: %s", {"X-MBX-APIKEY": secret})
    logging.getLogger("ccxt").info("bad format %d", secret)  # must not raise either
    assert len(caplog.records) == 3
    assert "RuntimeError: boom with ***" in caplog.text
    assert secret not in caplog.text
    assert all(secret not in r.getMessage() for r in caplog.records)
    uninstall_redaction()
    logging.getLogger("some.library.deep").warning("after %s", secret)
    assert secret in caplog.records[-1].getMessage()  # uninstalled: the hooks are gone


def test_uncaught_exceptions_are_redacted(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pytest swaps threading.excepthook around each test phase: start from Python's own hooks,
    # inside the test, so that the redacting hooks wrap what a real process has.
    monkeypatch.setattr(threading, "excepthook", threading.__excepthook__)
    monkeypatch.setattr(sys, "excepthook", sys.__excepthook__)
    secret = canary()
    redactor = install_redaction(Redactor([secret]), environ={})
    try:
        try:
            raise ValueError(f"token {secret} rejected")
        except ValueError as e:
            sys.excepthook(type(e), e, e.__traceback__)
        err = capsys.readouterr().err
        assert "ValueError: token *** rejected" in err and "Traceback" in err
        assert secret not in err

        def worker() -> None:
            raise KeyError(secret)

        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
        err = capsys.readouterr().err
        assert "KeyError: '***'" in err and "Exception in thread" in err
        assert secret not in err
        assert secret not in redactor.format_exception(KeyError(secret))
    finally:
        uninstall_redaction()


def test_ccxt_verbose_prints_are_redacted(
    installed: Redactor, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = canary()
    installed.add(secret)
    exchange = ccxt.binance({"apiKey": secret, "secret": canary()})
    exchange.log("\nfetch Request:", "binance", "GET", "RequestHeaders:", {"X-MBX-APIKEY": secret})
    out = capsys.readouterr().out
    assert "fetch Request:" in out and secret not in out
    uninstall_redaction()
    exchange.log(secret)
    assert secret in capsys.readouterr().out  # the patch is undone


def test_redacted_records_stay_well_formed(installed: Redactor) -> None:
    """Format first, then mask, keeping ``args`` a tuple of the same shape: uvicorn's access
    formatter unpacks ``record.args`` (with ``None`` it raised on every request)."""
    from uvicorn.logging import AccessFormatter

    secret = canary()
    installed.add(secret)
    lines: list[str] = []
    handler = logging.Handler()
    handler.setFormatter(AccessFormatter('%(client_addr)s "%(request_line)s" %(status_code)s'))
    handler.emit = lambda record: lines.append(handler.format(record))  # type: ignore[method-assign]
    handler.handleError = lambda record: lines.append("ERROR")  # type: ignore[method-assign]
    access = logging.getLogger("test.uvicorn.access")
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    try:
        args = ("127.0.0.1:5000", "GET", f"/orders?token={secret}&x=1", "1.1", 200)
        access.info('%s - "%s %s HTTP/%s" %d', *args)
        access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5001", "GET", "/health", "1.1", 503)
    finally:
        access.removeHandler(handler)
    assert lines[0] == '127.0.0.1:5000 "GET /orders?token=***&x=1 HTTP/1.1" 200 OK'
    assert lines[1] == '127.0.0.1:5001 "GET /health HTTP/1.1" 503 Service Unavailable'
    assert len(lines) == 2
    count = logging.getLogger("x").makeRecord("x", 20, "f", 1, "%d of %s", (3, secret), None)
    assert count.args == (3, "***") and count.getMessage() == "3 of ***"  # %d still works
    # A record without a secret keeps its very arguments; one with a secret keeps their shape.
    clean = logging.getLogger("x").makeRecord("x", logging.INFO, "f", 1, "a %s %d", ("b", 2), None)
    assert clean.args == ("b", 2) and clean.msg == "a %s %d"
    dirty = logging.getLogger("x").makeRecord(
        "x", logging.INFO, "f", 1, "a %s %d", (f"key={secret}", 2), None
    )
    assert dirty.args == ("key=***", 2) and dirty.getMessage() == "a key=*** 2"
    mapping = logging.getLogger("x").makeRecord(
        "x", logging.INFO, "f", 1, "%(k)s", ({"k": secret},), None
    )
    assert mapping.getMessage() == "***" and isinstance(mapping.args, dict)
