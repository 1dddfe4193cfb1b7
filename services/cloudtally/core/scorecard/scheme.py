"""The evaluation scheme file: indicators, weights, rule texts and grade bands, versioned.

A version applies from ``from_fiscal_year`` until the next version's year, like a
tariff version: a scorecard of a past year is computed by the scheme that was in
force then. Every indicator names the rule that measures it (``measure``, a key of
:data:`cloudtally.core.scorecard.EVALUATORS`; ``manual`` for documents) and that
rule's ``params``, validated on load, so a typo in a threshold fails at load, not
in a report.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cloudtally.core.policy import PolicyError, _path, _reason, _strip_model_path, parse_yaml
from cloudtally.core.scorecard import EVALUATORS

SCHEMA: Literal["cloudtally.scorecard/1"] = "cloudtally.scorecard/1"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Indicator(_Strict):
    code: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,47}$")]
    level1: str  # 一级指标
    level2: str  # 二级指标
    name: str  # 三级指标 (Chinese, as in the seed)
    name_en: str
    weight: Annotated[Decimal, Field(ge=-100, le=100)]  # negative: a deduction (逆向指标)
    description: str = ""  # 指标说明
    rule: str  # 评分标准, as written
    measure: str = "manual"
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_measure(self) -> Indicator:
        module = EVALUATORS.get(self.measure)
        if module is None:
            raise ValueError(f"unknown measure {self.measure!r}; use one of {sorted(EVALUATORS)}")
        module.Params.model_validate(self.params)
        if self.weight < 0 and self.measure != "manual":
            raise ValueError("a negative weight (deduction) is a manual indicator")
        return self

    def parsed_params(self) -> Any:
        return EVALUATORS[self.measure].Params.model_validate(self.params)


class GradeBand(_Strict):
    at_least: Decimal
    grade: str  # 优 良 中 差
    grade_en: str


class SchemeVersion(_Strict):
    version: str
    from_fiscal_year: Annotated[int, Field(ge=2000, le=2100)]
    title: str = "绩效评价指标评分表"
    indicators: Annotated[list[Indicator], Field(min_length=1)]
    grades: Annotated[list[GradeBand], Field(min_length=1)]

    @field_validator("indicators")
    @classmethod
    def _unique(cls, items: list[Indicator]) -> list[Indicator]:
        seen: set[str] = set()
        for i, item in enumerate(items):
            if item.code in seen:
                raise ValueError(f"@[{i}].code: {item.code!r} is duplicated")
            seen.add(item.code)
        return items

    @field_validator("grades")
    @classmethod
    def _descending(cls, bands: list[GradeBand]) -> list[GradeBand]:
        bounds = [b.at_least for b in bands]
        if bounds != sorted(bounds, reverse=True) or len(set(bounds)) != len(bounds):
            raise ValueError("grades must be strictly descending by at_least")
        return bands

    @property
    def full_marks(self) -> Decimal:
        return sum((i.weight for i in self.indicators if i.weight > 0), Decimal(0))

    def indicator(self, code: str) -> Indicator | None:
        return next((i for i in self.indicators if i.code == code), None)


class Scheme(_Strict):
    schema_: Literal["cloudtally.scorecard/1"] = Field(SCHEMA, alias="schema")
    name: str
    versions: Annotated[list[SchemeVersion], Field(min_length=1)]
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("versions")
    @classmethod
    def _ordered(cls, versions: list[SchemeVersion]) -> list[SchemeVersion]:
        years = [v.from_fiscal_year for v in versions]
        if years != sorted(set(years)):
            raise ValueError("versions must be in ascending from_fiscal_year, one per year")
        return versions

    def version_for(self, fiscal_year: int) -> SchemeVersion:
        """The version in force for a fiscal year (the first one for earlier years)."""
        ok = [v for v in self.versions if v.from_fiscal_year <= fiscal_year]
        return ok[-1] if ok else self.versions[0]


def load_scheme(path_or_text: str | Path) -> Scheme:
    """Parse and validate a scheme file; raise :class:`PolicyError` with ``path: reason``."""
    text = (
        path_or_text.read_text(encoding="utf-8") if isinstance(path_or_text, Path) else path_or_text
    )
    try:
        return Scheme.model_validate(parse_yaml(text))
    except ValidationError as exc:
        raise PolicyError(
            [f"{_path(_strip_model_path(e['loc']))}: {_reason(e)}" for e in exc.errors()]
        ) from None
