"""The Noise IK handshake of common/noise.c against an independent
implementation, Debian's python3-dissononce (the Noise Protocol Framework in
Python, its crypto from python3-cryptography), through build/noise_peer:

  1. known answers: with the same static and ephemeral keys, our message 1
     and message 2 are byte for byte dissononce's, and so are the transport
     keys and the handshake hash (IK and IKpsk2);
  2. live handshakes in both roles, with and without psk2, random
     ephemerals: both sides agree on the peer's static key, the payloads,
     the handshake hash, and transport messages sealed by either side open
     on the other (AES-256-GCM, nonce 4 zero bytes + 64-bit big-endian
     counter, section 12.4);
  3. every single-byte change of message 1 (to our responder) and of
     message 2 (to our initiator) is rejected, and so are a wrong psk (at
     message 2: psk2), IK against IKpsk2, a wrong prologue and a wrong
     responder key;
  4. every small-order key noise.c refuses is one python3-cryptography's
     X25519 gets no shared secret from, and it is refused as the
     responder's key and as a message 1's ephemeral.

Without dissononce each test skips, which MP_REQUIRE_ALL=1 turns into a
failure (conftest.py); without build/noise_peer each fails.
"""

import os
import subprocess

import pytest

from conftest import MP_TOOLS

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives import serialization

# Missing, every test skips (a failure under MP_REQUIRE_ALL=1), rather than
# the module: conftest.py turns a test's skip, not a module's, into one.
try:
    from dissononce.cipher.aesgcm import AESGCMCipher
    from dissononce.dh.private import PrivateKey
    from dissononce.dh.x25519.public import PublicKey
    from dissononce.dh.x25519.x25519 import X25519DH
    from dissononce.exceptions.decrypt import DecryptFailedException
    from dissononce.hash.sha256 import SHA256Hash
    from dissononce.processing.handshakepatterns.interactive.IK import IKHandshakePattern
    from dissononce.processing.impl.cipherstate import CipherState
    from dissononce.processing.impl.handshakestate import HandshakeState
    from dissononce.processing.impl.symmetricstate import SymmetricState
    from dissononce.processing.modifiers.psk import PSKPatternModifier
    DISSONONCE_MISSING = None
except ImportError as e:
    DISSONONCE_MISSING = f"python3-dissononce not installed ({e})"
    X25519DH = DecryptFailedException = object

NOISE_PEER = MP_TOOLS / "noise_peer"
PSK = bytes(range(0x40, 0x60))
PROLOGUE = b"mprelay noise test prologue"
PAYLOAD1 = bytes.fromhex("4000000065f1a2b3075bcd15") + b"caps"   # a timestamp and 4 bytes
PAYLOAD2 = b"welcome"


def pub_of(priv):
    return x25519.X25519PrivateKey.from_private_bytes(priv).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)


class FixedDH(X25519DH):
    """dissononce's X25519 whose next ephemeral is a given one."""

    def __init__(self, ephemeral=None):
        super().__init__()
        self.ephemeral = ephemeral

    def generate_keypair(self, privatekey=None):
        if privatekey is None and self.ephemeral is not None:
            privatekey, self.ephemeral = PrivateKey(self.ephemeral), None
        return super().generate_keypair(privatekey)


def dn_handshake(initiator, s_priv, rs_pub=None, psk=None, prologue=PROLOGUE, ephemeral=None):
    dh = FixedDH(ephemeral)
    hs = HandshakeState(SymmetricState(CipherState(AESGCMCipher()), SHA256Hash()), dh)
    pattern = IKHandshakePattern()
    if psk is not None:
        pattern = PSKPatternModifier(2).modify(pattern)
    hs.initialize(pattern, initiator, prologue,
                  s=dh.generate_keypair(PrivateKey(s_priv)),
                  rs=PublicKey(rs_pub) if rs_pub else None,
                  psks=[psk] if psk is not None else None)
    return hs


