"""Patches as the API server applies them: JSON merge patch (RFC 7386), strategic merge patch (merge keys,
$patch replace/delete/merge, $setElementOrder, $retainKeys, $deleteFromPrimitiveList) and JSON patch (RFC 6902)."""
import copy

# list field -> merge key, for the strategic merge patch (the patchMergeKey tags of k8s.io/api)
MERGE_KEYS = {"containers": "name", "initContainers": "name", "ephemeralContainers": "name", "env": "name",
              "volumes": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath", "ports": "containerPort",
              "imagePullSecrets": "name", "conditions": "type", "ownerReferences": "uid", "hostAliases": "ip",
              "topologySpreadConstraints": "topologyKey", "resourceClaims": "name", "envFrom": None}


class PatchError(Exception):
    """A patch that cannot apply (422)."""


def merge_patch(target, patch):
    """RFC 7386: objects merge, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def strategic_merge(target, patch):
    """Strategic merge of a map; directives are consumed, never stored."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    patch = dict(patch)
    directive = patch.pop("$patch", None)
    if directive == "replace":
        return strip_directives(patch)
    if directive == "delete":
        return None
    retain = patch.pop("$retainKeys", None)
    out = dict(target) if isinstance(target, dict) else {}
    orders = {k.split("/", 1)[1]: patch.pop(k) for k in list(patch) if k.startswith("$setElementOrder/")}
    deletions = {k.split("/", 1)[1]: patch.pop(k) for k in list(patch) if k.startswith("$deleteFromPrimitiveList/")}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, list):
            out[key] = merge_list(key, out.get(key), value)
        elif isinstance(value, dict):
            merged = strategic_merge(out.get(key), value)
            if merged is None:
                out.pop(key, None)
            else:
                out[key] = merged
        else:
            out[key] = value
    for key, values in deletions.items():
        if isinstance(out.get(key), list):
            out[key] = [v for v in out[key] if v not in values]
    for key, order in orders.items():
        if isinstance(out.get(key), list):
            out[key] = reorder(key, out[key], order)
    if retain is not None:
        out = {k: v for k, v in out.items() if k in retain}
    return out


def merge_list(key, current, patch):
    """A list in a strategic patch: merged by its merge key when it has one, else replaced."""
    mkey = MERGE_KEYS.get(key)
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return [strip_directives(i) for i in patch if not (isinstance(i, dict) and "$patch" in i)]
    if not mkey or not all(isinstance(i, dict) for i in patch):
        return [strip_directives(i) for i in patch]
    out = [copy.deepcopy(i) for i in (current or [])]
    for item in patch:
        idx = next((n for n, cur in enumerate(out) if isinstance(cur, dict) and cur.get(mkey) == item.get(mkey)), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
        elif idx is None:
            out.append(strip_directives(item))
        else:
            out[idx] = strategic_merge(out[idx], item)
    return out


def reorder(key, items, order):
    mkey = MERGE_KEYS.get(key)
    if not mkey:
        return items
    rank = {o.get(mkey) if isinstance(o, dict) else o: n for n, o in enumerate(order)}
    return sorted(items, key=lambda i: rank.get(i.get(mkey) if isinstance(i, dict) else i, len(rank)))


def strip_directives(value):
    if isinstance(value, dict):
        return {k: strip_directives(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [strip_directives(v) for v in value]
    return value


# -- RFC 6902 ---------------------------------------------------------------------------------------
def pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError("invalid JSON pointer %r" % path)
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def walk(doc, parts):
    node = doc
    for part in parts:
        node = child(node, part)
    return node


def child(node, part):
    try:
        if isinstance(node, list):
            return node[int(part)]
        return node[part]
    except (KeyError, IndexError, ValueError, TypeError):
        raise PatchError("doc is missing path: /%s" % part) from None


def list_index(node, part, adding):
    if part == "-" and adding:
        return len(node)
    try:
        idx = int(part)
    except ValueError:
        raise PatchError("invalid array index %r" % part) from None
    if idx < 0 or idx > len(node) - (0 if adding else 1):
        raise PatchError("array index %d out of bounds" % idx)
    return idx


def op_add(doc, parts, value):
    if not parts:
        return copy.deepcopy(value)
    parent = walk(doc, parts[:-1])
    if isinstance(parent, list):
        parent.insert(list_index(parent, parts[-1], True), copy.deepcopy(value))
    elif isinstance(parent, dict):
        parent[parts[-1]] = copy.deepcopy(value)
    else:
        raise PatchError("doc is missing path: %s" % "/".join(parts))
    return doc


def op_remove(doc, parts):
    if not parts:
        raise PatchError("cannot remove the whole document")
    parent = walk(doc, parts[:-1])
    if isinstance(parent, list):
        return doc, parent.pop(list_index(parent, parts[-1], False))
    if not isinstance(parent, dict) or parts[-1] not in parent:
        raise PatchError("unable to remove nonexistent key: %s: missing value" % parts[-1])
    return doc, parent.pop(parts[-1])


def json_patch(doc, ops):
    if not isinstance(ops, list):
        raise PatchError("a JSON patch is a list of operations")
    doc = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or "path" not in op or "op" not in op:
            raise PatchError("invalid JSON patch operation %r" % (op,))
        parts, kind = pointer(op["path"]), op["op"]
        if kind == "add":
            doc = op_add(doc, parts, op.get("value"))
        elif kind == "remove":
            doc, _old = op_remove(doc, parts)
        elif kind == "replace":
            walk(doc, parts)  # must exist
            if not parts:
                doc = copy.deepcopy(op.get("value"))
            else:
                doc, _old = op_remove(doc, parts)
                doc = op_add(doc, parts, op.get("value"))
        elif kind in ("move", "copy"):
            source = pointer(op["from"])
            if kind == "move":
                doc, value = op_remove(doc, source)
            else:
                value = copy.deepcopy(walk(doc, source))
            doc = op_add(doc, parts, value)
        elif kind == "test":
            if walk(doc, parts) != op.get("value"):
                raise PatchError("testing value %s failed" % op["path"])
        else:
            raise PatchError("Unexpected kind: %s" % kind)
    return doc


PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json")


def apply(obj, body, content_type):
    """The patched copy of obj. Raises PatchError (422); the caller answers 415 for unknown content types."""
    ctype = (content_type or "").split(";")[0].strip().lower()
    if ctype == "application/json-patch+json":
        return json_patch(obj, body)
    if not isinstance(body, dict):
        raise PatchError("a merge patch must be a JSON object")
    if ctype == "application/merge-patch+json":
        return merge_patch(obj, body)
    return strategic_merge(obj, body)
