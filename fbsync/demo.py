"""A synthetic French CRM in one SQLite file, for demos, tests and benchmarks.

``seed`` (re)creates the file with a ``customers`` table of made-up French
customers that look like a real CRM export: accented names, postcodes that
match their city, phone numbers in every format people type, a few broken
e-mails, duplicated people, country written four different ways.  It also
writes a small ``optouts`` table for suppression features.

``churn`` then mutates that file the way a week of real life would (a few
customers leave, a few arrive, some change e-mail, some order again), so a
second sync has something to do.

Everything is drawn from one ``random.Random(seed)`` and a fixed reference date,
never the clock: the same seed gives the same table contents on every machine.
No personal data is real; the command line prints counts only.

    python -m fbsync.demo seed demo/crm.db --rows 20000 --seed 42
    python -m fbsync.demo churn demo/crm.db --seed 7 --fraction 0.01
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sqlite3
import time
import unicodedata
from datetime import date, timedelta
from pathlib import Path
from typing import Iterator, Sequence

__all__ = ["seed", "churn", "main", "REF_DATE"]

#: "Today" of a freshly seeded CRM.  Fixed so that contents never depend on the clock.
REF_DATE = date(2025, 6, 1)

CUSTOMERS_DDL = """
CREATE TABLE customers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT,
    phone TEXT,
    first_name TEXT,
    last_name TEXT,
    city TEXT,
    zip TEXT,
    country TEXT,
    birth_date TEXT,
    gender TEXT,
    is_vip INTEGER,
    last_order_days INTEGER,
    consent INTEGER,
    updated_at TEXT
)"""
# AUTOINCREMENT: ids are never reused after a delete, so a churned-in customer
# can never inherit the id of one who left (what a sync would misread as an edit).
OPTOUTS_DDL = "CREATE TABLE optouts (email TEXT, phone TEXT)"
_INSERT = "INSERT INTO customers VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"

# --------------------------------------------------------------------------- data
# Names: (name, sex) with sex F, M or X (either).  Weight = how often it is listed.
_FIRST_NAMES: tuple[tuple[str, str, int], ...] = (
    ("Élodie", "F", 3), ("Hélène", "F", 3), ("Zoé", "F", 3), ("Anaïs", "F", 3), ("Gaëlle", "F", 2),
    ("Céline", "F", 3), ("Léa", "F", 4), ("Chloé", "F", 3), ("Océane", "F", 2), ("Mélanie", "F", 2),
    ("Maëlys", "F", 1), ("Inès", "F", 3), ("Noémie", "F", 2), ("Clémence", "F", 2), ("Agnès", "F", 1),
    ("Frédérique", "F", 1), ("Béatrice", "F", 1), ("Joëlle", "F", 1), ("Marie-Hélène", "F", 1),
    ("Anne-Sophie", "F", 2), ("Héloïse", "F", 1), ("Léonie", "F", 1), ("Valérie", "F", 2),
    ("Sévérine", "F", 1), ("Françoise", "F", 1), ("Maïwenn", "F", 1), ("Émilie", "F", 3),
    ("Marie", "F", 5), ("Julie", "F", 4), ("Sophie", "F", 4), ("Camille", "X", 4), ("Sarah", "F", 3),
    ("Laura", "F", 3), ("Manon", "F", 4), ("Emma", "F", 4), ("Louise", "F", 3), ("Jade", "F", 3),
    ("Alice", "F", 3), ("Nathalie", "F", 3), ("Isabelle", "F", 3), ("Sandrine", "F", 2),
    ("Christine", "F", 2), ("Catherine", "F", 2), ("Aurélie", "F", 3), ("Lucie", "F", 3),
    ("Pauline", "F", 3), ("Charlotte", "F", 3), ("Fatima", "F", 2), ("Yasmine", "F", 2),
    ("Nadia", "F", 1), ("Aïcha", "F", 1), ("Thi Hương", "F", 1),
    ("François", "M", 3), ("Jérôme", "M", 3), ("Loïc", "M", 3), ("Noël", "M", 1), ("Maël", "M", 2),
    ("Jérémy", "M", 3), ("Sébastien", "M", 3), ("Stéphane", "M", 3), ("Frédéric", "M", 3),
    ("Cédric", "M", 2), ("Grégory", "M", 2), ("Benoît", "M", 2), ("Raphaël", "M", 3), ("Gaël", "M", 2),
    ("Joël", "M", 1), ("Hervé", "M", 2), ("Rémi", "M", 2), ("Timothée", "M", 2), ("Mathéo", "M", 2),
    ("Jean-François", "M", 2), ("Jean-Pierre", "M", 2), ("Jean-Michel", "M", 1), ("Hélio", "M", 1),
    ("Éric", "M", 2), ("Étienne", "M", 2), ("Clément", "M", 3), ("Valentin", "M", 2), ("Noé", "M", 2),
    ("Jean", "M", 4), ("Pierre", "M", 4), ("Nicolas", "M", 4), ("Thomas", "M", 4), ("Julien", "M", 4),
    ("David", "M", 3), ("Christophe", "M", 3), ("Philippe", "M", 3), ("Laurent", "M", 3),
    ("Olivier", "M", 3), ("Alexandre", "M", 3), ("Antoine", "M", 3), ("Hugo", "M", 4), ("Lucas", "M", 4),
    ("Louis", "M", 4), ("Gabriel", "M", 3), ("Arthur", "M", 3), ("Paul", "M", 3), ("Mohamed", "M", 2),
    ("Karim", "M", 2), ("Mehdi", "M", 2), ("Yannick", "M", 2), ("Kévin", "M", 2), ("Dominique", "X", 2),
    ("Claude", "X", 1), ("Sacha", "X", 1),
)
_LAST_NAMES: tuple[tuple[str, int], ...] = (
    ("Martin", 8), ("Bernard", 6), ("Dubois", 6), ("Thomas", 5), ("Robert", 5), ("Richard", 5),
    ("Petit", 5), ("Durand", 5), ("Leroy", 4), ("Moreau", 4), ("Simon", 4), ("Laurent", 4),
    ("Lefèvre", 4), ("Lefebvre", 3), ("Michel", 4), ("Garcia", 3), ("David", 3), ("Bertrand", 3),
    ("Roux", 3), ("Vincent", 3), ("Fournier", 3), ("Morel", 3), ("Girard", 3), ("André", 3),
    ("Mercier", 3), ("Dupont", 3), ("Lambert", 3), ("Bonnet", 3), ("François", 2), ("Martinez", 2),
    ("Legrand", 2), ("Garnier", 2), ("Faure", 2), ("Rousseau", 2), ("Blanc", 2), ("Guérin", 2),
    ("Muller", 2), ("Müller", 1), ("Müller-Durand", 1), ("Henry", 2), ("Perrin", 2), ("Morin", 2),
    ("Mathieu", 2), ("Clément", 2), ("Gauthier", 2), ("Dumont", 2), ("Lopez", 2), ("Fontaine", 2),
    ("Chevalier", 2), ("Robin", 2), ("Masson", 2), ("Gérard", 2), ("Nguyen", 2), ("Boyer", 2),
    ("Lemaire", 2), ("Duval", 2), ("Noël", 2), ("Meyer", 2), ("Ménard", 2), ("Pérez", 1),
    ("Dufour", 2), ("Barbier", 2), ("Brunet", 2), ("Leclerc", 2), ("Rivière", 2), ("Bénard", 1),
    ("Benoît", 1), ("Lécuyer", 1), ("Prévost", 1), ("Géraud", 1), ("Hoarau", 1), ("Payet", 1),
    ("Le Goff", 2), ("Le Gall", 1), ("Le Roux", 1), ("Le Bihan", 1), ("Le Floc'h", 1),
    ("D'Almeida", 1), ("D'Angelo", 1), ("N'Diaye", 1), ("Da Silva", 2), ("Dos Santos", 1),
    ("De La Fontaine", 1), ("de Villiers", 1), ("Ben Ali", 1), ("Diallo", 1), ("Traoré", 1),
    ("Cohen", 1), ("Kervella", 1), ("Œuvrard", 1), ("Saint-Aubin", 1),
)
_ACCENTED = "àâäçéèêëîïôöùûüÿæœñ"

# Cities: (name, postcodes, weight, region).  Region picks the landline prefix (1-5),
# an overseas numbering plan (MQ GP RE GF) or a neighbour country (BE CH LU).
_PARIS = tuple(f"750{i:02d}" for i in range(1, 21))
_CITIES: tuple[tuple[str, tuple[str, ...], int, str], ...] = (
    ("Paris", _PARIS, 200, "1"),
    ("Lyon", tuple(f"6900{i}" for i in range(1, 10)), 55, "4"),
    ("Marseille", tuple(f"130{i:02d}" for i in range(1, 17)), 60, "4"),
    ("Toulouse", ("31000", "31100", "31200", "31300", "31400", "31500"), 40, "5"),
    ("Nice", ("06000", "06100", "06200", "06300"), 28, "4"),
    ("Nantes", ("44000", "44100", "44200", "44300"), 26, "2"),
    ("Strasbourg", ("67000", "67100", "67200"), 24, "3"),
    ("Montpellier", ("34000", "34070", "34080", "34090"), 24, "4"),
    ("Bordeaux", ("33000", "33100", "33200", "33300", "33800"), 22, "5"),
    ("Lille", ("59000", "59160", "59260", "59800"), 20, "3"),
    ("Rennes", ("35000", "35200", "35700"), 18, "2"),
    ("Reims", ("51100",), 15, "3"),
    ("Saint-Étienne", ("42000", "42100"), 15, "4"),
    ("Toulon", ("83000", "83100", "83200"), 15, "4"),
    ("Le Havre", ("76600",), 14, "2"),
    ("Grenoble", ("38000", "38100"), 14, "4"),
    ("Dijon", ("21000",), 13, "3"),
    ("Angers", ("49000", "49100"), 13, "2"),
    ("Nîmes", ("30000", "30900"), 12, "4"),
    ("Villeurbanne", ("69100",), 12, "4"),
    ("Clermont-Ferrand", ("63000", "63100"), 12, "4"),
    ("Le Mans", ("72000", "72100"), 12, "2"),
    ("Aix-en-Provence", ("13100", "13090", "13290", "13540"), 12, "4"),
    ("Brest", ("29200",), 10, "2"),
    ("Tours", ("37000", "37100", "37200"), 10, "2"),
    ("Amiens", ("80000", "80080", "80090"), 10, "3"),
    ("Limoges", ("87000", "87100", "87280"), 10, "5"),
    ("Annecy", ("74000",), 10, "4"),
    ("Perpignan", ("66000", "66100"), 10, "4"),
    ("Besançon", ("25000",), 10, "3"),
    ("Metz", ("57000", "57050", "57070"), 10, "3"),
    ("Orléans", ("45000", "45100"), 10, "2"),
    ("Rouen", ("76000", "76100"), 10, "2"),
    ("Caen", ("14000",), 9, "2"),
    ("Nancy", ("54000", "54100"), 9, "3"),
    ("Mulhouse", ("68100", "68200"), 9, "3"),
    ("Boulogne-Billancourt", ("92100",), 10, "1"),
    ("Saint-Denis", ("93200",), 10, "1"),
    ("Montreuil", ("93100",), 9, "1"),
    ("Argenteuil", ("95100",), 9, "1"),
    ("Versailles", ("78000",), 8, "1"),
    ("Créteil", ("94000",), 8, "1"),
    ("Neuilly-sur-Seine", ("92200",), 6, "1"),
    ("L'Haÿ-les-Roses", ("94240",), 3, "1"),
    ("Saint-Germain-en-Laye", ("78100",), 5, "1"),
    ("Évry-Courcouronnes", ("91000",), 5, "1"),
    ("Pau", ("64000",), 7, "5"),
    ("La Rochelle", ("17000",), 7, "5"),
    ("Poitiers", ("86000",), 7, "5"),
    ("Angoulême", ("16000",), 5, "5"),
    ("Bayonne", ("64100",), 5, "5"),
    ("Avignon", ("84000",), 7, "4"),
    ("Béziers", ("34500",), 6, "4"),
    ("Chambéry", ("73000",), 6, "4"),
    ("Valence", ("26000",), 6, "4"),
    ("Mâcon", ("71000",), 4, "3"),
    ("Épinal", ("88000",), 4, "3"),
    ("Châlons-en-Champagne", ("51000",), 4, "3"),
    ("Troyes", ("10000",), 5, "3"),
    ("Colmar", ("68000",), 5, "3"),
    ("Quimper", ("29000",), 5, "2"),
    ("Vannes", ("56000",), 5, "2"),
    ("Saint-Malo", ("35400",), 4, "2"),
    ("Bourg-en-Bresse", ("01000",), 4, "4"),
    ("Ajaccio", ("20000", "20090"), 5, "4"),
    ("Bastia", ("20200", "20600"), 3, "4"),
    ("Fort-de-France", ("97200",), 4, "MQ"),
    ("Pointe-à-Pitre", ("97110",), 3, "GP"),
    ("Saint-Denis", ("97400",), 4, "RE"),  # La Réunion: same name as 93200, on purpose
    ("Cayenne", ("97300",), 2, "GF"),
    ("Bruxelles", ("1000", "1050", "1060", "1180"), 14, "BE"),
    ("Liège", ("4000", "4020"), 5, "BE"),
    ("Namur", ("5000",), 3, "BE"),
    ("Charleroi", ("6000",), 3, "BE"),
    ("Genève", ("1201", "1202", "1205", "1207"), 7, "CH"),
    ("Lausanne", ("1003", "1004", "1005"), 5, "CH"),
    ("Neuchâtel", ("2000",), 2, "CH"),
    ("Luxembourg", ("1111", "1212", "2540"), 3, "LU"),
    ("Esch-sur-Alzette", ("4001",), 1, "LU"),
)

# How a country is written, by region (weights in per-mille).
_COUNTRY_SPELLINGS = {
    "FR": (("FR", 860), ("France", 70), ("fr", 40), ("FRANCE", 10), (None, 20)),
    "BE": (("BE", 550), ("Belgique", 400), ("be", 50)),
    "CH": (("CH", 650), ("Suisse", 350)),
    "LU": (("LU", 800), ("Luxembourg", 200)),
}
_DOMAINS = {
    "FR": (("gmail.com", 30), ("orange.fr", 16), ("hotmail.fr", 10), ("free.fr", 9), ("yahoo.fr", 7),
           ("laposte.net", 6), ("outlook.fr", 5), ("sfr.fr", 5), ("wanadoo.fr", 4), ("hotmail.com", 3),
           ("icloud.com", 3), ("live.fr", 2)),
    "BE": (("gmail.com", 40), ("skynet.be", 20), ("telenet.be", 20), ("hotmail.com", 20)),
    "CH": (("gmail.com", 40), ("bluewin.ch", 30), ("gmx.ch", 15), ("hotmail.com", 15)),
    "LU": (("gmail.com", 50), ("pt.lu", 30), ("hotmail.com", 20)),
}
# Overseas departments: (mobile prefix(es), landline prefix, country calling code)
_DOM = {"MQ": (("696",), "596", "596"), "GP": (("690",), "590", "590"),
        "RE": (("692", "693"), "262", "262"), "GF": (("694",), "594", "594")}
_GARBAGE_PHONES = ("12", "n/a", "N/A", "-", "0000000000", "inconnu", "06", "+33", ".", "xx", "0", "tel")


def _plain(s: str) -> str:
    """``Saint-Étienne`` -> ``Saint-Etienne``: accents dropped, case and punctuation kept."""
    s = s.replace("œ", "oe").replace("Œ", "Oe").replace("æ", "ae").replace("Æ", "Ae")
    s = unicodedata.normalize("NFKD", s)
    return "".join(c for c in s if not unicodedata.combining(c))


def _ascii(s: str) -> str:
    """``Lefèvre`` -> ``lefevre``, ``D'Almeida`` -> ``dalmeida``: e-mail-safe (hyphens kept)."""
    return re.sub(r"[^a-z0-9-]", "", _plain(s).lower())


