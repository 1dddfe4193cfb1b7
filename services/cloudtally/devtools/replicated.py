"""A throwaway replicated ClickHouse: ZooKeeper + two 18.16 servers, all on loopback.

Used by the replicated-store tests, the fault soak and by hand::

    python -m cloudtally.devtools.replicated start --dir /tmp/chr
    # prints the store URL, e.g.
    # clickhouse://127.0.0.1:19101,127.0.0.1:19103/cloudtally?replicated=true
    python -m cloudtally.devtools.replicated stop --dir /tmp/chr

ZooKeeper is Debian's ``zookeeper`` package run in the foreground
(``QuorumPeerMain`` on a standalone ``zoo.cfg``); each server gets its own
folder under ``dir`` (``r1``, ``r2``) with ``<zookeeper>``, ``<macros>``
(``shard`` = 01, ``replica`` = r1/r2), its interserver port on 127.0.0.1
and a ``<remote_servers>`` cluster named ``cloudtally`` (one shard, both
replicas) for ``ON CLUSTER`` DDL. The ZooKeeper session timeout is short
(6 s) so a replica killed with ``kill -9`` is writable again ~10 s after
it returns (ZooKeeper must first expire the dead session).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Self

from cloudtally.devtools.clickhouse_server import (
    ClickHouseServer,
    ClickHouseServerError,
    Managed,
    _tail,
    _terminate,
    free_port,
    pid_alive,
    server_binary,
    spawn,
)

ZOOKEEPER_CLASSPATH = ("/usr/share/java/zookeeper.jar", "/usr/share/java/slf4j-simple.jar")
CLUSTER = "cloudtally"
SHARD = "01"

ZOO_CFG = """tickTime={tick_ms}
initLimit=10
syncLimit=5
dataDir={dir}/data
clientPort={port}
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=ruok,mntr,stat,srvr,cons
maxSessionTimeout=60000
maxClientCnxns=0
"""

REPLICA_XML = """  <interserver_http_host>127.0.0.1</interserver_http_host>
  <interserver_http_port>{interserver_port}</interserver_http_port>
  <zookeeper>
    <node><host>127.0.0.1</host><port>{zk_port}</port></node>
    <session_timeout_ms>{session_timeout_ms}</session_timeout_ms>
    <operation_timeout_ms>5000</operation_timeout_ms>
  </zookeeper>
  <macros><shard>{shard}</shard><replica>{replica}</replica></macros>
  <remote_servers>
    <{cluster}>
      <shard>
        <internal_replication>true</internal_replication>
{replicas}
      </shard>
    </{cluster}>
  </remote_servers>
  <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>
"""


def distinct_ports(n: int) -> list[int]:
    """``n`` different free loopback ports (each held open until all are picked)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def zookeeper_available() -> bool:
    return all(os.access(p, os.R_OK) for p in ZOOKEEPER_CLASSPATH) and bool(_java())


def _java() -> str | None:
    import shutil

    return shutil.which("java")