class Peer:
    """build/noise_peer in one role, line by line."""

    def __init__(self, role, ephemeral=None):
        argv = [str(NOISE_PEER), role] + ([ephemeral.hex()] if ephemeral else [])
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)

    def send(self, value):
        self.p.stdin.write((value.hex() if value else "-") + "\n")
        self.p.stdin.flush()

    def get(self, name):
        line = self.p.stdout.readline().split()
        if not line or line[0] != name:
            self.close()
            return None if line and line[0] == "error" else pytest.fail(f"noise_peer: {line}")
        return b"" if line[1] == "-" else bytes.fromhex(line[1])

    def keys(self):
        return {k: self.get(k) for k in ("i2r", "r2i", "hash")}

    def close(self):
        self.p.stdin.close()
        rc = self.p.wait(timeout=10)
        self.p.stdout.close()
        self.p.stderr.close()
        return rc


def keys_of(hs, cipherstates):
    c1, c2 = cipherstates
    return {"i2r": c1._key, "r2i": c2._key, "hash": hs.symmetricstate.get_handshake_hash()}


@pytest.fixture(autouse=True)
def built():
    if DISSONONCE_MISSING:
        pytest.skip(DISSONONCE_MISSING)
    if not os.access(NOISE_PEER, os.X_OK):
        pytest.fail(f"{NOISE_PEER} not built (make {NOISE_PEER.parent.name}/noise_peer)")


I_PRIV = bytes(range(1, 33))
R_PRIV = bytes(range(101, 133))
I_EPH = bytes(range(201, 233))
R_EPH = bytes([7] * 32)


def ours_as_initiator(psk, prologue=PROLOGUE, rs_pub=None, ephemeral=None):
    peer = Peer("initiator", ephemeral)
    for v in (I_PRIV, rs_pub or pub_of(R_PRIV), psk, prologue, PAYLOAD1):
        peer.send(v)
    return peer, peer.get("msg1")


def ours_as_responder(psk, msg1, prologue=PROLOGUE, ephemeral=None):
    peer = Peer("responder", ephemeral)
    for v in (R_PRIV, psk, prologue, msg1):
        peer.send(v)
    return peer


@pytest.mark.parametrize("psk", [None, PSK], ids=["IK", "IKpsk2"])
def test_known_answers(psk):
    """Same keys, same ephemerals: the same bytes as dissononce, both
    messages, and the same keys and hash."""
    dn_i = dn_handshake(True, I_PRIV, pub_of(R_PRIV), psk, ephemeral=I_EPH)
    dn_r = dn_handshake(False, R_PRIV, psk=psk, ephemeral=R_EPH)
    want1 = bytearray()
    dn_i.write_message(PAYLOAD1, want1)
    assert len(want1) == 96 + len(PAYLOAD1)
    dn_r.read_message(bytes(want1), bytearray())
    want2 = bytearray()
    dn_r_cs = dn_r.write_message(PAYLOAD2, want2)
    dn_i_cs = dn_i.read_message(bytes(want2), bytearray())
    want_keys = keys_of(dn_i, dn_i_cs)
    assert want_keys == keys_of(dn_r, dn_r_cs)

    ini, msg1 = ours_as_initiator(psk, ephemeral=I_EPH)
    assert msg1 == bytes(want1), "our message 1 differs from dissononce's"
    ini.send(bytes(want2))
    assert ini.get("payload") == PAYLOAD2
    assert ini.keys() == want_keys
    assert ini.close() == 0

    res = ours_as_responder(psk, bytes(want1), ephemeral=R_EPH)
    assert res.get("peer") == pub_of(I_PRIV)
    assert res.get("payload") == PAYLOAD1
    res.send(PAYLOAD2)
    assert res.get("msg2") == bytes(want2), "our message 2 differs from dissononce's"
    assert res.keys() == want_keys
    assert res.close() == 0


def transport_both_ways(ours, dn_cs):
    """Sealed by dissononce's CipherStates after Split, opened with our keys
    (AESGCM, nonce 0^32 || counter big-endian), and the other way round."""
    dn_send, dn_recv = dn_cs
    for n in range(3):
        msg = f"datagram {n}".encode()
        ct = dn_send.encrypt_with_ad(b"", msg)
        nonce = b"\0\0\0\0" + n.to_bytes(8, "big")
        assert AESGCM(ours["send_key_of_peer"]).decrypt(nonce, ct, b"") == msg
        back = AESGCM(ours["recv_key_of_peer"]).encrypt(nonce, msg[::-1], b"")
        assert dn_recv.decrypt_with_ad(b"", back) == msg[::-1]


