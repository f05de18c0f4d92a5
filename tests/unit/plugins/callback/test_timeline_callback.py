from ansible_collections.incident.response.plugins.callback.timeline import CallbackModule, NO_LOG_NOTE


class Node(object):
    def __init__(self, uuid, parent=None, block=None, rescue=None):
        self._uuid, self._parent, self.block, self.rescue = uuid, parent, block or [], rescue or []


def _tree():
    outer = Node("outer")
    body, fixer = Node("body", outer), Node("fixer", outer)
    outer.block, outer.rescue = [body], [fixer]
    inner = Node("inner", body)
    body.block = [inner]
    plain = Node("plain", Node("plain-block"))
    plain._parent.block = [plain]
    return inner, fixer, plain


def test_rescue_detection_walks_nested_blocks():
    inner, fixer, plain = _tree()
    assert CallbackModule._in_rescued_block(inner)
    assert not CallbackModule._in_rescued_block(fixer)  # a failure inside rescue is a real failure
    assert not CallbackModule._in_rescued_block(plain)


def test_item_counts():
    items = [{"changed": True}, {"skipped": True}, {"failed": True, "changed": True}, {}, "junk"]
    assert CallbackModule._item_counts(items) == {"changed": 1, "skipped": 1, "failed": 1, "ok": 1}


def test_summary_is_bounded_and_selective():
    cb = CallbackModule()
    cb._max_chars = 300
    data = {"msg": "m", "rc": 2, "stdout": "x" * 5000, "invocation": {"module_args": {"a": 1}}, "_ansible_no_log": False,
            "findings": [{"severity": "critical", "check": "c", "message": "down"}]}
    summary = cb._summary(data)
    assert "invocation" not in summary and summary["msg"] == "m" and summary["rc"] == 2
    assert len(repr(summary)) <= 300
    assert NO_LOG_NOTE
