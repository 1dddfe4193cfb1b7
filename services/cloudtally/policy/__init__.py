"""The tariff/policy in force: the configured file, or the packaged example."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from cloudtally.core.policy import Policy, load_policy


def example_policy_text() -> str:
    """The packaged example tariff (prices are EXAMPLES modelled on the seeds)."""
    return (resources.files("cloudtally.policy") / "example.yaml").read_text(encoding="utf-8")


def configured_policy(path: Path | None) -> Policy:
    """Load ``path`` (settings.policy_file) or, without one, the packaged example."""
    return load_policy(path) if path else load_policy(example_policy_text())
