"""Private values of every kind, in the writings they take in logs, and look-alikes to keep.

Imports nothing from ``analysis``: the attack on the report (tests/test_privacy_attack.py) and
the redaction's own tests (tests/test_privacy_kinds.py) plant these, and
benchmarks/bench_privacy.py counts how many of them the redaction misses. Every value is
made up (documentation ranges, test card numbers, fake keys); each secret part is unique
enough that finding it in an output can only mean it leaked.

:data:`PRIVATE` maps a kind to ``(planted text, secret part)`` pairs: the text is what a log
holds, the secret part what no output may hold. :data:`KEEP` lists values that look like
some private kind but are not a person's or a credential (timestamps, request ids,
SQLSTATEs, counts, constraint names, versions): redaction must leave them as they are.
"""

from __future__ import annotations

# Secret parts are written with a per-kind marker inside (``Q7``, ``Z9``...) where the kind
# allows, so a leak names its kind.
_JWT_HEAD = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
_SERVICE_ROLE = (
    _JWT_HEAD + ".eyJpc3MiOiJzdXBhYmFzZSIsInJlZiI6InF3ZXJ0eSIsInJvbGUiOiJzZXJ2aWNlX3JvbGUifQ"
    ".Zm9yZ2VkLXNpZ25hdHVyZS1zZXJ2aWNlLXJvbGU"
)
_SESSION_HEX = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
_API_HEX = "4c1f2e8ab03d47e9a6b5c2d1e0f98a7b"
_B64_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzQ7EXAMPLEKEY"
_B64URL_SECRET = "Xk3v_9QpL2-mZr8TnB4wYc7HdJ6sKa1Ue5FgVt0Oi"

