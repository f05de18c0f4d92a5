import os

from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

from incident_receiver import dispatch

EVIL = "{{ lookup('ansible.builtin.pipe', 'id') }} $(id) `id`"


def job():
    return {"extra_vars": {"incident_id": "INC-2026-01-01-001", "route_var": "{{ 1 + 1 }}", "alert_name": EVIL,
                           "description": EVIL, "severity": "P0",
                           "incident_alert": {"labels": {"alertname": "X", "evil": EVIL, "calc": "{{ 1 + 1 }}"},
                                              "list": [EVIL]}}}


def test_alert_strings_are_written_unsafe_and_ansible_does_not_render_them(tmp_path):
    text = dispatch.dump_extravars(dispatch.job_vars(job()))
    assert "!unsafe" in text and "route_var: '{{ 1 + 1 }}'" in text
    path = tmp_path / "extravars"
    path.write_text(text)
    # exactly how ansible-playbook loads `-e @file`: as trusted templates, unless tagged !unsafe
    data = DataLoader().load_from_file(str(path), trusted_as_template=True)
    templar = Templar(loader=DataLoader(), variables=data)
    assert templar.template(data["incident_alert"]["labels"]["evil"]) == EVIL
    assert templar.template(data["incident_alert"]["list"][0]) == EVIL
    assert templar.template(data["incident_alert"]["labels"]["calc"]) == "{{ 1 + 1 }}"
    assert templar.template(data["alert_name"]) == EVIL and templar.template(data["description"]) == EVIL
    assert templar.template(data["route_var"]) == 2      # route vars come from trusted config


def test_prune_keeps_the_newest_and_the_active(tmp_path):
    for i in range(1, 8):
        os.makedirs(dispatch.run_dir(str(tmp_path), i))
    dispatch.prune_runs(str(tmp_path), keep=3, active_ids={2})
    assert sorted(os.listdir(str(tmp_path))) == ["job-2", "job-5", "job-6", "job-7"]


def test_summary_reads_runner_events(tmp_path):
    events = tmp_path / "artifacts" / "run" / "job_events"
    events.mkdir(parents=True)
    (events / "1-a.json").write_text('{"event": "runner_on_failed", "event_data": {"task": "Restart", "host": "lab"}}')
    (events / "2-b.json").write_text('{"event": "playbook_on_stats", "event_data": {"failures": {"lab": 1}, "ok": {}}}')
    (events / "3-c.json").write_text('{not json')
    out = dispatch.summary(str(tmp_path))
    assert out["failed_tasks"] == [{"task": "Restart", "host": "lab"}]
    assert out["stats"]["failures"] == {"lab": 1} and out["events"]["playbook_on_stats"] == 1


def test_no_orphan_matches_a_prefix_of_another_run(tmp_path):
    assert dispatch.pids_using("") == []
    assert dispatch.pids_using(str(tmp_path / "runs" / "job-1")) == []