def _table(pairs: Sequence[tuple[object, int]]) -> tuple:
    """Expand (value, weight) pairs into a list a uniform index draws from."""
    return tuple(v for v, w in pairs for _ in range(w))


_FIRST_TABLE = _table([((n, sex, _ascii(n)), w) for n, sex, w in _FIRST_NAMES])
_LAST_TABLE = _table([((n, _ascii(n)), w) for n, w in _LAST_NAMES])
_CITY_TABLE = _table([((name, zips, region, _plain(name)), w)
                      for name, zips, w, region in _CITIES])
_COUNTRY_TABLE = {k: _table(v) for k, v in _COUNTRY_SPELLINGS.items()}
_DOMAIN_TABLE = {k: _table(v) for k, v in _DOMAINS.items()}
_FEMALE_LABELS = _table((("Femme", 40), ("F", 25), ("Mme", 25), (None, 10)))
_MALE_LABELS = _table((("Homme", 40), ("M", 25), ("M.", 25), (None, 10)))

EMAIL_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
"""What ``churn`` (and the tests) call a well-formed e-mail, after trimming."""


# ------------------------------------------------------------------------- phones
def _fmt_fr(nsn: str, style: float) -> str:
    """Write a French national significant number (9 digits) the way people do."""
    d = "0" + nsn
    p = (d[0:2], d[2:4], d[4:6], d[6:8], d[8:10])
    if style < 0.34:
        return " ".join(p)                                  # 06 12 34 56 78
    if style < 0.58:
        return d                                            # 0612345678
    if style < 0.68:
        return f"+33 {nsn[0]} {p[1]} {p[2]} {p[3]} {p[4]}"  # +33 6 12 34 56 78
    if style < 0.76:
        return "+33" + nsn                                  # +33612345678
    if style < 0.80:
        return f"+33 (0){nsn[0]} {p[1]} {p[2]} {p[3]} {p[4]}"  # +33 (0)6 12 34 56 78
    if style < 0.84:
        return "0033" + nsn                                 # 0033612345678
    if style < 0.92:
        return ".".join(p)                                  # 06.12.34.56.78
    if style < 0.96:
        return "-".join(p)                                  # 06-12-34-56-78
    if style < 0.98:
        return "33" + nsn                                   # 33612345678
    return f"{nsn[0]} {p[1]} {p[2]} {p[3]} {p[4]}"          # 6 12 34 56 78 (spreadsheet ate the 0)