PRIVATE: dict[str, list[tuple[str, str]]] = {
    "card": [
        ("paid with 4111 1111 1111 1111 ok", "4111 1111 1111 1111"),
        ("card=4012-8888-8888-1881", "4012-8888-8888-1881"),
        ('{"card": "5555555555554444"}', "5555555555554444"),
        ("amex 3782 822463 10005", "3782 822463 10005"),
        ("card 6011000990139424 declined", "6011000990139424"),
        ("pan:4000056655665556", "4000056655665556"),
        # Percent-encoded once and twice, '+' for a space in a query, a whole field.
        ("?q=4916%203389%200418%203562&page=2", "3389%200418%203562"),
        ("c=4012%25208888%25208888%25201881", "8888%25201881"),
        ("q=5105+1051+0510+5100", "1051+0510+5100"),
        ("4242424242424242", "4242424242424242"),
        # Full-width digits and an ideographic space.
        (
            "\uff14\uff10\uff15\uff16\u3000\uff10\uff10\uff10\uff10\u3000\uff10\uff10\uff10"
            "\uff10\u3000\uff14\uff14\uff14\uff15",
            "\uff14\uff14\uff14\uff15",
        ),
    ],
    "hex-secret": [
        (f"session {_SESSION_HEX}", _SESSION_HEX),
        (f"x-api-key {_API_HEX} rejected", _API_HEX),
        (f'{{"sid":"{_API_HEX.upper()}"}}', _API_HEX.upper()),
    ],
    "base64-secret": [
        (f"aws secret {_B64_SECRET}", _B64_SECRET),
        (f"refresh {_B64URL_SECRET} expired", _B64URL_SECRET),
        (f"/storage/v1/object/sign/avatars/a.png/{_B64URL_SECRET}", _B64URL_SECRET),
    ],
    "resident-number": [
        ("rrn 900101-1234567 on file", "900101-1234567"),
        ("주민등록번호: 020315-4123456", "020315-4123456"),
        ("id 851231 - 2345678", "851231 - 2345678"),
        ("/rrn/850505%2D1234568", "850505%2D1234568"),
    ],
    "phone": [
        ("call 010-2345-6789", "2345-6789"),
        ("tel 01034567890 now", "01034567890"),
        ("+82 10-4567-8901 (mobile)", "4567-8901"),
        ("+82-10-5678-9012", "5678-9012"),
        ("+821067890123", "67890123"),
        ("010 7890 1234", "7890 1234"),
        ("010.8901.2345", "8901.2345"),
        ("서울 02-3456-7890", "3456-7890"),
        ("휴대폰010-2345-6780", "2345-6780"),
        ("연락처:01023456781", "01023456781"),
        ("010-3456-7892로 연락 주세요", "3456-7892"),
        # The country code without its '+', parentheses, spaced dashes, full-width, encoded.
        ("82-10-2345-6781", "2345-6781"),
        ("82 10 3456 7812", "3456 7812"),
        ("(010)4567-8123", "4567-8123"),
        ("010 - 5678 - 9123", "5678 - 9123"),
        (
            "\uff10\uff11\uff10\uff0d\uff16\uff17\uff18\uff19\uff0d\uff11\uff12\uff13\uff14",
            "\uff16\uff17\uff18\uff19\uff0d\uff11\uff12\uff13\uff14",
        ),
        ("tel=010%2D7891%2D2345", "7891%2D2345"),
    ],
    "email": [
        ("mail kim.minji@example.co.kr", "kim.minji"),
        ("to=lee%40example.com", "lee%40example"),
        # Unicode tricks: a zero-width space or a right-to-left mark before the '@',
        # full-width letters and '@', an ideographic full stop in the domain.
        ("mail zw.minji\u200b@example.org", "zw.minji"),
        ("mail rtlkim\u200f@example.org", "rtlkim"),
        (
            "\uff48\uff41\uff4e\uff0e\uff53\uff4f\uff52\uff41\uff20\uff45\uff58\uff41"
            "\uff4d\uff50\uff4c\uff45\uff0e\uff43\uff4f\uff4d",
            "\uff48\uff41\uff4e\uff0e",
        ),
        ("mail dot.kim@example\u3002com", "dot.kim"),
        # Homoglyphs: Cyrillic letters in the local part and the domain.
        ("mail k\u0456m.cyr@ex\u0430mple.com", "k\u0456m.cyr"),
        # Wrapped in base64 or hex as a query parameter's value (?state=...).
        ("?state=YjY0LmtpbUBleGFtcGxlLmNvbQ==&x=1", "YjY0LmtpbUBleGFtcGxlLmNvbQ"),
        ("?ref=686b406d61696c2e696f", "686b406d61696c2e696f"),
        # ... and standing alone: a path segment, a JSON string, hex in a path, a message word.
        ("/api/v1/unsubscribe/a2ltLnBhdGhAZXhhbXBsZS5jb20", "a2ltLnBhdGhAZXhhbXBsZS5jb20"),
        ('{"state":"bGVlLmpzb25AZXhhbXBsZS5vcmc="}', "bGVlLmpzb25AZXhhbXBsZS5vcmc"),
        ("/confirm/6865782e70617468406578616d706c652e6e6574/ok", "6865782e706174684065"),
        ("body cGFyay5ib2R5QGV4YW1wbGUuY29t sent", "cGFyay5ib2R5QGV4YW1wbGUuY29t"),
        # A circled a for the '@' (NFKC reads it as a letter).
        ("mail kim.circled\u24d0example.com", "kim.circled"),
        # Split: the local part and its '@' in one field, the domain in the next.
        ("reply-to kim.splitlocal@", "kim.splitlocal"),
    ],
    "ip": [
        ("from 198.51.100.23", "198.51.100.23"),
        ("peer 2001:db8:85a3::8a2e:370:7334", "8a2e:370:7334"),
        ("client ::ffff:203.0.113.45 connected", "203.0.113.45"),
        ("client ::ffff:cb00:712e connected", "cb00:712e"),
        # A zone id (also encoded), brackets with a port (also encoded), full and capitals.
        ("peer fe80::1ff:fe23:4567:890a%eth0 up", "fe23:4567:890a"),
        ("peer fe80::abcd:1%25en0 up", "abcd:1"),
        ("host [2001:db8::beef:1]:8443", "beef:1"),
        ("u=%5B2001%3Adb8%3A%3Acafe%3A2%5D%3A443", "cafe%3A2"),
        ("2001:0DB8:0000:0000:0000:FF00:0042:8329", "FF00:0042:8329"),
    ],
    "supabase-key": [
        ("apikey sb_publishable_Q7a8b9c0d1e2f3g4h5", "Q7a8b9c0d1e2f3g4h5"),
        ("key sb_secret_Q7z9y8x7w6v5u4t3s2", "Q7z9y8x7w6v5u4t3s2"),
        ("token sbp_0123456789abcdef0123456789abcdef01234567", "0123456789abcdef01234567"),
        (f"service key {_SERVICE_ROLE}", "Zm9yZ2VkLXNpZ25hdHVyZS1zZXJ2aWNlLXJvbGU"),
        # A zero-width space inside the prefix; a personal access token of another alphabet.
        ("key sb_sec\u200bret_Z9zwkeyvalue01", "Z9zwkeyvalue01"),
        ("token sbp_v0_Z9a1b2c3d4e5f6a7b8c9d0e1f2", "Z9a1b2c3d4e5f6a7b8c9d0e1f2"),
        # Homoglyphs in the prefix itself: a Cyrillic e, a Greek omicron... and a Cyrillic i.
        ("key sb_s\u0435cret_Z9cyrsecret0001", "Z9cyrsecret0001"),
        ("apikey sb_publishable_\u03bfZ9greekkey002", "Z9greekkey002"),
        ("key sb_publ\u0456shable_Z9cyrpubkey03", "Z9cyrpubkey03"),
    ],
    "stripe": [
        ("sk_live_Z9aBcDeFgHiJkLmNoPqRsT", "Z9aBcDeFgHiJkLmNoPqRsT"),
        ("rk_live_Z9bCdEfGhIjKlMnOpQrStU", "Z9bCdEfGhIjKlMnOpQrStU"),
        ("pk_live_Z9cDeFgHiJkLmNoPqRsTuV", "Z9cDeFgHiJkLmNoPqRsTuV"),
        ("sk_l\u0456ve_Z9dEfGhIjKlMnOpQrStUvW", "Z9dEfGhIjKlMnOpQrStUvW"),
    ],
    "aws": [
        ("AKIAZ9EXAMPLEKEY0001", "Z9EXAMPLEKEY0001"),
        ("ASIAZ9EXAMPLEKEY0002", "Z9EXAMPLEKEY0002"),
    ],
    "github": [
        ("ghp_Z9aaaaBBBBccccDDDDeeeeFFFFgggg1234", "Z9aaaaBBBBccccDDDDeeeeFFFFgggg1234"),
        ("github_pat_11Z9AAAA0_bbbbCCCCddddEEEEffff", "11Z9AAAA0_bbbbCCCCddddEEEEffff"),
    ],
    "slack": [
        ("xoxb-123456789012-Z9abcdefghijklmnop", "Z9abcdefghijklmnop"),
        ("xoxp-223456789012-Z9bcdefghijklmnopq", "Z9bcdefghijklmnopq"),
    ],
    "google": [("AIzaSyZ9-abcdefghijklmnopqrstuvwxyz0123", "Z9-abcdefghijklmnopqrstuvwxyz0123")],
    "cookie": [
        ("cookie sb-qwerty-auth-token=base64-Z9cookievalue01", "Z9cookievalue01"),
        ("sb-qwerty-auth-token.0=base64-Z9cookiechunk002", "Z9cookiechunk002"),
        ("sb-qwerty-auth-token.1=Z9cookiechunk003", "Z9cookiechunk003"),
        ("sb-access-token=Z9accessvalue04; sb-refresh-token=Z9refreshvalue5", "Z9accessvalue04"),
        ("sb-access-token=Z9accessvalue04; sb-refresh-token=Z9refreshvalue5", "Z9refreshvalue5"),
    ],
    "json-secret": [
        ('{"email":"a@b.io","password":"Z9hunter2pw"}', "Z9hunter2pw"),
        ('{"token": "Z9plaintoken"}', "Z9plaintoken"),
        ('{"client_secret":"Z9clientsecret"}', "Z9clientsecret"),
        ('{\\"password\\":\\"Z9escapedpw\\"}', "Z9escapedpw"),
        ("{'refresh_token': 'Z9singlequoted'}", "Z9singlequoted"),
        ("?body=%7B%22password%22%3A%22Z9encodedpw%22%7D", "Z9encodedpw"),
        ("?b=%257B%2522token%2522%253A%2522Z9doubleenc%2522%257D", "Z9doubleenc"),
    ],
    "header": [
        ('{"authorization":"Basic Z9dXNlcjpwYXNzd29yZA=="}', "Z9dXNlcjpwYXNzd29yZA"),
        ('{"apikey":"Z9plainapikey"}', "Z9plainapikey"),
        ('{"x-api-key": "Z9xapikeyvalue"}', "Z9xapikeyvalue"),
        ("Authorization: Token Z9headertoken", "Z9headertoken"),
        ("apikey: Z9headerapikey", "Z9headerapikey"),
        ('"headers":{"Authorization":"Bearer Z9bearerplain1"}', "Z9bearerplain1"),
        ("h=Authorization%3A%20Token%20Z9encheader", "Z9encheader"),
    ],
    "url-password": [
        ("postgres://postgres.qwerty:Z9dbpass@db.example.com:6543/postgres", "Z9dbpass"),
        ("redis://:Z9p@ssw0rd@cache.internal:6379", "ssw0rd"),
        ("dsn=postgres%3A%2F%2Fu%3AZ9encdbpass%40db.example.com", "Z9encdbpass"),
    ],
    "encoded-phone": [
        ("?s=MDEwLTQzMjEtODc2NQ==", "MDEwLTQzMjEtODc2NQ"),
        ("callback MDEwLTQzMjEtOTg3Ng== queued", "MDEwLTQzMjEtOTg3Ng"),
    ],
    # A token split by its sender over query parameters: each part is a token's part.
    "split-token": [
        (
            "?h=eyJhbGciOiJIUzI1NiJ9&p=eyJzdWIiOiJaOXNwbGl0In0&s=Z9kxwRJSMeKKF2QT4fwpMeJf36POk6yJV",
            "eyJzdWIiOiJaOXNwbGl0In0",
        ),
        (
            "?h=eyJhbGciOiJIUzI1NiJ9&p=eyJzdWIiOiJaOXNwbGl0In0&s=Z9kxwRJSMeKKF2QT4fwpMeJf36POk6yJV",
            "Z9kxwRJSMeKKF2QT4fwpMeJf36POk6yJV",
        ),
    ],
}

