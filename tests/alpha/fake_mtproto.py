"""A minimal MTProto 2.0 server on 127.0.0.1 for the Telegram connector's fetch tests.

It speaks the real protocol to the real ``telethon.TelegramClient``: the TCP "full" transport
(length, sequence number, CRC32), the unencrypted auth-key exchange (``req_pq_multi``, RSA-
encrypted ``p_q_inner_data``, Diffie-Hellman over RFC 3526's 2048-bit group, ``dh_gen_ok``),
then the encrypted envelope (msg_key from SHA-256, AES-256-IGE, the session id and salt checks,
``bad_server_salt``, ``new_session_created``, containers, gzip, ``msgs_ack``, ``rpc_result`` and
``rpc_error``). Requests are parsed and answers serialized by telethon's own TL layer, so the
peer and the client agree on layer ``LAYER`` byte for byte.

The server's RSA key is made per peer; the client trusts it through ``telethon.crypto.rsa``'s
key table (:meth:`MTProtoPeer.trust`), as it trusts Telegram's own keys. The RPCs are the few
a login and a channel download use: ``invokeWithLayer(initConnection(help.getConfig))``,
``users.getUsers(self)``, ``updates.getState``, ``auth.sendCode``/``auth.signIn`` (code
``12345``), ``contacts.resolveUsername`` and ``messages.getHistory`` over channels made from
recorded ``Message.to_dict()`` payloads. Anything else answers ``rpc_error`` 400 and is
recorded, so a test sees what the client asked for. ``flood`` makes a method answer
``FLOOD_WAIT_<s>`` first.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import hashlib
import os
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import rsa
from telethon import functions, helpers, types
from telethon.crypto import AES
from telethon.crypto import rsa as telethon_rsa
from telethon.crypto.authkey import AuthKey
from telethon.extensions import BinaryReader
from telethon.tl.alltlobjects import LAYER
from telethon.tl.tlobject import TLObject

__all__ = ["Channel", "MTProtoPeer", "channel_from_payload", "serve_mtproto"]

# RFC 3526 group 14: a 2048-bit safe prime, generator 2 (Telegram's own prime is another one)
DH_PRIME = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3"
    "404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5C"
    "B6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A6"
    "9163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18"
    "217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497"
    "CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF",
    16,
)
PQ = (1229236607, 1402015859)  # the example pair of Telegram's auth-key documentation
LOGIN_CODE = "12345"

_CONTAINER = 0x73F1F8DC
_GZIP = 0x3072CFA1
_RPC_RESULT = 0xF35C6D01
_VECTOR = 0x1CB5C415


@dataclass
class Channel:
    """A public channel the peer serves: its messages (TL objects), newest last or any order."""

    id: int
    username: str
    title: str
    access_hash: int = 0x5EED
    messages: list[Any] = field(default_factory=list)

    def tl(self) -> types.Channel:
        return types.Channel(
            id=self.id,
            title=self.title,
            photo=types.ChatPhotoEmpty(),
            date=datetime(2020, 1, 1, tzinfo=UTC),
            broadcast=True,
            access_hash=self.access_hash,
            username=self.username,
        )


def channel_from_payload(username: str, channel_id: int, payload: list[dict[str, Any]]) -> Channel:
    """Return a channel whose messages are the recorded ``Message.to_dict()`` rows as TL objects."""
    peer = types.PeerChannel(channel_id)
    out: list[Any] = []
    for m in payload:
        date = datetime.fromisoformat(m["date"])
        if m["_"] == "MessageService":
            out.append(
                types.MessageService(
                    id=m["id"], peer_id=peer, date=date, action=types.MessageActionPinMessage()
                )
            )
            continue
        replies = m.get("replies")
        out.append(
            types.Message(
                id=m["id"],
                peer_id=peer,
                date=date,
                message=m.get("message") or "",
                post=bool(m.get("post")),
                views=m.get("views"),
                forwards=m.get("forwards"),
                replies=None
                if not replies
                else types.MessageReplies(
                    replies=replies["replies"], replies_pts=replies.get("replies_pts", 0)
                ),
                edit_date=datetime.fromisoformat(m["edit_date"]) if m.get("edit_date") else None,
                post_author=m.get("post_author"),
            )
        )
    return Channel(channel_id, username, username.replace("_", " ").title(), messages=out)


@functools.cache
def _server_rsa_key() -> tuple[rsa.PublicKey, rsa.PrivateKey]:
    """Return one 2048-bit key per test run (pure-Python prime search takes seconds on a busy box)."""
    try:
        from cryptography.hazmat.primitives.asymmetric import rsa as crsa
    except ImportError:  # pragma: no cover - cryptography comes with the dev tools
        return rsa.newkeys(2048, poolsize=1)
    nums = crsa.generate_private_key(public_exponent=65537, key_size=2048).private_numbers()
    pub = nums.public_numbers
    priv = rsa.PrivateKey(pub.n, pub.e, nums.d, nums.p, nums.q)
    return rsa.PublicKey(pub.n, pub.e), priv


def _vector(items: list[TLObject]) -> bytes:
    return struct.pack("<Ii", _VECTOR, len(items)) + b"".join(bytes(i) for i in items)


class _Conn:
    """One TCP connection: the transport's counters and the session's state."""

    def __init__(self) -> None:
        self.recv_seq = 0
        self.send_seq = 0
        self.auth_key: bytes | None = None
        self.session_id: int | None = None
        # the handshake in flight: nonces, new_nonce, the server's DH secret
        self.hs: dict[str, Any] = {}


class MTProtoPeer:
    """The server's state; see the module docstring. ``requests`` lists each RPC's name."""

    def __init__(self) -> None:
        self.pub, self.priv = _server_rsa_key()
        self.fingerprint = telethon_rsa._compute_fingerprint(self.pub)
        self.host, self.port, self.dc_id = "127.0.0.1", 0, 2
        self.channels: dict[str, Channel] = {}
        self.keys: dict[int, bytes] = {}  # auth key id -> key (negotiated here)
        self.authorized: set[int] = set()  # key ids logged in
        self.salt = struct.unpack("<q", os.urandom(8))[0]
        self.flood: dict[str, list[int]] = {}
        self.requests: list[str] = []
        self.history_calls: list[dict[str, int]] = []
        self.acks: list[int] = []
        self.errors: list[str] = []
        self.handshakes = 0
        self._last_msg_id = 0
        self._lock = threading.Lock()
        self.user = types.User(
            id=777000111, is_self=True, access_hash=42, first_name="Grekko", username="grekko_r"
        )

    # -- what a test configures ---------------------------------------------------------------

    def add_channel(self, channel: Channel) -> None:
        self.channels[channel.username.lower()] = channel

    def trust(self) -> None:
        """Let telethon encrypt the handshake to this peer's RSA key (Telegram's stay trusted)."""
        telethon_rsa.add_key(self.pub.save_pkcs1().decode(), old=False)

    def untrust(self) -> None:
        telethon_rsa._server_keys.pop(self.fingerprint, None)

    def authorize_key(self, key: bytes) -> None:
        """Register an auth key as logged in (what a session string minted elsewhere carries)."""
        key_id = AuthKey(key).key_id
        self.keys[key_id] = key
        self.authorized.add(key_id)

    # -- transport ----------------------------------------------------------------------------

    async def serve_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Conn()
        try:
            while True:
                head = await reader.readexactly(8)
                length, seq = struct.unpack("<ii", head)
                rest = await reader.readexactly(length - 8)
                body, crc = rest[:-4], struct.unpack("<I", rest[-4:])[0]
                if crc != zlib.crc32(head + body) or seq != conn.recv_seq:
                    return  # a broken transport frame: Telegram closes the connection
                conn.recv_seq += 1
                for out in self._packet(conn, body):
                    frame = struct.pack("<ii", len(out) + 12, conn.send_seq) + out
                    conn.send_seq += 1
                    writer.write(frame + struct.pack("<I", zlib.crc32(frame)))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the client left, or the peer is stopping: end this connection quietly
        finally:
            writer.close()

    def _packet(self, conn: _Conn, body: bytes) -> list[bytes]:
        key_id = struct.unpack("<Q", body[:8])[0]
        if key_id == 0:
            (length,) = struct.unpack("<i", body[16:20])
            answer = self._handshake(conn, body[20 : 20 + length])
            return [struct.pack("<qqi", 0, self._msg_id(), len(answer)) + answer]
        key = self.keys.get(key_id)
        if key is None:
            return [struct.pack("<i", -404)]  # Telegram's "auth key not found" transport error
        conn.auth_key = key
        return self._encrypted(conn, key, body)

    def _msg_id(self) -> int:
        with self._lock:
            new = max(self._last_msg_id + 4, int(time.time()) << 32) | 1  # odd: from the server
            self._last_msg_id = new
            return new

    # -- the auth-key exchange (core.telegram.org/mtproto/auth_key) ---------------------------

    def _handshake(self, conn: _Conn, data: bytes) -> bytes:
        req = BinaryReader(data).tgread_object()
        hs = conn.hs
        if isinstance(req, functions.ReqPqMultiRequest):
            hs.clear()
            hs["nonce"] = req.nonce
            hs["server_nonce"] = int.from_bytes(os.urandom(16), "big", signed=True)
            pq = telethon_rsa.get_byte_array(PQ[0] * PQ[1])
            return bytes(types.ResPQ(req.nonce, hs["server_nonce"], pq, [self.fingerprint]))
        if isinstance(req, functions.ReqDHParamsRequest):
            if req.public_key_fingerprint != self.fingerprint or req.nonce != hs.get("nonce"):
                raise ValueError("req_DH_params: unknown key or nonce")
            plain = rsa.core.decrypt_int(
                int.from_bytes(req.encrypted_data, "big"), self.priv.d, self.priv.n
            ).to_bytes(255, "big")
            inner = BinaryReader(plain[20:]).tgread_object()
            if hashlib.sha1(bytes(inner)).digest() != plain[:20]:
                raise ValueError("p_q_inner_data: SHA-1 mismatch")
            hs["new_nonce"] = inner.new_nonce
            hs["a"] = int.from_bytes(os.urandom(256), "big") % (DH_PRIME - 2) + 1
            g_a = pow(2, hs["a"], DH_PRIME)
            answer = bytes(
                types.ServerDHInnerData(
                    nonce=req.nonce,
                    server_nonce=hs["server_nonce"],
                    g=2,
                    dh_prime=telethon_rsa.get_byte_array(DH_PRIME),
                    g_a=telethon_rsa.get_byte_array(g_a),
                    server_time=int(time.time()),
                )
            )
            hashed = hashlib.sha1(answer).digest() + answer
            hashed += os.urandom(-len(hashed) % 16)
            key, iv = helpers.generate_key_data_from_nonce(hs["server_nonce"], hs["new_nonce"])
            return bytes(
                types.ServerDHParamsOk(
                    req.nonce, hs["server_nonce"], AES.encrypt_ige(hashed, key, iv)
                )
            )
        if isinstance(req, functions.SetClientDHParamsRequest):
            key, iv = helpers.generate_key_data_from_nonce(hs["server_nonce"], hs["new_nonce"])
            plain = AES.decrypt_ige(req.encrypted_data, key, iv)
            inner = BinaryReader(plain[20:]).tgread_object()
            g_b = int.from_bytes(inner.g_b, "big")
            auth = AuthKey(telethon_rsa.get_byte_array(pow(g_b, hs["a"], DH_PRIME)))
            self.keys[auth.key_id] = auth.key
            self.handshakes += 1
            return bytes(
                types.DhGenOk(
                    req.nonce, hs["server_nonce"], auth.calc_new_nonce_hash(hs["new_nonce"], 1)
                )
            )
        raise ValueError(f"unexpected unencrypted message {type(req).__name__}")

    # -- the encrypted envelope (core.telegram.org/mtproto/description) -----------------------

    def _encrypted(self, conn: _Conn, key: bytes, body: bytes) -> list[bytes]:
        msg_key = body[8:24]
        aes_key, aes_iv = _calc_key(key, msg_key, client=True)
        plain = AES.decrypt_ige(body[24:], aes_key, aes_iv)
        if hashlib.sha256(key[88:120] + plain).digest()[8:24] != msg_key:
            return [struct.pack("<i", -404)]
        salt, session_id, msg_id, seq_no, length = struct.unpack("<qqqii", plain[:32])
        out: list[bytes] = []
        if session_id != conn.session_id:
            conn.session_id = session_id
            out.append(types.NewSessionCreated(msg_id, session_id, self.salt)._bytes())
        if salt != self.salt:
            out.append(types.BadServerSalt(msg_id, seq_no, 48, self.salt)._bytes())
        else:
            out.extend(self._message(conn, msg_id, plain[32 : 32 + length]))
        return [self._seal(conn, key, m) for m in out]

    def _seal(self, conn: _Conn, key: bytes, obj: bytes) -> bytes:
        data = struct.pack("<qqqii", self.salt, conn.session_id, self._msg_id(), 1, len(obj)) + obj
        data += os.urandom(-(len(data) + 12) % 16 + 12)
        msg_key = hashlib.sha256(key[96:128] + data).digest()[8:24]
        aes_key, aes_iv = _calc_key(key, msg_key, client=False)
        return (
            struct.pack("<Q", AuthKey(key).key_id)
            + msg_key
            + AES.encrypt_ige(data, aes_key, aes_iv)
        )

    def _message(self, conn: _Conn, msg_id: int, body: bytes) -> list[bytes]:
        (cid,) = struct.unpack("<I", body[:4])
        if cid == _CONTAINER:
            out: list[bytes] = []
            (count,) = struct.unpack("<i", body[4:8])
            pos = 8
            for _ in range(count):
                inner_id, _seq, size = struct.unpack("<qii", body[pos : pos + 16])
                out.extend(self._message(conn, inner_id, body[pos + 16 : pos + 16 + size]))
                pos += 16 + size
            return out
        if cid == _GZIP:
            packed = BinaryReader(body[4:]).tgread_bytes()
            return self._message(conn, msg_id, gzip.decompress(packed))
        req = BinaryReader(body).tgread_object()
        if isinstance(req, types.MsgsAck):
            self.acks.extend(req.msg_ids)
            return []
        if isinstance(req, functions.PingRequest | functions.PingDelayDisconnectRequest):
            return [bytes(types.Pong(msg_id, req.ping_id))]
        try:
            result = self._rpc(conn, req)
            answer = result if isinstance(result, bytes) else bytes(result)
        except _RpcFail as fail:
            answer = bytes(types.RpcError(fail.code, fail.message))
        except Exception as exc:  # a bug in the peer or its data: the client sees a 500, no hang
            self.errors.append(repr(exc))
            answer = bytes(types.RpcError(500, "INTERNAL_PEER_ERROR"))
        return [
            struct.pack("<Iq", _RPC_RESULT, msg_id) + answer,
            bytes(types.MsgsAck([msg_id])),
        ]

    # -- the RPCs -----------------------------------------------------------------------------

    def _rpc(self, conn: _Conn, req: Any) -> TLObject | bytes:  # noqa: C901 - the RPC table
        while isinstance(
            req,
            functions.InvokeWithLayerRequest
            | functions.InitConnectionRequest
            | functions.InvokeWithoutUpdatesRequest
            | functions.InvokeAfterMsgRequest,
        ):
            if isinstance(req, functions.InvokeWithLayerRequest) and req.layer != LAYER:
                raise _RpcFail(400, "LAYER_INVALID")
            req = req.query
        name = type(req).__name__
        with self._lock:
            self.requests.append(name)
            waits = self.flood.get(name)
            wait = waits.pop(0) if waits else None
        if wait is not None:
            raise _RpcFail(420, f"FLOOD_WAIT_{wait}")
        assert conn.auth_key is not None
        logged_in = AuthKey(conn.auth_key).key_id in self.authorized
        if isinstance(req, functions.help.GetConfigRequest):
            return self._config()
        if isinstance(req, functions.auth.SendCodeRequest):
            return types.auth.SentCode(
                type=types.auth.SentCodeTypeApp(length=len(LOGIN_CODE)),
                phone_code_hash="c0de",
            )
        if isinstance(req, functions.auth.SignInRequest):
            if req.phone_code != LOGIN_CODE:
                raise _RpcFail(400, "PHONE_CODE_INVALID")
            self.authorized.add(AuthKey(conn.auth_key).key_id)
            return types.auth.Authorization(user=self.user)
        if not logged_in:
            raise _RpcFail(401, "AUTH_KEY_UNREGISTERED")
        if isinstance(req, functions.users.GetUsersRequest):
            return _vector([self.user])
        if isinstance(req, functions.updates.GetStateRequest):
            return types.updates.State(pts=1, qts=0, date=datetime.now(UTC), seq=1, unread_count=0)
        if isinstance(req, functions.updates.GetDifferenceRequest):
            return types.updates.DifferenceEmpty(date=datetime.now(UTC), seq=1)
        if isinstance(req, functions.contacts.ResolveUsernameRequest):
            channel = self.channels.get(req.username.lower())
            if channel is None:
                raise _RpcFail(400, "USERNAME_NOT_OCCUPIED")
            return types.contacts.ResolvedPeer(
                peer=types.PeerChannel(channel.id), chats=[channel.tl()], users=[]
            )
        if isinstance(req, functions.messages.GetHistoryRequest):
            return self._history(req)
        raise _RpcFail(400, f"METHOD_NOT_SERVED_BY_PEER_{name}")

    def _config(self) -> types.Config:
        now = datetime.now(UTC)
        return types.Config(
            date=now,
            expires=now,
            test_mode=False,
            this_dc=self.dc_id,
            dc_options=[types.DcOption(self.dc_id, self.host, self.port)],
            dc_txt_domain_name="localhost",
            chat_size_max=200,
            megagroup_size_max=200000,
            forwarded_count_max=100,
            online_update_period_ms=210000,
            offline_blur_timeout_ms=5000,
            offline_idle_timeout_ms=30000,
            online_cloud_timeout_ms=300000,
            notify_cloud_delay_ms=30000,
            notify_default_delay_ms=1500,
            push_chat_period_ms=60000,
            push_chat_limit=2,
            edit_time_limit=172800,
            revoke_time_limit=2147483647,
            revoke_pm_time_limit=2147483647,
            rating_e_decay=2419200,
            stickers_recent_limit=200,
            channels_read_media_period=604800,
            call_receive_timeout_ms=20000,
            call_ring_timeout_ms=90000,
            call_connect_timeout_ms=30000,
            call_packet_timeout_ms=10000,
            me_url_prefix="https://t.me/",
            caption_length_max=1024,
            message_length_max=4096,
            webfile_dc_id=self.dc_id,
        )

    def _history(self, req: functions.messages.GetHistoryRequest) -> TLObject:
        peer = req.peer
        channel = next(
            (c for c in self.channels.values() if c.id == getattr(peer, "channel_id", None)), None
        )
        if channel is None or getattr(peer, "access_hash", None) != channel.access_hash:
            raise _RpcFail(400, "CHANNEL_INVALID")
        with self._lock:
            self.history_calls.append(
                {"offset_id": req.offset_id, "min_id": req.min_id, "limit": req.limit}
            )
        picked = sorted(
            (
                m
                for m in channel.messages
                if m.id > req.min_id
                and (not req.offset_id or m.id < req.offset_id)
                and (not req.max_id or m.id < req.max_id)
            ),
            key=lambda m: -m.id,
        )[req.add_offset : req.add_offset + req.limit]
        return types.messages.ChannelMessages(
            pts=1,
            count=len(channel.messages),
            messages=picked,
            topics=[],
            chats=[channel.tl()],
            users=[],
        )


class _RpcFail(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _calc_key(auth_key: bytes, msg_key: bytes, *, client: bool) -> tuple[bytes, bytes]:
    x = 0 if client else 8
    a = hashlib.sha256(msg_key + auth_key[x : x + 36]).digest()
    b = hashlib.sha256(auth_key[x + 40 : x + 76] + msg_key).digest()
    return a[:8] + b[8:24] + a[24:32], b[:8] + a[8:24] + b[24:32]


@contextmanager
def serve_mtproto() -> Iterator[MTProtoPeer]:
    """Run a peer on 127.0.0.1 (a free port) in its own thread and event loop; trust its key."""
    peer = MTProtoPeer()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def main() -> None:
        server = await asyncio.start_server(peer.serve_conn, "127.0.0.1", 0)
        peer.port = server.sockets[0].getsockname()[1]
        holder["server"] = server
        ready.set()
        async with server:
            await server.serve_forever()

    def run() -> None:
        asyncio.set_event_loop(loop)
        with suppress(asyncio.CancelledError):
            loop.run_until_complete(main())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(30)
    peer.trust()
    try:
        yield peer
    finally:
        peer.untrust()

        def stop() -> None:
            for task in asyncio.all_tasks(loop):
                task.cancel()

        loop.call_soon_threadsafe(stop)
        thread.join(30)
        loop.close()
