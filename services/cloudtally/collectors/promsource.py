"""Prometheus source files: which PromQL gives which cloudtally metric, per VM.

A source file names the server, the step, the label that carries the VM id and,
per metric, the PromQL. Presets fill in the queries for node_exporter (inside
guests) and libvirt_exporter (on hypervisors); a file overrides any of them.
``{vm}`` in a query is the VM-id label, ``{rate}`` the rate window.

    source: dc1                      # heartbeats, watermark and samples carry "prometheus:dc1"
    server: http://prometheus.example:9090
    preset: node_exporter
    step: 60                         # seconds (or "1m")
    vm_label: instance
    vm_id_regex: '([^:]+)(:\\d+)?'   # optional: group 1 of a full match is the VM id
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

# Prometheus refuses query_range answers over 11,000 points per series.
PROMETHEUS_MAX_POINTS = 11_000

METRICS = ("cpu_pct", "mem_pct", "disk_used_gb", "vcpu", "mem_gb")
_PSEUDO = "tmpfs|ramfs|squashfs|devtmpfs|autofs|fuse.lxcfs|nsfs|proc|sysfs|overlay"

# Availability evidence (docs/availability.md): a VM that does not answer must yield no
# CPU/memory sample at that step, so that, while the collector's heartbeat vouches for
# the window, the silence is downtime. A stored sample needs both CPU and memory, and the
# memory query's instant selectors go stale at the first failed scrape (measured with a
# real Prometheus 2.42: tests/evaluation/test_availability_prometheus.py); the explicit
# `up == 0` guard keeps that true for queries that use range functions only (rate() over
# a window answers for up to the window after the target died). The libvirt queries
# drop domains that are not running (either exporter's state metric; `unless` keeps
# everything when neither metric exists).
NODE_ANSWERS = " unless on({vm}) (up == 0)"
LIBVIRT_RUNNING = (
    " unless on({vm}) (libvirt_domain_info_state != 1)"  # 0 inactive, 1 active, 2 paused
    " unless on({vm}) (libvirt_domain_state_code > 2)"  # virDomainState: 1 running, 2 blocked
)

PRESETS: dict[str, dict[str, dict[str, str]]] = {
    "node_exporter": {
        "cpu_pct": {
            "query": '100 * (1 - sum by ({vm}) (rate(node_cpu_seconds_total{mode=~"idle|iowait"}'
            '[{rate}])) / count by ({vm}) (node_cpu_seconds_total{mode="idle"}))' + NODE_ANSWERS
        },
        "mem_pct": {
            "query": "100 * (1 - sum by ({vm}) (node_memory_MemAvailable_bytes)"
            " / sum by ({vm}) (node_memory_MemTotal_bytes))" + NODE_ANSWERS
        },
        "disk_used_gb": {
            "query": 'max by ({vm}, mountpoint) ((node_filesystem_size_bytes{fstype!~"'
            + _PSEUDO
            + '"} - node_filesystem_free_bytes{fstype!~"'
            + _PSEUDO
            + '"}) / 1073741824)',
            "disk_label": "mountpoint",
        },
        "vcpu": {"query": 'count by ({vm}) (node_cpu_seconds_total{mode="idle"})'},
        "mem_gb": {"query": "sum by ({vm}) (node_memory_MemTotal_bytes) / 1073741824"},
    },
    # Metric names of prometheus-libvirt-exporter; the VM id is the libvirt domain name.
    "libvirt_exporter": {
        "cpu_pct": {
            "query": "100 * sum by ({vm}) (rate(libvirt_domain_info_cpu_time_seconds_total"
            "[{rate}])) / sum by ({vm}) (libvirt_domain_info_virtual_cpus)" + LIBVIRT_RUNNING
        },
        "mem_pct": {
            "query": "100 * (1 - sum by ({vm}) (libvirt_domain_memory_stats_usable_bytes)"
            " / sum by ({vm}) (libvirt_domain_memory_stats_available_bytes))" + LIBVIRT_RUNNING
        },
        "vcpu": {"query": "sum by ({vm}) (libvirt_domain_info_virtual_cpus)"},
        "mem_gb": {
            "query": "sum by ({vm}) (libvirt_domain_info_maximum_memory_bytes) / 1073741824"
        },
    },
}
PRESET_VM_LABEL = {"node_exporter": "instance", "libvirt_exporter": "domain"}


class MetricQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1)
    disk_label: str | None = None  # disk_used_gb: the label that names the filesystem


def _seconds(value: object) -> int:
    """60, "60", "60s", "5m", "1h" -> seconds."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    m = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", str(value))
    if not m:
        raise ValueError(f"not a duration: {value!r} (use seconds or 30s / 5m / 1h)")
    return int(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


class PromSource(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")
    server: str = Field(pattern=r"^https?://")
    preset: Literal["node_exporter", "libvirt_exporter"] | None = None
    step: int = Field(60, ge=1)
    rate_window: int = Field(300, ge=1)
    vm_label: str | None = None
    vm_id_regex: str | None = None
    max_points: int = Field(10_000, ge=2, le=PROMETHEUS_MAX_POINTS)
    delay: int = Field(60, ge=0)  # follow: stay this far behind now (scrapes land late)
    timeout: int = Field(60, ge=1)
    retries: int = Field(5, ge=0)
    metrics: dict[str, MetricQuery] = Field(default_factory=dict)

    _dur = field_validator("step", "rate_window", "delay", "timeout", mode="before")(
        classmethod(lambda cls, v: _seconds(v))
    )

    @field_validator("metrics")
    @classmethod
    def _known(cls, v: dict[str, MetricQuery]) -> dict[str, MetricQuery]:
        unknown = set(v) - set(METRICS)
        if unknown:
            raise ValueError(f"unknown metric(s) {sorted(unknown)}; known: {list(METRICS)}")
        return v

    @field_validator("vm_id_regex")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                if re.compile(v).groups < 1:
                    raise ValueError("vm_id_regex needs a group: the VM id")
            except re.error as exc:
                raise ValueError(f"vm_id_regex: {exc}") from None
        return v

    @property
    def name(self) -> str:
        """The ``source`` on samples and heartbeats."""
        return f"prometheus:{self.source}"

    @property
    def label(self) -> str:
        return self.vm_label or PRESET_VM_LABEL.get(self.preset or "", "instance")

    def queries(self) -> dict[str, MetricQuery]:
        """Preset queries overridden by the file's, with ``{vm}`` and ``{rate}`` filled in."""
        merged = {k: MetricQuery(**q) for k, q in PRESETS.get(self.preset or "", {}).items()}
        merged.update(self.metrics)
        out = {}
        for name, q in merged.items():
            text = q.query.replace("{vm}", self.label).replace("{rate}", f"{self.rate_window}s")
            out[name] = MetricQuery(query=text, disk_label=q.disk_label)
        for needed in ("cpu_pct", "mem_pct"):
            if needed not in out:
                raise ValueError(f"source {self.source!r}: no query for {needed} (set a preset?)")
        return out

    def vm_id(self, labels: dict[str, str]) -> str | None:
        value = labels.get(self.label)
        if value is None or self.vm_id_regex is None:
            return value
        m = re.fullmatch(self.vm_id_regex, value)
        return m.group(1) if m else None


def load_source(path: Path) -> PromSource:
    """Parse and validate a source file; the error names the field."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        src = PromSource.model_validate(doc)
        src.queries()
    except (OSError, yaml.YAMLError) as exc:
        raise SystemExit(f"{path}: {exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "file"
        raise SystemExit(f"{path}: {where}: {first['msg']}") from None
    except ValueError as exc:
        raise SystemExit(f"{path}: {exc}") from None
    return src