#: Look-alikes that are no person's data and no credential: kept as they are.
# Values the redaction missed until session 15 (docs/report-safety.md, "Not caught" before).
PRIVATE["split-email"] = [
    # An e-mail's domain half in its own field, its local part (no '@') in another.
    ("sent to @q4kim-home.net", "q4kim-home.net"),
    ("to=%40q4lee-mail.org&x=1", "q4lee-mail.org"),
    ('{"email_domain":"@q4park.co.kr"}', "q4park.co.kr"),
]
PRIVATE["slashed-base64"] = [
    # Standard base64 of an e-mail with text whose encoding holds '/', in a path or a
    # message: split there, neither part decodes to the e-mail.
    ("/v/c2oubGVlQG1haWwua3Ig7Ia766C//ok", "c2oubGVlQG1haWwu"),
    ("code eW4uY2hvaUBnbWFpbC5jb20g7JC/ sent", "eW4uY2hvaUBnbWFp"),
    ("/unsubscribe/a2ltQGdtYWlsLmNvbSDsmqrrm7/tjbk=", "a2ltQGdtYWlsLmNv"),
]
# Values the redaction missed until session 16's audit (docs/report-safety.md, "Audit").
PRIVATE["spelt-secret"] = [
    # A credential named in free text: a client's console line, a settings dump.
    ("password: Z9pwcolon01", "Z9pwcolon01"),
    ("client_secret = Z9spacedeq02", "Z9spacedeq02"),
    ("console.log token: Z9consoletok3", "Z9consoletok3"),
    ("x-supabase-auth: Z9sbauthhdr04", "Z9sbauthhdr04"),
]
PRIVATE["resident-number"] += [
    # A space for the dash, no separator at all (the check digit holds), the masked form.
    ("rrn 760303 1234501", "760303 1234501"),
    ("주민등록번호8807153012347", "8807153012347"),
    ("rrn=9308222345610&x=1", "9308222345610"),
    ("주민번호 910412-2******", "910412-2"),
]
PRIVATE["phone"] += [
    # Dialled from Korea (0082, a carrier's 001), an area code closed by a bracket.
    ("0082-10-9876-5431", "9876-5431"),
    ("001-82-10-2468-1357", "2468-1357"),
    ("대표 02)345-6781", "345-6781"),
    ("010)3579-2468", "3579-2468"),
]
PRIVATE["email"] += [
    # A quoted local part (also in escaped JSON), an address literal, an HTML reference for
    # the '@', and an '@' spelt out to hide it from harvesters.
    ('"q5 quoted"@example.com', "q5 quoted"),
    ('{"to":"\\"q5.esc\\"@example.org"}', "q5.esc"),
    ("q5lit@[192.0.2.77]", "q5lit"),
    ("q5ent&#64;example.com", "q5ent"),
    ("q5hex&#x40;example.com", "q5hex"),
    ("q5named&commat;example.net", "q5named"),
    ("q5spelt [at] example [dot] com", "q5spelt"),
    ("q5paren(at)example.co.kr", "q5paren"),
]

