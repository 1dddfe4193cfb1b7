"""The Kafka topics cloudtally needs, created idempotently on Tansu or Apache Kafka."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field

from cloudtally.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    configs: dict[str, str] = field(default_factory=dict)


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """What the pipeline needs: samples spread for parallelism, inventory compacted by vm_id."""
    return [
        TopicSpec(settings.topic_samples, settings.samples_partitions),
        TopicSpec(
            settings.topic_inventory,
            settings.inventory_partitions,
            {"cleanup.policy": "compact"},
        ),
        TopicSpec(settings.topic_dead_letter, 1),
        TopicSpec(settings.topic_alerts, 1),
    ]


def ensure_topics(settings: Settings, *, timeout_s: float = 30.0) -> list[str]:
    """Create the missing topics; an existing topic is left as it is. Returns the names created.

    If the broker rejects a topic config (``cleanup.policy=compact``), the topic
    is created without it and the fallback is logged: consumers of ``inventory``
    must not rely on compaction for correctness (they keep the latest event per vm_id).
    """
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    admin = KafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id="cloudtally-topics",
        request_timeout_ms=int(timeout_s * 1000),
    )
    created: list[str] = []
    try:
        existing = set(admin.list_topics())
        for spec in topic_specs(settings):
            if spec.name in existing:
                _check_partitions(admin, spec)
                continue
            attempts = [spec.configs, {}] if spec.configs else [{}]
            for i, configs in enumerate(attempts):
                topic = NewTopic(
                    spec.name,
                    spec.partitions,
                    settings.replication_factor,
                    topic_configs=configs,
                )
                try:
                    admin.create_topics([topic], timeout_ms=int(timeout_s * 1000))
                    created.append(spec.name)
                    log.info(
                        "created topic %s (%d partitions%s)",
                        spec.name,
                        spec.partitions,
                        f", {configs}" if configs else "",
                    )
                    break
                except TopicAlreadyExistsError:  # another process won the race: fine
                    break
                except KafkaError as exc:
                    if i + 1 < len(attempts):
                        log.warning(
                            "broker rejected configs %s for topic %s (%s); creating it without",
                            configs,
                            spec.name,
                            exc,
                        )
                        continue
                    raise
    finally:
        with contextlib.suppress(Exception):
            admin.close()
    return created


def _check_partitions(admin: object, spec: TopicSpec) -> None:
    """Warn when an existing topic has fewer partitions than configured (never altered here)."""
    try:
        (info,) = admin.describe_topics([spec.name])  # type: ignore[attr-defined]
        have = len(info["partitions"])
    except Exception as exc:  # describing is best effort; creation is what matters
        log.debug("could not describe topic %s: %s", spec.name, exc)
        return
    if have < spec.partitions:
        log.warning(
            "topic %s exists with %d partitions, %d configured; left unchanged",
            spec.name,
            have,
            spec.partitions,
        )
