"""ST data: US state and Canadian province names → their 2-letter codes, folded to ``[a-z]``.

Keys are written as :func:`fbsync.identity.geo.normalize_state` folds a cell (accents
transliterated, lowercase, only a-z and 0-9 kept): ``New York`` → ``newyork``,
``Québec`` → ``quebec``.  Which tables apply for an audience's default country is
decided by :func:`fbsync.identity.geo.state_table` (see docs/identity.md, "ST").

* US: Meta (DOC-CA) asks for "the 2-character ANSI abbreviation code" and links the
  FIPS 5-2 list, which has the 50 states, DC and the territories: the 50 names as in
  Meta's capi-param-builder (PB) and Segment, plus DC, Puerto Rico, Guam, the US Virgin
  Islands, American Samoa, the Northern Mariana Islands and the Minor Outlying Islands
  (PB has neither DC nor the territories; its 2-letter cut turns ``Puerto Rico`` into
  ``pu``).
* Canada: the 13 provinces and territories as in PB, plus their French names
  (official in Canada) and ``Newfoundland``.
* Abbreviations (``Calif.``, ``Mass.``, ``Ont.``): the AP/GPO style ones that are not
  already the code once the dots go (``N.Y.`` → ``ny`` needs no entry).  Used only when
  the default country is the table's own, never without a default country: ``Mich.``
  is also Michoacán.
"""

from __future__ import annotations

US_NAMES = {
    "alabama": "al",
    "alaska": "ak",
    "arizona": "az",
    "arkansas": "ar",
    "california": "ca",
    "colorado": "co",
    "connecticut": "ct",
    "delaware": "de",
    "florida": "fl",
    "georgia": "ga",
    "hawaii": "hi",
    "idaho": "id",
    "illinois": "il",
    "indiana": "in",
    "iowa": "ia",
    "kansas": "ks",
    "kentucky": "ky",
    "louisiana": "la",
    "maine": "me",
    "maryland": "md",
    "massachusetts": "ma",
    "michigan": "mi",
    "minnesota": "mn",
    "mississippi": "ms",
    "missouri": "mo",
    "montana": "mt",
    "nebraska": "ne",
    "nevada": "nv",
    "newhampshire": "nh",
    "newjersey": "nj",
    "newmexico": "nm",
    "newyork": "ny",
    "northcarolina": "nc",
    "northdakota": "nd",
    "ohio": "oh",
    "oklahoma": "ok",
    "oregon": "or",
    "pennsylvania": "pa",
    "rhodeisland": "ri",
    "southcarolina": "sc",
    "southdakota": "sd",
    "tennessee": "tn",
    "texas": "tx",
    "utah": "ut",
    "vermont": "vt",
    "virginia": "va",
    "washington": "wa",
    "westvirginia": "wv",
    "wisconsin": "wi",
    "wyoming": "wy",
    # the federal district and the territories (FIPS 5-2 / USPS codes)
    "districtofcolumbia": "dc",
    "washingtondc": "dc",
    "puertorico": "pr",
    "guam": "gu",
    "usvirginislands": "vi",
    "unitedstatesvirginislands": "vi",
    "virginislands": "vi",
    "americansamoa": "as",
    "northernmarianaislands": "mp",
    "unitedstatesminoroutlyingislands": "um",
}

US_ABBREVIATIONS = {
    "ala": "al",
    "ariz": "az",
    "ark": "ar",
    "calif": "ca",
    "colo": "co",
    "conn": "ct",
    "del": "de",
    "fla": "fl",
    "ill": "il",
    "ind": "in",
    "kan": "ks",
    "kans": "ks",
    "mass": "ma",
    "mich": "mi",
    "minn": "mn",
    "miss": "ms",
    "mont": "mt",
    "neb": "ne",
    "nebr": "ne",
    "nev": "nv",
    "okla": "ok",
    "ore": "or",
    "oreg": "or",
    "penn": "pa",
    "penna": "pa",
    "tenn": "tn",
    "tex": "tx",
    "wash": "wa",
    "wva": "wv",
    "wis": "wi",
    "wisc": "wi",
    "wyo": "wy",
}

CA_NAMES = {
    "alberta": "ab",
    "britishcolumbia": "bc",
    "colombiebritannique": "bc",
    "manitoba": "mb",
    "newbrunswick": "nb",
    "nouveaubrunswick": "nb",
    "newfoundlandandlabrador": "nl",
    "newfoundland": "nl",
    "terreneuveetlabrador": "nl",
    "terreneuve": "nl",
    "northwestterritories": "nt",
    "territoiresdunordouest": "nt",
    "novascotia": "ns",
    "nouvelleecosse": "ns",
    "nunavut": "nu",
    "ontario": "on",
    "princeedwardisland": "pe",
    "ileduprinceedouard": "pe",
    "quebec": "qc",
    "saskatchewan": "sk",
    "yukon": "yt",
}

CA_ABBREVIATIONS = {
    "alta": "ab",
    "man": "mb",
    "nfld": "nl",
    "nwt": "nt",
    "ont": "on",
    "pei": "pe",
    "que": "qc",
    "sask": "sk",
    "yuk": "yt",
}
