"""Print the extra vars of one Rundeck run as YAML: the job's options (RD_OPTION_*) that the
scenario's survey in extensions/awx/job_templates.yml declares, validated like AWX validates a
survey, every string tagged !unsafe so Ansible never renders a {{ ... }} typed into an option.

    python extravars.py p0-outage.yml > vars.yml   (run-scenario.sh does this)
"""
import json
import os
import sys

import yaml

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "awx", "job_templates.yml")


def load_survey(scenario):
    with open(TEMPLATES) as fh:
        data = yaml.safe_load(fh)
    for template in data["job_templates"]:
        if os.path.basename(template["playbook"]) == scenario:
            return template["survey"]
    known = sorted(os.path.basename(t["playbook"]) for t in data["job_templates"])
    raise ValueError("unknown scenario %r (one of: %s)" % (scenario, ", ".join(known)))


def answer(question, raw):
    """The typed value of one option, or ValueError naming what is wrong."""
    var, kind = question["variable"], question["type"]
    if kind == "integer":
        try:
            value = int(raw)
        except ValueError:
            raise ValueError("%s: %r is not an integer" % (var, raw)) from None
        if not question.get("min", value) <= value <= question.get("max", value):
            raise ValueError("%s: %d is outside %s..%s" % (var, value, question.get("min"), question.get("max")))
        return value
    if kind == "multiplechoice" and raw not in question["choices"]:
        raise ValueError("%s: %r is not one of %s" % (var, raw, ", ".join(question["choices"])))
    if len(raw) > question.get("max", 1024):
        raise ValueError("%s: longer than %d characters" % (var, question["max"]))
    return raw


def render(values):
    """YAML with strings as !unsafe double-quoted scalars (JSON escapes are valid YAML escapes)."""
    lines = ["---"]
    for var, value in sorted(values.items()):
        lines.append("%s: %s%s" % (var, "!unsafe " if isinstance(value, str) else "", json.dumps(value)))
    return "\n".join(lines) + "\n"


def main(argv, env):
    if len(argv) != 2:
        sys.stderr.write("usage: extravars.py <scenario playbook, e.g. p0-outage.yml>\n")
        return 2
    try:
        values = {}
        for question in load_survey(argv[1]):
            raw = env.get("RD_OPTION_" + question["variable"].upper(), "")
            if raw != "":
                values[question["variable"]] = answer(question, raw)
            elif question.get("required") and question.get("default", "") == "":
                raise ValueError("%s is required (option %s)" % (question["variable"], question["variable"]))
    except ValueError as exc:
        sys.stderr.write("run-scenario: %s\n" % exc)
        return 2
    sys.stdout.write(render(values))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv, os.environ))
