"""Business hours: the clock SLA targets may be counted in.

Help desks state SLA targets in calendar hours (every hour counts) or in business hours
(only the hours the team works: weekdays, opening times, not holidays, in the team's time
zone). Calendar hours are the default; ``business_hours`` turns the other clock on.

The elapsed business time between two moments is computed in the engine as arithmetic on
epoch seconds, with no calendar table and no join: the time zone's offset is a ``CASE`` over
its transitions from 1990 to 2060 (so daylight saving time is exact to the second), the
weekly schedule is counted in whole weeks plus a remainder, and each holiday that falls on
a working day subtracts its opening hours.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import pandas as pd

from crmlib.errors import ParameterError

__all__ = ["BusinessHours", "validate_business_hours", "WEEKDAYS"]

#: Weekday names in the order Python numbers them (Monday is 0).
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY = 86_400
#: 1970-01-05 was a Monday: local seconds are counted from it, so a day number modulo 7
#: is its weekday.
_MONDAY = dt.datetime(1970, 1, 5)
_MONDAY_S = int((_MONDAY - dt.datetime(1970, 1, 1)).total_seconds())
_TIME = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")
#: Years around the data whose time-zone transitions are written into the expression.
_YEARS = range(1990, 2061)
_EXAMPLE = (
    "{'days': ['mon', 'tue', 'wed', 'thu', 'fri'], 'start': '09:00', 'end': '17:00', "
    "'timezone': 'Europe/Berlin', 'holidays': ['2024-12-25']}"
)


@dataclass(frozen=True)
class BusinessHours:
    """Opening hours of a support team.

    Attributes
    ----------
    days : tuple of int
        Working weekdays (Monday is 0).
    start, end : int
        Opening and closing time, in seconds after local midnight (``start < end``).
    timezone : str
        IANA time zone of the opening hours (timestamps in the warehouse are UTC).
    holidays : tuple of datetime.date
        Dates on which the team does not work.
    """

    days: tuple[int, ...]
    start: int
    end: int
    timezone: str
    holidays: tuple[dt.date, ...] = ()

    def describe(self) -> str:
        """Return the hours as a reader reads them: "mon-fri 09:00-17:00 Europe/Berlin"."""
        days = ", ".join(WEEKDAYS[d] for d in self.days)
        hhmm = [f"{s // 3600:02d}:{s % 3600 // 60:02d}" for s in (self.start, self.end)]
        extra = f", {len(self.holidays)} holiday(s)" if self.holidays else ""
        return f"{days} {hhmm[0]}-{hhmm[1]} {self.timezone}{extra}"

    def _local(self, utc_s: ir.NumericValue) -> ir.NumericValue:
        """Local seconds (since the epoch, in the zone's wall clock) of UTC epoch seconds."""
        (_, first), *rest = _transitions(self.timezone)
        if not rest:
            return utc_s + first
        branches = [(utc_s >= since, value) for since, value in reversed(rest)]
        return utc_s + ibis.cases(*branches, else_=first)

    def with_elapsed(
        self, t: ir.Table, name: str, start_utc_s: ir.NumericValue, end_utc_s: ir.NumericValue
    ) -> ir.Table:
        """Return ``t`` with column ``name``: business seconds from ``start`` to ``end``.

        Both are UTC epoch-second expressions of ``t``. The work is split over a few
        projections so each step refers to the previous one's columns (the query stays
        small whatever the number of time-zone transitions and holidays).
        """
        t = t.mutate(_bh_a=self._local(start_utc_s) - _MONDAY_S)
        t = t.mutate(_bh_b=self._local(end_utc_s) - _MONDAY_S)
        for side in ("a", "b"):
            s = t[f"_bh_{side}"]
            t = t.mutate(**{f"_bh_{side}_day": (s / _DAY).floor()})
            day = t[f"_bh_{side}_day"]
            t = t.mutate(**{f"_bh_{side}_week": (day / 7).floor()})
            t = t.mutate(**{f"_bh_{side}_before": self._seconds_before(t, side)})
        t = t.mutate(**{name: t._bh_b_before - t._bh_a_before})
        return t.drop(*[c for c in t.columns if c.startswith("_bh_")])

    def _seconds_before(self, t: ir.Table, side: str) -> ir.NumericValue:
        """Business seconds from the reference Monday to local moment ``_bh_<side>``."""
        per_day = float(self.end - self.start)
        s, day, weeks = (t[f"_bh_{side}{x}"] for x in ("", "_day", "_week"))
        weekday = day - weeks * 7
        of_day = s - day * _DAY
        total = weeks * (len(self.days) * per_day)
        for d in self.days:  # whole working days earlier this week
            total = total + ibis.ifelse(weekday > d, per_day, 0.0)
        today = ibis.greatest(ibis.least(of_day - self.start, per_day), 0.0)
        total = total + ibis.ifelse(weekday.isin(list(self.days)), today, 0.0)
        for h in self.holidays:  # a holiday on a working day takes its hours back
            if h.weekday() not in self.days:
                continue
            opens = (dt.datetime.combine(h, dt.time()) - _MONDAY).total_seconds() + self.start
            total = total - ibis.greatest(ibis.least(s - opens, per_day), 0.0)
        return total


@functools.cache
def _transitions(zone_name: str) -> tuple[tuple[float, float], ...]:
    """``((since UTC epoch second, offset seconds), ...)`` of a zone over :data:`_YEARS`."""
    hours = pd.date_range(f"{_YEARS[0]}-01-01", f"{_YEARS[-1]}-12-31", freq="h", tz="UTC")
    wall = hours.tz_convert(zoneinfo.ZoneInfo(zone_name)).tz_localize(None)
    offsets = pd.Series((wall - hours.tz_localize(None)).total_seconds(), index=hours)
    change = offsets.ne(offsets.shift())
    epoch = (hours[change] - pd.Timestamp("1970-01-01", tz="UTC")) // pd.Timedelta(seconds=1)
    firsts = [(float(e), float(o)) for e, o in zip(epoch, offsets[change], strict=True)]
    return ((float("-inf"), firsts[0][1]), *firsts[1:])


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) | {"UTC"}


