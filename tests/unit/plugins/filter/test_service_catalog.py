"""The service catalog: bad entries fail with the field's name; the derived view drives every role."""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.incident.response.plugins.filter.catalog import (
    catalog_scope, compose_services, service_catalog, service_order)

SHOP = [
    dict(name="web", kind="proxy", project="shop", health_url="http://127.0.0.1:28080/ping", depends_on=["app"],
         severity="P0", public_url="http://127.0.0.1:28080/orders",
         maintenance=dict(method="http", url="http://127.0.0.1:28000/admin/maintenance-mode",
                          body_on={"mode": "enabled", "message": "{message}"}, body_off={"mode": "disabled"})),
    dict(name="app", project="shop", engine="podman", health_url="http://127.0.0.1:28000/health", depends_on=["db"],
         severity="P0"),
    dict(name="db", kind="postgres", project="shop", engine="podman", severity="P0",
         connection=dict(host="127.0.0.1", port=25432), checks=dict(
             unpaid=dict(sql="SELECT 1", max=0, severity="critical", service="app", playbook="p0-outage"))),
]
ENGINES = {"podman": {"docker_host": "unix:///run/podman.sock"}}


def test_derived_view():
    c = service_catalog(SHOP, ENGINES)
    assert c["order"] == ["db", "app", "web"]
    assert c["front"] == "web" and c["maintenance"]["http_method"] == "POST"
    assert c["postgres"]["port"] == 25432 and c["postgres_service"] == "db" and c["redis"] == {}
    assert [g["id"] for g in c["groups"]] == ["default/shop", "podman/shop"]
    assert c["groups"][1]["docker_host"] == "unix:///run/podman.sock" and c["groups"][1]["services"] == ["app", "db"]
    assert c["services"]["app"]["docker_host"] == "unix:///run/podman.sock" and c["services"]["web"]["docker_host"] == ""
    assert c["checks"]["unpaid"]["service"] == "app"
    assert c["public_checks"] == [dict(name="public", url="http://127.0.0.1:28080/orders")]
    triage = dict((d["name"], d) for d in c["triage"])
    assert triage["db"]["kind"] == "postgres" and triage["app"]["group"] == "podman/shop"
    assert triage["web"]["down_severity"] == "P0" and triage["app"]["url"].endswith("/health")


def test_empty_catalog_is_empty_not_an_error():
    c = service_catalog([], None)
    assert c["names"] == [] and c["groups"] == [] and c["front"] == "" and c["triage"] == []
    assert service_catalog(None)["names"] == []


@pytest.mark.parametrize("entry, field", [
    (dict(name="a", project="x", severity="P5"), "'severity'"),
    (dict(name="a", projct="x"), "unknown field 'projct'"),
    (dict(name="a", project="x", depends_on=["b"]), "'depends_on': 'b'"),
    (dict(name="a", project="x", engine="nope"), "'engine': 'nope'"),
    (dict(name="a", project="x", health_url="localhost:80/health"), "'health_url'"),
    (dict(name="a", project="x", maintenance=dict(method="http")), "'url' is required"),
    (dict(name="a", project="x", maintenance=dict(method="nginx")), "site_link"),
    (dict(name="a", project="x", maintenance=dict(method="ftp")), "'method'"),
    (dict(project="x"), "'name' is required"),
    (dict(name="a"), "'project' is required"),
    (dict(name="a", project="x", kind="postgres"), "'connection.host'"),
    (dict(name="a", project="x", checks=dict(c=dict(sql="SELECT 1"))), "kind postgres"),
    (dict(name="a", project="x", kind="postgres", connection=dict(host="h"), checks=dict(c=dict(max=1))), "'sql' is required"),
    (dict(name="a", project="x", depends_on="b"), "'depends_on' must be a list"),
    (dict(name="a", runtime="kubernetes"), "exactly one of 'deployment'"),
    (dict(name="a", runtime="kubernetes", k8s=dict(deployment="d", pod="p")), "exactly one of 'deployment'"),
    (dict(name="a", runtime="kubernetes", k8s=dict(deployment="d", cluster="eu")), "'k8s.cluster': 'eu' is not in"),
    (dict(name="a", runtime="kubernetes", k8s=dict(deployment="d", replicas=3)), "k8s"),
    (dict(name="a", project="x", k8s=dict(deployment="d")), "runtime kubernetes"),
])
def test_bad_entry_names_its_field(entry, field):
    with pytest.raises(AnsibleFilterError) as err:
        service_catalog([entry], ENGINES)
    assert field in str(err.value) and "incident_services[0]" in str(err.value)


