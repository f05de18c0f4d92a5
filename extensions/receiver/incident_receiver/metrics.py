"""Prometheus text exposition without a client library: counters, histograms and DB-backed gauges."""
import threading

PREFIX = "incident_receiver_"


class Histogram:
    def __init__(self, name, help_text, buckets):
        self.name, self.help, self.buckets = PREFIX + name, help_text, tuple(buckets)
        self.counts = [0] * len(self.buckets)
        self.sum = 0.0
        self.count = 0

    def observe(self, value):
        self.sum += value
        self.count += 1
        for i, upper in enumerate(self.buckets):
            if value <= upper:
                self.counts[i] += 1

    def render(self):
        lines = ["# HELP %s %s" % (self.name, self.help), "# TYPE %s histogram" % self.name]
        for upper, count in zip(self.buckets, self.counts):
            lines.append('%s_bucket{le="%g"} %d' % (self.name, upper, count))
        lines += ['%s_bucket{le="+Inf"} %d' % (self.name, self.count), "%s_sum %.6f" % (self.name, self.sum),
                  "%s_count %d" % (self.name, self.count)]
        return lines


class Metrics:
    def __init__(self):
        self.lock = threading.Lock()
        self.counters = {}
        self.histograms = {
            "ack": Histogram("ack_seconds", "Time from request to acknowledgment (alert stored).",
                             (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1)),
            "start": Histogram("dispatch_latency_seconds", "Time from alert stored to playbook launched.",
                               (0.1, 0.25, 0.5, 1, 1.5, 2.5, 5, 10, 30, 60)),
            "run": Histogram("run_duration_seconds", "Duration of finished runs.",
                             (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800)),
        }
        self.help = {
            "alerts_received_total": "Alerts received, by source and status.",
            "alerts_deduplicated_total": "Firing alerts folded into an existing run (not re-run).",
            "requests_rejected_total": "Requests refused, by HTTP status.",
        }

    def inc(self, name, labels=(), value=1):
        with self.lock:
            key = (name, tuple(labels))
            self.counters[key] = self.counters.get(key, 0) + value

    def observe(self, name, value):
        with self.lock:
            self.histograms[name].observe(value)

    def render(self, job_counts):
        """job_counts: {status: n} from the store (survives restarts, unlike the counters)."""
        lines = []
        with self.lock:
            for name, help_text in self.help.items():
                lines += ["# HELP %s%s %s" % (PREFIX, name, help_text), "# TYPE %s%s counter" % (PREFIX, name)]
                rows = sorted((k[1], v) for k, v in self.counters.items() if k[0] == name)
                if not rows:
                    lines.append("%s%s 0" % (PREFIX, name))
                for labels, value in rows:
                    text = ",".join('%s="%s"' % (k, _escape(v)) for k, v in labels)
                    lines.append("%s%s%s %d" % (PREFIX, name, "{%s}" % text if text else "", value))
            lines += ["# HELP %sruns Runs by status." % PREFIX, "# TYPE %sruns gauge" % PREFIX]
            for status in ("queued", "running", "succeeded", "failed", "interrupted", "canceled"):
                lines.append('%sruns{status="%s"} %d' % (PREFIX, status, job_counts.get(status, 0)))
            lines += ["# HELP %squeue_depth Runs waiting to start." % PREFIX, "# TYPE %squeue_depth gauge" % PREFIX,
                      "%squeue_depth %d" % (PREFIX, job_counts.get("queued", 0))]
            for hist in self.histograms.values():
                lines += hist.render()
        return "\n".join(lines) + "\n"


def _escape(value):
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
