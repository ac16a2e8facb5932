"""Marketing API versions: the table, the default, and doctor's warning (a fake clock, no Meta)."""

from __future__ import annotations

from datetime import date

import pytest

from fbsync.meta import versions


@pytest.mark.parametrize(
    "override, sdk, today, name, warns",
    [
        (None, "v26.0", date(2026, 12, 7), "v26.0", False),  # the installed SDK's, no end date
        (None, "v25.0", date(2026, 12, 7), "v27.0", False),  # the SDK's ends in 78 days: the newest live
        (None, "v25.0", date(2026, 11, 1), "v25.0", False),  # 114 days left: kept
        (None, "v24.0", date(2026, 12, 7), "v27.0", False),  # expired: the newest live
        (None, "v28.0", date(2026, 12, 7), "v28.0", False),  # an SDK newer than the table is trusted
        ("v27.0", "v26.0", date(2026, 12, 7), "v27.0", False),
        ("v25.0", "v26.0", date(2026, 12, 7), "v25.0", True),  # ends within 90 days
        ("v24.0", "v26.0", date(2026, 12, 7), "v24.0", True),  # expired: Meta answers 2635
        ("v99.0", "v26.0", date(2026, 12, 7), "v99.0", True),  # unknown: Meta answers 2500
    ],
)
def test_choose(override: str | None, sdk: str, today: date, name: str, warns: bool) -> None:
    c = versions.choose(override, today, sdk)
    assert c.name == name and bool(c.warning) is warns, c
    if warns:
        assert "v27.0" in (c.warning or "")


def test_the_table_matches_meta_december_2026() -> None:
    today = date(2026, 12, 7)
    assert [v.name for v in versions.VERSIONS if v.live(today)] == ["v25.0", "v26.0", "v27.0"]
    assert versions.newest_live(today).name == "v27.0"
    assert versions.BY_NAME["v25.0"].days_left(today) == 78


def test_the_installed_sdk_speaks_v26() -> None:
    assert versions.key(versions.sdk_version()) >= (26, 0)
