"""``make report`` (HTML, Korean) on an incident of the agent writer (tests/_unseen_agents.py).

The presence-only case: no viewer-count monitor, so the load is read from the presence
sessions, and the page says so in Korean. Its exports carry what real ones do: the viewers'
addresses (three office NATs among them), the anon key in every websocket URL and the users'
ids in JWT subjects and presence rows; none of it may reach the page or the findings. One
report, built once for the module.
"""

from __future__ import annotations

import csv
import gzip
import json
import re

import _unseen_agents as agents
import pytest

from analysis import report
from analysis.config import DEFAULT_INCIDENT_DIR
from analysis.params import build_params

pytestmark = pytest.mark.notebook

CASE = "presence_only"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("agents_report")
    directory = agents.write_incident(root, CASE)
    out = root / "out"
    params = build_params(
        agents.truth(CASE)["webinar_id"], directory, output_dir=out, formats="html", lang="ko"
    )
    report.run_report(params, progress=False)
    with (directory / "tables/webinar_live_presence.csv").open(encoding="utf-8") as fh:
        users = {row["user_id"] for row in csv.DictReader(fh)}
    addresses = set()
    for page in sorted((directory / "edge_logs").glob("*.json.gz")):
        for row in json.loads(gzip.decompress(page.read_bytes()))["result"]:
            addresses.add(row["event_message"].split(" | ")[2])
    return {
        "page": (out / "postmortem.html").read_text(encoding="utf-8"),
        "findings": (out / "findings.json").read_text(encoding="utf-8"),
        "users": users,
        "addresses": addresses,
    }


def test_no_user_id_address_or_key_of_the_exports_reaches_the_page(built):
    assert built["users"] and len(built["addresses"]) > 10
    for where in ("page", "findings"):
        text = built[where]
        assert [u for u in built["users"] if u in text] == [], where
        assert [a for a in built["addresses"] if a in text] == [], where
        assert agents.ANON_KEY.split(".")[2] not in text and "apikey=ey" not in text, where


def test_the_page_says_the_load_was_read_from_presence(built):
    findings = json.loads(built["findings"])
    (note,) = [q for q in findings["data_quality"] if q["code"] == "concurrency_from_presence"]
    assert note["fields"]["sessions"] > 0
    # Korean text for the note, and a load: verdicts, not the unmeasured audience.
    assert f"시청 세션 {note['fields']['sessions']:,}개에서 읽었습니다" in built["page"]
    assert findings["verdicts"] and "no_concurrency_samples" not in {
        q["code"] for q in findings["data_quality"]
    }


def test_nothing_of_the_shipped_incident(built):
    shipped = json.loads((DEFAULT_INCIDENT_DIR / "incident.json").read_text(encoding="utf-8"))
    words = [shipped["name"], shipped["project_ref"], "EventLive", "registrations_pkey"]
    visible = re.sub(r"<[^>]+>", " ", built["page"])
    assert [w for w in words if w in visible or w in built["findings"]] == []
