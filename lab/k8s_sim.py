#!/usr/bin/env python3
"""Entry point of the Kubernetes API simulation (the package lab/k8s_sim/ says what it simulates).

    python3 lab/k8s_sim.py --port 16443 --tls-cert C --tls-key K [--client-ca CA] [--token T=USER]...
        [--forbid USER:VERB:RESOURCE[:NS]]... [--ready-delay S] [--grace-scale F] [--seed NS/NAME=IMAGE[*N]]...
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from k8s_sim import __doc__ as DOC  # noqa: E402  pylint: disable=wrong-import-position
from k8s_sim.api import main  # noqa: E402  pylint: disable=wrong-import-position

if __name__ == "__main__":
    main(DOC)
