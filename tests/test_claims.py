"""Claims of an earlier write-up checked against measurements: every outcome, bad claims."""

from __future__ import annotations

import pytest

from analysis import claims
from analysis.exceptions import IngestError

WID = "w1"


def measured(**over) -> dict:
    base = {
        "webinar_id": WID,
        "audience": {
            "peak": 120,
            "unique_users": 80,
            "sessions": 400,
            "registrations": 100,
            "mean_of_bucket_maxima": 90.0,
            "time_weighted_mean": 70.0,
            "buckets_with_samples": 12,
        },
        "totals": {"peak": 120, "unique_users": 82, "registrations": 101, "webinars": 2},
        "classes": {"23505:a_pkey": 30, "realtime:disconnect": 40},
        "verdicts": {
            "23505:a_pkey": {"verdict": "traffic", "measurement_caveat": False},
            "realtime:disconnect": {"verdict": "capacity", "measurement_caveat": False},
        },
        "errors_by_source": {"db_errors": 30, "realtime_events": 40},
        "errors_total": 70,
        "has_db_logs": True,
        "billing_rows": 500,
        "limit_changes": [
            {
                "from_limit": 200,
                "to_limit": 500,
                "after": "2026-01-01T10:14:00.000000Z",
                "before": "2026-01-01T10:40:00.000000Z",
            }
        ],
    }
    base.update(over)
    return base


def claim(measures, figure, **kw) -> claims.Claim:
    return claims.Claim(number=1, statement="s", measures=measures, figure=figure, **kw)


@pytest.mark.parametrize(
    ("c", "outcome", "reason"),
    [
        (
            claim("peak_concurrent_viewers", 120, webinar_id=WID),
            "misleading",
            "sessions_not_people",
        ),
        (claim("peak_concurrent_viewers", 150, webinar_id=WID), "contradicted", "other_peak"),
        (claim("average_concurrency", 90, webinar_id=WID), "misleading", "mean_of_maxima"),
        (claim("average_concurrency", 70, webinar_id=WID), "confirmed", "time_weighted_matches"),
        (
            claim("average_concurrency", 69.6, approximate=True, webinar_id=WID),
            "confirmed",
            "time_weighted_matches",
        ),
        (claim("average_concurrency", 50, webinar_id=WID), "contradicted", "other_average"),
        (claim("average_concurrency", 70), "unverifiable", "average_needs_webinar"),
        (claim("unique_users", 80, webinar_id=WID), "confirmed", "unique_users_confirmed"),
        (claim("unique_users", 82), "confirmed", "unique_users_confirmed"),
        (claim("unique_users", 80), "contradicted", "unique_users_contradicted"),
        (claim("registrations", 100, webinar_id=WID), "confirmed", "registrations_confirmed"),
        (claim("registrations", 99, webinar_id=WID), "contradicted", "registrations_contradicted"),
        (
            claim("error_count", (24, 96), error_class="23505:a_pkey"),
            "confirmed",
            "count_confirmed",
        ),
        (
            claim("error_count", (100, None), source="db_errors"),
            "contradicted",
            "count_contradicted",
        ),
        (claim("error_count", (50, None)), "confirmed", "count_confirmed"),
        (claim("error_count", 5, error_class="42703"), "contradicted", "count_contradicted"),
        (
            claim("error_cause", "capacity", error_class="23505:a_pkey"),
            "misleading",
            "verdict_traffic",
        ),
        (
            claim("error_cause", "capacity", error_class="realtime:disconnect"),
            "confirmed",
            "verdict_matches",
        ),
        (claim("error_cause", "capacity", error_class="42703"), "unverifiable", "class_absent"),
        (claim("limit_raised", None), "confirmed", "limit_bracketed"),
        (claim("limit_raised", 1000), "contradicted", "other_limit"),
        (claim("compute_upgraded", None), "unverifiable", "compute_not_logged"),
    ],
)
def test_each_outcome(c, outcome, reason):
    got = claims.check_claim(c, measured())
    assert (got["outcome"], got["reason"]) == (outcome, reason)
    assert got["outcome"] in claims.OUTCOMES


def test_people_peak_below_users_is_confirmed():
    m = measured()
    m["audience"]["peak"] = 60
    got = claims.check_claim(claim("peak_concurrent_viewers", 60, webinar_id=WID), m)
    assert got["outcome"] == "confirmed"


def test_mean_of_maxima_close_to_the_mean_is_not_misleading():
    m = measured()
    m["audience"]["time_weighted_mean"] = 88.0
    got = claims.check_claim(claim("average_concurrency", 90, webinar_id=WID), m)
    assert got["outcome"] == "confirmed"


def test_missing_evidence_is_unverifiable():
    m = measured(billing_rows=0, limit_changes=[], has_db_logs=False)
    m["errors_by_source"]["db_errors"] = 0
    assert claims.check_claim(claim("limit_raised", None), m)["outcome"] == "unverifiable"
    got = claims.check_claim(claim("error_count", (1, None), source="db_errors"), m)
    assert got["outcome"] == "unverifiable"
    m = measured(limit_changes=[])
    assert claims.check_claim(claim("limit_raised", None), m)["reason"] == "no_limit_change"
    m = measured()
    m["verdicts"]["23505:a_pkey"]["measurement_caveat"] = True
    got = claims.check_claim(claim("error_cause", "traffic", error_class="23505:a_pkey"), m)
    assert (got["outcome"], got["reason"]) == ("unverifiable", "load_unmeasured")


