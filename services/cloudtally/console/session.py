"""Console sign-in: a signed session cookie over a pluggable identity source.

The cookie holds ``{"src", "sub", "exp", "csrf"}`` signed with HMAC-SHA256. The
source resolves the subject to a :class:`Principal` on *every* request, so a token
removed from the tokens file ends its sessions at once:

- ``token``: ``sub`` is the sha256 of a bearer token from the tokens file (the
  token itself is never stored in the cookie).
- ``oidc`` (ready, not wired): ``sub`` would be the IdP's ``iss|sub``; an
  :class:`IdentitySource` maps the ID token's claims to a role and bureau
  (docs/console.md, "Single sign-on").

Unsafe requests (POST, …) authenticated by the cookie must carry the session's
CSRF value in ``X-CSRF-Token`` (htmx sends it from the page's meta tag); the
cookie is ``HttpOnly`` and ``SameSite=Lax``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from fastapi import Request

from cloudtally.core.access import Principal, TokenEntry, authenticate, hash_token

COOKIE = "ct_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class IdentitySource(Protocol):
    """Resolves a session subject to a principal (None: the identity is gone)."""

    name: str

    def principal(self, subject: str) -> Principal | None: ...


@dataclass
class TokenSource:
    """Subjects are token digests from the tokens file (re-read when it changes)."""

    tokens_file: Path | None
    name: str = "token"

    def entries(self) -> list[TokenEntry]:
        from cloudtally.api.auth import tokens_file

        path = self.tokens_file
        if not path:
            return []
        # The API's one view of the file: the last valid set keeps serving a bad edit.
        return tokens_file(path).current()

    def sign_in(self, token: str) -> tuple[str, Principal] | None:
        principal = authenticate(token.strip(), self.entries())
        return (hash_token(token.strip()), principal) if principal else None

    def principal(self, subject: str) -> Principal | None:
        found = None
        for entry in self.entries():
            if hmac.compare_digest(entry.sha256, subject):
                found = entry.principal
        return found


def _secret(settings: Any) -> bytes:
    if settings.console_secret:
        return str(settings.console_secret).encode()
    path = Path(settings.data_dir) / "console-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip().encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Session:
    source: str
    subject: str
    expires: int
    csrf: str


def encode(settings: Any, session: Session) -> str:
    body = _b64(
        json.dumps(
            {"src": session.source, "sub": session.subject, "exp": session.expires,
             "csrf": session.csrf},
            separators=(",", ":"),
        ).encode()
    )  # fmt: skip
    sig = _b64(hmac.new(_secret(settings), body.encode(), hashlib.sha256).digest())
    return f"{body}.{sig}"


def decode(settings: Any, value: str | None, now: float | None = None) -> Session | None:
    """The session in a cookie value, or None when absent, forged or expired."""
    if not value or "." not in value:
        return None
    body, sig = value.rsplit(".", 1)
    want = _b64(hmac.new(_secret(settings), body.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(sig, want):
        return None
    try:
        doc = json.loads(_unb64(body))
        session = Session(str(doc["src"]), str(doc["sub"]), int(doc["exp"]), str(doc["csrf"]))
    except (ValueError, KeyError, TypeError):
        return None
    return session if session.expires > (now or time.time()) else None


def new_session(settings: Any, source: str, subject: str) -> Session:
    hours = float(getattr(settings, "console_session_hours", 12.0))
    return Session(source, subject, int(time.time() + hours * 3600), secrets.token_urlsafe(16))


def sources(settings: Any) -> dict[str, IdentitySource]:
    """The identity sources sessions may name. An OIDC source is added here."""
    return {"token": TokenSource(settings.api_tokens_file)}


def session_principal(request: Request) -> tuple[Session, Principal] | None:
    """The signed-in principal of this request's cookie, CSRF-checked for unsafe methods."""
    settings = request.app.state.settings
    session = decode(settings, request.cookies.get(COOKIE))
    if session is None:
        return None
    if request.method not in SAFE_METHODS and not hmac.compare_digest(
        request.headers.get(CSRF_HEADER, ""), session.csrf
    ):
        return None
    source = sources(settings).get(session.source)
    principal = source.principal(session.subject) if source else None
    return (session, principal) if principal else None
