"""How one synthetic French customer is drawn for the demo CRM (:mod:`fbsync.dev.demo`).

:class:`Factory` draws every field from one ``random.Random``: names from the population tables of
:mod:`fbsync.dev.demo_data`, a postcode that matches the city, e-mails and phone numbers written the
many ways people type them (national, international, dotted, spaced, broken), and the odd mistake.
"""

from __future__ import annotations

import random
from datetime import date

from .demo_data import (
    CITY_TABLE,
    COUNTRY_TABLE,
    DOM,
    DOMAIN_TABLE,
    FEMALE_LABELS,
    FIRST_TABLE,
    GARBAGE_PHONES,
    LAST_TABLE,
    MALE_LABELS,
)

#: "Today" of a freshly seeded CRM.  Fixed so that contents never depend on the clock.
REF_DATE = date(2025, 6, 1)


def fmt_fr(nsn: str, style: float) -> str:
    """Write a French national significant number (9 digits) the way people do."""
    d = "0" + nsn
    p = (d[0:2], d[2:4], d[4:6], d[6:8], d[8:10])
    if style < 0.34:
        return " ".join(p)  # 06 12 34 56 78
    if style < 0.58:
        return d  # 0612345678
    if style < 0.68:
        return f"+33 {nsn[0]} {p[1]} {p[2]} {p[3]} {p[4]}"  # +33 6 12 34 56 78
    if style < 0.76:
        return "+33" + nsn  # +33612345678
    if style < 0.80:
        return f"+33 (0){nsn[0]} {p[1]} {p[2]} {p[3]} {p[4]}"  # +33 (0)6 12 34 56 78
    if style < 0.84:
        return "0033" + nsn  # 0033612345678
    if style < 0.92:
        return ".".join(p)  # 06.12.34.56.78
    if style < 0.96:
        return "-".join(p)  # 06-12-34-56-78
    if style < 0.98:
        return "33" + nsn  # 33612345678
    return f"{nsn[0]} {p[1]} {p[2]} {p[3]} {p[4]}"  # 6 12 34 56 78 (spreadsheet ate the 0)


def fmt_phone(region: str, nsn: str, style: float) -> str:
    if region in DOM:
        if style < 0.3:  # the correct international form uses the DOM's own code
            cc = DOM[region][2]
            return f"+{cc} {nsn[0:3]} {nsn[3:5]} {nsn[5:7]} {nsn[7:9]}"
        return fmt_fr(nsn, style * 0.6)  # national styles only
    if region == "BE":
        if style < 0.4:
            return f"0{nsn[0:3]} {nsn[3:5]} {nsn[5:7]} {nsn[7:9]}"  # 0475 12 34 56
        if style < 0.7:
            return f"+32 {nsn[0:3]} {nsn[3:5]} {nsn[5:7]} {nsn[7:9]}"  # +32 475 12 34 56
        if style < 0.85:
            return f"0{nsn[0:3]}/{nsn[3:5]}.{nsn[5:7]}.{nsn[7:9]}"  # 0475/12.34.56
        return "0032" + nsn
    if region == "CH":
        if style < 0.45:
            return f"0{nsn[0:2]} {nsn[2:5]} {nsn[5:7]} {nsn[7:9]}"  # 079 123 45 67
        if style < 0.85:
            return f"+41 {nsn[0:2]} {nsn[2:5]} {nsn[5:7]} {nsn[7:9]}"  # +41 79 123 45 67
        return "0041" + nsn
    if region == "LU":
        if style < 0.5:
            return f"+352 {nsn[0:3]} {nsn[3:6]} {nsn[6:9]}"  # +352 621 123 456
        if style < 0.8:
            return f"{nsn[0:3]} {nsn[3:6]} {nsn[6:9]}"  # 621 123 456
        return "00352" + nsn
    return fmt_fr(nsn, style)


