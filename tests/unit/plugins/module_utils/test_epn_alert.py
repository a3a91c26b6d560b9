"""The alert plan and its email rendering."""

import datetime

from ansible_collections.sciops.datasync.plugins.module_utils._epn import alert as _epn_alert

NOW = datetime.datetime(2026, 11, 23, tzinfo=datetime.timezone.utc)
PI = {"name": "Dana O'Neil", "email": "d@x"}


def visit(epn):
    return {"epn": epn, "equipment": 23, "start_time": "2026-11-01T00:00:00Z", "end_time": "2026-11-02T00:00:00Z",
            "principal_scientist": PI, "data_scientists": [{"name": "Erin <b>Walsh</b>", "email": "e@x"}]}


def test_plan_alerts_unknown_epns_with_visits_once():
    source = {"MX1": ["12282a", "15555a", "17777a", ".snapshot", "bad name"], "MX2": ["20999a", "30000a"]}
    alerted = {"20999a": {"at": "2026-11-20T00:00:00Z"}, "30000a": {"at": "2026-01-01T00:00:00Z"}}
    plan = _epn_alert.plan_alert(source, {"12282": "ny79"}, [visit("15555a"), visit("20999a"), visit("30000a")], alerted, NOW)
    assert [a["epn"] for a in plan["alert"]] == ["15555a"]
    reasons = {s["epn"]: s["reason"] for s in plan["skipped"]}
    assert "no visit" in reasons["17777a"] and "already alerted" in reasons["20999a"] and "already alerted" in reasons["30000a"]
    assert "'bad name'" in plan["errors"][0]["reason"] and plan["errors"][0]["item"] == "bad name"
    again = _epn_alert.plan_alert(source, {"12282": "ny79"}, [visit("20999a"), visit("30000a")], alerted, NOW, realert_after_days=30)
    assert [a["epn"] for a in again["alert"]] == ["30000a"]


def test_render_escapes_html_only():
    items = [dict(visit("15555a"), epn="15555a", beamline="MX1")]
    text, html = _epn_alert.render_email(items, {"source": "sftp", "generated": "now", "visit_day_range": 200})
    assert "Erin <b>Walsh</b> <e@x>" in text and "Dana O'Neil" in text
    assert "Erin &lt;b&gt;Walsh&lt;/b&gt;" in html and "O&#39;Neil" in html and "<b>Walsh" not in html
