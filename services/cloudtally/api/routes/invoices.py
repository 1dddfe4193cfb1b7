"""Invoices routes (being built; see the issue)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/invoices", tags=["invoices"])
