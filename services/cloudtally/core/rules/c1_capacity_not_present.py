"""C1: A charge for capacity the VM does not have (a VM billed for 16 vCPU whose guest sees
8): over-billing, found from observed vs allocated capacity (:mod:`.allocation`)."""

from __future__ import annotations

from cloudtally.core.rules.base import Rule

RULE = Rule("C1", "capacity_not_present", "error")  # name: catalogue rule.C1