def four_letter(port: int, word: str = "ruok", timeout_s: float = 1.0) -> str:
    """Send a ZooKeeper four-letter command; '' when nothing answers."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as s:
            s.sendall(word.encode())
            chunks = []
            while chunk := s.recv(4096):
                chunks.append(chunk)
            return b"".join(chunks).decode(errors="replace")
    except OSError:
        return ""


class ZooKeeper(Managed):
    """A standalone ZooKeeper 3.8 (Debian's jars) whose files live under ``dir``."""

    def __init__(
        self,
        dir: Path | str,
        port: int | None = None,
        *,
        tick_ms: int = 1000,
        ready_timeout_s: float = 60.0,
        stop_with_parent: bool = True,
    ) -> None:
        self.dir = Path(dir).resolve()
        self.port = port or free_port()
        self.tick_ms = tick_ms
        self.ready_timeout_s = ready_timeout_s
        self.stop_with_parent = stop_with_parent
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid_file(self) -> Path:
        return self.dir / "zookeeper.pid"

    @property
    def log_path(self) -> Path:
        return self.dir / "zookeeper.log"

    def start(self) -> Self:
        java = _java()
        if java is None or not zookeeper_available():
            raise ClickHouseServerError(
                "ZooKeeper not found: install the Debian package zookeeper "
                "(deploy/local/install-system-deps.sh)"
            )
        (self.dir / "data").mkdir(parents=True, exist_ok=True)
        cfg = self.dir / "zoo.cfg"
        cfg.write_text(ZOO_CFG.format(tick_ms=self.tick_ms, dir=self.dir, port=self.port))
        log_path = self.log_path
        self.proc = spawn(
            [java, "-Xmx256m", "-cp", ":".join(ZOOKEEPER_CLASSPATH),
             "org.apache.zookeeper.server.quorum.QuorumPeerMain", str(cfg)],
            self.dir,
            log_path,
            stop_with_parent=self.stop_with_parent,
        )  # fmt: skip
        self.pid_file.write_text(f"{self.proc.pid} {self.port}\n")
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code, self.proc = self.proc.returncode, None
                raise ClickHouseServerError(f"ZooKeeper exited with code {code}; see {log_path}")
            if four_letter(self.port) == "imok":
                return self
            time.sleep(0.1)
        self.stop()
        raise ClickHouseServerError(f"ZooKeeper did not answer on {self.port}")

    def stop(self) -> None:
        if self.proc is not None:
            _terminate(self.proc.pid, 10.0, wait=self.proc.wait)
            self.proc = None
        self.pid_file.unlink(missing_ok=True)


class ReplicatedCluster(Managed):
    """ZooKeeper + ``replicas`` ClickHouse servers forming one shard; a context manager.

    ``url(database)`` is the store URL naming every replica (reads and writes
    fail over between them); ``replica_url(i, database)`` names one replica
    only, to check what each one holds. ``kill(i)`` is ``kill -9``;
    ``restart(i)`` starts it again on the same folder and ports.
    """

    def __init__(
        self,
        dir: Path | str,
        replicas: int = 2,
        *,
        zk_port: int | None = None,
        tcp_ports: list[int] | None = None,
        session_timeout_ms: int = 6000,
        stop_with_parent: bool = True,
    ) -> None:
        self.dir = Path(dir).resolve()
        # Every port at once, each socket held until all are chosen: no two alike.
        ports = distinct_ports(1 + 3 * replicas)
        self.zookeeper = ZooKeeper(
            self.dir / "zookeeper", zk_port or ports[0], stop_with_parent=stop_with_parent
        )
        tcp = tcp_ports or [0] * replicas
        self.servers = [
            ClickHouseServer(
                self.dir / f"r{i + 1}",
                tcp[i] or ports[1 + 3 * i],
                ports[2 + 3 * i],
                stop_with_parent=stop_with_parent,
            )
            for i in range(replicas)
        ]
        replica_list = "\n".join(
            f"        <replica><host>127.0.0.1</host><port>{s.tcp_port}</port></replica>"
            for s in self.servers
        )
        for i, server in enumerate(self.servers):
            server.extra_config = REPLICA_XML.format(
                interserver_port=ports[3 + 3 * i],
                zk_port=self.zookeeper.port,
                session_timeout_ms=session_timeout_ms,
                shard=SHARD,
                replica=f"r{i + 1}",
                cluster=CLUSTER,
                replicas=replica_list,
            )

    def url(self, database: str = "cloudtally") -> str:
        hosts = ",".join(f"127.0.0.1:{s.tcp_port}" for s in self.servers)
        return f"clickhouse://{hosts}/{database}?replicated=true"

    def replica_url(self, i: int, database: str = "cloudtally") -> str:
        """One replica only (no failover): to look at what this replica holds."""
        return f"clickhouse://127.0.0.1:{self.servers[i].tcp_port}/{database}?replicated=true"

    def start(self) -> Self:
        if server_binary() is None:
            raise ClickHouseServerError("clickhouse-server not found (install-system-deps.sh)")
        self.zookeeper.start()
        try:
            for server in self.servers:
                server.start()
        except BaseException:
            self.stop()
            raise
        return self

    def kill(self, i: int) -> None:
        """``kill -9`` replica ``i``: no shutdown, its ZooKeeper session is left to expire."""
        server = self.servers[i]
        if server.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(server.proc.pid, signal.SIGKILL)
            server.proc.wait()
            server.proc = None

    def restart(self, i: int) -> None:
        self.servers[i].start()

    def revive(self) -> list[str]:
        """Start again whatever part of the cluster is not running; say what and why.

        A test that killed a replica and failed before restarting it, or a process
        that died under the machine (the OOM killer, a crash), would otherwise fail
        every later test with a ZooKeeper or connection error that hides the cause.
        ZooKeeper restarts on its own data folder and port, so the servers' sessions
        resume as after an operator's restart. Returns one report per process that
        had died (its exit code and the tail of its log); a replica stopped on purpose
        (``proc`` None) is started without a report. Raises when ZooKeeper runs but
        does not serve, with what it says of itself.
        """
        reports = []
        zk = self.zookeeper
        if zk.proc is not None and zk.proc.poll() is not None:
            reports.append(
                f"ZooKeeper (port {zk.port}) had exited with code {zk.proc.returncode}; "
                f"its log ends:\n{_tail(zk.log_path, 40)}"
            )
            zk.proc = None
        if zk.proc is None:
            zk.start()
        elif four_letter(zk.port) != "imok":
            raise ClickHouseServerError(
                f"ZooKeeper (port {zk.port}) runs but does not serve: "
                f"{four_letter(zk.port, 'srvr')!r}; its log ends:\n{_tail(zk.log_path, 40)}"
            )
        for i, server in enumerate(self.servers):
            if server.proc is not None and server.proc.poll() is not None:
                reports.append(
                    f"replica r{i + 1} had exited with code {server.proc.returncode}; "
                    f"its log ends:\n{_tail(server.dir / 'log' / 'err.log', 40)}"
                )
                server.proc = None
            if server.proc is None:
                server.start()
        return reports

    def wait_in_sync(self, database: str, timeout_s: float = 120.0) -> float:
        """Wait until every replica answers, is writable, holds every part and has applied
        every mutation (merges aside: they do not change what a query returns).

        Returns the seconds it took; raises ``TimeoutError`` with the last figures.
        """
        from cloudtally.store.health import probe, settled
        from cloudtally.store.replication import parse_server_url

        target = parse_server_url(self.url(database))
        started = time.monotonic()
        figures: list[dict[str, float] | None] = []
        while time.monotonic() - started < timeout_s:
            figures = [probe(target, i) for i in range(len(self.servers))]
            if all(settled(f) and f is not None and f["mutations"] == 0 for f in figures):
                return time.monotonic() - started
            time.sleep(0.2)
        raise TimeoutError(f"replicas of {database} not in sync after {timeout_s}s: {figures}")

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        self.zookeeper.stop()


def stop_dir(dir: Path | str, timeout_s: float = 10.0) -> int:
    """Stop the servers and ZooKeeper started by the CLI in ``dir``; how many were running."""
    from cloudtally.devtools.clickhouse_server import stop_dir as stop_server

    root = Path(dir)
    stopped = sum(stop_server(sub, timeout_s) for sub in sorted(root.glob("r*")) if sub.is_dir())
    pid_file = root / "zookeeper" / "zookeeper.pid"
    if pid_file.exists():
        pid = int(pid_file.read_text().split()[0])
        if pid_alive(pid):
            _terminate(pid, timeout_s)
            stopped += 1
        pid_file.unlink(missing_ok=True)
    return stopped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cloudtally.devtools.replicated")
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--dir", required=True, type=Path, help="folder for config and data")
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--database", default="cloudtally")
    args = parser.parse_args(argv)
    if args.action == "stop":
        n = stop_dir(args.dir)
        print(f"stopped {n} process(es)" if n else f"nothing running in {args.dir}")
        return 0
    cluster = ReplicatedCluster(args.dir, args.replicas, stop_with_parent=False)
    try:
        cluster.start()
    except ClickHouseServerError as exc:
        print(exc, file=sys.stderr)
        return 1
    # Leave them running: detach the handles so nothing stops them on exit.
    for server in cluster.servers:
        server.proc = None
    cluster.zookeeper.proc = None
    print(cluster.url(args.database))
    for i in range(len(cluster.servers)):
        print(f"  replica r{i + 1}: {cluster.replica_url(i, args.database)}")
    print(f"  zookeeper: 127.0.0.1:{cluster.zookeeper.port}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
