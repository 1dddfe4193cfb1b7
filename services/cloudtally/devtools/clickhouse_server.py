"""A throwaway ClickHouse 18.16 server (Debian's ``clickhouse-server``) in one folder, on loopback.

Used by the test fixtures, the load test and by hand::

    python -m cloudtally.devtools.clickhouse_server start --dir /tmp/ch --tcp-port 19100
    python -m cloudtally.devtools.clickhouse_server stop --dir /tmp/ch

No systemd, no root: a config.xml and users.xml under the folder, the server in
the background (its pid in ``server.pid``), ready when HTTP ``/ping`` says ``Ok``.
The users profile enables ``allow_experimental_low_cardinality_type`` because
18.16 needs it server-side (sending it from the client breaks chDB).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Self

from cloudtally.broker.child import Lifecycle, die_with_parent

SERVER_BIN = "/usr/sbin/clickhouse-server"

CONFIG_XML = """<?xml version="1.0"?>
<yandex>
  <logger>
    <level>warning</level>
    <log>{dir}/log/server.log</log>
    <errorlog>{dir}/log/err.log</errorlog>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>{tcp_port}</tcp_port>
  <http_port>{http_port}</http_port>
  <path>{dir}/data/</path>
  <tmp_path>{dir}/tmp/</tmp_path>
  <user_files_path>{dir}/user_files/</user_files_path>
  <format_schema_path>{dir}/format_schemas/</format_schema_path>
  <users_config>{dir}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>268435456</mark_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
{extra}</yandex>
"""

USERS_XML = """<?xml version="1.0"?>
<yandex>
  <profiles>
    <default>
      <allow_experimental_low_cardinality_type>1</allow_experimental_low_cardinality_type>
    </default>
  </profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas>
    <default>
      <interval>
        <duration>3600</duration>
        <queries>0</queries><errors>0</errors><result_rows>0</result_rows>
        <read_rows>0</read_rows><execution_time>0</execution_time>
      </interval>
    </default>
  </quotas>
</yandex>
"""


class ClickHouseServerError(RuntimeError):
    """The server binary is missing, or the server did not start / stop."""


def server_binary() -> str | None:
    """Path of the 18.16 server binary, or None when the Debian package is not installed."""
    override = os.environ.get("CLOUDTALLY_CLICKHOUSE_SERVER_BIN")
    if override:
        return override if os.access(override, os.X_OK) else None
    if os.access(SERVER_BIN, os.X_OK):
        return SERVER_BIN
    return shutil.which("clickhouse-server")


def free_port() -> int:
    """A loopback TCP port nobody listens on right now (tiny race, fine for tests)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ping(http_port: int, timeout_s: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{http_port}/ping", timeout=timeout_s
        ) as resp:
            return bool(resp.read().strip() == b"Ok.")
    except OSError:
        return False


Managed = Lifecycle  # the name the replicated devtools use