def _fmt_phone(region: str, nsn: str, style: float) -> str:
    if region in _DOM:
        if style < 0.3:  # the correct international form uses the DOM's own code
            cc = _DOM[region][2]
            return f"+{cc} {nsn[0:3]} {nsn[3:5]} {nsn[5:7]} {nsn[7:9]}"
        return _fmt_fr(nsn, style * 0.6)  # national styles only
    if region == "BE":
        if style < 0.4:
            return f"0{nsn[0:3]} {nsn[3:5]} {nsn[5:7]} {nsn[7:9]}"    # 0475 12 34 56
        if style < 0.7:
            return f"+32 {nsn[0:3]} {nsn[3:5]} {nsn[5:7]} {nsn[7:9]}"  # +32 475 12 34 56
        if style < 0.85:
            return f"0{nsn[0:3]}/{nsn[3:5]}.{nsn[5:7]}.{nsn[7:9]}"    # 0475/12.34.56
        return "0032" + nsn
    if region == "CH":
        if style < 0.45:
            return f"0{nsn[0:2]} {nsn[2:5]} {nsn[5:7]} {nsn[7:9]}"    # 079 123 45 67
        if style < 0.85:
            return f"+41 {nsn[0:2]} {nsn[2:5]} {nsn[5:7]} {nsn[7:9]}"  # +41 79 123 45 67
        return "0041" + nsn
    if region == "LU":
        if style < 0.5:
            return f"+352 {nsn[0:3]} {nsn[3:6]} {nsn[6:9]}"           # +352 621 123 456
        if style < 0.8:
            return f"{nsn[0:3]} {nsn[3:6]} {nsn[6:9]}"                # 621 123 456
        return "00352" + nsn
    return _fmt_fr(nsn, style)