@pytest.mark.parametrize("psk", [None, PSK], ids=["IK", "IKpsk2"])
def test_ours_initiates(psk):
    dn = dn_handshake(False, R_PRIV, psk=psk)
    ini, msg1 = ours_as_initiator(psk)
    payload = bytearray()
    dn.read_message(msg1, payload)
    assert bytes(payload) == PAYLOAD1
    assert dn.rs.data == pub_of(I_PRIV)
    msg2 = bytearray()
    c_i2r, c_r2i = dn.write_message(PAYLOAD2, msg2)
    ini.send(bytes(msg2))
    assert ini.get("payload") == PAYLOAD2
    k = ini.keys()
    assert ini.close() == 0
    assert k["hash"] == dn.symmetricstate.get_handshake_hash()
    # dissononce is the responder: it sends with r2i, receives with i2r.
    transport_both_ways({"send_key_of_peer": k["r2i"], "recv_key_of_peer": k["i2r"]},
                        (c_r2i, c_i2r))


@pytest.mark.parametrize("psk", [None, PSK], ids=["IK", "IKpsk2"])
def test_ours_responds(psk):
    dn = dn_handshake(True, I_PRIV, pub_of(R_PRIV), psk)
    msg1 = bytearray()
    dn.write_message(PAYLOAD1, msg1)
    res = ours_as_responder(psk, bytes(msg1))
    assert res.get("peer") == pub_of(I_PRIV)
    assert res.get("payload") == PAYLOAD1
    res.send(PAYLOAD2)
    msg2 = res.get("msg2")
    k = res.keys()
    assert res.close() == 0
    payload = bytearray()
    c_i2r, c_r2i = dn.read_message(msg2, payload)
    assert bytes(payload) == PAYLOAD2
    assert k["hash"] == dn.symmetricstate.get_handshake_hash()
    transport_both_ways({"send_key_of_peer": k["i2r"], "recv_key_of_peer": k["r2i"]},
                        (c_i2r, c_r2i))


def flips(msg):
    for i in range(len(msg)):
        for bit in (0x01, 0x80):
            bad = bytearray(msg)
            bad[i] ^= bit
            yield i, bytes(bad)


@pytest.mark.parametrize("psk", [None, PSK], ids=["IK", "IKpsk2"])
def test_tampered_message1_rejected(psk):
    dn = dn_handshake(True, I_PRIV, pub_of(R_PRIV), psk)
    msg1 = bytearray()
    dn.write_message(PAYLOAD1, msg1)
    ok = ours_as_responder(psk, bytes(msg1))
    assert ok.get("peer") and ok.get("payload") == PAYLOAD1
    ok.close()
    for i, bad in flips(msg1):
        res = ours_as_responder(psk, bad)
        got = res.get("peer")
        # Flipping e's top bit changes nothing X25519 uses (RFC 7748 masks it),
        # but e goes into h as sent: the payload's tag still fails.
        if got is not None:
            assert res.get("payload") is None, f"message 1 with byte {i} changed accepted"
        assert res.close() == 1, f"message 1 with byte {i} changed accepted"
    for cut in (bytes(msg1[:-1]), bytes(msg1) + b"\0", b""):
        res = ours_as_responder(psk, cut)
        res.get("peer") and res.get("payload")
        assert res.close() == 1, f"message 1 of {len(cut)} bytes accepted"


@pytest.mark.parametrize("psk", [None, PSK], ids=["IK", "IKpsk2"])
def test_tampered_message2_rejected(psk):
    dn = dn_handshake(False, R_PRIV, psk=psk, ephemeral=R_EPH)
    ini, msg1 = ours_as_initiator(psk, ephemeral=I_EPH)
    dn.read_message(msg1, bytearray())
    msg2 = bytearray()
    dn.write_message(PAYLOAD2, msg2)
    ini.send(bytes(msg2))
    assert ini.get("payload") == PAYLOAD2
    ini.keys()
    assert ini.close() == 0
    # Fixed ephemerals: the same message 1 each time, so the same message 2
    # answers it, and each changed copy is tried against a fresh initiator.
    for i, bad in list(flips(msg2)) + [(-1, bytes(msg2[:-1])), (-1, bytes(msg2) + b"\0")]:
        ini, again = ours_as_initiator(psk, ephemeral=I_EPH)
        assert again == msg1
        ini.send(bad)
        assert ini.get("payload") is None, f"message 2 with byte {i} changed accepted"
        assert ini.close() == 1


