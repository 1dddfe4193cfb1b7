"""The tariff/policy in force: the configured file, or the packaged example."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

from cloudtally.core.policy import Policy, load_policy
from cloudtally.core.scorecard.scheme import Scheme, load_scheme


def example_policy_text() -> str:
    """The packaged example tariff (prices are EXAMPLES modelled on the seeds)."""
    return (resources.files("cloudtally.policy") / "example.yaml").read_text(encoding="utf-8")


def configured_policy(path: Path | None) -> Policy:
    """Load ``path`` (settings.policy_file) or, without one, the packaged example."""
    return load_policy(path) if path else load_policy(example_policy_text())


@lru_cache(maxsize=4)
def _load(path: str | None, mtime: float) -> Policy:
    return configured_policy(Path(path) if path else None)


def current_policy(path: Path | None) -> Policy:
    """Like :func:`configured_policy`, reloaded when the file changes (by mtime)."""
    if path is None:
        return _load(None, 0.0)
    return _load(str(path), path.stat().st_mtime)


def scorecard_scheme(path: Path | None) -> Scheme:
    """The evaluation scheme: ``path`` (settings.scorecard_file) or the packaged one."""
    if path is not None:
        return load_scheme(path)
    text = (resources.files("cloudtally.policy") / "scorecard.yaml").read_text(encoding="utf-8")
    return load_scheme(text)
