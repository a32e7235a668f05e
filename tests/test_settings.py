"""The environment's names (analysis.settings): POSTMORTEM_*, with the earlier EVENTLIVE_* kept.

One test per rule: each new name is read; each earlier name is read alone; when both are set
the new one wins; an empty new name does not hide a set earlier one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis import settings
from analysis.exceptions import ParameterError

#: variable -> (a value, the Settings field it sets, what that field then holds)
CASES = {
    settings.ENV_CACHE_DIR: ("/tmp/new-cache", "cache_dir", Path("/tmp/new-cache")),
    settings.ENV_REPORTS_DIR: ("/tmp/new-reports", "reports_dir", Path("/tmp/new-reports")),
    settings.ENV_PREFETCH_DIR: ("/tmp/new-prefetch", "prefetch_dir", Path("/tmp/new-prefetch")),
    settings.ENV_WORKERS: ("3", "workers", 3),
    settings.ENV_NO_STATS_CACHE: ("1", "stats_cache", False),
}
#: A second value per variable, different from CASES' in its effect.
OTHER = {
    settings.ENV_CACHE_DIR: ("/tmp/old-cache", Path("/tmp/old-cache")),
    settings.ENV_REPORTS_DIR: ("/tmp/old-reports", Path("/tmp/old-reports")),
    settings.ENV_PREFETCH_DIR: ("/tmp/old-prefetch", Path("/tmp/old-prefetch")),
    settings.ENV_WORKERS: ("5", 5),
    settings.ENV_NO_STATS_CACHE: ("0", True),
}


def test_every_variable_has_a_generic_name_and_its_earlier_one_as_alias():
    assert set(settings.ALIASES) == set(CASES) | {settings.ENV_PSEUDONYM_KEY}
    for new, old in settings.ALIASES.items():
        assert new.startswith("POSTMORTEM_") and old == "EVENTLIVE_" + new.removeprefix(
            "POSTMORTEM_"
        )


@pytest.mark.parametrize("name", sorted(settings.ALIASES))
def test_read_variable_prefers_the_new_name_and_falls_back_to_the_earlier(name):
    old = settings.ALIASES[name]
    assert settings.read_variable({}, name) == (name, None)
    assert settings.read_variable({name: "a"}, name) == (name, "a")
    assert settings.read_variable({old: "b"}, name) == (old, "b")
    assert settings.read_variable({name: "a", old: "b"}, name) == (name, "a")
    assert settings.read_variable({name: "", old: "b"}, name) == (old, "b")


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_new_name_is_read(name):
    value, field, expected = CASES[name]
    assert getattr(settings.read_settings({name: value}), field) == expected


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_earlier_name_alone_is_read(name):
    value, field, expected = CASES[name]
    assert getattr(settings.read_settings({settings.ALIASES[name]: value}), field) == expected


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_new_name_wins_when_both_are_set(name):
    value, field, expected = CASES[name]
    env = {name: value, settings.ALIASES[name]: OTHER[name][0]}
    assert getattr(settings.read_settings(env), field) == expected
    env = {name: OTHER[name][0], settings.ALIASES[name]: value}
    assert getattr(settings.read_settings(env), field) == OTHER[name][1]


@pytest.mark.parametrize("name", sorted(CASES))
def test_an_empty_new_name_leaves_the_earlier_one(name):
    value, field, expected = CASES[name]
    env = {name: "", settings.ALIASES[name]: value}
    assert getattr(settings.read_settings(env), field) == expected


def test_a_bad_value_names_the_variable_it_came_from():
    with pytest.raises(ParameterError, match="^EVENTLIVE_WORKERS: expected a whole number"):
        settings.read_settings({"EVENTLIVE_WORKERS": "two"})
    with pytest.raises(ParameterError, match="^POSTMORTEM_WORKERS: expected a whole number"):
        settings.read_settings({"POSTMORTEM_WORKERS": "two", "EVENTLIVE_WORKERS": "2"})
