"""Static checks of deploy/: no container engine runs here, so check what can be checked."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from cloudtally.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE_FILE = DEPLOY / "compose" / "docker-compose.yml"
K8S = DEPLOY / "k8s" / "cloudtally.yaml"
SETTINGS_ENV = {f"CLOUDTALLY_{name.upper()}" for name in Settings.model_fields}
LONG_RUNNING = {
    "kafka-1",
    "kafka-2",
    "kafka-3",
    "keeper-1",
    "keeper-2",
    "keeper-3",
    "clickhouse-1",
    "clickhouse-2",
    "worker",
    "api",
    "prometheus",
    "alertmanager",
    "grafana",
}


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def yaml_files() -> list[Path]:
    files = [p for p in DEPLOY.rglob("*.yml") if "local" not in p.parts]
    files += list(DEPLOY.rglob("*.yaml")) + list((ROOT / "grafana").rglob("*.yml"))
    return sorted(files)


@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_yaml_parses(path: Path) -> None:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert docs


def test_compose_has_the_cluster_topology() -> None:
    services = compose()["services"]
    assert LONG_RUNNING | {"migrate", "simulator", "node-collector"} <= services.keys()
    kafka_env = services["kafka-1"]["environment"]
    assert kafka_env["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
    assert kafka_env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3"
    assert kafka_env["KAFKA_CONTROLLER_QUORUM_VOTERS"].count("@") == 3
    assert {services[f"kafka-{i}"]["environment"]["KAFKA_NODE_ID"] for i in (1, 2, 3)} == {
        "1",
        "2",
        "3",
    }
    assert services["worker"]["deploy"]["replicas"] >= 2
    assert services["api"]["deploy"]["replicas"] >= 2
    env = services["worker"]["environment"]
    assert env["CLOUDTALLY_MODE"] == "cluster"
    assert env["CLOUDTALLY_STORE_URL"].startswith("clickhouse://")
    assert env["CLOUDTALLY_STORE_URL"].endswith(
        "@clickhouse-1:9000,clickhouse-2:9000/cloudtally?replicated=true"
    )
    assert int(env["CLOUDTALLY_REPLICATION_FACTOR"]) == 3
    # more workers than partitions would idle
    assert services["worker"]["deploy"]["replicas"] <= int(env["CLOUDTALLY_SAMPLES_PARTITIONS"])


def test_compose_services_have_images_healthchecks_and_known_references() -> None:
    doc = compose()
    services, volumes, networks = doc["services"], doc["volumes"], doc["networks"]
    for name, svc in services.items():
        assert svc.get("image") or svc.get("build"), f"{name} has no image"
        if name in LONG_RUNNING:
            assert "healthcheck" in svc, f"{name} has no healthcheck"
        for dep in svc.get("depends_on", {}):
            assert dep in services, f"{name} depends on unknown {dep}"
        for net in svc.get("networks", []):
            assert net in networks
        for vol in svc.get("volumes", []):
            source = vol.split(":", 1)[0]
            if source.startswith((".", "/")):
                if source != "/":
                    assert (COMPOSE_FILE.parent / source).resolve().exists(), f"{name}: {source}"
            else:
                assert source in volumes, f"{name} uses undeclared volume {source}"
    stateful_services = (
        *("kafka-1", "kafka-2", "kafka-3", "keeper-1", "keeper-2", "keeper-3"),
        *("clickhouse-1", "clickhouse-2", "prometheus", "grafana"),
    )
    for stateful in stateful_services:
        named = [v.split(":", 1)[0] for v in services[stateful]["volumes"]]
        assert any(n in volumes for n in named), f"{stateful} has no persistent volume"
    build = services["worker"]["build"]
    assert (COMPOSE_FILE.parent / build["context"] / build["dockerfile"]).resolve().exists()


def _env_names(env: Any) -> set[str]:
    if isinstance(env, dict):
        return set(env)
    return {e.split("=", 1)[0] for e in env or []}


def test_environment_names_are_settings_fields() -> None:
    seen: set[str] = set()
    for svc in compose()["services"].values():
        seen |= {n for n in _env_names(svc.get("environment")) if n.startswith("CLOUDTALLY_")}
    for doc in yaml.safe_load_all(K8S.read_text()):
        if doc["kind"] == "ConfigMap":
            seen |= {n for n in doc["data"] if n.startswith("CLOUDTALLY_")}
    seen |= {"CLOUDTALLY_STORE_URL"}  # the k8s Secret
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    seen |= set(re.findall(r"\b(CLOUDTALLY_[A-Z_]+)=", dockerfile))
    assert seen - SETTINGS_ENV == set(), "environment names Settings does not read"
    assert {
        "CLOUDTALLY_MODE",
        "CLOUDTALLY_KAFKA_BOOTSTRAP",
        "CLOUDTALLY_STORE_URL",
        "CLOUDTALLY_METRICS_PORT",
    } <= seen


def test_every_scrape_target_is_a_compose_service_on_the_right_port() -> None:
    services = compose()["services"]
    prom = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    env = services["worker"]["environment"]
    ports = {
        "cloudtally-worker": int(env["CLOUDTALLY_METRICS_PORT"]),
        "cloudtally-api": int(env["CLOUDTALLY_API_PORT"]),
        "cloudtally-collector": int(env["CLOUDTALLY_METRICS_PORT"]),
    }
    hosts = set()
    for job in prom["scrape_configs"]:
        for sd in job.get("dns_sd_configs", []):
            hosts |= set(sd["names"])
            if job["job_name"] in ports:
                assert sd["port"] == ports[job["job_name"]], job["job_name"]
        for sc in job.get("static_configs", []):
            hosts |= {t.rsplit(":", 1)[0] for t in sc["targets"]}
    for am in prom["alerting"]["alertmanagers"]:
        for sc in am["static_configs"]:
            hosts |= {t.rsplit(":", 1)[0] for t in sc["targets"]}
    hosts.discard("localhost")
    assert hosts - services.keys() == set()
    assert {"worker", "api"} <= hosts


def test_compose_mounts_the_checked_configs() -> None:
    services = compose()["services"]
    mounts = {v.split(":")[0] for s in services.values() for v in s.get("volumes", [])}
    for path in (
        "../prometheus",
        "../alertmanager",
        "../../grafana/provisioning",
        "../../grafana/dashboards",
    ):
        assert path in mounts


def test_k8s_manifests_are_consistent() -> None:
    docs = list(yaml.safe_load_all(K8S.read_text()))
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
        if d["kind"] != "Namespace":
            assert d["metadata"]["namespace"] == "cloudtally"
    deployments = {d["metadata"]["name"]: d for d in by_kind["Deployment"]}
    assert {"worker", "api"} <= deployments.keys()
    for svc in by_kind["Service"]:
        sel = svc["spec"]["selector"]
        matched = [
            n for n, d in deployments.items() if d["spec"]["template"]["metadata"]["labels"] == sel
        ]
        assert matched, f"Service {svc['metadata']['name']} selects no Deployment"
        ports = {
            p["name"]
            for c in deployments[matched[0]]["spec"]["template"]["spec"]["containers"]
            for p in c.get("ports", [])
        }
        assert {p["targetPort"] for p in svc["spec"]["ports"]} <= ports
    for d in deployments.values():
        spec = d["spec"]
        assert spec["selector"]["matchLabels"] == spec["template"]["metadata"]["labels"]
    # Prometheus' dns_sd names must be headless Services here too.
    headless = {
        s["metadata"]["name"] for s in by_kind["Service"] if s["spec"].get("clusterIP") == "None"
    }
    assert {"worker", "api"} <= headless


def test_dockerfile_copies_files_that_exist() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    for line in re.findall(r"^COPY (?!--from)(.+)$", text, flags=re.M):
        for src in line.split()[:-1]:
            if src == "README.md" and not (ROOT / src).exists():
                pytest.fail("README.md is missing: the package build (pyproject readme) needs it")
            assert (ROOT / src).exists(), src
    assert 'ENTRYPOINT ["cloudtally"]' in text


# ---------------------------------------------------------------- the replicated store


def _xml(text: str) -> Any:
    import xml.etree.ElementTree as ET

    return ET.fromstring(text)


def _replication_layout(config: Any) -> tuple[list[str], list[str], Any]:
    """(Keeper hosts, cluster replica hosts, macros element) of a replication.xml."""
    keepers = [n.findtext("host") for n in config.find("zookeeper").findall("node")]
    shard = config.find("remote_servers").find("cloudtally").find("shard")
    assert shard.findtext("internal_replication") == "true"
    replicas = [r.findtext("host") for r in shard.findall("replica")]
    return keepers, replicas, config.find("macros")


def test_compose_store_is_two_replicas_on_a_three_node_keeper() -> None:
    from cloudtally.store.replication import parse_server_url

    services = compose()["services"]
    keepers = {n: services[n] for n in ("keeper-1", "keeper-2", "keeper-3")}
    assert sorted(k["environment"]["KEEPER_SERVER_ID"] for k in keepers.values()) == ["1", "2", "3"]
    keeper_xml = _xml((COMPOSE_FILE.parent / "keeper" / "keeper.xml").read_text())
    raft = keeper_xml.find("keeper_server").find("raft_configuration").findall("server")
    assert {(s.findtext("id"), s.findtext("hostname")) for s in raft} == {
        (svc["environment"]["KEEPER_SERVER_ID"], name) for name, svc in keepers.items()
    }
    keeper_hosts, cluster_replicas, macros = _replication_layout(
        _xml((COMPOSE_FILE.parent / "clickhouse" / "replication.xml").read_text())
    )
    assert sorted(keeper_hosts) == sorted(keepers)
    assert macros.find("replica").get("from_env") == "CLICKHOUSE_REPLICA"
    replica_names = {
        n: services[n]["environment"]["CLICKHOUSE_REPLICA"]
        for n in ("clickhouse-1", "clickhouse-2")
    }
    assert replica_names == {n: n for n in replica_names}  # distinct, and the interserver host
    for name in replica_names:
        mounts = [v.split(":")[1] for v in services[name]["volumes"]]
        assert "/etc/clickhouse-server/config.d/replication.xml" in mounts
        assert set(services[name]["depends_on"]) == set(keepers)
    url = services["worker"]["environment"]["CLOUDTALLY_STORE_URL"]
    target = parse_server_url(re.sub(r"\$\{[^}]*\}", "PASSWORD", url))  # compose's ${VAR:?msg}
    assert target.replication is not None
    assert [h for h, _ in target.hosts] == cluster_replicas == sorted(replica_names)
    for dependent in ("migrate", "grafana"):
        assert set(services[dependent]["depends_on"]) & set(replica_names)


def test_k8s_store_is_two_replicas_on_a_three_node_keeper() -> None:
    docs = list(yaml.safe_load_all((DEPLOY / "k8s" / "clickhouse.yaml").read_text()))
    for d in docs:
        assert d["metadata"]["namespace"] == "cloudtally"
    sets = {d["metadata"]["name"]: d for d in docs if d["kind"] == "StatefulSet"}
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    maps = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
    assert sets["keeper"]["spec"]["replicas"] == 3 and sets["clickhouse"]["spec"]["replicas"] == 2
    for name, sts in sets.items():
        svc = services[sts["spec"]["serviceName"]]
        assert svc["spec"]["clusterIP"] == "None"  # stable pod DNS names
        assert svc["spec"]["selector"] == sts["spec"]["template"]["metadata"]["labels"]
        assert (
            sts["spec"]["selector"]["matchLabels"] == sts["spec"]["template"]["metadata"]["labels"]
        )
        assert sts["spec"]["volumeClaimTemplates"], f"{name} keeps no data"
    pods = {
        name: [f"{name}-{i}.{sts['spec']['serviceName']}" for i in range(sts["spec"]["replicas"])]
        for name, sts in sets.items()
    }
    keeper_xml = _xml(maps["clickhouse-keeper-config"]["data"]["keeper.xml"])
    raft = keeper_xml.find("keeper_server").find("raft_configuration").findall("server")
    assert [(s.findtext("id"), s.findtext("hostname")) for s in raft] == [
        (str(i + 1), host) for i, host in enumerate(pods["keeper"])
    ]
    keeper_hosts, cluster_replicas, macros = _replication_layout(
        _xml(maps["clickhouse-config"]["data"]["replication.xml"])
    )
    assert keeper_hosts == pods["keeper"] and cluster_replicas == pods["clickhouse"]
    container = sets["clickhouse"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"] for e in container["env"]}
    assert macros.find("replica").get("from_env") in env
    # The store URL the services are told to use names exactly these replicas.
    from cloudtally.store.replication import parse_server_url

    text = K8S.read_text()
    url = re.search(r"'(clickhouse://[^']+)'", text)
    assert url, "deploy/k8s/cloudtally.yaml shows the replicated store URL"
    target = parse_server_url(url.group(1))
    assert target.replication is not None
    assert [h for h, _ in target.hosts] == pods["clickhouse"]


def test_every_api_replica_signs_console_sessions_with_one_shared_secret() -> None:
    """Without one shared key a session cookie made by one replica fails on the next."""
    api_env = compose()["services"]["api"]["environment"]
    assert api_env["CLOUDTALLY_CONSOLE_SECRET"].startswith("${CLOUDTALLY_CONSOLE_SECRET:?")
    docs = list(yaml.safe_load_all(K8S.read_text()))
    api = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "api")
    refs = [
        e["secretRef"]["name"]
        for c in api["spec"]["template"]["spec"]["containers"]
        for e in c.get("envFrom", [])
        if "secretRef" in e
    ]
    assert "cloudtally-console" in refs
    assert "secret generic cloudtally-console" in K8S.read_text()
