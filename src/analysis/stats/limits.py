"""Supabase's published connection limits the threshold K is set beside (data, not logic)."""

from __future__ import annotations

#: Supabase's published connection ceilings the threshold K is set beside. Sources: Realtime
#: "Limits" page (concurrent connections by plan) and compute-and-disk.mdx "Limits and
#: constraints" (Postgres max connections, Supavisor pooler max clients by compute size), as
#: listed with their sources in docs/statistics.md section 7.
_REALTIME_LIMITS_URL = "supabase.com/docs/guides/realtime/limits"
_COMPUTE_LIMITS_URL = "supabase/supabase: apps/docs/content/guides/platform/compute-and-disk.mdx"
#: (compute size, Postgres max connections, Supavisor pooler max clients)
_COMPUTE_SIZES = (
    ("Nano", 60, 200),
    ("Micro", 60, 200),
    ("Small", 90, 400),
    ("Medium", 120, 600),
    ("Large", 160, 800),
    ("XL", 240, 1000),
    ("2XL", 380, 1500),
    ("4XL", 480, 3000),
)
SUPABASE_LIMITS: tuple[dict, ...] = (
    *(
        {
            "product": "Realtime",
            "quantity": "concurrent connections",
            "tier": f"{plan} plan",
            "limit": limit,
            "source": _REALTIME_LIMITS_URL,
        }
        for plan, limit in (("Free", 200), ("Pro", 500), ("Team", 10000))
    ),
    *(
        {
            "product": "Postgres",
            "quantity": "max connections",
            "tier": f"{size} compute",
            "limit": pg,
            "source": _COMPUTE_LIMITS_URL,
        }
        for size, pg, _ in _COMPUTE_SIZES
    ),
    *(
        {
            "product": "Supavisor pooler",
            "quantity": "max clients",
            "tier": f"{size} compute",
            "limit": pool,
            "source": _COMPUTE_LIMITS_URL,
        }
        for size, _, pool in _COMPUTE_SIZES
    ),
)


def name_limits_in(low: float, high: float) -> tuple[str, ...]:
    """Return the published limits inside [low, high], worded "product quantity (tier): limit"."""
    return tuple(
        f"{d['product']} {d['quantity']} ({d['tier']}): {d['limit']}"
        for d in SUPABASE_LIMITS
        if low <= d["limit"] <= high
    )
