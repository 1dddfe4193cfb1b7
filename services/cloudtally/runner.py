"""``cloudtally up``: the embedded default on one machine.

Starts the Tansu broker (on its s3rver storage unless
``CLOUDTALLY_BROKER_STORAGE=memory``), one worker that owns the chDB folder and
serves the API, and the fleet simulator (backfill, then real time), as child
processes sharing one configuration through the environment. Ctrl-C stops them
in reverse order. ClickHouse data and (s3 storage) the broker's topics and
offsets persist in the data folder across runs.

Supervision: a broker or s3rver that dies is restarted within about a second
and the event printed (:mod:`cloudtally.broker.supervisor`); the worker's
``/readyz`` says "broker unavailable" meanwhile and ``/metrics`` counts the
restarts. A worker that exits is started again after a bounded backoff
(:mod:`cloudtally.restarting`; the event printed); the simulator exiting ends
the run (its log says why).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cloudtally.settings import Settings

READY_TIMEOUT_S = 90


def _env(settings: Settings, data_dir: Path, tokens: Path) -> dict[str, str]:
    env = dict(os.environ)
    scrape = settings.metrics_token_file or data_dir / "metrics.token"
    if not scrape.exists():  # /metrics is not public: a scrape token for Prometheus
        import secrets

        scrape.parent.mkdir(parents=True, exist_ok=True)
        scrape.write_text(secrets.token_urlsafe(24) + "\n")
        scrape.chmod(0o600)
    env.update(
        {
            "CLOUDTALLY_METRICS_TOKEN_FILE": str(scrape),
            "CLOUDTALLY_MODE": "embedded",
            "CLOUDTALLY_DATA_DIR": str(data_dir),
            "CLOUDTALLY_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "CLOUDTALLY_API_TOKENS_FILE": str(tokens),
            "CLOUDTALLY_API_PORT": str(settings.api_port),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    out = log.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "cloudtally.cli", *args],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_ready(
    url: str,
    proc: Any,  # a Popen, or a Restarting child (cloudtally.restarting)
    tick: Callable[[], object] = lambda: None,
    timeout: float = READY_TIMEOUT_S,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tick()
        if proc.poll() is not None:
            raise SystemExit(f"worker exited with code {proc.returncode}; see its log")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"worker not ready after {timeout}s ({url})")


def stop(proc: subprocess.Popen[bytes], name: str, timeout: float = 20) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        print(_say()("cli.out.up.killing", name=name, timeout=timeout))
        proc.kill()
        proc.wait()


def up(settings: Settings, *, vms: int, days: float, data_dir: Path | None) -> None:
    from cloudtally.api.auth import write_demo_tokens
    from cloudtally.broker.stack import BrokerStack
    from cloudtally.broker.supervisor import BrokerSupervisor
    from cloudtally.broker.topics import ensure_topics

    data_dir = (data_dir or settings.data_dir).resolve()
    settings = settings.model_copy(update={"data_dir": data_dir})
    logs = data_dir / "logs"
    tokens = settings.api_tokens_file or data_dir / "tokens.yaml"
    seed = 1
    plain: dict[str, str] = {}
    if not tokens.exists():
        plain = write_demo_tokens(tokens, _fleet_bureaus(seed, vms)[:3])
    env = _env(settings, data_dir, tokens)
    base = f"http://{settings.api_host}:{settings.api_port}"

    def _terminate(signum: int, _frame: object) -> None:  # SIGTERM/SIGHUP: as Ctrl-C
        raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _terminate)

    from cloudtally.console import firstrun

    demo = firstrun.prepare(settings, data_dir, vms=vms, seed=seed)  # history, invoice, round
    if demo.get("policy_file") and settings.policy_file is None:  # the budgeted version
        settings = settings.model_copy(update={"policy_file": Path(demo["policy_file"])})
        env["CLOUDTALLY_POLICY_FILE"] = demo["policy_file"]
    with BrokerStack(settings, log_dir=logs) as stack:
        ensure_topics(settings)
        supervisor = BrokerSupervisor(
            stack,
            say=lambda m: print(m, flush=True),
            after_broker_start=lambda: ensure_topics(settings),
        )
        from cloudtally.restarting import Restarting

        worker: Any = Restarting(  # an exit restarts it (bounded backoff), never ends the run
            "worker",
            lambda: _spawn(["worker", "--with-api"], env, logs / "worker.log"),
            say=lambda m: print(m, flush=True),
            log=str(logs / "worker.log"),
        )
        procs: list[tuple[str, Any]] = [("worker", worker)]
        try:
            wait_ready(f"{base}/readyz", worker, supervisor.check)
            sim = _spawn(
                [
                    "simulate",
                    "--seed",
                    str(seed),
                    "--vms",
                    str(vms),
                    *firstrun.simulator_args(demo),  # the same fleet as the demo history
                    "--realtime",
                ],
                env,
                logs / "simulator.log",
            )
            procs.append(("simulator", sim))
            storage = (
                _say()("cli.out.up.durable", folder=data_dir / "broker-s3")
                if stack.durable
                else _say()("cli.out.up.memory")
            )
            _banner(base, data_dir, tokens, plain, storage)
            print("\n".join(firstrun.banner(base, demo, plain)), flush=True)
            while all(p.poll() is None for _, p in procs):
                supervisor.check()
                time.sleep(0.5)
            for name, p in procs:
                if p.returncode not in (None, 0):
                    log = logs / (name + ".log")
                    print(_say()("cli.out.up.exited", name=name, code=p.returncode, log=log))
        except KeyboardInterrupt:
            print("\n" + _say()("cli.out.up.stopping"))
        finally:
            supervisor.close()
            for name, p in reversed(procs):
                stop(p, name)
    print(_say()("cli.out.up.stopped", folder=data_dir))


def _fleet_bureaus(seed: int, vms: int) -> list[str]:
    """Bureaus of the simulated fleet, busiest first, for demo bureau tokens."""
    from collections import Counter

    from cloudtally.collectors.fleet import Fleet

    now = int(time.time())
    fleet = Fleet.build(seed, vms, 2, 20, start=now - 86_400, end=now)
    counts = Counter(e.bureau for e in fleet.inventory_events())
    return [b for b, _ in counts.most_common()]


def _say() -> Any:
    """What ``up`` prints for a person, in the CLI's language (``--lang``, ``CLOUDTALLY_LANG``,
    default zh); URLs, paths and tokens are values, never translated."""
    from cloudtally.i18n import cli_lang, translate

    return translate(cli_lang())


def _banner(base: str, data_dir: Path, tokens: Path, plain: dict[str, str], storage: str) -> None:
    print("\n".join(banner_lines(base, data_dir, tokens, plain, storage)), flush=True)


def banner_lines(
    base: str, data_dir: Path, tokens: Path, plain: dict[str, str], storage: str
) -> list[str]:
    """``up``'s start-up lines: where the API, metrics, data and tokens are."""
    _ = _say()
    admin = plain.get("admin", _("cli.out.up.admin_token_in", file=tokens))
    lines = [
        "",
        _("cli.out.up.title"),
        _("cli.out.up.broker", storage=storage),
        _("cli.out.up.docs", url=f"{base}/docs"),
        _("cli.out.up.readiness", url=f"{base}/readyz"),
        _("cli.out.up.metrics", url=f"{base}/metrics", file=data_dir / "metrics.token"),
        _("cli.out.up.data", folder=data_dir, logs=data_dir / "logs"),
        _("cli.out.up.tokens", file=tokens),
    ]
    for name, token in plain.items():
        lines.append(f"    {name:<24} {token}")
    lines += [
        _("cli.out.up.try"),
        f"    curl -s -H 'Authorization: Bearer {admin}' {base}/api/v1/fleet",
        f"    curl -s -H 'Authorization: Bearer {admin}' '{base}/api/v1/vms?limit=5'",
        _("cli.out.up.ctrl_c"),
        "",
    ]
    return lines
