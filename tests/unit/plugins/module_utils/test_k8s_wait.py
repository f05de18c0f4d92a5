"""Waiting by watch: list, watch from the resourceVersion, re-list on 410, poll with backoff without watch."""
from ansible_collections.incident.response.plugins.module_utils.k8s_api import K8sError
from ansible_collections.incident.response.plugins.module_utils.k8s_wait import wait_for, wait_rollout


class Clock(object):
    def __init__(self):
        self.now = 0.0
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, s):
        self.slept.append(s)
        self.now += s


def obj(name, rv, ready):
    return {"metadata": {"name": name, "resourceVersion": str(rv)}, "ready": ready}


class FakeClient(object):
    def __init__(self, lists, watches):
        self.lists, self.watches, self.calls = list(lists), list(watches), []

    def list(self, resource, namespace, **kw):
        self.calls.append(("list",))
        return self.lists.pop(0)

    def watch(self, resource, namespace, rv, timeout_s, label_selector=None, field_selector=None):
        self.calls.append(("watch", rv))
        item = self.watches.pop(0)
        if isinstance(item, Exception):
            raise item
        yield from item


def ready(objs):
    return bool(objs) and all(o["ready"] for o in objs), len(objs)


def test_watch_from_the_list_resource_version_until_ready():
    clock = Clock()
    client = FakeClient([{"metadata": {"resourceVersion": "5"}, "items": [obj("a", 5, False)]}],
                        [[{"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "6"}}},
                          {"type": "MODIFIED", "object": obj("a", 7, True)}]])
    assert wait_for(client, "pods", "prod", ready, 10, clock=clock, sleep=clock.sleep) == (True, 1)
    assert client.calls == [("list",), ("watch", "5")] and clock.slept == []


def test_410_gone_relists_and_errors_back_off():
    clock = Clock()
    client = FakeClient([{"metadata": {"resourceVersion": "5"}, "items": [obj("a", 5, False)]},
                         {"metadata": {"resourceVersion": "90"}, "items": [obj("a", 90, False)]},
                         {"metadata": {"resourceVersion": "95"}, "items": [obj("a", 95, False)]}],
                        [[{"type": "ERROR", "object": {"kind": "Status", "code": 410}}], K8sError("boom", 503),
                         [{"type": "DELETED", "object": obj("a", 96, False)}, {"type": "ADDED", "object": obj("b", 97, True)}]])
    assert wait_for(client, "pods", "prod", ready, 10, clock=clock, sleep=clock.sleep) == (True, 1)
    assert client.calls == [("list",), ("watch", "5"), ("list",), ("watch", "90"), ("list",), ("watch", "95")]
    assert clock.slept == [0.2, 0.4]


def test_without_watch_it_polls_with_growing_backoff_until_the_timeout():
    clock = Clock()
    lists = [{"metadata": {"resourceVersion": str(i)}, "items": [obj("a", i, False)]} for i in range(20)]
    client = FakeClient(lists, [[{"kind": "PodList", "items": []}]])
    finished, value = wait_for(client, "pods", "prod", ready, 5, clock=clock, sleep=clock.sleep)
    assert finished is False and value == 1
    assert clock.slept[:4] == [0.2, 0.4, 0.8, 1.6] and max(clock.slept) <= 2.0
    assert [c for c in client.calls if c[0] == "watch"] == [("watch", "0")]


def test_wait_rollout_stops_on_a_progress_deadline():
    dep = {"metadata": {"name": "api", "generation": 1, "resourceVersion": "3"}, "spec": {"replicas": 1},
           "status": {"observedGeneration": 1, "conditions": [{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}]}}
    client = FakeClient([{"metadata": {"resourceVersion": "3"}, "items": [dep]}], [])
    done, got, reason = wait_rollout(client, "deployment", "prod", "api", 30)
    assert done is False and got is dep and reason.startswith("progress deadline exceeded")