def test_cycles_duplicates_and_bad_engines_are_refused():
    with pytest.raises(AnsibleFilterError, match="cycle: a -> b -> a"):
        service_catalog([dict(name="a", project="x", depends_on=["b"]), dict(name="b", project="x", depends_on=["a"])])
    with pytest.raises(AnsibleFilterError, match="appears twice"):
        service_catalog([dict(name="a", project="x"), dict(name="a", project="x")])
    with pytest.raises(AnsibleFilterError, match="docker_host"):
        service_catalog([dict(name="a", project="x")], {"default": {"docker_host": "/var/run/docker.sock"}})
    with pytest.raises(AnsibleFilterError, match="must be a list"):
        service_catalog({"a": {}})


def test_connections_get_defaults_and_typos_are_refused():
    c = service_catalog([dict(name="db", kind="postgres", project="x", connection=dict(host="h")),
                         dict(name="cache", kind="redis", project="x", connection=dict(host="r", password="p")),
                         dict(name="app", project="x", depends_on=["db", "cache"]),
                         dict(name="k", runtime="kubernetes", k8s=dict(deployment="d"), depends_on=["db"])])
    assert c["postgres"] == dict(host="h", port=5432, user="postgres", password="", database="postgres")
    assert c["redis"] == dict(host="r", port=6379, password="p")
    assert compose_services(["db"], c, dependants=True) == ["db", "app"]  # k is not a compose service
    assert compose_services(["nope", "app", ""], c) == ["app"]
    with pytest.raises(AnsibleFilterError, match=r"\(db\).connection: unknown field 'pasword'"):
        service_catalog([dict(name="db", kind="postgres", project="x", connection=dict(host="h", pasword="x"))])
    with pytest.raises(AnsibleFilterError, match="belongs on a service of kind postgres or redis"):
        service_catalog([dict(name="a", project="x", connection=dict(host="h"))])
    assert service_catalog([dict(name="db", kind="postgres", project="x", connection=dict(host="h"),
                                 checks=dict(ratio=dict(sql="SELECT 0.2", max=0.5)))])["checks"]["ratio"]["max"] == 0.5


def test_project_default_and_service_order():
    c = service_catalog([dict(name="a", depends_on=["b"]), dict(name="b")], None, "proj")
    assert c["services"]["a"]["project"] == "proj" and c["order"] == ["b", "a"]
    assert service_order(["x", "a", "b"], c) == ["b", "a", "x"]


def test_catalog_scope_keeps_one_incidents_part_of_the_system():
    c = service_catalog([dict(name="web", project="shop", service="nginx", health_url="http://127.0.0.1:1/h",
                              public_url="http://127.0.0.1:1/", depends_on=["app"]),
                         dict(name="app", project="shop", health_url="http://127.0.0.1:2/h"),
                         dict(name="worker", project="shop", health_url="http://127.0.0.1:3/h"),
                         dict(name="other", project="elsewhere", health_url="http://127.0.0.1:4/h")])
    scope = catalog_scope(["app", "web", "", "nope"], c)
    assert scope["names"] == ["web", "app"]
    assert [d["name"] for d in scope["triage"]] == ["web", "app"]
    assert [(g["project"], g["services"]) for g in scope["groups"]] == [("shop", ["nginx", "app"])]
    assert [h["name"] for h in scope["health_checks"]] == ["web", "app"] and scope["public_checks"] == c["public_checks"]
    alone = catalog_scope(["other"], c)
    assert [(g["project"], g["services"]) for g in alone["groups"]] == [("elsewhere", ["other"])]
    assert catalog_scope([], c)["groups"] == [] and catalog_scope(["x"], {})["triage"] == []


