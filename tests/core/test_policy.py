"""The tariff/policy file: the example loads, bad files fail with exact paths and reasons,
and the committed JSON Schema agrees with the pydantic model."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest
import yaml

from cloudtally.core.policy import PolicyError, json_document, json_schema, load_policy

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "services/cloudtally/policy/example.yaml"
SCHEMA = ROOT / "schemas/policy.schema.json"
SH = dt.timezone(dt.timedelta(hours=8))


def schema_errors(text: str) -> list[str]:
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    return [e.json_path for e in validator.iter_errors(json_document(text))]


def test_example_loads_and_matches_seed_terms() -> None:
    p = load_policy(EXAMPLE)
    assert p.name == "hainan-example" and len(p.versions) == 2
    v = p.versions[0]
    assert {prov.id for prov in v.providers} == {"provider-a", "provider-b", "provider-c"}
    assert all(prov.tender_discount == Decimal("0.55") for prov in v.providers)
    assert v.low_utilization is not None and v.low_utilization.basis == "daytime_weighted"
    modes = {prov.volume_tiers.mode for prov in v.providers if prov.volume_tiers}
    assert modes == {"whole", "graduated"}
    assert p.budget(2023) is not None and p.budget(2023).programme == Decimal("132832600.00")
    assert v.calendar.business_hours == (("09:00", "12:00"), ("13:30", "18:00"))
    assert schema_errors(EXAMPLE.read_text()) == []


def test_committed_schema_is_generated_from_the_model() -> None:
    assert json.loads(SCHEMA.read_text()) == json.loads(json.dumps(json_schema()))


def test_version_lookup_at_hour_granularity() -> None:
    p = load_policy(EXAMPLE)
    assert p.version_at(dt.datetime(2023, 3, 31, 23, 59, tzinfo=SH)).version == "2023.1"
    assert p.version_at(dt.datetime(2023, 4, 1, 0, 0, tzinfo=SH)).version == "2023.2"
    # 2023-04-01 00:00 Shanghai is 2023-03-31 16:00 UTC.
    assert p.version_at(dt.datetime(2023, 3, 31, 16, tzinfo=dt.UTC)).version == "2023.2"
    spans = p.versions_between(
        dt.datetime(2023, 3, 15, tzinfo=SH), dt.datetime(2023, 4, 15, tzinfo=SH)
    )
    assert [(v.version, b - a) for v, a, b in spans] == [
        ("2023.1", 17 * 86400),
        ("2023.2", 14 * 86400),
    ]
    with pytest.raises(LookupError):
        p.version_at(dt.datetime(2022, 9, 30, 12, tzinfo=SH))
    assert p.fiscal_year_of(dt.date(2022, 10, 1)) == 2023
    assert p.fiscal_year_of(dt.date(2023, 9, 30)) == 2023
    assert p.fiscal_year_range(2023) == (dt.date(2022, 10, 1), dt.date(2023, 10, 1))


def _mutate(path: list[str | int], value: object) -> str:
    doc = yaml.safe_load(EXAMPLE.read_text())
    node = doc
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return yaml.safe_dump(doc, allow_unicode=True)


_DELETE = object()

# (mutation, exact message from the loader, the schema rejects it too)
BAD = [
    (
        ["versions", 1, "providers", 0, "pools", 1, "prices", "vcpu_month"], -3,
        "versions[1].providers[0].pools[1].prices.vcpu_month: must be > 0", True,
    ),
    (
        ["versions", 0, "providers", 2, "tender_discount"], 1.5,
        "versions[0].providers[2].tender_discount: must be <= 1", True,
    ),
    (
        ["versions", 0, "providers", 0, "discount"], 0.5,
        "versions[0].providers[0].discount: unknown key", True,
    ),
    (
        ["versions", 0, "providers", 1, "volume_tiers", "mode"], "stepped",
        "versions[0].providers[1].volume_tiers.mode: must be 'whole' or 'graduated'", True,
    ),
    (
        ["versions", 0, "low_utilization", "price_cut"], _DELETE,
        "versions[0].low_utilization.price_cut: required", True,
    ),
    (
        ["versions", 1, "effective_from"], dt.date(2022, 10, 1),
        "versions[1].effective_from: 2022-10-01 must be after versions[0].effective_from "
        "2022-10-01 (versions sorted, no overlap)", False,
    ),
    (
        ["versions", 0, "providers", 0, "volume_tiers", "tiers", 1, "above"], 100,
        "versions[0].providers[0].volume_tiers.tiers[1].above: must be greater than "
        "tiers[0].above (3000000.0)", False,  # the float of the re-dumped YAML
    ),
    (
        ["versions", 0, "providers", 0, "pools", 0, "prices", "vcpu_hour"], 0.05,
        "versions[0].providers[0].pools[0].prices.vcpu_month: give vcpu_hour or vcpu_month, "
        "not both", False,
    ),
    (
        ["versions", 0, "providers", 0, "pools", 1, "id"], "pool-1",
        "versions[0].providers[0].pools[1].id: 'pool-1' is duplicated", False,
    ),
    (
        ["versions", 0, "calendar", "off_hours_weight"], 2,
        "versions[0].calendar.off_hours_weight: must be <= 1", True,
    ),
    (
        ["versions", 0, "providers", 2, "pools", 0, "prices", "vcpu_month"], 12.1234567,
        "versions[0].providers[2].pools[0].prices.vcpu_month: at most 6 decimal places", False,
    ),
]  # fmt: skip


@pytest.mark.parametrize(("path", "value", "message", "schema_rejects"), BAD)
def test_bad_files_fail_with_exact_path_and_reason(
    path: list[str | int], value: object, message: str, schema_rejects: bool
) -> None:
    text = _mutate(path, value)
    with pytest.raises(PolicyError) as info:
        load_policy(text)
    assert info.value.errors == [message]
    if schema_rejects:
        assert schema_errors(text), "the JSON Schema must reject what the model rejects"


def test_not_yaml_and_not_a_mapping() -> None:
    with pytest.raises(PolicyError, match=r"^\(file\): not valid YAML"):
        load_policy("a: [\n")
    with pytest.raises(PolicyError, match=r"^\(file\): the policy must be a mapping$"):
        load_policy("- 1\n- 2\n")


def test_decimals_stay_exact() -> None:
    p = load_policy(EXAMPLE)
    price = p.versions[1].providers[0].pools[0].prices.price("storage_archive")
    assert price == (Decimal("0.12"), "month")
    assert str(p.versions[0].providers[2].pools[0].tender_discount) == "0.50"
