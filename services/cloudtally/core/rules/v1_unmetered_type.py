"""V1: A resource type cloudtally does not meter, on a VM inventory knows: shown apart, never
counted as over-billing."""

from __future__ import annotations

from cloudtally.core.rules.base import Rule

RULE = Rule("V1", "unverifiable", "warning")  # name: catalogue rule.V1
