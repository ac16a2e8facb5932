"""The pure ad-set rewiring: listed audiences in, managed-but-unlisted out, everything else untouched."""

from __future__ import annotations

from fbsync.adsets import rewire

TARGETING = {
    "geo_locations": {"countries": ["FR"]},
    "age_min": 25,
    "custom_audiences": [{"id": "900", "name": "someone else's"}, {"id": "1"}],
    "excluded_custom_audiences": [{"id": "2"}],
    "flexible_spec": [{"interests": [{"id": "6003"}]}],
}


def test_rewire_keeps_other_fields_and_foreign_audiences() -> None:
    new, changes = rewire(TARGETING, include=["3"], exclude=["1", "2"], managed={"1", "2", "3"})
    assert {k: v for k, v in new.items() if "custom_audiences" not in k} == {
        k: v for k, v in TARGETING.items() if "custom_audiences" not in k
    }
    assert new["custom_audiences"] == [{"id": "900"}, {"id": "3"}]
    assert new["excluded_custom_audiences"] == [{"id": "1"}, {"id": "2"}]
    assert changes == {
        "+custom_audiences": ["3"],
        "-custom_audiences": ["1"],
        "+excluded_custom_audiences": ["1"],
        "-excluded_custom_audiences": [],
    }
    assert TARGETING["custom_audiences"][1] == {"id": "1"}  # input untouched


def test_rewire_no_change_and_empty_lists() -> None:
    t = {"geo_locations": {"countries": ["FR"]}, "custom_audiences": [{"id": "5"}]}
    assert rewire(t, ["5"], [], {"5"})[1] == {}
    new, changes = rewire(t, [], [], {"5"})
    assert "custom_audiences" not in new and changes["-custom_audiences"] == ["5"]
