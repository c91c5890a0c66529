"""The site's Ed25519 key: signs recording chain heads so a third party can tell the chain
was written by this site and not rewritten later.

The private key stays under the data dir (`keys/site-ed25519.pem`, mode 0600), created on
first start; on a site of several ingest workers every worker is given the same file
(`recording.key_file`). The public key is written beside the recordings (`site-key.pub.pem`)
and published by the relay at GET /api/recordings/site-key.pem, and it is what a court's
expert verifies with: `openssl pkeyutl -verify -pubin -inkey site-key.pub.pem -rawin ...`.
A signature signs the exact bytes of one chain line, which names the hash of the line before
it: one signature vouches for the whole chain up to that line.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from outputs.recording.chain import PUBLIC_KEY_FILE, Entry, iso


class SiteKey:
    def __init__(self, private: Ed25519PrivateKey):
        self._private = private
        self.public = private.public_key()
        self.fingerprint = fingerprint(self.public)

    @classmethod
    def load_or_create(cls, path: Path) -> SiteKey:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
            temp = path.with_suffix(f".{os.getpid()}.tmp")
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
                f.flush()
                os.fsync(f.fileno())
            with contextlib.suppress(FileExistsError):  # two processes starting at once: the first one wins
                os.link(temp, path)
            temp.unlink()
        return cls(serialization.load_pem_private_key(path.read_bytes(), password=None))

    def public_pem(self) -> bytes:
        return public_pem(self.public)

    def publish(self, recordings_dir: Path) -> None:
        """Write the public key beside the recordings (for offline verification of the directory)."""
        recordings_dir.mkdir(parents=True, exist_ok=True)
        target = recordings_dir / PUBLIC_KEY_FILE
        if not target.exists() or target.read_bytes() != self.public_pem():
            temp = target.with_suffix(f".{os.getpid()}.tmp")
            temp.write_bytes(self.public_pem())
            os.replace(temp, target)

    def sign_line(self, entry: Entry, now: float) -> bytes:
        """The signatures.jsonl line for a chain head."""
        signature = self._private.sign(entry.line)
        return json.dumps({"seq": entry.seq, "entry_sha256": entry.hash, "signed_at": iso(now), "key": self.fingerprint,
                           "signature": base64.b64encode(signature).decode()}, sort_keys=True, separators=(",", ":")).encode()


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def fingerprint(key: Ed25519PublicKey) -> str:
    """SHA-256 of the raw 32-byte public key, in hex: `openssl pkey -pubin -in K -outform DER | tail -c 32 | sha256sum`."""
    return hashlib.sha256(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)).hexdigest()


def load_public(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def signature_valid(key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True