def test_claims_of_other_webinars_are_left_to_their_reports():
    listed = (claim("registrations", 1, webinar_id="other"), claim("registrations", 101))
    got = claims.check_claims(listed, measured())
    assert [g["scope"] for g in got] == ["incident"]


def test_read_claims_accepts_the_documented_forms():
    manifest = {
        "claims": [
            {"statement": " peak 311 ", "measures": "peak_concurrent_viewers", "figure": 311},
            {
                "statement": "dozens",
                "measures": "error_count",
                "figure": [24, 96],
                "source": "db_errors",
            },
            {
                "statement": "bug",
                "measures": "error_cause",
                "figure": "traffic",
                "error_class": "42703",
            },
            {"statement": "raised", "measures": "limit_raised", "figure": None},
        ]
    }
    got = claims.read_claims(manifest)
    assert [c.number for c in got] == [1, 2, 3, 4]
    assert got[0].statement == "peak 311" and got[1].figure == (24, 96)
    assert claims.read_claims({}) == ()


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"measures": "registrations", "figure": 1}, "claims[0].statement"),
        ({"statement": "x", "measures": "peak", "figure": 1}, "claims[0].measures"),
        ({"statement": "x", "measures": "registrations", "figure": "many"}, "claims[0].figure"),
        ({"statement": "x", "measures": "registrations", "figure": [5, 1]}, "claims[0].figure"),
        ({"statement": "x", "measures": "registrations", "figure": True}, "claims[0].figure"),
        (
            {"statement": "x", "measures": "error_cause", "figure": "bug", "error_class": "a"},
            "claims[0].figure",
        ),
        (
            {"statement": "x", "measures": "error_cause", "figure": "traffic"},
            "claims[0].error_class",
        ),
        (
            {"statement": "x", "measures": "error_count", "figure": 1, "source": "edge"},
            "claims[0].source",
        ),
        ("text", "claims[0]"),
    ],
)
def test_a_bad_claim_is_one_line_naming_its_field(item, field):
    with pytest.raises(IngestError) as err:
        claims.read_claims({"claims": [item]}, "data/x/incident.json")
    message = str(err.value)
    assert message.startswith(f"data/x/incident.json, field '{field}'")
    assert "expected" in message and "\n" not in message


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """A simulated incident (not the shipped one) whose manifest lists planted claims.

    Each claim's truth follows from the generator: its registrations and users, the monitor's
    realised peak, a Realtime limit that never changes, a class that never occurs.
    """
    from dataclasses import replace

    from analysis import pipeline
    from analysis.params import build_params
    from analysis.simulate import simulate, synthetic_params, write_incident

    params = synthetic_params(seed=5, minutes=20)  # outcomes, not statistics: a short window
    spec = params.webinars[0]
    peak = max(v for _, v in simulate(params).samples[0])
    listed = (
        {"statement": "peak", "measures": "peak_concurrent_viewers", "figure": peak,
         "webinar_id": spec.id},
        {"statement": "peak = people", "measures": "peak_concurrent_viewers",
         "figure": peak + 25, "webinar_id": spec.id},
        {"statement": "registrations", "measures": "registrations",
         "figure": spec.registrations, "webinar_id": spec.id},
        {"statement": "registrations, off", "measures": "registrations",
         "figure": spec.registrations + 7},
        {"statement": "some db errors", "measures": "error_count", "figure": [1, None],
         "source": "db_errors"},
        {"statement": "never", "measures": "error_count", "figure": [1, None],
         "error_class": "23505:no_such_key"},
        {"statement": "limits raised", "measures": "limit_raised", "figure": None},
        {"statement": "compute upgraded", "measures": "compute_upgraded", "figure": None},
        {"statement": "average", "measures": "average_concurrency", "figure": 1},
    )  # fmt: skip
    out = tmp_path_factory.mktemp("planted")
    write_incident(replace(params, claims=listed), out / "incident")
    run = build_params(spec.id, out / "incident", output_dir=out / "report")
    settings = pipeline.Settings(cache_dir=out / "interim", stats_cache=False)
    result = pipeline.analyse(pipeline.load(run, settings), run, settings)
    return result.findings, peak, spec


def test_planted_claims_get_their_outcomes(planted):
    found, peak, spec = planted
    got = [(c["statement"], c["outcome"]) for c in found["claims"]]
    assert got == [
        ("peak", "misleading"),  # sessions, more than the people who came
        ("peak = people", "contradicted"),
        ("registrations", "confirmed"),
        ("registrations, off", "contradicted"),
        ("some db errors", "confirmed"),
        ("never", "contradicted"),
        ("limits raised", "contradicted"),  # billing rows, no change
        ("compute upgraded", "unverifiable"),
        ("average", "unverifiable"),  # an average needs its webinar
    ]
    first = found["claims"][0]["measured"]
    assert first["peak"] == peak and first["people"] < peak
    assert found["claims"][2]["measured"]["value"] == spec.registrations
