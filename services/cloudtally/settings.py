"""All configuration in one place, read from the environment (prefix ``CLOUDTALLY_``).

Embedded and cluster mode run the same code; only these values differ.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
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
    # Most a fetch brings per partition (KiB; Kafka's max_partition_fetch_bytes, which
    # Faust sets from consumer_max_fetch_size). Fetched records wait in the consumer until
    # taken, so this times the partitions is what a fetch can add to the worker's memory:
    # 1 MiB is ~16 messages of 2,000 samples; 8 MiB was ~130 per partition, per fetch.
    # A larger message still arrives (the broker returns at least one whole batch).
    consumer_fetch_partition_kb: int = Field(default=1024, ge=64)
    # Embedded broker storage: "s3" keeps topics, messages and committed offsets on disk
    # (Tansu's s3:// engine on a local s3rver at this port, files in data_dir/broker-s3);
    # "memory" keeps nothing across a broker restart. See docs/operations.md.
    broker_storage: Literal["s3", "memory"] = "s3"
    broker_s3_port: int = 19094
    # The supervisor restarts a broker part that lives but does not serve (fetches fail,
    # s3rver silent) for this long; 0 turns the fetch probe off.
    broker_wedge_s: float = 60.0

    # Store. "chdb://<folder>" (embedded) or "clickhouse://host:port/database" (server).
    store_url: str = ""
    database: str = "cloudtally"

    # Sink batching (arroyo-style): the worker takes up to take_max_messages messages or
    # what arrived within take_within_s, writes them in one insert per table, then commits.
    take_max_messages: int = 500
    take_within_s: float = 0.25
    # Messages a stream may hold fetched but not yet taken (Faust's stream_buffer_maxsize;
    # its default 4,096 is ~240 MB of 2,000-sample messages): the worker's largest memory
    # lever at full ingest. See docs/operations.md "Memory".
    stream_buffer_messages: int = Field(default=1000, ge=1)
    # glibc malloc in the worker (worker/allocator.py): at most this many heaps (0 = glibc's
    # 8 per core) and blocks from this size up mapped and unmapped on free (0 = glibc's
    # dynamic threshold, which keeps a flush's arrays in the heaps after it).
    malloc_arena_max: int = Field(default=2, ge=0)
    malloc_mmap_threshold_kb: int = Field(default=256, ge=0)
    # pyarrow's buffers (worker/arrow_pool.py): "system" = glibc malloc, which the settings
    # above give back after a flush; pyarrow's own mimalloc (its default) kept 70-140 MB of
    # freed segments resident. Set at worker start, before the first message is decoded.
    arrow_memory_pool: Literal["system", "mimalloc", "jemalloc"] = "system"
    # A batch the store cannot take is held and retried (capped backoff) for as long as the
    # store is down; after store_retry_budget_s the store is declared unavailable
    # (/readyz 503, cloudtally_store_unavailable). Nothing is acknowledged unwritten.
    store_retry_budget_s: float = 48.0
    store_retry_max_delay_s: float = 30.0
    # A dead-letter topic record carries at most this much of the rejected payload (the
    # store keeps it whole; the record always has the original size and SHA-256).
    dead_letter_topic_max_payload_bytes: int = 64 * 1024

    # HTTP API.
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # `cloudtally api` (cluster mode): processes serving the API on the port (uvicorn workers)
    api_workers: int = 1
    # Threads running route handlers at once (0: 4 in embedded mode, next to the ingest;
    # anyio's 40 otherwise). See cloudtally.api.threads.
    api_threads: int = Field(default=0, ge=0)
    metrics_port: int = 0  # cluster worker exposes /metrics on this port when > 0
    # Bearer tokens with roles (admin, auditor, bureau); see docs/api.md. Without a file
    # every request is refused unless api_auth is false (local experiments only).
    api_tokens_file: Path | None = None
    api_auth: bool = True
    # Scrape token for /metrics (first line of the file; Prometheus' credentials_file).
    metrics_token_file: Path | None = None

    policy_file: Path | None = None
    # Evaluation scheme of the scorecard (docs/scorecard.md); default: the packaged one
    # after seed 003 (policy/scorecard.yaml).
    scorecard_file: Path | None = None

    # Web console at / (console/): the session-cookie signing key (give every API replica
    # the same; default: a random key kept in data_dir/console-secret), session lifetime,
    # and Grafana's base URL for the pipeline page's links (none: no links).
    console_secret: str | None = None
    console_session_hours: float = 12.0
    grafana_url: str | None = None

    # Derived data (rollups, rating, candidate alerts) computed by the leader worker.
    derive_enabled: bool = True
    rollup_interval_s: float = 5.0
    # Most of the time the rollup step may take (worker/app.py DutyCycle): 0.25 leaves
    # three quarters of a core to ingest while a backlog drains.
    rollup_max_duty: float = Field(default=0.25, gt=0, le=1)
    # While the samples agent's takes come full (a backlog draining), the rollup step
    # waits for the backlog's end, at most this long since its last run (0 = never waits;
    # worker/backlog.py): the touched hours are derived once, not on every tick.
    rollup_max_defer_s: float = Field(default=60.0, ge=0)
    rating_interval_s: float = 60.0
    analytics_interval_s: float = 60.0
    # Re-verify the audit ledger this often on the leader worker (0 = never; `audit verify`).
    audit_verify_interval_s: float = 3600.0
    # Raw retention (store/retention.py): keep raw samples this many whole months
    # (0 = forever); older UTC months are dropped once issued and fully derived.
    # Rollups, bills and the ledger are kept forever. Checked this often by the leader.
    raw_retention_months: int = Field(default=0, ge=0)
    raw_retention_interval_s: float = 3600.0

    def as_env(self) -> dict[str, str]:
        """These settings as CLOUDTALLY_* variables, to hand to a child process."""
        out = {}
        for name, value in self.model_dump().items():
            if value is not None:
                out[f"CLOUDTALLY_{name.upper()}"] = (
                    str(value).lower() if isinstance(value, bool) else str(value)
                )
        return out

    # chDB's caches and memory cap (embedded mode; chDB's defaults are a server's: a 5 GiB
    # mark cache and 5 GiB primary-index cache). MiB; 0 = chDB's default. Measured in
    # docs/operations.md "Memory".
    chdb_mark_cache_mb: int = Field(default=64, ge=0)
    chdb_primary_index_cache_mb: int = Field(default=64, ge=0)
    chdb_uncompressed_cache_mb: int = Field(default=0, ge=0)
    chdb_max_memory_mb: int = Field(default=0, ge=0)
    # Options for chDB's own jemalloc (JE_MALLOC_CONF, store/chdb_allocator.py), set by the
    # worker before chDB loads; "" = chDB's build, which keeps freed pages 5 s per arena:
    # 340 MB resident at the embedded ingest peak against ~100 MB freed at once, with the
    # ingest rate within noise (docs/operations.md "Memory"). An own JE_MALLOC_CONF wins.
    chdb_malloc_conf: str = "dirty_decay_ms:0,muzzy_decay_ms:0"
    # Memory bound (MiB) of the API's kept query results, and separately of its kept HTTP
    # answers (queries/memo.py; docs/operations.md "Kept results"). LRU within it.
    kept_results_mb: int = Field(default=128, ge=1)
    # The console's heavy pages computed in the background after a rating run, a close, an
    # invoice or fault import (console/warming.py); seconds between checks, 0 = never.
    console_warm_interval_s: float = Field(default=5.0, ge=0)

    @property
    def resolved_store_url(self) -> str:
        url = self.store_url or f"chdb://{(self.data_dir / 'chdb').resolve()}"
        if not url.startswith("chdb://") or "?" in url:
            return url
        caps = {
            "mark_cache_size": self.chdb_mark_cache_mb,
            "primary_index_cache_size": self.chdb_primary_index_cache_mb,
            "uncompressed_cache_size": self.chdb_uncompressed_cache_mb,
            "max_server_memory_usage": self.chdb_max_memory_mb,
        }
        query = "&".join(f"{k}={mb * 2**20}" for k, mb in caps.items() if mb)
        return f"{url}?{query}" if query else url


@lru_cache
def get_settings() -> Settings:
    from cloudtally.envcheck import warn_unknown

    warn_unknown()  # once per process: a typo never runs silently on a default
    return Settings()