KEEP: list[str] = [
    "2026-02-06 05:40:12.345 UTC",
    "2026-02-06T05:40:12.345678+00:00",
    "1770354000000000",  # epoch microseconds
    "1770354000123",  # epoch milliseconds
    "1770354000123456789",  # epoch nanoseconds
    "f257ce42-723a-4fad-a9a5-1bd8c154d7ce",
    "request e0000000-0000-4000-8000-000000001234 done",
    "8f1a2b3c4d5e6f70-ICN",
    "SQLSTATE 23505",
    "53300",
    "sorry, too many clients already (count 12345)",
    'duplicate key value violates unique constraint "registrations_webinar_id_user_id_key"',
    "registrations_webinar_id_fkey",
    "Key (id)=(42) already exists.",
    "/rest/v1/rpc/getRegistrationsForWebinarV2ByUser",
    "/rest/v1/webinar_registrations_with_profiles_v2?select=*",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)",
    "supabase-js-web/2.45.0",
    "postgrest-js/1.17.7 supabase-js/2.49.1",
    "Postgrex.Protocol (#PID<0.48211.37>) disconnected",
    "realtime:public:questions:webinar_id=eq.1234",
    "abcdefghijklmnopqrst.supabase.co",
    "PostgREST 12.2.3",
    "rows 1234567890123",
    "count 20260206",
    "2026-02-06-1234567",
    "v1.2.3-4567890",
    "ticket ABC-123456-7890123",
    "20260206-123456",
    "on 05:40:12",
    # Encoded look-alikes: a timestamp, a filter, a select, Korean text, a redirect, '+'.
    "?created_at=gte.2026-02-06T05%3A00%3A00%2B00%3A00&id=eq.f257ce42-723a-4fad-a9a5-1bd8c154d7ce",
    "?or=%28status.eq.live%2Cstatus.eq.ended%29&select=%2A",
    "?q=SQLSTATE+23505+count+12345",
    "?name=%ED%95%9C%EA%B5%AD%EC%96%B4%20%EC%9B%A8%EB%B9%84%EB%82%98",
    "?redirect_to=https%3A%2F%2Fapp.example.com%2Fwebinar%2F1234",
    "?state=bG9naW4tcGFnZQ&vsn=1.0.0",
    "?cursor=MTc3MDM1NDAwMDAwMA",
    "/storage/v1/object/public/%EC%8D%B8%EB%84%A4%EC%9D%BC.png",
    # Unicode look-alikes in people's words: full-width letters, a dash, a zero-width joiner.
    "\uff37\uff45\uff42\uff49\uff4e\uff41\uff52 2026",
    "Launch \u2014 12 seats left",
    "\U0001f469\u200d\U0001f4bb webinar",
    "2026\u5e74 2\u6708 6\u65e5 14:00",
    # Other scripts and circled letters in people's words; base64 and hex of harmless text,
    # camelCase names and hex ids standing alone; an '@' that ends no local part.
    "\u041e\u0448\u0438\u0431\u043a\u0430 \u0441\u0435\u0442\u0438",
    "\u041c\u043e\u0441\u043a\u0432\u0430 Moscow office",
    "\u0391\u03b8\u03ae\u03bd\u03b1 Athens",
    "\u24d0 \ub4f1\ub85d \u24d1 \ucde8\uc18c",
    "/files/aGVsbG8td29ybGQtcmVwb3J0",
    '{"cursor":"cGFnZT0yJnNvcnQ9ZGVzYw=="}',
    "IX_RegistrationsWebinarIdUserId",
    "build 0123456789abcdef0123 ok",
    "npm @supabase/supabase-js@2.49.1",
    "connection from postgres@localhost",
    "git HEAD@{1}",
    # An image's scale in a Storage object's name; a path of camelCase segments.
    "/storage/v1/object/public/avatars/icon@2x.png",
    "banner@1.5x.webp",
    "/storage/v1/object/sign/Documents/QuarterlyReport/FinalVersion2026/Summary.pdf",
    "/functions/v1/sendWebinarReminder/ScheduledBatchJob/RetryAttempt",
    # Credential names before a state, a count or a message; 'at' in brackets in words;
    # epoch milliseconds of 2024 that read as a date (its check digit fails).
    "token: expired",
    "Invalid token: signature is invalid",
    "max_tokens: 4096",
    'password authentication failed for user "postgres"',
    "meet [at] noon",
    "stand (at) the door",
    "1710151234567",
]
