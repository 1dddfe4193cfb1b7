"""The embedded broker as configured: Tansu alone (memory) or Tansu on its s3rver (s3).

``CLOUDTALLY_BROKER_STORAGE=s3`` (default) starts s3rver first, on
``broker_s3_port`` with its files in ``data_dir/broker-s3``, then Tansu with
``--storage-engine s3://tansu/``; ``memory`` starts Tansu alone and keeps
nothing across a broker restart. Stopped in reverse order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

from cloudtally.broker.child import Lifecycle
from cloudtally.broker.embedded import EmbeddedBroker
from cloudtally.broker.s3 import BUCKET, S3Server, tansu_s3_env
from cloudtally.settings import Settings


class BrokerStack(Lifecycle):
    """Start and stop the embedded broker and (s3 storage) the server it stores in."""

    def __init__(self, settings: Settings, log_dir: Path | str, **kw: float) -> None:
        self.settings = settings
        self.storage = settings.broker_storage
        self.s3: S3Server | None = None
        if self.storage == "s3":
            self.s3 = S3Server(settings.data_dir / "broker-s3", settings.broker_s3_port, log_dir)
            self.broker = EmbeddedBroker(
                settings,
                log_dir,
                storage_url=f"s3://{BUCKET}/",
                storage_env=tansu_s3_env(self.s3.endpoint),
                **kw,
            )
        else:
            self.broker = EmbeddedBroker(settings, log_dir, **kw)

    @property
    def bootstrap(self) -> str:
        return self.broker.bootstrap

    @property
    def durable(self) -> bool:
        return self.s3 is not None

    def start(self) -> Self:
        try:
            if self.s3 is not None:
                self.s3.start()
            self.broker.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        try:
            self.broker.stop()
        finally:
            if self.s3 is not None:
                self.s3.stop()
