"""Normalizers for the location keys: CT, ST, ZIP, COUNTRY.

Source tags as in ``docs/identity.md`` (DOC-CA, DOC-CAPI,
PY-CA, PB, SEG, RUD).  Every function takes trimmed, non-empty text and returns
``(normalized, None)`` or ``(None, reason)``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from fbsync.identity._country_data import ALPHA, NAMES
from fbsync.identity._state_data import CA_ABBREVIATIONS, CA_NAMES, US_ABBREVIATIONS, US_NAMES
from fbsync.identity._text import fold_ascii, nfc

Result = tuple[str | None, str | None]

INVALID_CITY = "invalid city"
INVALID_STATE = "invalid state"
INVALID_ZIP = "invalid zip"
UNKNOWN_COUNTRY = "unknown country"

_NON_AZ = re.compile(r"[^a-z]+")
_NON_AZ09 = re.compile(r"[^a-z0-9]+")
# "Paris 8e", "Lyon 3ème arrondissement", "PARIS CEDEX 08", "Marseille 13"
_CITY_SUFFIX = re.compile(r"\s+(?:cedex(?:\s*\d+)?|\d{1,2}\s*(?:er|e|eme|ieme)?(?:\s*arr(?:ondissement|\.)?)?)\s*$")
_ZIP_CEDEX = re.compile(r"\s*\bcedex\b.*$")
_ZIP_FR_PREFIX = re.compile(r"fr?\s*[-\s]\s*(\d{5})")
_ZIP_PLUS4 = re.compile(r"(\d{5})\s*-\s*\d{4}")
_ZIP_US9 = re.compile(r"(\d{5})\d{4}")
_ZIP_SEPARATORS = re.compile(r"[\s\-]+")
_ZIP_OK = re.compile(r"[a-z0-9]{2,10}")
_INSEE_CORSICA = re.compile(r"2[ab]\d{3}")

_ALPHA2 = frozenset(pair[:2].lower() for pair in ALPHA.split())
_ALPHA3 = {pair[2:].lower(): pair[:2].lower() for pair in ALPHA.split()}
_NAMES = {k: v.lower() for k, v in (item.split(":") for item in NAMES.split())}
# Hand-written aliases (folded): common names ISO does not list, in English and French.
_ALIASES = {
    "uk": "gb",
    "greatbritain": "gb",
    "grandebretagne": "gb",
    "britain": "gb",
    "england": "gb",
    "angleterre": "gb",
    "scotland": "gb",
    "ecosse": "gb",
    "wales": "gb",
    "paysdegalles": "gb",
    "northernireland": "gb",
    "irlandedunord": "gb",
    "usa": "us",
    "america": "us",
    "etatsunisdamerique": "us",
    "holland": "nl",
    "hollande": "nl",
    "tchequie": "cz",
    "republiquetcheque": "cz",
    "czechrepublic": "cz",
    "lareunion": "re",
    "iledelareunion": "re",
    "guyane": "gf",
    "francemetropolitaine": "fr",
    "republiquefrancaise": "fr",
    "metropole": "fr",
    "southkorea": "kr",
    "northkorea": "kp",
    "russia": "ru",
    "ivorycoast": "ci",
    "cotedivoire": "ci",
    "vatican": "va",
    "burma": "mm",
    "birmanie": "mm",
    "turkey": "tr",
    "turquie": "tr",
    "swaziland": "sz",
    "macedonia": "mk",
    "macedoine": "mk",
    "capvert": "cv",
    "capeverde": "cv",
}


_SAINT = re.compile(r"\bst(e?)\b\.?(?=[\s\-.]|$)")
#: Where commune names always spell Saint/Sainte in full (INSEE), so St/Ste are abbreviations.
_FRENCH_COMMUNES = frozenset({"FR", "MC", "RE", "YT", "GP", "BL", "MF", "GF", "MQ", "PM", "NC", "PF", "WF"})


def _saint(match: re.Match[str]) -> str:
    return "sainte" if match.group(1) else "saint"


def normalize_city(text: str, region: str | None = None) -> Result:
    """CT: a-z only, no spaces, punctuation or digits (DOC-CA; DOC-CAPI: paris, newyork).

    Accented letters are transliterated (``Saint-Étienne`` → ``saintetienne``):
    DOC-CA asks for a-z only and advises "the Roman alphabet translation"; no
    implementation does it (PB/SEG/PY-CA delete the letter: ``sainttienne``; PY/
    NODE-CAPI keep it: ``saintétienne``).  French suffixes are cut: CEDEX and
    arrondissement numbers (``Paris 8e``, ``Lyon 3ème arrondissement``,
    ``PARIS CEDEX 08`` → ``paris``/``lyon``).  With a French default country,
    ``St``/``Ste`` words are written out (``ST ETIENNE`` → ``saintetienne``,
    ``Villeneuve-St-Georges`` → ``villeneuvesaintgeorges``): French commune names
    always spell them in full; elsewhere ``St. Louis`` stays ``stlouis``.
    Digits go (PHP-CAPI; PB keeps them).
    Nothing Roman left (``東京``) → "invalid city".
    """
    value = _CITY_SUFFIX.sub("", fold_ascii(nfc(text)))
    if region in _FRENCH_COMMUNES:
        value = _SAINT.sub(_saint, value)
    value = _NON_AZ.sub("", value)
    return (value, None) if value else (None, INVALID_CITY)


#: ST names → codes for each default country that has a table (docs/identity.md, "ST").
_STATE_TABLES: dict[str | None, Mapping[str, str]] = {
    "US": US_NAMES | US_ABBREVIATIONS,
    "CA": CA_NAMES | CA_ABBREVIATIONS,
    None: US_NAMES | CA_NAMES,  # no default country: full names of both, as PB does
}
_NO_TABLE: Mapping[str, str] = {}


def state_table(region: str | None) -> Mapping[str, str]:
    """The folded names (and abbreviations) :func:`normalize_state` maps to codes for ``region``.

    US: US states, DC and territories; CA: provinces and territories; no default
    country: the full names of both; any other default country: none.  The
    push-down builds its SQL lookup from this same table.
    """
    return _STATE_TABLES.get(region, _NO_TABLE)


def normalize_state(text: str, region: str | None = None) -> Result:
    """ST: lowercase, no punctuation, no spaces, no special characters (DOC-CA).

    Names become the 2-letter code (DOC-CA: "the 2-character ANSI abbreviation
    code" for US states; PB) with the table of the audience's default country,
    :func:`state_table`: US → ``California``, ``  California.  ``, ``new-york``,
    ``Calif.`` → ``ca``/``ny``; CA → ``Ontario``, ``Québec`` → ``on``/``qc``; no
    default country → US and Canadian full names, as PB does for every value.
    The match is on the whole folded value (PB also matches inside longer text,
    so its ``Baja California`` is ``ca``).  Any other default country: the folded
    text (``Île-de-France`` → ``iledefrance``), digits kept (French départements
    ``75``, ``2A`` → ``2a``) since the ST rule, unlike CT's, does not say a-z only;
    never cut to 2 letters (PB's ``Bavaria`` → ``ba``).  The engine hashes column
    by column: a COUNTRY column of the same row does not change the table.
    """
    value = _NON_AZ09.sub("", fold_ascii(nfc(text)))
    value = state_table(region).get(value, value)
    return (value, None) if value else (None, INVALID_STATE)


def normalize_zip(text: str, region: str | None = None) -> Result:
    """ZIP: lowercase, no spaces and no dash (DOC-CA; DOC-CAPI: 94035, 75018, m11ae).

    * US ZIP+4 (``94035-1234``) → first 5 digits (DOC-CA); a bare 9-digit ZIP is
      cut too when the default country is US.  RUD keeps the +4 (``940351234``).
    * UK: the full postcode, ``M1 1AE`` → ``m11ae`` (DOC-CAPI's example; the
      "Area/District/Sector" wording of DOC-CA contradicts it).  PB/PY-CA keep
      the space (``m1 1ae``).
    * French: ``F-75008``/``FR-75008`` → ``75008``; ``75008 CEDEX 08`` → ``75008``.
      Corsican INSEE commune codes (``2A004``) are not postcodes (Ajaccio is
      20000): dropped as "invalid zip" instead of sending a hash that never
      matches.  Numbers stored as numbers lose leading zeros (``1000`` for
      01000): read ZIP columns as text.
    * Anything left that is not 2-10 letters/digits (``n/a``) → "invalid zip".
    """
    value = _ZIP_CEDEX.sub("", fold_ascii(nfc(text)))
    for pattern in (_ZIP_FR_PREFIX, _ZIP_PLUS4):
        match = pattern.fullmatch(value)
        if match:
            value = match.group(1)
    value = _ZIP_SEPARATORS.sub("", value)
    if region == "US" and _ZIP_US9.fullmatch(value):
        value = value[:5]
    if not _ZIP_OK.fullmatch(value) or _INSEE_CORSICA.fullmatch(value):
        return None, INVALID_ZIP
    return value, None


def normalize_country(text: str, region: str | None = None) -> Result:
    """COUNTRY: ISO 3166-1 alpha-2, lowercase (DOC-CA; DOC-CAPI: United States → us).

    Accepts alpha-2 (``FR``), alpha-3 (``fra``, ``USA``) and country names in
    English and French (``France``, ``Allemagne``, ``United States``,
    ``Royaume-Uni``, ``Côte d'Ivoire``), case/accents/punctuation ignored.
    ``UK`` → ``gb`` (PB passes ``uk``, which is not ISO).  Unknown values are
    dropped as "unknown country".  Differs from PY-CA (first two letters:
    ``United States`` → ``un``) and SEG (``unitedstates``).
    """
    word = _NON_AZ.sub("", fold_ascii(nfc(text)))
    if len(word) == 2 and word in _ALPHA2:
        return word, None
    code = _ALPHA3.get(word) if len(word) == 3 else None
    code = code or _NAMES.get(word) or _ALIASES.get(word)
    return (code, None) if code else (None, UNKNOWN_COUNTRY)


def default_region(country: str | None) -> str | None:
    """Validate an audience's ``default_country`` (alpha-2, any case) → upper or None."""
    if country is None or country == "":
        return None
    code = str(country).strip().lower()
    if code not in _ALPHA2:
        raise ValueError(f"default_country must be an ISO 3166-1 alpha-2 code like FR, got {country!r}")
    return code.upper()
