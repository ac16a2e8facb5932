"""Times on the HTML report, in the user's time zone (``defaults.timezone``): run times in tables and the
dates under the charts' time axis.  Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

_MONTHS = {
    "fr": ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc."),
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
}


@dataclass(frozen=True)
class Clock:
    """How the page writes a moment: the time zone's wall time and name, months in the page's language."""

    zone: str = "UTC"
    locale: str = "fr"

    @property
    def tz(self) -> tzinfo:
        return UTC if self.zone == "UTC" else ZoneInfo(self.zone)

    def when(self, d: datetime | None) -> str:
        """``2026-12-07 07:00 CET`` (a run's start, in the user's zone)."""
        if d is None:
            return "–"
        local = d.astimezone(self.tz)
        return local.strftime("%Y-%m-%d %H:%M ") + (local.tzname() or self.zone)

    def day(self, d: datetime) -> str:
        """``7 déc.`` (fr) or ``Dec 7`` (en), in the user's zone."""
        local = d.astimezone(self.tz)
        month = _MONTHS.get(self.locale, _MONTHS["en"])[local.month - 1]
        return f"{local.day} {month}" if self.locale == "fr" else f"{month} {local.day}"

    def axis(self, moments: Sequence[datetime | None], run_ids: Sequence[int]) -> list[str]:
        """The labels under a chart's time axis: each run's date, with its time when a day holds several
        runs, and ``#id`` for a run without a start time."""
        days = [self.day(d) if d else None for d in moments]
        out = []
        for d, day, rid in zip(moments, days, run_ids):
            if d is None or day is None:
                out.append(f"#{rid}")
            elif days.count(day) > 1:
                out.append(f"{day} {d.astimezone(self.tz):%H:%M}")
            else:
                out.append(day)
        return out

    @property
    def axis_title(self) -> str:
        return f"run date ({self.zone})"
