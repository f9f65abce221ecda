"""Coinbase Developer Platform (CDP) API keys and the JWT check of every private request.

Advanced Trade authenticates each request with ``Authorization: Bearer <JWT>``, signed with
the key's private key and valid for two minutes:

- ES256 (ECDSA P-256, the ``organizations/{org}/apiKeys/{key}`` keys with a PEM ``EC PRIVATE
  KEY`` secret): header ``{"alg": "ES256", "kid": <key name>, "nonce": ...}``, claims ``sub``
  = key name, ``iss`` = ``"cdp"`` or ``"coinbase-cloud"`` (what ccxt sends), ``nbf``/``exp``,
  ``uri`` = ``"<METHOD> <host><path>"``.
- EdDSA (Ed25519, the newer keys whose secret is base64 of 64 bytes: seed then public key):
  header ``{"alg": "EdDSA", ...}``, the URI in ``uris`` (a list).

ccxt derives the URI by removing ``https://`` from the URL, so against a plain-HTTP peer it
signs ``"GET http://127.0.0.1:8080/api/v3/..."``: both that and the scheme-less form are
accepted. Legacy HMAC keys (``CB-ACCESS-*`` headers) are refused, as Advanced Trade refuses
them.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Mapping
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

__all__ = ["JwtVerifier", "new_cdp_key"]

_MAX_LIFETIME_S = 120
_LEEWAY_S = 5
_ISSUERS = ("cdp", "coinbase-cloud")
_AUDIENCES = ("retail_rest_api_proxy", "cdp_service")

PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


def new_cdp_key(kind: Literal["ecdsa", "ed25519"] = "ecdsa") -> tuple[str, str]:
    """Return fresh ``(api_key, api_secret)`` credentials shaped like Coinbase's CDP keys.

    ``"ecdsa"``: name ``organizations/<uuid>/apiKeys/<uuid>`` and a PEM ``EC PRIVATE KEY``
    (ccxt signs ES256). ``"ed25519"``: a UUID name and base64 of seed + public key (ccxt signs
    EdDSA). Give the same pair to the simulator and to ccxt (``apiKey``, ``secret``).
    """
    if kind == "ecdsa":
        ec_key = ec.generate_private_key(ec.SECP256R1())
        pem = ec_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        name = f"organizations/{_uuid()}/apiKeys/{_uuid()}"
        return name, pem.decode()
    if kind == "ed25519":
        ed_key = ed25519.Ed25519PrivateKey.generate()
        seed = ed_key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        public = ed_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return _uuid(), base64.b64encode(seed + public).decode()
    raise ValueError(f"kind must be 'ecdsa' or 'ed25519', not {kind!r}")


def _uuid() -> str:
    raw = secrets.token_hex(16)
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"


def _public_key(api_secret: str) -> tuple[str, PublicKey]:
    """The algorithm and public key of a CDP secret (PEM EC key or base64 Ed25519 seed)."""
    if api_secret.lstrip().startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(api_secret.encode(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ValueError("api_secret: expected a P-256 EC private key (ES256)")
        return "ES256", key.public_key()
    try:
        raw = base64.b64decode(api_secret, validate=True)
    except binascii.Error:
        raise ValueError("api_secret: expected a PEM EC key or base64 Ed25519 key") from None
    if len(raw) != 64:
        raise ValueError("api_secret: a base64 Ed25519 secret holds 64 bytes (seed + public)")
    return "EdDSA", ed25519.Ed25519PrivateKey.from_private_bytes(raw[:32]).public_key()


def _b64url(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class JwtVerifier:
    """Check the bearer JWTs of one CDP key; :meth:`check` returns why a token fails, or ``None``."""

    def __init__(self, api_key: str, api_secret: str) -> None:
        self.api_key = api_key
        self.alg, self._public = _public_key(api_secret)

    def check(
        self, authorization: str, method: str, host: str, path: str, now_s: int
    ) -> str | None:
        """Return ``None`` if ``authorization`` is valid for this request at ``now_s``."""
        scheme, _, token = authorization.partition(" ")
        if scheme != "Bearer" or token.count(".") != 2:
            return "no bearer JWT"
        head_b64, claims_b64, sig_b64 = token.split(".")
        try:
            header: Mapping[str, Any] = json.loads(_b64url(head_b64))
            claims: Mapping[str, Any] = json.loads(_b64url(claims_b64))
            signature = _b64url(sig_b64)
        except (ValueError, binascii.Error):
            return "malformed JWT"
        if header.get("alg") != self.alg or header.get("kid") != self.api_key:
            return "wrong alg or kid"
        if not self._signed(f"{head_b64}.{claims_b64}".encode(), signature):
            return "bad signature"
        if claims.get("sub") != self.api_key or claims.get("iss") not in _ISSUERS:
            return "wrong sub or iss"
        aud = claims.get("aud")
        if aud is not None and not (isinstance(aud, list) and set(aud) & set(_AUDIENCES)):
            return "wrong aud"
        nbf, exp = claims.get("nbf"), claims.get("exp")
        if not isinstance(nbf, int) or not isinstance(exp, int):
            return "nbf/exp missing"
        if exp - nbf > _MAX_LIFETIME_S or nbf > now_s + _LEEWAY_S or exp < now_s:
            return "expired or not yet valid"
        uris = claims.get("uris") if self.alg == "EdDSA" else [claims.get("uri")]
        wanted = {f"{method} {host}{path}", f"{method} http://{host}{path}"}
        if not isinstance(uris, list) or not wanted & {u for u in uris if isinstance(u, str)}:
            return "uri does not match the request"
        return None

    def _signed(self, message: bytes, signature: bytes) -> bool:
        try:
            if isinstance(self._public, ed25519.Ed25519PublicKey):
                self._public.verify(signature, message)
            else:
                if len(signature) != 64:  # JWS ES256: raw r || s, 32 bytes each
                    return False
                r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
                self._public.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return False
        return True
