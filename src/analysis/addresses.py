"""Pseudonyms of client addresses: the keyed hash ``ingest`` gives a request's client address.

A request's client address (the gateway's ``cf_connecting_ip``, ``x_real_ip`` or
``x-forwarded-for``, Auth's ``remote_addr``) tells how many clients a class of errors came from
("from 2 addresses"), and is a person's data. It becomes ``a_`` + 12 hex digits of a keyed
HMAC-SHA256, with the same key as user ids (:func:`analysis.privacy.pseudonym_key`), computed
on the address in one canonical spelling so that the same client written two ways (``::ffff:``
before an IPv4 address, a port, brackets, capitals in IPv6) is one pseudonym. The key's input
is prefixed with ``address:``, so an address and a user id of the same text never share a
pseudonym.

An unkeyed hash of an address would be no pseudonym at all: there are 2**32 IPv4 addresses,
and hashing every one of them takes minutes. A keyed hash is safe only while its key is
secret; with the public default key (no ``POSTMORTEM_PSEUDONYM_KEY`` set) anyone can
enumerate it the same way. The report therefore shows counts of distinct addresses only,
never a pseudonym of one (docs/report-safety.md).

A value that is not an address (``unknown`` and obfuscated ``_hidden`` identifiers, which
RFC 7239 allows in ``for=``, an empty header, text) has no pseudonym: it is ``None``, never
guessed.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re

import pandas as pd

from analysis.privacy import _map_unique as map_unique

#: Prefix of an address pseudonym (a user's is ``u_``).
PREFIX = "a_"
# RFC 7239's ``Forwarded: for=192.0.2.60;proto=http, for="[2001:db8::1]:4711"``.
_FOR_RE = re.compile(r"(?i)(?:^|[;,\s])for\s*=\s*\"?([^\";,\s]+)")
# ``[v6]`` with an optional port.
_BRACKETED_RE = re.compile(r"^\[([^\]]+)\](?::\d{1,5})?$")
# ``v4:port``.
_V4_PORT_RE = re.compile(r"^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$")


def canonical_address(value: object) -> str | None:
    """Return the client address ``value`` names, in one spelling, or ``None``.

    Parameters
    ----------
    value
        A header's value as exported: one address (IPv4, IPv6, with a port or in brackets,
        IPv4-mapped IPv6), an ``X-Forwarded-For`` list (its first hop is the client), or a
        ``Forwarded`` header (its first ``for=``).

    Returns
    -------
    str or None
        ``ipaddress``' compressed form (IPv4-mapped IPv6 as its IPv4 address, no zone, no
        port); ``None`` when ``value`` is missing or its first hop is not an IP address.
    """
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip()
    if not text:
        return None
    forwarded = _FOR_RE.search(text) if "=" in text else None
    if forwarded:
        text = forwarded.group(1)
    # The first hop of a list is the client; the rest are proxies.
    text = text.split(",", 1)[0].strip().strip("\"'")
    bracketed = _BRACKETED_RE.match(text)
    if bracketed:
        text = bracketed.group(1)
    else:
        with_port = _V4_PORT_RE.match(text)
        if with_port:
            text = with_port.group(1)
    text = text.split("%", 1)[0]  # an IPv6 zone names the analyst's interface, not a client
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.compressed


def pseudonymise_address(value: object, key: bytes) -> str | None:
    """Return ``a_`` + 12 hex digits of HMAC-SHA256(key, ``address:`` + canonical address).

    ``None`` when ``value`` names no address (:func:`canonical_address`).
    """
    canonical = canonical_address(value)
    if canonical is None:
        return None
    digest = hmac.new(key, b"address:" + canonical.encode(), hashlib.sha256).hexdigest()
    return PREFIX + digest[:12]


def pseudonymise_addresses(values: pd.Series, key: bytes) -> pd.Series:
    """Pseudonymise every value of ``values`` (computed once per distinct value; ``string``)."""
    return map_unique(values, lambda v: pseudonymise_address(v, key))


def first_address(*values: object) -> object:
    """Return the first of ``values`` that names an address (headers in order of trust).

    The gateway's headers in the order ingest reads them: ``cf_connecting_ip``,
    ``x_real_ip``, then ``x-forwarded-for``; a header holding ``unknown`` gives way to the
    next. ``None`` when none does.
    """
    for value in values:
        if canonical_address(value) is not None:
            return value
    return None