class Factory:
    """Draws people and renders them as CRM rows; every draw comes from ``rng``.

    ``emails`` and ``phones`` hold what is already taken, so two different
    people never share an address or a number by accident: the only shared
    ones are the deliberate duplicates.
    """

    def __init__(self, rng: random.Random, today: date, emails: set[str], phones: set[str]) -> None:
        self.r = rng.random
        self.today = today.toordinal()
        self.emails = emails
        self.phones = phones
        self._dates: dict[int, str] = {}

    def _iso(self, ordinal: int) -> str:
        s = self._dates.get(ordinal)
        if s is None:
            s = self._dates[ordinal] = date.fromordinal(ordinal).isoformat()
        return s

    def _timestamp(self, days_ago: int) -> str:
        s = int(self.r() * 86400)
        return f"{self._iso(self.today - days_ago)}T{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"

    def new_email(self, first_ascii: str, last_ascii: str, region: str, domain: str | None = None) -> str:
        r = self.r
        f, la = first_ascii, last_ascii.replace("-", "") if r() < 0.5 else last_ascii
        x = r()
        if x < 0.40:
            local = f"{f}.{la}"
        elif x < 0.50:
            local = f + la
        elif x < 0.58:
            local = f"{f[0]}.{la}"
        elif x < 0.62:
            local = f"{f}_{la}"
        elif x < 0.68:
            local = f"{la}.{f}"
        elif x < 0.83:
            local = f"{f}.{la}{int(r() * 99) + 1:02d}"
        elif x < 0.90:
            local = f"{f}{la}{1950 + int(r() * 56)}"
        elif x < 0.95:
            local = f"{f}{int(r() * 999) + 1}"
        else:
            local = f"{f[0]}{la}"
        if domain is None:
            t = DOMAIN_TABLE[region if region in DOMAIN_TABLE else "FR"]
            domain = t[int(r() * len(t))]
        email = f"{local}@{domain}"
        while email in self.emails:
            email = f"{local}{int(r() * 9000) + 100}@{domain}"
        self.emails.add(email)
        return email

    def new_phone(self, region: str, mobile: bool) -> str:
        r = self.r
        while True:
            if region in DOM:
                mob, land, _ = DOM[region]
                pre = mob[int(r() * len(mob))] if mobile else land
                nsn = f"{pre}{int(r() * 1_000_000):06d}"
            elif region == "BE":
                nsn = f"4{7 + int(r() * 3)}{int(r() * 10_000_000):07d}"
            elif region == "CH":
                nsn = f"7{5 + int(r() * 5)}{int(r() * 10_000_000):07d}"
            elif region == "LU":
                nsn = f"6{('21', '61', '91')[int(r() * 3)]}{int(r() * 1_000_000):06d}"
            elif mobile:
                nsn = (
                    f"6{int(r() * 100_000_000):08d}" if r() < 0.8 else f"7{3 + int(r() * 7)}{int(r() * 10_000_000):07d}"
                )
            else:
                pre = region if r() < 0.85 else "9"  # 09: internet-box numbers
                nsn = f"{pre}{int(r() * 100_000_000):08d}"
            if nsn not in self.phones:
                self.phones.add(nsn)
                return nsn

    def person(self) -> tuple:
        """A person as the CRM knows them, before any typing noise."""
        r = self.r
        first, sex, fa = FIRST_TABLE[int(r() * len(FIRST_TABLE))]
        if sex == "X":
            sex = "F" if r() < 0.5 else "M"
        last, la = LAST_TABLE[int(r() * len(LAST_TABLE))]
        city, zips, region, city_plain = CITY_TABLE[int(r() * len(CITY_TABLE))]
        zip_ = zips[int(r() * len(zips))]
        email = self.new_email(fa, la, region)
        nsn = self.new_phone(region, r() < 0.85)
        x = r()
        if x < 0.12:
            birth = None
        elif x < 0.122:
            birth = "1900-01-01"  # the CRM's "unknown" placeholder
        else:
            age_days = int((18 + 62 * (r() + r()) / 2) * 365.25)
            birth = self._iso(REF_DATE.toordinal() - age_days)
        return (first, sex, fa, last, la, city, zip_, region, city_plain, email, nsn, birth)

    def row(
        self,
        pid: int,
        p: tuple,
        *,
        email_shared: bool = False,
        phone_shared: bool = False,
        lod: int | None = None,
        updated_days_ago: int | None = None,
    ) -> tuple:
        """Render person ``p`` as a ``customers`` row, with the mess real CRMs have.

        A shared e-mail or phone (a deliberate duplicate) is kept well-formed so
        that the two rows really do collide after normalisation.
        """
        r = self.r
        first, sex, fa, last, la, city, zip_, region, city_plain, email, nsn, birth = p

        # e-mail: ~3 % missing, ~2 % malformed, some mixed case or padded with spaces
        x = r()
        if not email_shared and x < 0.024:
            email = None
        elif not email_shared and x < 0.03:
            email = ""
        elif not email_shared and x < 0.05:
            local, _, domain = email.partition("@")
            y = r()
            if y < 0.25:
                email = local + "@"  # jean.dupont@
            elif y < 0.45:
                email = f"{local}.{domain}"  # jean.dupont.orange.fr
            elif y < 0.65:
                email = f"{fa} {la}@{domain}"  # jean dupont@free.fr
            elif y < 0.78:
                email = f"{local}@@{domain}"  # jean.dupont@@gmail.com
            elif y < 0.90:
                email = f"{local}@{domain.rsplit('.', 1)[0]}"  # jean.dupont@gmail
            else:
                email = f"{local}@{domain.replace('.', ',')}"  # jean.dupont@gmail,com
        else:
            y = r()
            if y < 0.04:  # Jean.Dupont@Orange.fr
                local, _, domain = email.partition("@")
                email = f"{'.'.join(w.capitalize() for w in local.split('.'))}@{domain.capitalize()}"
            elif y < 0.05:
                email = email.upper()
            if r() < 0.02:
                email = (" " + email + " ") if r() < 0.5 else (email + " ")

        # phone: ~5 % missing, ~1 % garbage, otherwise one of many formats
        x = r()
        if not phone_shared and x < 0.04:
            phone = None
        elif not phone_shared and x < 0.05:
            phone = ""
        elif not phone_shared and x < 0.06:
            phone = GARBAGE_PHONES[int(r() * len(GARBAGE_PHONES))]
        else:
            phone = fmt_phone(region, nsn, r())

        # names and places, as typed
        x = r()
        if x < 0.12:
            last = last.upper()  # DUPONT: the French paperwork habit
        elif x < 0.14:
            last = last.lower()
        x = r()
        if x < 0.02:
            first = first.lower()
        elif x < 0.03:
            first = first.upper()
        elif x < 0.04:
            first = first + " "
        x = r()
        if x < 0.03:
            city = city.upper()
        elif x < 0.05:
            city = city_plain  # Saint-Etienne, Besancon
        if zip_[0] == "0" and r() < 0.15:
            zip_ = zip_[1:]  # 6000: a spreadsheet ate the leading zero
        elif region == "LU" and r() < 0.5:
            zip_ = "L-" + zip_
        t = COUNTRY_TABLE[region if region in COUNTRY_TABLE else "FR"]
        country = t[int(r() * len(t))]
        t = FEMALE_LABELS if sex == "F" else MALE_LABELS
        gender = t[int(r() * len(t))]

        is_vip = 1 if r() < 0.08 else 0
        consent = 1 if r() < 0.85 else 0
        if lod is None:
            lod = int(r() * 31) if r() < 0.25 else 31 + int(690 * r() ** 1.6)
        if updated_days_ago is None:
            updated_days_ago = int(r() * (lod + 1))
        return (
            pid,
            email,
            phone,
            first,
            last,
            city,
            zip_,
            country,
            birth,
            gender,
            is_vip,
            lod,
            consent,
            self._timestamp(updated_days_ago),
        )

    def changed_email(self, email: str) -> str:
        """Same person, new provider: ``jean.dupont@orange.fr`` -> ``jean.dupont@gmail.com``."""
        local, _, old = email.strip().lower().partition("@")
        t = DOMAIN_TABLE["FR"]
        domain = old
        while domain == old:
            domain = t[int(self.r() * len(t))]
        new = f"{local}@{domain}"
        while new in self.emails:
            new = f"{local}{int(self.r() * 9000) + 100}@{domain}"
        self.emails.add(new)
        return new