def test_psk_mismatch_rejected():
    """psk2 is mixed in at the end of message 2: a wrong psk on our
    responder's side makes a message 2 that dissononce's initiator refuses,
    and a message 2 made with another psk is refused by our initiator."""
    dn = dn_handshake(True, I_PRIV, pub_of(R_PRIV), PSK)
    msg1 = bytearray()
    dn.write_message(PAYLOAD1, msg1)
    res = ours_as_responder(bytes([1]) + PSK[1:], bytes(msg1))
    assert res.get("peer") == pub_of(I_PRIV)
    assert res.get("payload") == PAYLOAD1
    res.send(PAYLOAD2)
    msg2 = res.get("msg2")
    res.keys()
    assert res.close() == 0
    with pytest.raises(DecryptFailedException):
        dn.read_message(msg2, bytearray())

    dn = dn_handshake(False, R_PRIV, psk=bytes(32))
    ini, msg1 = ours_as_initiator(PSK)
    dn.read_message(msg1, bytearray())
    msg2 = bytearray()
    dn.write_message(PAYLOAD2, msg2)
    ini.send(bytes(msg2))
    assert ini.get("payload") is None
    assert ini.close() == 1

    # IK responder, IKpsk2 initiator: another protocol name, nothing agrees.
    dn = dn_handshake(True, I_PRIV, pub_of(R_PRIV), PSK)
    msg1 = bytearray()
    dn.write_message(PAYLOAD1, msg1)
    res = ours_as_responder(None, bytes(msg1))
    assert res.get("peer") is None
    assert res.close() == 1


def test_wrong_prologue_and_wrong_responder_key_rejected():
    dn = dn_handshake(True, I_PRIV, pub_of(R_PRIV), None, prologue=b"another prologue")
    msg1 = bytearray()
    dn.write_message(PAYLOAD1, msg1)
    res = ours_as_responder(None, bytes(msg1))
    assert res.get("peer") is None
    assert res.close() == 1
    # Message 1 made for another responder's key.
    dn = dn_handshake(True, I_PRIV, pub_of(bytes([9] * 32)), None)
    msg1 = bytearray()
    dn.write_message(PAYLOAD1, msg1)
    res = ours_as_responder(None, bytes(msg1))
    assert res.get("peer") is None
    assert res.close() == 1
    # Our initiator aimed at another key: dissononce's responder refuses it.
    ini, msg1 = ours_as_initiator(None, rs_pub=pub_of(bytes([9] * 32)))
    dn = dn_handshake(False, R_PRIV)
    with pytest.raises(DecryptFailedException):
        dn.read_message(msg1, bytearray())
    ini.close()


# The small-order points (and p, p+1, ...) common/noise.c refuses, as bytes.
WEAK_KEYS = [bytes(32), bytes([1]) + bytes(31),
             bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
             bytes.fromhex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
             bytes([0xec]) + b"\xff" * 30 + b"\x7f",
             bytes([0xed]) + b"\xff" * 30 + b"\x7f",
             bytes([0xee]) + b"\xff" * 30 + b"\x7f"]


def test_low_order_keys_refused():
    """Each key of noise.c's small-order list (top bit clear and set) gives
    python3-cryptography's X25519 no shared secret (it refuses the all-zero
    result), and our initiator refuses it as the responder's key; as the
    ephemeral of a message 1, our responder refuses the message."""
    dn = dn_handshake(True, I_PRIV, pub_of(R_PRIV), None)
    genuine = bytearray()
    dn.write_message(PAYLOAD1, genuine)
    for weak in WEAK_KEYS + [w[:31] + bytes([w[31] | 0x80]) for w in WEAK_KEYS]:
        with pytest.raises(ValueError):
            x25519.X25519PrivateKey.from_private_bytes(I_PRIV).exchange(
                x25519.X25519PublicKey.from_public_bytes(weak))
        peer = Peer("initiator")
        for v in (I_PRIV, weak, None, PROLOGUE, PAYLOAD1):
            peer.send(v)
        assert peer.get("msg1") is None, weak.hex()
        assert peer.close() == 1
        res = ours_as_responder(None, weak + bytes(genuine[32:]))
        assert res.get("peer") is None, weak.hex()
        assert res.close() == 1