class ClickHouseServer(Lifecycle):
    """One server process whose files all live under ``dir``; a context manager.

    With ``stop_with_parent`` (default; the CLI turns it off) the server dies
    with the process that started it, so a killed test run leaves no orphan.

    ``url`` is what :func:`cloudtally.store.open_store` takes (append ``/database``).
    """

    def __init__(
        self,
        dir: Path | str,
        tcp_port: int | None = None,
        http_port: int | None = None,
        *,
        ready_timeout_s: float = 30.0,
        stop_timeout_s: float = 10.0,
        stop_with_parent: bool = True,
        extra_config: str = "",
    ) -> None:
        self.dir = Path(dir).resolve()
        # More <yandex> elements (ZooKeeper, macros, interserver port: devtools.replicated).
        self.extra_config = extra_config
        self.stop_with_parent = stop_with_parent
        self.tcp_port = tcp_port or free_port()
        self.http_port = http_port or free_port()
        while self.http_port == self.tcp_port:
            self.http_port = free_port()
        self.ready_timeout_s = ready_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"clickhouse://127.0.0.1:{self.tcp_port}"

    @property
    def pid_file(self) -> Path:
        return self.dir / "server.pid"

    def write_config(self) -> Path:
        for sub in ("data", "tmp", "user_files", "format_schemas", "log"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        config = self.dir / "config.xml"
        config.write_text(
            CONFIG_XML.format(
                dir=self.dir,
                tcp_port=self.tcp_port,
                http_port=self.http_port,
                extra=self.extra_config,
            )
        )
        (self.dir / "users.xml").write_text(USERS_XML)
        return config

    def start(self) -> Self:
        binary = server_binary()
        if binary is None:
            raise ClickHouseServerError(
                f"{SERVER_BIN} not found: install the Debian package clickhouse-server "
                "(deploy/local/install-system-deps.sh)"
            )
        if ping(self.http_port, 0.3):
            raise ClickHouseServerError(f"something already answers on port {self.http_port}")
        config = self.write_config()
        self.proc = spawn(
            [binary, f"--config-file={config}"],
            self.dir,
            self.dir / "log" / "stdout.log",
            stop_with_parent=self.stop_with_parent,
        )
        self.pid_file.write_text(f"{self.proc.pid} {self.tcp_port} {self.http_port}\n")
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self.proc = None
                self.pid_file.unlink(missing_ok=True)
                raise ClickHouseServerError(
                    f"clickhouse-server exited with code {code}; see {self.dir}/log/:\n"
                    + _tail(self.dir / "log" / "err.log")
                    + _tail(self.dir / "log" / "stdout.log")
                )
            if ping(self.http_port):
                return self
            time.sleep(0.05)
        self.stop()
        raise ClickHouseServerError(
            f"clickhouse-server did not answer /ping on {self.http_port} "
            f"within {self.ready_timeout_s}s"
        )

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after ``stop_timeout_s``. Safe to call twice."""
        if self.proc is not None:
            _terminate(self.proc.pid, self.stop_timeout_s, wait=self.proc.wait)
            self.proc = None
        self.pid_file.unlink(missing_ok=True)


def spawn(
    argv: list[str], cwd: Path, log_path: Path, *, stop_with_parent: bool
) -> subprocess.Popen[bytes]:
    """Start a server in the background in its own session, output appended to ``log_path``.

    With ``stop_with_parent`` it dies with the thread that started it (no orphans
    from a killed test run).
    """
    out = open(log_path, "ab")  # noqa: SIM115 -- the child keeps it
    try:
        return subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent if stop_with_parent else None,
        )
    finally:
        out.close()


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) + "\n"
    except OSError:
        return ""


def pid_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie awaiting its reaper."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still "exists"; treat it as gone.
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as f:
        if f.read().split(")")[-1].split()[0] == "Z":
            return False
    return True


def _terminate(pid: int, timeout_s: float, wait: object = None) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if callable(wait):
            try:
                wait(timeout=0.05)
                return
            except subprocess.TimeoutExpired:
                continue
        if not pid_alive(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if callable(wait):
        wait()


def stop_dir(dir: Path | str, timeout_s: float = 10.0) -> bool:
    """Stop the server started (by the CLI) in ``dir``; False when none was running."""
    pid_file = Path(dir) / "server.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().split()[0])
    running = pid_alive(pid)
    if running:
        _terminate(pid, timeout_s)
    pid_file.unlink(missing_ok=True)
    return running


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cloudtally.devtools.clickhouse_server")
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--dir", required=True, type=Path, help="folder for config and data")
    parser.add_argument("--tcp-port", type=int, default=0, help="native port (0 = free port)")
    parser.add_argument("--http-port", type=int, default=0, help="HTTP port (0 = free port)")
    args = parser.parse_args(argv)
    if args.action == "stop":
        stopped = stop_dir(args.dir)
        print("stopped" if stopped else f"no server running in {args.dir}")
        return 0
    server = ClickHouseServer(
        args.dir, args.tcp_port or None, args.http_port or None, stop_with_parent=False
    )
    try:
        server.start()
    except ClickHouseServerError as exc:
        print(exc, file=sys.stderr)
        return 1
    # Leave it running: detach our handle so nothing reaps or stops it on exit.
    pid = server.proc.pid if server.proc else 0
    server.proc = None
    print(f"{server.url} http://127.0.0.1:{server.http_port} pid {pid}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
