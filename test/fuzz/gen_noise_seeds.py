#!/usr/bin/python3
"""Writes the seed corpus of fuzz_noise (test/fuzz/corpus/noise/): genuine
messages 1 and 2 of Noise_IK and Noise_IKpsk2_25519_AESGCM_SHA256 under the
harness's fixed keys and ephemerals, made by python3-dissononce (an
independent implementation), each behind the harness's mode byte (bit 0
psk, bit 1 message 2; see fuzz_noise.c).

Run from anywhere: /usr/bin/python3 test/fuzz/gen_noise_seeds.py"""
import hashlib
import os

from dissononce.cipher.aesgcm import AESGCMCipher
from dissononce.dh.private import PrivateKey
from dissononce.dh.x25519.x25519 import X25519DH
from dissononce.hash.sha256 import SHA256Hash
from dissononce.processing.handshakepatterns.interactive.IK import IKHandshakePattern
from dissononce.processing.impl.cipherstate import CipherState
from dissononce.processing.impl.handshakestate import HandshakeState
from dissononce.processing.impl.symmetricstate import SymmetricState
from dissononce.processing.modifiers.psk import PSKPatternModifier

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "noise")
I_PRIV, R_PRIV = bytes(range(1, 33)), bytes(range(101, 133))
I_EPH, R_EPH = bytes(range(201, 233)), bytes([7] * 32)
PSK = bytes(range(0x40, 0x60))
PROLOGUE = b"mprelay fuzz"


class FixedDH(X25519DH):
    def __init__(self, ephemeral):
        super().__init__()
        self.ephemeral = ephemeral

    def generate_keypair(self, privatekey=None):
        if privatekey is None:
            privatekey = PrivateKey(self.ephemeral)
        return super().generate_keypair(privatekey)


def state(initiator, psk):
    dh = FixedDH(I_EPH if initiator else R_EPH)
    hs = HandshakeState(SymmetricState(CipherState(AESGCMCipher()), SHA256Hash()), dh)
    pattern = PSKPatternModifier(2).modify(IKHandshakePattern()) if psk else IKHandshakePattern()
    r_static = dh.generate_keypair(PrivateKey(R_PRIV))
    hs.initialize(pattern, initiator, PROLOGUE,
                  s=dh.generate_keypair(PrivateKey(I_PRIV)) if initiator else r_static,
                  rs=r_static.public if initiator else None,
                  psks=[PSK] if psk else None)
    return hs


def main():
    os.makedirs(OUT, exist_ok=True)
    for k in (0, 1):
        i, r = state(True, k), state(False, k)
        m1, m2 = bytearray(), bytearray()
        i.write_message(b"0123456789ab", m1)
        r.read_message(bytes(m1), bytearray())
        r.write_message(b"ok", m2)
        i.read_message(bytes(m2), bytearray())
        for seed in (bytes([k]) + m1, bytes([2 | k]) + m2):
            with open(os.path.join(OUT, hashlib.sha1(seed).hexdigest()), "wb") as f:
                f.write(seed)


if __name__ == "__main__":
    main()
