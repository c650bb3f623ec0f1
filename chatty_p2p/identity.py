"""A device's key pair and certificate, and the id derived from them.

The device id is the SHA-256 of the DER certificate. Peers learn it from mDNS
and check it against the certificate presented in TLS, so nothing but the key
itself can claim an id. The certificate's validity runs from 2000 to 9999 on
purpose: clocks on a LAN disagree, and trust comes from the pinned hash, not
from dates or a CA.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from chatty_p2p import portable
from chatty_p2p.errors import ChattyError

KEY_FILE = "device-key.pem"
CERT_FILE = "device-cert.pem"


def fingerprint(cert_der: bytes) -> str:
    """The device id for a certificate: lowercase hex SHA-256 of its DER form."""
    return hashlib.sha256(cert_der).hexdigest()


def format_fingerprint(device_id: str) -> str:
    """Groups of four for reading aloud: ``ab12 cd34 …``."""
    return " ".join(device_id[i : i + 4] for i in range(0, len(device_id), 4))


def short_id(device_id: str) -> str:
    return device_id[:8]


@dataclass(frozen=True)
class Identity:
    key_path: Path
    cert_path: Path
    cert_der: bytes

    @property
    def device_id(self) -> str:
        return fingerprint(self.cert_der)

    @classmethod
    def load_or_create(cls, directory: Path) -> Identity:
        """Load the identity in ``directory``, creating it on first start."""
        key_path, cert_path = directory / KEY_FILE, directory / CERT_FILE
        try:
            if not key_path.exists():
                _create(key_path, cert_path)
            # The standard library reads the PEM: ``cryptography`` (tens of milliseconds
            # to import) is needed only to make a key, once per device.
            cert_der = ssl.PEM_cert_to_DER_cert(cert_path.read_text("ascii"))
        except (OSError, ValueError) as exc:
            raise ChattyError(f"cannot load the device identity in {directory}: {exc}") from exc
        return cls(key_path, cert_path, cert_der)


def _create(key_path: Path, cert_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "chatty device")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC))
        .not_valid_after(datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=datetime.UTC))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    key_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Created 0600 from the first byte: never readable by others, not even briefly.
    # Windows keeps only a read-only bit of a mode: there the key is as private as the
    # data dir's ACL makes it (under the user's profile: the user and the system).
    tmp = key_path.with_suffix(".tmp")
    fd = portable.open_nofollow(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key_pem)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    os.replace(tmp, key_path)
