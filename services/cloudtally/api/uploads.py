"""Bounded multipart uploads (invoices, fault reports, surveys): the body is refused past a
byte limit before it is parsed, and the file is copied to a file of our own (issue #12)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from cloudtally.api.errors import ApiError, Words

FORM_SLACK = 1 << 20  # multipart headers and the small fields around the file


class TooLarge(Exception):
    pass


async def _limited(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    n = 0
    async for chunk in request.stream():
        n += len(chunk)
        if n > limit:
            raise TooLarge
        yield chunk


def too_large(limit: int) -> HTTPException:
    return HTTPException(
        413,
        f"the invoice is larger than the limit of {limit:,} bytes "
        "(CLOUDTALLY_INVOICE_MAX_BYTES); split it or raise the limit",
    )


async def bounded_form(
    request: Request,
    limit: int,
    *,
    what: str,  # error.what.<what>: invoice | fault_report
    max_files: int,
    max_fields: int,
) -> Any:
    """The multipart form of an upload, refused past ``limit`` bytes (declared or read)."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise ApiError(415, "error.not_multipart", what=Words(f"error.what.{what}"))
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + FORM_SLACK:
        raise too_large(limit)  # refused before a byte of the body is read
    parser = MultiPartParser(
        request.headers,
        _limited(request, limit + FORM_SLACK),
        max_files=max_files,
        max_fields=max_fields,
    )
    try:
        return await parser.parse()
    except TooLarge:
        raise too_large(limit) from None
    except MultiPartException as exc:
        raise ApiError(400, "error.bad_multipart", error=exc.message) from None


def save_upload(upload: UploadFile, folder: Path, limit: int) -> tuple[Path, int]:
    """Copy the uploaded file to a file of our own, refusing it past ``limit`` bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="invoice-", suffix=".upload", dir=folder)
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            upload.file.seek(0)
            while chunk := upload.file.read(1 << 20):
                size += len(chunk)
                if size > limit:
                    raise TooLarge
                out.write(chunk)
    except BaseException:
        os.unlink(name)
        raise
    return Path(name), size


def form_field(form: Any, name: str) -> str | None:
    value = form.get(name)
    if value is None:
        return None
    if isinstance(value, UploadFile):  # a mapping sent as a file part
        data = value.file.read(1 << 20)
        return data.decode("utf-8-sig", errors="replace")
    return str(value).strip() or None
