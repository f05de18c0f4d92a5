"""docs/receiver.md "Signed requests (from a proxy)": its shell snippet, run as written (sh, openssl,
curl) against the real receiver, is accepted; the same request replayed is refused."""
import json
import os
import re
import subprocess

import pytest

from tests.integration.receiver_support import REPO, ReceiverProcess, write_config

pytestmark = pytest.mark.lab   # collected with the integration suite (takes the lab lock; touches no container)


def doc_snippet():
    with open(os.path.join(REPO, "docs", "receiver.md")) as fh:
        text = fh.read()
    section = text.split("### Signed requests (from a proxy)", 1)[1]
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)


def test_the_documented_signing_snippet_is_accepted_once(tmp_path):
    secret = "doc-hmac-secret"
    routes = {"routes": [], "default": {"playbook": "receiver_marker.yml"}}
    cfg = write_config(tmp_path, routes, dispatch={"backend": "none"},
                       auth={"token": "t", "token_env": "NO_SUCH_ENV_VAR", "hmac_secret": secret})
    rcv = ReceiverProcess(cfg).start()
    try:
        (tmp_path / "body.json").write_text(json.dumps({"alertname": "DocSigned", "service": "api"}))
        script = doc_snippet().replace("http://127.0.0.1:19095", rcv.base)
        script = script.replace("curl -sS", "curl -sS -o /dev/null -w '%{http_code}\\n'")
        script += '\ncurl -sS -o /dev/null -w "%{http_code}\\n" ' + rcv.base + '/alert -H "Content-Type: application/json" ' \
                  '-H "X-Signature-Timestamp: $ts" -H "X-Signature-Nonce: $nonce" -H "X-Signature: sha256=$sig" ' \
                  '--data-binary @body.json\n'
        out = subprocess.run(["bash", "-c", script], cwd=str(tmp_path), capture_output=True, text=True, timeout=30,
                             env=dict(os.environ, INCIDENT_RECEIVER_HMAC_SECRET=secret), check=False)
        assert out.stdout.split() == ["200", "403"], out.stdout + out.stderr + rcv.read_log()
        assert [r["alertname"] for r in rcv.runs()] == ["DocSigned"]
        assert secret not in rcv.read_log()
    finally:
        rcv.stop()
