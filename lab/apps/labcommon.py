"""Shared helpers for the lab's services: settings from the environment, logging, shutdown."""
import logging
import os
import signal
import sys
import threading

import psycopg2

STOP = threading.Event()


def env(name, default=None):
    return os.environ.get(name, default)


def setup_logging(service):
    logging.basicConfig(
        stream=sys.stdout,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s " + service + " %(message)s",
    )
    return logging.getLogger(service)


def handle_sigterm(callback=None):
    """Exit promptly on SIGTERM/SIGINT so `docker stop` never waits for its timeout."""
    def _stop(signum, _frame):
        logging.getLogger().info("received signal %s, shutting down", signum)
        STOP.set()
        if callback:
            callback()
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)


def pg_connect(app_name, timeout=2):
    return psycopg2.connect(
        host=env("LAB_BIND", "127.0.0.1"),
        port=int(env("LAB_POSTGRES_PORT", "5432")),
        user=env("LAB_POSTGRES_USER", "orchestrator"),
        password=env("LAB_POSTGRES_PASSWORD", ""),
        dbname=env("LAB_POSTGRES_DB", "orchestrator"),
        connect_timeout=timeout,
        application_name=app_name,
    )