def _phone_key(phone: str | None) -> str | None:
    """Last nine digits: enough to keep generated numbers from colliding by accident."""
    if not phone:
        return None
    digits = "".join(c for c in phone if c.isdigit())
    return digits[-9:] if len(digits) >= 9 and digits.strip("0") else None


def _metropolitan(country: str | None, zip_: str | None) -> bool:
    """A customer in mainland France or Corsica, whose number any French format fits."""
    return (country is None or country.upper() in ("FR", "FRANCE")) and not (zip_ or "").startswith("97")


# ------------------------------------------------------------------------- people
class _Factory:
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
        f, l = first_ascii, last_ascii.replace("-", "") if r() < 0.5 else last_ascii
        x = r()
        if x < 0.40:
            local = f"{f}.{l}"
        elif x < 0.50:
            local = f + l
        elif x < 0.58:
            local = f"{f[0]}.{l}"
        elif x < 0.62:
            local = f"{f}_{l}"
        elif x < 0.68:
            local = f"{l}.{f}"
        elif x < 0.83:
            local = f"{f}.{l}{int(r() * 99) + 1:02d}"
        elif x < 0.90:
            local = f"{f}{l}{1950 + int(r() * 56)}"
        elif x < 0.95:
            local = f"{f}{int(r() * 999) + 1}"
        else:
            local = f"{f[0]}{l}"
        if domain is None:
            t = _DOMAIN_TABLE[region if region in _DOMAIN_TABLE else "FR"]
            domain = t[int(r() * len(t))]
        email = f"{local}@{domain}"
        while email in self.emails:
            email = f"{local}{int(r() * 9000) + 100}@{domain}"
        self.emails.add(email)
        return email

    def new_phone(self, region: str, mobile: bool) -> str:
        r = self.r
        while True:
            if region in _DOM:
                mob, land, _ = _DOM[region]
                pre = mob[int(r() * len(mob))] if mobile else land
                nsn = f"{pre}{int(r() * 1_000_000):06d}"
            elif region == "BE":
                nsn = f"4{7 + int(r() * 3)}{int(r() * 10_000_000):07d}"
            elif region == "CH":
                nsn = f"7{5 + int(r() * 5)}{int(r() * 10_000_000):07d}"
            elif region == "LU":
                nsn = f"6{('21', '61', '91')[int(r() * 3)]}{int(r() * 1_000_000):06d}"
            elif mobile:
                nsn = (f"6{int(r() * 100_000_000):08d}" if r() < 0.8
                       else f"7{3 + int(r() * 7)}{int(r() * 10_000_000):07d}")
            else:
                pre = region if r() < 0.85 else "9"  # 09: internet-box numbers
                nsn = f"{pre}{int(r() * 100_000_000):08d}"
            if nsn not in self.phones:
                self.phones.add(nsn)
                return nsn

    def person(self) -> tuple:
        """A person as the CRM knows them, before any typing noise."""
        r = self.r
        first, sex, fa = _FIRST_TABLE[int(r() * len(_FIRST_TABLE))]
        if sex == "X":
            sex = "F" if r() < 0.5 else "M"
        last, la = _LAST_TABLE[int(r() * len(_LAST_TABLE))]
        city, zips, region, city_plain = _CITY_TABLE[int(r() * len(_CITY_TABLE))]
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

    def row(self, pid: int, p: tuple, *, email_shared: bool = False, phone_shared: bool = False,
            lod: int | None = None, updated_days_ago: int | None = None) -> tuple:
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
                email = local + "@"                                   # jean.dupont@
            elif y < 0.45:
                email = f"{local}.{domain}"                           # jean.dupont.orange.fr
            elif y < 0.65:
                email = f"{fa} {la}@{domain}"                         # jean dupont@free.fr
            elif y < 0.78:
                email = f"{local}@@{domain}"                          # jean.dupont@@gmail.com
            elif y < 0.90:
                email = f"{local}@{domain.rsplit('.', 1)[0]}"         # jean.dupont@gmail
            else:
                email = f"{local}@{domain.replace('.', ',')}"         # jean.dupont@gmail,com
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
            phone = _GARBAGE_PHONES[int(r() * len(_GARBAGE_PHONES))]
        else:
            phone = _fmt_phone(region, nsn, r())

        # names and places, as typed
        x = r()
        if x < 0.12:
            last = last.upper()          # DUPONT: the French paperwork habit
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
            city = city_plain             # Saint-Etienne, Besancon
        if zip_[0] == "0" and r() < 0.15:
            zip_ = zip_[1:]               # 6000: a spreadsheet ate the leading zero
        elif region == "LU" and r() < 0.5:
            zip_ = "L-" + zip_
        t = _COUNTRY_TABLE[region if region in _COUNTRY_TABLE else "FR"]
        country = t[int(r() * len(t))]
        t = _FEMALE_LABELS if sex == "F" else _MALE_LABELS
        gender = t[int(r() * len(t))]

        is_vip = 1 if r() < 0.08 else 0
        consent = 1 if r() < 0.85 else 0
        if lod is None:
            lod = int(r() * 31) if r() < 0.25 else 31 + int(690 * r() ** 1.6)
        if updated_days_ago is None:
            updated_days_ago = int(r() * (lod + 1))
        return (pid, email, phone, first, last, city, zip_, country, birth, gender,
                is_vip, lod, consent, self._timestamp(updated_days_ago))

    def changed_email(self, email: str) -> str:
        """Same person, new provider: ``jean.dupont@orange.fr`` -> ``jean.dupont@gmail.com``."""
        local, _, old = email.strip().lower().partition("@")
        t = _DOMAIN_TABLE["FR"]
        domain = old
        while domain == old:
            domain = t[int(self.r() * len(t))]
        new = f"{local}@{domain}"
        while new in self.emails:
            new = f"{local}{int(self.r() * 9000) + 100}@{domain}"
        self.emails.add(new)
        return new


