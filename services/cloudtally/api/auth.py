"""Token file loading and the FastAPI dependencies that enforce roles."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

import yaml
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cloudtally.core.access import Principal, TokenEntry, authenticate, hash_token

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


@lru_cache(maxsize=8)
def _cached_tokens(path: str, mtime: float) -> list[TokenEntry]:
    return load_tokens(Path(path))


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
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    path = settings.api_tokens_file
    entries = _cached_tokens(str(path), path.stat().st_mtime) if path and path.exists() else []
    principal = authenticate(creds.credentials, entries)
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "unknown token", headers={"WWW-Authenticate": "Bearer"}
        )
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_read_all(principal: CurrentPrincipal) -> Principal:
    if not principal.can_read_all:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "admin or auditor role required")
    return principal


def require_admin(principal: CurrentPrincipal) -> Principal:
    if not principal.can_write:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "admin role required")
    return principal


ReadAllPrincipal = Annotated[Principal, Depends(require_read_all)]
AdminPrincipal = Annotated[Principal, Depends(require_admin)]