def _seconds_of(value: object, key: str) -> int:
    if not isinstance(value, str) or not (m := _TIME.match(value.strip())):
        raise ParameterError(
            f"business_hours[{key!r}]={value!r} should be a time like '09:00' (24-hour clock)"
        )
    seconds = int(m.group(1)) * 3600 + int(m.group(2)) * 60
    if seconds > _DAY:
        raise ParameterError(f"business_hours[{key!r}]={value!r} is after 24:00")
    return seconds


def validate_business_hours(value: Mapping | None) -> BusinessHours | None:
    """Return the business hours ``value`` describes, or None for calendar hours.

    Parameters
    ----------
    value : mapping or None
        Empty or None: calendar hours (every hour counts; the default). Otherwise a dict
        with ``days`` (weekday names, default Monday to Friday), ``start`` and ``end``
        (``"HH:MM"``, default ``"09:00"`` and ``"17:00"``), ``timezone`` (an IANA name,
        default ``"UTC"``) and ``holidays`` (``"YYYY-MM-DD"`` dates, default none).

    Raises
    ------
    ParameterError
        Naming the key, the value and what it should be.
    """
    if value is None or (isinstance(value, Mapping) and not value):
        return None
    if not isinstance(value, Mapping):
        raise ParameterError(f"business_hours={value!r} should be a dict like {_EXAMPLE}")
    keys = ("days", "start", "end", "timezone", "holidays")
    unknown = sorted(str(k)[:40] for k in value if k not in keys)
    if unknown:
        raise ParameterError(
            f"business_hours has unknown key(s) {', '.join(map(repr, unknown))}; "
            "use days, start, end, timezone, holidays"
        )
    days = value.get("days", list(WEEKDAYS[:5]))
    if (
        not isinstance(days, Sequence)
        or isinstance(days, str)
        or not days
        or not all(isinstance(d, str) and d.strip().lower()[:3] in WEEKDAYS for d in days)
    ):
        raise ParameterError(
            f"business_hours['days']={days!r} should be a list of weekdays like ['mon', 'fri']"
        )
    start = _seconds_of(value.get("start", "09:00"), "start")
    end = _seconds_of(value.get("end", "17:00"), "end")
    if start >= end:
        raise ParameterError(
            f"business_hours start {value.get('start')!r} should be before its end "
            f"{value.get('end')!r}"
        )
    tz = value.get("timezone", "UTC")
    if not isinstance(tz, str) or tz not in _zones():  # only names, never a path
        raise ParameterError(
            f"business_hours['timezone']={str(tz)[:60]!r} is not a time zone; use an IANA name "
            "such as 'Europe/Berlin' or 'UTC'"
        )
    holidays = value.get("holidays", [])
    if not isinstance(holidays, Sequence) or isinstance(holidays, str):
        raise ParameterError(
            f"business_hours['holidays']={holidays!r} should be a list of dates 'YYYY-MM-DD'"
        )
    dates = []
    for h in holidays:
        try:
            dates.append(dt.date.fromisoformat(str(h)))
        except ValueError:
            raise ParameterError(
                f"business_hours['holidays'] has {h!r}, which is not a date 'YYYY-MM-DD'"
            ) from None
    weekday_numbers = sorted({WEEKDAYS.index(d.strip().lower()[:3]) for d in days})
    return BusinessHours(tuple(weekday_numbers), start, end, tz, tuple(sorted(set(dates))))
