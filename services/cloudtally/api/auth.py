"""Token file loading and the FastAPI dependencies that enforce roles."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import yaml
from fastapi import Depends, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cloudtally.api.errors import ApiError
from cloudtally.core.access import Principal, TokenEntry, authenticate, hash_token
from cloudtally.metrics import TOKENS_FILE_ERRORS, TOKENS_FILE_LOADED, TOKENS_FILE_VALID

log = logging.getLogger("cloudtally.api.auth")

bearer = HTTPBearer(auto_error=False, description="Bearer token from the tokens file")


def load_tokens(path: Path) -> list[TokenEntry]:
    """Tokens file: ``tokens: [{name, role, bureau?, token_sha256 | token}]``."""
    doc = yaml.safe_load(path.read_text()) or {}
    entries = []
    for i, item in enumerate(doc.get("tokens") or []):
        where = f"{path}: tokens[{i}]"
        try:
            digest = item.get("token_sha256") or hash_token(item["token"])
            principal = Principal(item["name"], item["role"], item.get("bureau"))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{where}: {exc}") from None
        if principal.role not in ("admin", "auditor", "bureau"):
            raise ValueError(f"{where}: unknown role {principal.role!r}")
        entries.append(TokenEntry(digest, principal))
    return entries


def write_demo_tokens(path: Path, bureaus: list[str]) -> dict[str, str]:
    """Create a tokens file with fresh random tokens (embedded demo); return name → token."""
    plain: dict[str, str] = {}
    items: list[dict[str, Any]] = []
    for name, role, bureau in [("admin", "admin", None), ("auditor", "auditor", None)] + [
        (f"bureau:{b}", "bureau", b) for b in bureaus
    ]:
        token = secrets.token_urlsafe(24)
        plain[name] = token
        item: dict[str, Any] = {"name": name, "role": role, "token_sha256": hash_token(token)}
        if bureau:
            item["bureau"] = bureau
        items.append(item)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"tokens": items}, sort_keys=False))
    return plain


class TokensFile:
    """The tokens file as last read correctly.

    A file that fails to load (bad YAML, a bad entry, gone) never takes the API
    down: the last valid entries keep serving, the error is logged loudly at
    every change, ``/readyz`` shows it and ``cloudtally_tokens_file_valid`` is 0
    until a correct file is written. Reloaded when its mtime or size changes.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: list[TokenEntry] | None = None  # None: never loaded correctly
        self.error: str | None = None
        self.loaded_at: float | None = None
        self._seen: tuple[float, int] | None = None
        self._lock = threading.Lock()

    def current(self) -> list[TokenEntry]:
        try:
            st = self.path.stat()
            seen: tuple[float, int] | None = (st.st_mtime, st.st_size)
        except OSError:
            seen = None
        with self._lock:
            if seen != self._seen or (seen is None and self.error is None):
                self._seen = seen
                self._reload()
            return self.entries or []

    def _reload(self) -> None:
        try:
            if not self.path.exists():
                raise ValueError("the file does not exist")
            entries = load_tokens(self.path)
        except (OSError, ValueError, yaml.YAMLError, AttributeError, TypeError) as exc:
            self.error = f"{self.path}: {exc}".replace("\n", " ")[:500]
            TOKENS_FILE_VALID.set(0)
            TOKENS_FILE_ERRORS.inc()
            kept = "no valid token set: every request is refused"
            if self.entries is not None:
                kept = f"still serving the last valid file ({len(self.entries)} tokens)"
            log.error("TOKENS FILE NOT LOADED — %s; %s", self.error, kept)
            return
        self.entries, self.error, self.loaded_at = entries, None, time.time()
        TOKENS_FILE_VALID.set(1)
        TOKENS_FILE_LOADED.set(self.loaded_at)
        log.info("tokens file %s loaded: %d tokens", self.path, len(entries))

    def status(self) -> dict[str, Any]:
        return {
            "file": str(self.path),
            "valid": self.error is None and self.entries is not None,
            "serving": len(self.entries) if self.entries is not None else 0,
            "error": self.error,
        }


_files: dict[str, TokensFile] = {}
_files_lock = threading.Lock()


def tokens_file(path: Path) -> TokensFile:
    with _files_lock:
        f = _files.get(str(path))
        if f is None:
            f = _files[str(path)] = TokensFile(path)
        return f


def current_tokens(settings: Any) -> list[TokenEntry]:
    path = settings.api_tokens_file
    return tokens_file(path).current() if path else []


def current_principal(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    settings = request.app.state.settings
    if not settings.api_auth:
        return Principal("anonymous-admin", "admin")
    if creds is None:
        # The console's signed session cookie (CSRF-checked for writes) stands in for the
        # bearer token, so its pages can download exports and upload through the API.
        from cloudtally.console.session import session_principal

        signed_in = session_principal(request)
        if signed_in is not None:
            return signed_in[1]
        raise ApiError(
            status.HTTP_401_UNAUTHORIZED,
            "error.missing_token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    principal = authenticate(creds.credentials, current_tokens(settings))
    if principal is None:
        raise ApiError(
            status.HTTP_401_UNAUTHORIZED,
            "error.unknown_token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_read_all(principal: CurrentPrincipal) -> Principal:
    if not principal.can_read_all:
        raise ApiError(status.HTTP_403_FORBIDDEN, "error.read_all_role")
    return principal


def require_admin(principal: CurrentPrincipal) -> Principal:
    if not principal.can_write:
        raise ApiError(status.HTTP_403_FORBIDDEN, "error.admin_role")
    return principal


ReadAllPrincipal = Annotated[Principal, Depends(require_read_all)]
AdminPrincipal = Annotated[Principal, Depends(require_admin)]