def _customers(f: _Factory, n: int, first_id: int, dup_rate: float = 0.01) -> Iterator[tuple]:
    """``n`` rows; about ``dup_rate`` of them are a second record of an earlier person."""
    r = f.r
    pool: list[tuple] = []  # reservoir sample of earlier people, for duplicates
    cap = 5000
    for k in range(n):
        pid = first_id + k
        if pool and r() < dup_rate:
            p = pool[int(r() * len(pool))]
            x = r()
            if x < 0.5:    # same e-mail, same phone (maybe typed differently)
                yield f.row(pid, p, email_shared=True, phone_shared=True)
            elif x < 0.75:  # same e-mail, a new phone
                p2 = p[:10] + (f.new_phone(p[7], True),) + p[11:]
                yield f.row(pid, p2, email_shared=True)
            else:          # same phone, a new e-mail
                p2 = p[:9] + (f.new_email(p[2], p[4], p[7]),) + p[10:]
                yield f.row(pid, p2, phone_shared=True)
            continue
        p = f.person()
        if len(pool) < cap:
            pool.append(p)
        else:
            j = int(r() * (k + 1))
            if j < cap:
                pool[j] = p
        yield f.row(pid, p)


def _optouts(f: _Factory, conn: sqlite3.Connection, n_customers: int) -> list[tuple]:
    """~50 opt-outs, ~80 % of them customers, written as the opt-out form got them."""
    r = f.r
    total = min(50, max(1, n_customers // 100)) if n_customers else 10
    known = min(n_customers, round(total * 0.8))
    out: list[tuple] = []
    picked: set[int] = set()
    tries = 0
    while len(out) < known and tries < known * 20:
        tries += 1
        cid = 1 + int(r() * n_customers)
        if cid in picked:
            continue
        picked.add(cid)
        email, phone, country, zip_ = conn.execute(
            "SELECT email, phone, country, zip FROM customers WHERE id = ?", (cid,)).fetchone()
        email = email.strip() if email and EMAIL_SHAPE.match(email.strip()) else None
        nsn = _phone_key(phone)
        if email is None and nsn is None:
            continue
        if nsn is not None and _metropolitan(country, zip_) and r() < 0.5:
            phone = _fmt_fr(nsn, r())  # typed differently on the opt-out form
        x = r()
        if email is not None and (x < 0.45 or nsn is None):
            row = (email.lower() if r() < 0.7 else email.upper(), None)
        elif nsn is not None and (x < 0.65 or email is None):
            row = (None, phone)
        else:
            row = (email, phone)
        out.append(row)
    while len(out) < total:  # people who never bought anything
        p = f.person()
        out.append((p[9], _fmt_phone(p[7], p[10], r()) if r() < 0.3 else None))
    return out


# --------------------------------------------------------------------------- API
def _remove_db(path: Path) -> None:
    for suffix in ("", "-journal", "-wal", "-shm"):
        try:
            os.remove(f"{path}{suffix}")
        except FileNotFoundError:
            pass


def _seed(path: str | Path, n: int, seed_: int) -> tuple[int, int]:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a whole number >= 0, got {n!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".seeding")
    _remove_db(tmp)
    rng = random.Random(seed_)
    f = _Factory(rng, REF_DATE, set(), set())
    conn = sqlite3.connect(tmp, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = OFF")  # a fresh scratch file: nothing to roll back to
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("BEGIN")
        conn.execute(CUSTOMERS_DDL)
        conn.execute(OPTOUTS_DDL)
        conn.executemany(_INSERT, _customers(f, n, 1))
        opt = _optouts(f, conn, n)
        conn.executemany("INSERT INTO optouts VALUES (?, ?)", opt)
        conn.execute("COMMIT")
    except BaseException:
        conn.close()
        _remove_db(tmp)
        raise
    conn.close()
    _remove_db(path)
    os.replace(tmp, path)  # readers never see a half-written CRM
    return n, len(opt)


def seed(path: str | Path, n: int = 20_000, seed: int = 42) -> int:
    """(Re)create the SQLite CRM at ``path`` with ``n`` synthetic French customers.

    Parent directories are created and an existing file is replaced.  The same
    ``seed`` always gives the same table contents.  Returns the number of
    customers written.
    """
    return _seed(path, n, seed)[0]


def churn(path: str | Path, seed: int = 7, fraction: float = 0.01) -> dict[str, int]:
    """Age the CRM at ``path`` by one week, reproducibly.

    Every ``last_order_days`` grows by 7; then ``round(rows * fraction / 3)``
    customers are deleted, as many new ones are inserted (fresh ids, never
    reused), as many existing customers get a new e-mail (same name, another
    provider) and as many order again (``last_order_days`` 0-6).  Changed rows
    get an ``updated_at`` within the new week; the clock is the latest
    ``updated_at`` in the file plus 7 days, never the machine's.  Same file and
    same ``seed`` give the same result.  Returns the four counts.
    """
    if isinstance(fraction, bool) or not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be between 0 and 1, got {fraction!r}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no CRM at {path}: run `python -m fbsync.demo seed {path}` first")
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        rows = conn.execute("SELECT id, email, phone FROM customers ORDER BY id").fetchall()
        last = conn.execute("SELECT max(updated_at) FROM customers").fetchone()[0]
        today = (date.fromisoformat(last[:10]) if last else REF_DATE) + timedelta(days=7)
        emails = {e.strip().lower() for _, e, _ in rows if e}
        phones = {k for _, _, p in rows if (k := _phone_key(p))}
        rng = random.Random(seed)
        f = _Factory(rng, today, emails, phones)
        k = round(len(rows) * fraction / 3)

        def draw(ids: list[int], m: int) -> list[int]:  # partial Fisher-Yates on random() only
            ids = list(ids)
            m = min(m, len(ids))
            for i in range(m):
                j = i + int(rng.random() * (len(ids) - i))
                ids[i], ids[j] = ids[j], ids[i]
            return sorted(ids[:m])

        all_ids = [i for i, _, _ in rows]
        deleted = draw(all_ids, k)
        gone = set(deleted)
        valid = [i for i, e, _ in rows if i not in gone and e and EMAIL_SHAPE.match(e.strip())]
        email_changed = draw(valid, k)
        touched = gone | set(email_changed)
        reordered = draw([i for i in all_ids if i not in touched], k)

        conn.execute("UPDATE customers SET last_order_days = last_order_days + 7")
        conn.executemany("DELETE FROM customers WHERE id = ?", [(i,) for i in deleted])
        by_id = {i: e for i, e, _ in rows}
        conn.executemany(
            "UPDATE customers SET email = ?, updated_at = ? WHERE id = ?",
            [(f.changed_email(by_id[i]), f._timestamp(int(rng.random() * 7)), i) for i in email_changed],
        )
        upd = []
        for i in reordered:
            lod = int(rng.random() * 7)
            upd.append((lod, f._timestamp(lod), i))
        conn.executemany("UPDATE customers SET last_order_days = ?, updated_at = ? WHERE id = ?", upd)
        seq = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'customers'").fetchone()
        next_id = max(seq[0] if seq else 0, all_ids[-1] if all_ids else 0) + 1
        new_rows = []
        for j in range(k):
            lod = int(rng.random() * 7)
            new_rows.append(f.row(next_id + j, f.person(), lod=lod, updated_days_ago=lod))
        conn.executemany(_INSERT, new_rows)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()
    return {"deleted": len(deleted), "inserted": len(new_rows),
            "email_changed": len(email_changed), "reordered": len(reordered)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fbsync.demo",
        description="Synthetic French CRM (SQLite) for demos and benchmarks. Prints counts only.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("seed", help="(re)create PATH with synthetic customers")
    p.add_argument("path", metavar="PATH")
    p.add_argument("--rows", type=int, default=20_000, help="customers to write (default 20000)")
    p.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    p = sub.add_parser("churn", help="mutate PATH like one week of real life")
    p.add_argument("path", metavar="PATH")
    p.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    p.add_argument("--fraction", type=float, default=0.01,
                   help="share of customers touched, split over delete/insert/new e-mail (default 0.01)")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    try:
        if args.command == "seed":
            if args.rows < 0:
                parser.error("--rows must be >= 0")
            n, n_opt = _seed(args.path, args.rows, args.seed)
            print(f"seeded {n} customers and {n_opt} opt-outs into {args.path} "
                  f"in {time.perf_counter() - t0:.1f} s")
        else:
            if not 0 <= args.fraction <= 1:
                parser.error("--fraction must be between 0 and 1")
            c = churn(args.path, seed=args.seed, fraction=args.fraction)
            print("churned: " + " ".join(f"{k}={v}" for k, v in c.items())
                  + f" in {time.perf_counter() - t0:.1f} s")
    except (OSError, sqlite3.Error) as e:
        parser.exit(2, f"error: {e}\n")
    return 0


if __name__ == "__main__":
    main()
