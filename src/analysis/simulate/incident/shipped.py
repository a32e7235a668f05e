"""The shipped incident's parameters, its recommendations and the claims of its earlier write-up."""

from __future__ import annotations

from datetime import UTC, datetime

from analysis.simulate.incident.parameters import (
    BucketTarget,
    ErrorProcess,
    IncidentParams,
    WebinarSpec,
)


def shipped_params() -> IncidentParams:
    """Parameters of the shipped reconstruction of the 2026-02-06 EventLive outage.

    The published figures (docs/shipped-incident.md) are inputs here: the twelve 5-minute rows, the
    peak minute, users and registrations per webinar. The error counts are the report's words
    made numbers (``data/README.md``): "very high (dozens)" = 48, "high" = 24, "medium" = 12.
    """
    main = WebinarSpec(
        id="f257ce42-723a-4fad-a9a5-1bd8c154d7ce",
        title="AI 특허리서치 실무 활용 웨비나",
        starts_at_min=0.0,
        ends_at_min=60.0,
        users=141,
        registrations=176,
        walk_ins=6,
        shape=(
            (0, 232),
            (2, 244),
            (3.5, 216),
            (5, 230),
            (7, 282),
            (8.5, 299),
            (10, 262),
            (12, 228),
            (13.5, 190),
            (14.2, 150),
            (15, 47),
            (20, 27),
            (25, 36),
            (30, 12),
            (32, 2),
            (34, 82),
            (36, 135),
            (39.9, 135),
            (40.05, 88),
            (40.75, 311),
            (42, 282),
            (45, 253),
            (47, 222),
            (50, 235),
            (52, 204),
            (55, 235),
            (57, 212),
            (60, 214),
        ),
        audience=(
            (0, 232),
            (2, 244),
            (3.5, 216),
            (5, 230),
            (7, 282),
            (8.5, 299),
            (10, 262),
            (12, 228),
            (14.2, 222),
            (20, 205),
            (30, 196),
            (38, 214),
            (40.75, 240),
            (42, 252),
            (45, 245),
            (47, 222),
            (50, 235),
            (52, 204),
            (55, 235),
            (57, 212),
            (60, 214),
        ),
        buckets=(
            BucketTarget(244, 214, 19),
            BucketTarget(299, 226, 33),
            BucketTarget(264, 147, 18),
            BucketTarget(47, 47, 1),
            BucketTarget(27, 27, 1),
            BucketTarget(36, 36, 1),
            BucketTarget(82, 2, 3),
            BucketTarget(135, 135, 1),
            BucketTarget(311, 88, 12),
            BucketTarget(253, 209, 20),
            BucketTarget(235, 198, 22),
            BucketTarget(235, 199, 23),
        ),
        peak_minute=40,
        ghost_sessions=3,
    )
    test = WebinarSpec(
        id="c9c7d93a-d775-4f8e-9243-8fdbb3618e2a",
        title="[테스트] 149400 웨비나",
        starts_at_min=44.0,
        ends_at_min=58.0,
        users=2,
        registrations=1,
        walk_ins=0,
        shape=((44.5, 0), (45, 1), (47, 1), (47.5, 2), (55, 2), (56, 1), (57.5, 1), (58, 0)),
        sample_span=(45.2, 57.2),
    )
    errors = (
        ErrorProcess("registrations_pkey", "session_start", 48),
        ErrorProcess("undefined_column", "session_start", 24),
        ErrorProcess("marketing_stats", "session_start", 24),
        ErrorProcess("uuid_null", "session_start", 12),
        ErrorProcess("realtime_disconnect", "realtime_excess", 48),
        ErrorProcess("pool_exhausted", "db_excess", 16),
    )
    return IncidentParams(
        name="2026-02-06-eventlive",
        seed=20260206,
        project_ref="yqsayphssjznthrxpgfb",
        window_start=datetime(2026, 2, 6, 5, 0, tzinfo=UTC),
        window_minutes=60,
        webinars=(main, test),
        errors=errors,
        outages=((14.2, 40.05),),
        upgrade_at_min=38.5,
        annotations=(
            ("", "Supabase limits raised", "Immediate response in the report; time not given."),
            ("", "Compute size upgraded", "Immediate response in the report; time not given."),
            ("", "Monitoring strengthened", "Immediate response in the report; time not given."),
        ),
        claims=shipped_claims(main.id, test.id),
        recommendations=SHIPPED_RECOMMENDATIONS,
    )


def _recommendation(ko: str, en: str, *classes: str) -> dict:
    return {"text": {"ko": ko, "en": en}, "classes": list(classes)}


