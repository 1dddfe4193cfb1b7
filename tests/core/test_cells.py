"""Formula-like text is neutralised for CSV; plain signed numbers are not."""

from __future__ import annotations

import pytest

from cloudtally.core.cells import neutralise


@pytest.mark.parametrize(
    "text", ["=1+1", "+cmd", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "\n=1", "＝1", "=-12.5"]
)
def test_formula_like_text_gets_an_apostrophe(text: str) -> None:
    assert neutralise(text) == "'" + text


@pytest.mark.parametrize("text", ["-12.50", "+3", "-0.5", "12", "", "-", "a=b", "edu-1", "-.5"])
def test_numbers_and_ordinary_text_stay(text: str) -> None:
    assert neutralise(text) == text
