"""The cryptographic pieces of secure aggregation: key agreement, key derivation, mask expansion.

All primitives come from the ``cryptography`` package: X25519 for the pairwise agreements,
HKDF-SHA256 to turn a shared secret into a key bound to its purpose and round, AES-128 in
counter mode as the pseudo-random generator that expands a 16-byte seed into a mask vector
(AES-CTR keystream is indistinguishable from random, and runs at memory speed with AES-NI),
and AES-GCM to encrypt the Shamir shares one site sends another through the aggregator.
"""

from __future__ import annotations

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

SEED_BYTES = 16
KEY_BYTES = 32
# CTR mode's initial counter block; each seed is used for exactly one expansion, so a fixed
# nonce never repeats a keystream.
_NONCE = bytes(16)


def new_private_key() -> X25519PrivateKey:
    return X25519PrivateKey.generate()


def public_bytes(key: X25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def agree(own: X25519PrivateKey, peer_public: bytes, length: int, info: bytes) -> bytes:
    """A key both ends derive alike: HKDF over the X25519 shared secret, bound to ``info``."""
    shared = own.exchange(X25519PublicKey.from_public_bytes(peer_public))
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(shared)


def expand_mask(seed: bytes, length: int) -> np.ndarray:
    """``length`` pseudo-random uint32 values from a 16-byte seed (AES-128-CTR keystream)."""
    encryptor = Cipher(algorithms.AES(seed), modes.CTR(_NONCE)).encryptor()
    stream = encryptor.update(bytes(4 * length)) + encryptor.finalize()
    return np.frombuffer(stream, dtype="<u4").astype(np.uint32, copy=False)


def derive_private_key(seed: bytes) -> X25519PrivateKey:
    """An X25519 private key from a 16-byte seed, so a 16-byte Shamir share can carry the key."""
    raw = HKDF(
        algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=b"smartfed-secagg mask key"
    ).derive(seed)
    return X25519PrivateKey.from_private_bytes(raw)