def test_kubernetes_services_name_their_cluster_workload_and_guard_rails():
    clusters = {"prod-eu": {"kubeconfig": "/etc/kube/eu:/etc/kube/shared", "context": "eu-admin"}}
    c = service_catalog([dict(name="checkout", runtime="kubernetes", health_url="http://127.0.0.1:1/h",
                              k8s=dict(cluster="prod-eu", namespace="shop", deployment="checkout-api", max_replicas=6)),
                         dict(name="ledger", runtime="kubernetes", k8s=dict(cluster="prod-eu", namespace="shop", statefulset="ledger")),
                         dict(name="cron", runtime="kubernetes", k8s=dict(pod="nightly"))], None, None, clusters)
    k = c["services"]["checkout"]["k8s"]
    assert (k["kind"], k["name"], k["namespace"], k["max_replicas"], k["max_memory_limit"]) == ("deployment", "checkout-api", "shop", 6, "4Gi")
    assert k["conn"] == clusters["prod-eu"] and c["services"]["cron"]["k8s"]["conn"] == {}
    assert [(g["id"], g["workloads"]) for g in c["k8s_groups"]] == [("prod-eu/shop", ["checkout-api", "ledger"]), ("default/-", ["nightly"])]
    triage = dict((d["name"], d) for d in c["triage"])
    assert triage["checkout"]["kind"] == "k8s" and triage["checkout"]["workload"] == "checkout-api"
    assert triage["checkout"]["group"] == "prod-eu/shop" and triage["checkout"]["url"] == "http://127.0.0.1:1/h"
    assert c["groups"] == []  # no compose project to inspect
    with pytest.raises(AnsibleFilterError, match="incident_k8s_clusters.eu: unknown field 'kube_config'"):
        service_catalog([], None, None, {"eu": {"kube_config": "/x"}})


def test_catalog_scope_cuts_kubernetes_groups_to_the_incidents_workloads():
    c = service_catalog([dict(name="checkout", runtime="kubernetes", k8s=dict(namespace="shop", deployment="checkout-api")),
                         dict(name="cart", runtime="kubernetes", k8s=dict(namespace="shop", deployment="cart")),
                         dict(name="db", kind="postgres", project="x", connection=dict(host="h"))])
    scope = catalog_scope(["checkout", "db"], c)
    assert [(g["id"], g["workloads"]) for g in scope["k8s_groups"]] == [("default/shop", ["checkout-api"])]
    assert catalog_scope(["db"], c)["k8s_groups"] == []


def test_a_kubernetes_database_without_a_connection_is_checked_through_exec():
    c = service_catalog([dict(name="db", kind="postgres", runtime="kubernetes", k8s=dict(namespace="data", statefulset="pg")),
                         dict(name="cache", kind="redis", runtime="kubernetes", k8s=dict(deployment="redis", exec_check=["redis-cli", "-a", "x", "ping"])),
                         dict(name="db2", kind="postgres", runtime="kubernetes", connection=dict(host="pg.data.svc"), k8s=dict(deployment="pg2"))])
    triage = dict((d["name"], d) for d in c["triage"])
    assert triage["db"]["exec_check"] == ["pg_isready", "-q"] and triage["db"]["workload_kind"] == "statefulset"
    assert triage["cache"]["exec_check"] == ["redis-cli", "-a", "x", "ping"]
    assert "exec_check" not in triage["db2"] and c["postgres"]["host"] == "pg.data.svc"  # the one that has a connection
    with pytest.raises(AnsibleFilterError, match="connection.host"):
        service_catalog([dict(name="db", kind="postgres", project="x")])