#: The original report's recommendations, in its words (ko) with an English rendering; each
#: names the error classes it answers (none: it stands whatever the classes).
SHIPPED_RECOMMENDATIONS = (
    _recommendation(
        "클라이언트 사이드 중복 등록 요청 방지 (멱등 제출)",
        "Prevent duplicate registration requests on the client (idempotent submit)",
        "23505:registrations_pkey",
    ),
    _recommendation(
        "존재하지 않는 컬럼 registrations.id를 조회하는 쿼리 수정",
        "Fix the query on registrations.id, a column the table does not have",
        "42703",
    ),
    _recommendation(
        'UUID 자리에 문자열 "null"을 보내지 않도록 수정',
        'Stop sending the string "null" where a UUID is expected',
        "22P02",
    ),
    _recommendation(
        "일별 마케팅 통계를 동시 삽입 대신 upsert로 기록",
        "Write daily marketing statistics with an upsert instead of concurrent inserts",
        "23505:uq_marketing_stats_daily_key",
    ),
    _recommendation(
        "피크에 맞게 연결 풀(PgBouncer / Supavisor) 크기 조정",
        "Resize the connection pool (PgBouncer / Supavisor) for the peak",
        "realtime:disconnect",
    ),
    _recommendation(
        "예상 동시 접속에 맞춘 Realtime 연결 용량 계획",
        "Plan Realtime connections for the expected concurrency",
    ),
    _recommendation(
        "동시 접속자 수 임계값 초과 시 알림", "Alert when concurrency passes a threshold"
    ),
    _recommendation(
        "API 응답 시간과 오류율 모니터링",
        "Monitor API response times and error rates",
    ),
    _recommendation(
        "행사 전 부하 테스트로 한계점 사전 파악",
        "Load-test to find the breaking point before the event",
    ),
    _recommendation(
        "자주 조회되는 데이터(프로필, 웨비나 정보) 캐싱 및 배치 조회",
        "Cache and batch frequent reads (profiles, webinar info)",
    ),
    _recommendation(
        "실패한 요청에 지수 백오프 재시도 적용",
        "Retry failed requests with exponential backoff",
        "realtime:disconnect",
    ),
)


def shipped_claims(main_id: str, test_id: str) -> tuple[dict, ...]:
    """Return the published report's checkable claims in its own words (see data/README.md).

    Figures are the report's; its frequency words become ranges once ("dozens" = 24 to 96,
    "about 100 or more" = at least 100); causes are what its analysis names as the reason.
    """

    def claim(statement: str, measures: str, figure: object, **extra: object) -> dict:
        return {"statement": statement, "measures": measures, "figure": figure, **extra}

    return (
        claim(
            "최대 동시 접속자: 311명 (14:40 KST)",
            "peak_concurrent_viewers",
            311,
            webinar_id=main_id,
        ),
        claim(
            "평균 최대 동시 접속자: 약 181명",
            "average_concurrency",
            181,
            approximate=True,
            webinar_id=main_id,
        ),
        claim("총 고유 사용자: 141명", "unique_users", 141, webinar_id=main_id),
        claim("등록 건수: 176건", "registrations", 176, webinar_id=main_id),
        claim("최대 동시 접속자: 2명", "peak_concurrent_viewers", 2, webinar_id=test_id),
        claim("총 고유 사용자: 2명", "unique_users", 2, webinar_id=test_id),
        claim("등록 건수: 1건", "registrations", 1, webinar_id=test_id),
        claim("총 동시 접속 피크: 311명 (14:40 KST)", "peak_concurrent_viewers", 311),
        claim("총 고유 접속자: 143명", "unique_users", 143),
        claim("총 등록 건수: 177건", "registrations", 177),
        claim(
            '"registrations_pkey" 중복 키 위반: 매우 높음 (수십 건)',
            "error_count",
            [24, 96],
            error_class="23505:registrations_pkey",
        ),
        claim(
            "Realtime 연결 끊김: 매우 높음 (수십 건)",
            "error_count",
            [24, 96],
            error_class="realtime:disconnect",
        ),
        claim("Postgres 에러: 약 100건 이상", "error_count", [100, None], source="db_errors"),
        claim(
            "중복 키 위반 원인: 동시에 많은 사용자가 등록을 시도하며 중복 방지 로직이 충돌",
            "error_cause",
            "capacity",
            error_class="23505:registrations_pkey",
        ),
        claim(
            "마케팅 통계 중복 키 원인: 동시에 여러 요청이 같은 일별 통계 레코드를 생성",
            "error_cause",
            "capacity",
            error_class="23505:uq_marketing_stats_daily_key",
        ),
        claim(
            "Realtime 연결 불안정 원인: 데이터베이스 연결 풀 한도 초과, 과도한 동시 연결 요청",
            "error_cause",
            "capacity",
            error_class="realtime:disconnect",
        ),
        claim("즉시 조치: Supabase 한도 상향 (완료)", "limit_raised", None),
        claim("즉시 조치: 컴퓨트 사양 변경 (완료)", "compute_upgraded", None),
    )
