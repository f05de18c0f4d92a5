"""incident-receiver: Alertmanager webhooks -> incident.response playbooks (ansible-runner or AWX)."""
__version__ = "0.1.0"
