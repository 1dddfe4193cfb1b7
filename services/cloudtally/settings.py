"""All configuration in one place, read from the environment (prefix ``CLOUDTALLY_``).

Embedded and cluster mode run the same code; only these values differ.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLOUDTALLY_", env_file=".env", extra="ignore")

    mode: Literal["embedded", "cluster"] = "embedded"
    data_dir: Path = Path("var")

    # Kafka. In embedded mode a Tansu broker is spawned on this address.
    kafka_bootstrap: str = "127.0.0.1:19092"
    topic_samples: str = "samples"
    topic_inventory: str = "inventory"
    topic_dead_letter: str = "dead-letter"
    topic_alerts: str = "alerts"
    samples_partitions: int = 4
    inventory_partitions: int = 2
    replication_factor: int = 1
    consumer_group: str = "cloudtally-worker"
    broker_session_timeout_s: float = 6.0

    # Store. "chdb://<folder>" (embedded) or "clickhouse://host:port/database" (server).
    store_url: str = ""
    database: str = "cloudtally"

    # Sink batching (arroyo-style): the worker takes up to take_max_messages messages or
    # what arrived within take_within_s, writes them in one insert per table, then commits.
    take_max_messages: int = 500
    take_within_s: float = 0.25

    # HTTP API.
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    metrics_port: int = 0  # cluster worker exposes /metrics on this port when > 0
    # Bearer tokens with roles (admin, auditor, bureau); see docs/api.md. Without a file
    # every request is refused unless api_auth is false (local experiments only).
    api_tokens_file: Path | None = None
    api_auth: bool = True

    policy_file: Path | None = None

    # Web console at / (console/): the session-cookie signing key (give every API replica
    # the same; default: a random key kept in data_dir/console-secret), session lifetime,
    # and Grafana's base URL for the pipeline page's links (none: no links).
    console_secret: str | None = None
    console_session_hours: float = 12.0
    grafana_url: str | None = None

    # Derived data (rollups, rating, candidate alerts) computed by the leader worker.
    derive_enabled: bool = True
    rollup_interval_s: float = 5.0
    rating_interval_s: float = 60.0
    analytics_interval_s: float = 60.0

    def as_env(self) -> dict[str, str]:
        """These settings as CLOUDTALLY_* variables, to hand to a child process."""
        out = {}
        for name, value in self.model_dump().items():
            if value is not None:
                out[f"CLOUDTALLY_{name.upper()}"] = (
                    str(value).lower() if isinstance(value, bool) else str(value)
                )
        return out

    @property
    def resolved_store_url(self) -> str:
        if self.store_url:
            return self.store_url
        return f"chdb://{(self.data_dir / 'chdb').resolve()}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
