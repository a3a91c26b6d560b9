"""epn_alert against the lab: SFTP listing on the lab sshd, portal visits, one email in .lab/mail."""

import json
import os
import uuid

from tests.integration import epn_lab


def parts(message):
    found = {}
    for part in message.walk():
        if part.get_content_maintype() == "text":
            found[part.get_content_subtype()] = part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
    return found


def test_alert_arrives_once_with_the_right_epns_and_people(lab, ansible_playbook, tmp_path):
    recipient = "helpdesk-%s@lab.example.org" % uuid.uuid4().hex[:8]
    args = epn_lab.alert_args(lab, tmp_path, recipient)
    first = epn_lab.run(ansible_playbook, tmp_path, "epn_alert", args)
    assert first["changed"] is True and first["sent"] is True
    assert first["alerted"] == ["15555a", "20999a"]
    reasons = {s["epn"]: s["reason"] for s in first["skipped_epns"]}
    assert "no visit" in reasons["17777a"]
    mails = epn_lab.mails_to(lab, recipient)
    assert len(mails) == 1
    message = mails[0]
    assert message["Subject"] == "Unknown ownership of EPNs"
    assert message.is_multipart()
    body = parts(message)
    text, html = body["plain"], body["html"]
    for epn in ("15555a", "20999a"):
        assert epn in text and epn in html
    for mapped in ("12282a", "13001a", "20123a", "17777a"):
        assert mapped not in text
    assert "Principal scientist: Dana O'Neil <dana.oneil@inst.example.org>" in text
    assert "Data scientist: Farid Haddad <farid.haddad@uni.example.edu>" in text
    assert "Principal scientist: Erin Walsh <PhD> <erin.walsh@inst.example.org>" in text
    assert "Dana O&#39;Neil" in html and "Walsh &lt;PhD&gt;" in html and "<PhD>" not in html

    second = epn_lab.run(ansible_playbook, tmp_path, "epn_alert", args)
    assert second["changed"] is False and second["sent"] is False and second["alerted"] == []
    assert all("already alerted" in s["reason"] for s in second["skipped_epns"] if s["epn"] != "17777a")
    assert len(epn_lab.mails_to(lab, recipient)) == 1


def test_alert_check_mode_renders_but_sends_and_records_nothing(lab, ansible_playbook, tmp_path):
    recipient = "helpdesk-%s@lab.example.org" % uuid.uuid4().hex[:8]
    args = epn_lab.alert_args(lab, tmp_path, recipient)
    result = epn_lab.run(ansible_playbook, tmp_path, "epn_alert", args, check_mode=True)
    assert result["changed"] is True and result["sent"] is False
    assert "15555a" in result["text"]
    assert epn_lab.mails_to(lab, recipient) == []
    assert not os.path.exists(args["state_file"])


def test_realert_after_days_and_replaced_templates(lab, ansible_playbook, tmp_path):
    recipient = "helpdesk-%s@lab.example.org" % uuid.uuid4().hex[:8]
    state = tmp_path / "state" / "epn_alert.json"
    state.parent.mkdir()
    state.write_text(json.dumps({"schema": "sciops.datasync.epn_alert", "version": 1,
                                 "data": {"alerted": {"15555a": {"at": "2020-01-01T00:00:00Z"}, "20999a": {"at": "2099-01-01T00:00:00Z"}}}}))
    (tmp_path / "t.txt.j2").write_text("{% for e in epns %}TEXT {{ e.epn }} {{ e.principal_scientist.email }}\n{% endfor %}")
    (tmp_path / "t.html.j2").write_text("{% for e in epns %}<b>{{ e.principal_scientist.last_name }}</b>{% endfor %}")
    args = epn_lab.alert_args(lab, tmp_path, recipient, realert_after_days=30,
                              template_text=str(tmp_path / "t.txt.j2"), template_html=str(tmp_path / "t.html.j2"))
    result = epn_lab.run(ansible_playbook, tmp_path, "epn_alert", args)
    assert result["alerted"] == ["15555a"]
    body = parts(epn_lab.mails_to(lab, recipient)[0])
    assert body["plain"].strip() == "TEXT 15555a dana.oneil@inst.example.org"
    assert body["html"].strip() == "<b>O&#39;Neil</b>"


def test_alert_refuses_a_wrong_host_key(lab, ansible_playbook, tmp_path):
    recipient = "helpdesk-%s@lab.example.org" % uuid.uuid4().hex[:8]
    args = epn_lab.alert_args(lab, tmp_path, recipient, known_hosts=epn_lab.wrong_known_hosts(tmp_path))
    result = epn_lab.run(ansible_playbook, tmp_path, "epn_alert", args, expect_failure=True)
    assert "host key does not match" in result["msg"] and args["known_hosts"] in result["msg"]
    assert epn_lab.mails_to(lab, recipient) == []
