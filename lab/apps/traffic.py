"""Steady synthetic user traffic through nginx, so error-rate and latency alerts have data."""
import json
import urllib.error
import urllib.request

from labcommon import STOP, env, handle_sigterm, setup_logging

log = setup_logging("traffic")


def main():
    handle_sigterm()
    url = "http://%s:%s/api/sagas" % (env("LAB_BIND", "127.0.0.1"), env("LAB_NGINX_PORT", "80"))
    interval = float(env("LAB_TRAFFIC_INTERVAL", "0.5"))
    failures = 0
    while not STOP.wait(interval):
        req = urllib.request.Request(url, data=json.dumps({"saga_name": "provision_service"}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        try:
            urllib.request.urlopen(req, timeout=3).read()
            failures = 0
        except (urllib.error.URLError, OSError) as exc:
            failures += 1
            if failures in (1, 10) or failures % 100 == 0:
                log.warning("request failed (%d in a row): %s", failures, exc)


if __name__ == "__main__":
    main()
