"""Sign-in: a client certificate proven once over mutual TLS is exchanged for a short-lived signed token.

The token names the certificate's holder, role and district and when it expires; it is an HMAC over those
fields with the dashboard's secret, so the browser can carry it in a cookie but cannot change it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from security.pki import Role, read_district, read_name, read_role

IG_ROLES = frozenset({Role.IG_OFFICER, Role.COUNTY_IG_OFFICER})
SIGN_IN_ROLES = frozenset({Role.ANALYST, *IG_ROLES})
COOKIE = "lsi_session"


class SignInError(ValueError):
    """A certificate or token that does not sign anyone in, with the reason."""


@dataclass(frozen=True)
class User:
    """Who is signed in, as their certificate says, and until when (Unix seconds)."""

    name: str
    role: str
    district: str | None
    expires: int

    @property
    def is_ig(self) -> bool:
        """An IG officer (district or county) may see budgets by analyst and purpose, and the audit."""
        return self.role in IG_ROLES


def user_from_certificate(cert_pem: bytes, now: int, minutes: int) -> User:
    """The user a verified client certificate names (SignInError for roles that do not read results)."""
    role = read_role(cert_pem)
    if role not in SIGN_IN_ROLES:
        raise SignInError(f"a {role.value} certificate does not sign in to the dashboard (analysts and IG officers do)")
    return User(read_name(cert_pem), role.value, read_district(cert_pem), now + 60 * minutes)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_token(secret: bytes, user: User) -> str:
    """The user as `payload.signature`, both URL-safe base64."""
    payload = json.dumps(asdict(user), sort_keys=True, separators=(",", ":")).encode()
    return f"{_b64(payload)}.{_b64(hmac.new(secret, payload, hashlib.sha256).digest())}"


def read_token(secret: bytes, token: str, now: int) -> User:
    """The user a token names, if it is ours, unchanged and unexpired (SignInError otherwise)."""
    try:
        payload_text, signature = token.split(".")
        payload = _unb64(payload_text)
        good = hmac.compare_digest(_unb64(signature), hmac.new(secret, payload, hashlib.sha256).digest())
    except (ValueError, TypeError):
        raise SignInError("the sign-in token is malformed; run `lsi dashboard login` again") from None
    if not good:
        raise SignInError("the sign-in token was not issued by this dashboard; run `lsi dashboard login` again")
    user = User(**json.loads(payload))
    if user.expires <= now:
        raise SignInError("the sign-in token has expired; run `lsi dashboard login` again")
    return user


def load_or_make_secret(path: Path) -> bytes:
    """The token key, made (0600) on first use; restarting the dashboard keeps sessions valid."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32))
    secret = path.read_bytes()
    if len(secret) < 32:
        raise ValueError(f"{path}: the token key is shorter than 32 bytes; delete it to make a new one")
    return secret
