"""Ed25519 signing of package manifests (cryptography).

The operation's signing key lives in OPERATION_DIR/keys/signing-ed25519.pem (PKCS#8 PEM,
mode 0600), made on first use; --signing-key names another (PEM or OpenSSH private key; a
passphrase, if any, from $HAVEN_SIGNING_KEY_PASSPHRASE). Ed25519 signatures are
deterministic, so the same manifest and key give the same manifest.sig.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from haven.refer.errors import KeyFileError

KEY_DIR = "keys"
KEY_NAME = "signing-ed25519.pem"
PUB_NAME = "signing-ed25519.pub.pem"
SIG_FORMAT = "haven-manifest-signature/1"
PASSPHRASE_ENV = "HAVEN_SIGNING_KEY_PASSPHRASE"


def key_id(public: Ed25519PublicKey) -> str:
    """First 16 hex digits of the SHA-256 of the raw public key."""
    return hashlib.sha256(raw_public(public)).hexdigest()[:16]


def raw_public(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True)
class Signer:
    private: Ed25519PrivateKey
    path: Path
    created: bool

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @property
    def key_id(self) -> str:
        return key_id(self.public)

    def private_bytes(self) -> bytes:
        """Raw 32-byte seed, to hand the key to worker processes."""
        return self.private.private_bytes(serialization.Encoding.Raw,
                                          serialization.PrivateFormat.Raw,
                                          serialization.NoEncryption())


def load_private(path: Path) -> Ed25519PrivateKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read the signing key {path}: {exc}") from exc
    env = os.environ.get(PASSPHRASE_ENV)
    password = env.encode() if env else None
    try:
        if b"OPENSSH PRIVATE KEY" in data:
            key = serialization.load_ssh_private_key(data, password)
        else:
            key = serialization.load_pem_private_key(data, password)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path} is not a readable private key ({exc}); for an encrypted "
                           f"key set ${PASSPHRASE_ENV}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} is not an Ed25519 key; make one with "
                           "'openssl genpkey -algorithm ed25519'")
    return key


def operation_signer(op_dir: Path, signing_key: Path | None = None) -> Signer:
    """The signing key: --signing-key, else the operation's own (created on first use)."""
    if signing_key is not None:
        return Signer(load_private(signing_key), signing_key, False)
    path = op_dir / KEY_DIR / KEY_NAME
    if path.is_file():
        return Signer(load_private(path), path, False)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    (path.parent / PUB_NAME).write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return Signer(key, path, True)


def signature_document(private: Ed25519PrivateKey, manifest: bytes) -> bytes:
    """manifest.sig: the Ed25519 signature of the manifest's exact bytes, with the public key."""
    public = private.public_key()
    doc = {"format": SIG_FORMAT, "algorithm": "Ed25519", "signed_file": "manifest.json",
           "key_id": key_id(public),
           "public_key": base64.b64encode(raw_public(public)).decode(),
           "signature": base64.b64encode(private.sign(manifest)).decode()}
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


def load_public(path: Path) -> Ed25519PublicKey:
    """A public key to pin: PEM, OpenSSH (`ssh-ed25519 …`) or base64 of the raw 32 bytes."""
    try:
        data = path.read_bytes().strip()
    except OSError as exc:
        raise KeyFileError(f"cannot read the public key {path}: {exc}") from exc
    try:
        if data.startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(data)
        elif data.startswith(b"ssh-"):
            key = serialization.load_ssh_public_key(data)
        else:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(data, validate=True))
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path} is not a readable public key ({exc})") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path} is not an Ed25519 public key")
    return key


def check_signature(manifest: bytes, sig_doc: bytes,
                    pinned: Ed25519PublicKey | None = None) -> tuple[list[str], str | None]:
    """Problems with manifest.sig (empty when it holds), and the signer's key id."""
    try:
        doc = json.loads(sig_doc)
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(doc["public_key"]))
        signature = base64.b64decode(doc["signature"])
    except (ValueError, KeyError, TypeError) as exc:
        return [f"manifest.sig is unreadable ({exc.__class__.__name__}: {exc})"], None
    problems = []
    kid = key_id(public)
    if doc.get("algorithm") != "Ed25519":
        problems.append(f"manifest.sig names algorithm {doc.get('algorithm')!r}, not Ed25519")
    if pinned is not None and raw_public(pinned) != raw_public(public):
        problems.append(f"signed by key {kid}, not by the expected key {key_id(pinned)}")
    try:
        public.verify(signature, manifest)
    except InvalidSignature:
        problems.append("manifest.sig does not match manifest.json (the manifest or the "
                        "signature was changed)")
    return problems, kid
