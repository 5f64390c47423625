"""SSH private key files: what can be told about one without its passphrase.

The agent runs unattended and loads its key itself (paramiko, and OpenSSH for restic's SFTP with
BatchMode), so a key protected by a passphrase cannot be used; it is recognised before loading so
the copy is an error that says so, instead of the TypeError cryptography raises.
"""

from __future__ import annotations

import base64
import re

_OPENSSH = re.compile(rb"-----BEGIN OPENSSH PRIVATE KEY-----(.*?)-----END OPENSSH PRIVATE KEY-----", re.S)
_MAGIC = b"openssh-key-v1\0"


def encrypted_key(path: str) -> bool:
    """Given a private key file, say whether it is protected by a passphrase: an OpenSSH key whose
    cipher is not "none", or a PEM key marked encrypted. False when unreadable or unknown (loading
    it then names the real problem)."""
    try:
        with open(path, "rb") as handle:
            text = handle.read(1 << 20)
    except OSError:
        return False
    if b"Proc-Type: 4,ENCRYPTED" in text or b"BEGIN ENCRYPTED PRIVATE KEY" in text:
        return True
    match = _OPENSSH.search(text)
    if not match:
        return False
    try:
        blob = base64.b64decode(b"".join(match.group(1).split()))
    except ValueError:
        return False
    if not blob.startswith(_MAGIC) or len(blob) < len(_MAGIC) + 4:
        return False
    # The header: magic, then the cipher name as an SSH string (uint32 length, bytes); "none" = no passphrase.
    length = int.from_bytes(blob[len(_MAGIC):len(_MAGIC) + 4], "big")
    return blob[len(_MAGIC) + 4:len(_MAGIC) + 4 + length] != b"none"
