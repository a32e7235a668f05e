"""Client addresses become keyed pseudonyms that no enumeration without the key reverses."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

import pandas as pd
import pytest

from analysis import addresses, privacy

KEY = b"a team's own secret key"


@pytest.mark.parametrize(
    "spelling",
    [
        "203.0.113.7",
        " 203.0.113.7 ",
        "203.0.113.7:51234",
        "::ffff:203.0.113.7",
        "[::ffff:203.0.113.7]:443",
        "203.0.113.7, 10.0.0.1, 172.16.0.9",  # X-Forwarded-For: the client first
        "for=203.0.113.7;proto=https;by=10.0.0.1",  # RFC 7239 Forwarded
        '"203.0.113.7"',
    ],
)
def test_one_client_written_any_way_is_one_pseudonym(spelling):
    assert addresses.pseudonymise_address(spelling, KEY) == addresses.pseudonymise_address(
        "203.0.113.7", KEY
    )


def test_ipv6_spellings_meet_and_differ_from_other_clients():
    same = ["2001:db8::1", "2001:DB8:0:0:0:0:0:1", "[2001:db8::1]:4711", "2001:db8::1%eth0",
            'for="[2001:db8::1]:4711"']  # fmt: skip
    assert len({addresses.pseudonymise_address(v, KEY) for v in same}) == 1
    others = ["2001:db8::2", "203.0.113.7", "203.0.113.8", "10.0.0.1"]
    got = {addresses.pseudonymise_address(v, KEY) for v in [same[0], *others]}
    assert len(got) == 5


@pytest.mark.parametrize(
    "value", [None, float("nan"), pd.NA, "", "  ", "unknown", "_hidden", "for=unknown",
              "localhost", "203.0.113", "203.0.113.256", "10.0.0.1:99999x", "unknown, 10.0.0.1"]
)  # fmt: skip
def test_a_value_naming_no_address_has_no_pseudonym(value):
    assert addresses.pseudonymise_address(value, KEY) is None


def test_the_pseudonym_is_keyed_and_apart_from_user_pseudonyms():
    pseudonym = addresses.pseudonymise_address("198.51.100.23", KEY)
    assert pseudonym.startswith("a_") and len(pseudonym) == 14
    assert all(c in "0123456789abcdef" for c in pseudonym[2:])
    assert pseudonym != addresses.pseudonymise_address("198.51.100.23", KEY + b"!")
    # An address typed as a user id never gets the user's pseudonym.
    assert pseudonym[2:] != privacy.pseudonymise("198.51.100.23", KEY)[2:]


def test_enumerating_every_address_of_a_block_finds_nothing_without_the_key():
    """An unkeyed hash of an IPv4 address is reversed by hashing all 2**32 of them.

    Here an attacker hashes every address of the /20 holding the client, in every way a
    pseudonym could have been made without the team's key: plain SHA-256 and MD5 of the
    address, and the HMAC with the public default key. None meets the pseudonym, while the
    same enumeration with the team's key does (which is why the key must stay secret).
    """
    client = "198.51.100.23"
    target = addresses.pseudonymise_address(client, KEY)[2:]
    block = ipaddress.ip_network("198.51.96.0/20")
    public = privacy.DEFAULT_PSEUDONYM_KEY.encode()

    def candidates(address: str):
        raw = address.encode()
        yield hashlib.sha256(raw).hexdigest()[:12]
        yield hashlib.md5(raw).hexdigest()[:12]  # noqa: S324 - an attacker's guess
        yield hmac.new(public, b"address:" + raw, hashlib.sha256).hexdigest()[:12]
        yield hmac.new(public, raw, hashlib.sha256).hexdigest()[:12]

    found = [str(a) for a in block for c in candidates(str(a)) if c == target]
    assert found == []
    with_key = [
        str(a)
        for a in block
        if hmac.new(KEY, b"address:" + str(a).encode(), hashlib.sha256).hexdigest()[:12] == target
    ]
    assert with_key == [client]


def test_a_series_is_pseudonymised_per_distinct_value_and_keeps_its_index():
    values = pd.Series(["203.0.113.7", None, "203.0.113.7:80", "unknown", "2001:db8::1"],
                       index=[5, 6, 7, 8, 9], name="x_forwarded_for", dtype="string")  # fmt: skip
    out = addresses.pseudonymise_addresses(values, KEY)
    assert out.dtype == "string" and out.name == "x_forwarded_for"
    assert list(out.index) == [5, 6, 7, 8, 9]
    assert out[5] == out[7] == addresses.pseudonymise_address("203.0.113.7", KEY)
    assert pd.isna(out[6]) and pd.isna(out[8])
    assert out[9] != out[5] and out[9].startswith("a_")


def test_the_first_header_naming_an_address_is_taken():
    assert addresses.first_address(None, "unknown", "198.51.100.9, 10.0.0.1") == (
        "198.51.100.9, 10.0.0.1"
    )
    assert addresses.first_address("203.0.113.7", "198.51.100.9") == "203.0.113.7"
    assert addresses.first_address(None, "", "unknown") is None
