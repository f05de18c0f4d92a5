"""Fault helper: fill Redis with ballast keys until used memory reaches --percent of maxmemory
(noeviction policy: at the limit, writes are refused with OOM)."""
import argparse
import os

import redis


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--percent", type=float, default=99.0)
    args = parser.parse_args()
    r = redis.Redis(host=os.environ.get("LAB_BIND", "127.0.0.1"), port=int(os.environ["LAB_REDIS_PORT"]))
    maxmem = int(r.config_get("maxmemory")["maxmemory"])
    if not maxmem:
        raise SystemExit("redis has no maxmemory set")
    i = 0
    # Big values first, then ever smaller ones, so that even a tiny write is refused at the end.
    for size in (256 * 1024, 4096, 64):
        while r.info("memory")["used_memory"] < maxmem * args.percent / 100:
            try:
                r.set("lab:fault:ballast:%d" % i, b"x" * size)
            except redis.exceptions.ResponseError:  # OOM: at the limit for this size
                break
            i += 1
    print("wrote %d ballast keys; used_memory=%d maxmemory=%d" % (i, r.info("memory")["used_memory"], maxmem))


if __name__ == "__main__":
    main()
