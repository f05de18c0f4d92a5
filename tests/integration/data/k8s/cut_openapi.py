"""Cut openapi-subset.json out of the official Kubernetes OpenAPI v2 document (see README.md here).

Usage: python cut_openapi.py SWAGGER_JSON > openapi-subset.json
Keeps the ROOTS definitions and every definition they reach through $ref, nothing else."""
import json
import sys

ROOTS = [
    "io.k8s.api.core.v1." + n for n in ("Pod", "PodList", "Event", "EventList", "Node", "NodeList", "Namespace", "NamespaceList")
] + [
    "io.k8s.api.apps.v1." + n for n in ("Deployment", "DeploymentList", "ReplicaSet", "ReplicaSetList", "StatefulSet",
                                        "StatefulSetList", "ControllerRevision", "ControllerRevisionList")
] + [
    "io.k8s.api.autoscaling.v1.Scale", "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler",
    "io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerList",
] + [
    "io.k8s.apimachinery.pkg.apis.meta.v1." + n for n in ("Status", "WatchEvent", "APIGroupList", "APIResourceList", "APIVersions")
] + ["io.k8s.apimachinery.pkg.version.Info"]


def refs(node):
    if isinstance(node, dict):
        if "$ref" in node:
            yield node["$ref"].rsplit("/", 1)[-1]
        for value in node.values():
            yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def strip(node):
    """Descriptions are most of the size and none of the check."""
    if isinstance(node, dict):
        return {k: strip(v) for k, v in node.items() if k != "description" or not isinstance(v, str)}
    if isinstance(node, list):
        return [strip(v) for v in node]
    return node


def main(path):
    with open(path) as fh:
        full = json.load(fh)
    defs, todo = {}, list(ROOTS)
    while todo:
        name = todo.pop()
        if name in defs:
            continue
        defs[name] = strip(full["definitions"][name])
        todo.extend(refs(defs[name]))
    json.dump({"swagger": "2.0", "info": dict(full.get("info", {}), **{"x-source": "kubernetes-client/python kubernetes/swagger.json.unprocessed"}),
               "definitions": dict(sorted(defs.items()))}, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
