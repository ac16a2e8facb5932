"""PHONE: E.164 digits without ``+``, through libphonenumber (``phonenumbers``).

Meta (DOC-CA): "Remove symbols, letters, and any leading zeroes. You should prefix
the country code if the COUNTRY field is not specified."  HELP and DOC-CAPI: the
country code must be included "even if all of your data is from the same
country" (``(650)555-1212`` → ``16505551212``).  The reference path here is
:func:`normalize_phone`; :func:`fast_phone_lines` is a batch shortcut for the
common shapes that gives the same output (checked by a property test).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import NamedTuple

import phonenumbers
from phonenumbers import CountryCodeSource, NumberParseException, PhoneMetadata, ValidationResult

from fbsync.identity._text import nfc

Result = tuple[str | None, str | None]

INVALID_PHONE = "invalid phone"
NO_COUNTRY_CODE = "no country code"

_WHITESPACE = re.compile(r"\s+")
_ASCII_LETTER = re.compile(r"[A-Za-z]")
_PLUS_ZEROS = re.compile(r"([+＋][^0-9]*)0+")  # "+0033 6…", "+001 616…": an IDD typed after '+'
_FIRST_DIGIT_OR_PLUS = re.compile(r"[+＋0-9]")
#: Separators the fast path deletes (all are ignored by libphonenumber too).
FAST_DELETE = b" \t.-/()"

# One national plan, five country codes: overseas départements dialled in French
# national format from anywhere in the plan ("0692 12 34 56" is Réunion, +262).
_FRENCH_PLAN_REGIONS = frozenset({"FR", "RE", "YT", "GP", "BL", "MF", "GF", "MQ"})
_FRENCH_OVERSEAS = {
    "262": 262,
    "263": 262,
    "269": 262,
    "639": 262,
    "692": 262,
    "693": 262,
    "590": 590,
    "690": 590,
    "691": 590,
    "594": 594,
    "694": 594,
    "596": 596,
    "696": 596,
    "697": 596,
}


def _parse(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(text, region, keep_raw_input=True)
    except NumberParseException:
        return None


@functools.lru_cache(maxsize=512)
def _general_pattern(country_code: int) -> re.Pattern[str] | None:
    region = phonenumbers.region_code_for_country_code(country_code)
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
    if metadata is None or metadata.general_desc is None:
        return None
    pattern = metadata.general_desc.national_number_pattern
    return re.compile(pattern) if pattern is not None else None  # no pattern: nothing fits, not plausible


def _plausible_e164(number: phonenumbers.PhoneNumber) -> str | None:
    """E.164 digits if the length is possible and the digits fit the country's plan."""
    if phonenumbers.is_possible_number_with_reason(number) != ValidationResult.IS_POSSIBLE:
        return None
    national = phonenumbers.national_significant_number(number)
    pattern = _general_pattern(number.country_code)
    if pattern is None or not pattern.fullmatch(national):
        return None
    return f"{number.country_code}{national}"


def _french_plan(number: phonenumbers.PhoneNumber, region: str) -> phonenumbers.PhoneNumber:
    """National-format numbers of the French plan get the country code of their prefix."""
    if region not in _FRENCH_PLAN_REGIONS:
        return number
    if number.country_code_source != CountryCodeSource.FROM_DEFAULT_COUNTRY:
        return number
    national = phonenumbers.national_significant_number(number)
    if len(national) != 9 or national[0] == "0":
        return number
    code = _FRENCH_OVERSEAS.get(national[:3], 33)
    if code == number.country_code:
        return number
    return phonenumbers.PhoneNumber(country_code=code, national_number=int(national))


def _starts_with_plus(text: str) -> bool:
    match = _FIRST_DIGIT_OR_PLUS.search(text)
    return match is not None and match.group() in "+＋"


#: Without a default country, one leading ``0`` followed by at least this many digits is read as
#: ``0`` + country code + number (Meta's ``01(650)123-4567`` → ``16501234567``); fewer digits are a
#: national number (France 0 + 9, UK 0 + 10) and are dropped as "no country code".
_ZERO_THEN_INTERNATIONAL = 11


def _without_region(text: str) -> Result:
    national = False
    if _starts_with_plus(text):
        number = _parse(text, None)
    else:
        digits = phonenumbers.normalize_digits_only(text)  # symbols and letters go (DOC-CA)
        significant = digits.lstrip("0")  # "any leading zeroes" (DOC-CA)
        if not significant:
            return None, INVALID_PHONE
        national = len(digits) - len(significant) == 1  # a trunk 0 or "0" + country code
        if national and len(significant) < _ZERO_THEN_INTERNATIONAL:
            return None, NO_COUNTRY_CODE
        number = _parse("+" + significant, None)
    e164 = _plausible_e164(number) if number else None
    if e164:
        return e164, None
    return None, NO_COUNTRY_CODE if national else INVALID_PHONE


def normalize_phone(text: str, region: str | None = None) -> Result:
    """PHONE: the E.164 number without ``+`` (``06 12 34 56 78`` → ``33612345678``).

    Parsing is libphonenumber's with the audience's default country ``region``:
    ``06 12 34 56 78``, ``0033 6 12 34 56 78``, ``+33 (0)6 12 34 56 78`` and
    ``33612345678`` all give ``33612345678``; the trunk ``0`` goes, the
    international ``00`` and the ``(0)`` too (DOC-CA "leading zeroes"; E.164 keeps
    the zero that belongs to the number, Italy's ``+39 06…``).

    Decisions (no source settles them, docs/identity.md, disagreements 1-2):

    * Without a default country, digits are read as carrying the country code once
      every leading zero is gone (DOC-CA; Meta's vectors ``15559876543``,
      ``01(650)123-4567`` → ``16501234567``), except a national number: one
      leading ``0`` and at most 10 more digits (``06 12 34 56 78``), dropped as "no
      country code" instead of hashing a value that cannot match.  No
      implementation adds a default country.
    * With one, digits that are not a possible national number are retried as
      international without ``+`` (``4915112345678`` with FR → German mobile).
    * A number is kept when its length is possible for its country and its digits
      fit the country's general numbering pattern (libphonenumber
      ``IS_POSSIBLE`` + general pattern); stricter "valid" range checks would drop
      Meta's own fictitious vectors and numbers newer than the metadata.
    * French overseas numbers written nationally (``0692 12 34 56`` with FR) get
      their own code (``262692123456``), as dialled within the French plan.
    * ``+`` followed by an IDD (``+0033…``, ``+001…``) is read as ``+33``/``+1``.
    * Letters are removed (DOC-CA), never read as a keypad word:
      ``06 12 34 56 78 (mobile)`` → ``33612345678``, ``1-800-FLOWERS`` → invalid;
      an extension libphonenumber recognizes (``x12``, ``ext. 12``) is left out.

    Differs from PY-CA/PHP-CA, which keep leading zeros (``0612345678``), and from
    PB/SEG/RUD, which strip zeros but never add a country code.
    """
    quick = quick_phone(text, region)
    return (quick, None) if quick else reference_phone(text, region)


@functools.lru_cache(maxsize=8192)  # invalid values repeat ("0000000000", "n/a")
def reference_phone(text: str, region: str | None = None) -> Result:
    """:func:`normalize_phone` through libphonenumber only (the reference for the fast paths).

    Letters are removed (DOC-CA "Remove symbols, letters"): libphonenumber would read three
    or more as a keypad word (``1-800-FLOWERS``, ``06 12 34 56 78 (mobile)``).  Only when
    that gives nothing and libphonenumber finds an extension (``x12``, ``ext. 12``), its
    reading, which leaves the extension out, is kept.
    """
    text = _PLUS_ZEROS.sub(r"\1", _WHITESPACE.sub(" ", nfc(text)), count=1)
    plain = text if text.isascii() and not _ASCII_LETTER.search(text) else _without_letters(text)
    if plain == text:
        return _read(text, region)
    result = _read(plain, region)
    if result[0] is None and _has_extension(text, region):
        kept = _read(text, region)
        if kept[0] is not None:
            return kept
    return result


def _without_letters(text: str) -> str:
    return "".join(c for c in text if not unicodedata.category(c).startswith("L"))


def _has_extension(text: str, region: str | None) -> bool:
    number = _parse(text, region or "US")  # any region will do: only the extension is read
    return number is not None and bool(number.extension)


def _read(text: str, region: str | None) -> Result:
    if region is None:
        return _without_region(text)
    number = _parse(text, region)
    e164 = _plausible_e164(_french_plan(number, region)) if number else None
    if e164:
        return e164, None
    digits = phonenumbers.normalize_digits_only(text)
    if digits and digits[0] != "0" and not _starts_with_plus(text):
        number = _parse("+" + digits, None)
        e164 = _plausible_e164(number) if number else None
        if e164:
            return e164, None
    return None, INVALID_PHONE


# --- per-value shortcut -------------------------------------------------------------

_SEPARATORS = str.maketrans("", "", " \t.-/()")
_INTERNATIONAL = re.compile(r"(?:\+|00)([1-9][0-9]{3,17})")
_NATIONAL_FRENCH = re.compile(r"0([1-9][0-9]{8})")


class _Plan(NamedTuple):
    pattern: re.Pattern[str]
    lengths: frozenset[int]
    local_only: frozenset[int]
    trunk: re.Pattern[str] | None


@functools.lru_cache(maxsize=512)
def _plan(country_code: int) -> _Plan | None:
    region = phonenumbers.region_code_for_country_code(country_code)
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
    if metadata is None or metadata.general_desc is None:
        return None
    general = metadata.general_desc
    if general.national_number_pattern is None:
        return None  # no plan: _checked declines and libphonenumber decides
    trunk = metadata.national_prefix_for_parsing
    return _Plan(
        re.compile(general.national_number_pattern),
        frozenset(general.possible_length),
        frozenset(general.possible_length_local_only),
        re.compile(trunk) if trunk else None,
    )


def _checked(country_code: int, national: str) -> str | None:
    plan = _plan(country_code)
    if plan is None or len(national) not in plan.lengths or len(national) in plan.local_only:
        return None
    if plan.trunk is not None and plan.trunk.match(national):
        return None  # libphonenumber might strip a prefix here: let it decide
    return f"{country_code}{national}" if plan.pattern.fullmatch(national) else None


def _international(digits: str) -> str | None:
    for size in (1, 2, 3):
        code = int(digits[:size])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            national = digits[size:]
            return _checked(code, national) if national[:1] not in ("", "0") else None
    return None


def quick_phone(text: str, region: str | None = None) -> str | None:
    """E.164 digits for the plain shapes, or None to ask libphonenumber.

    Handles ``+CC…``/``00CC…`` written with ASCII digits and simple separators,
    and French-plan national numbers (``0692 12 34 56``).  Wherever it answers,
    it answers like :func:`reference_phone` (property-tested).
    """
    if not text.isascii():
        return None
    compact = text.translate(_SEPARATORS)
    match = _INTERNATIONAL.fullmatch(compact)
    if match and (compact[0] == "+" or region is None or _idd_is_00(region)):
        return _international(match.group(1))
    if region in _FRENCH_PLAN_REGIONS:
        match = _NATIONAL_FRENCH.fullmatch(compact)
        if match:
            national = match.group(1)
            return _checked(_FRENCH_OVERSEAS.get(national[:3], 33), national)
    return None


@functools.lru_cache(maxsize=256)
def _idd_is_00(region: str) -> bool:
    metadata = PhoneMetadata.metadata_for_region(region)
    return metadata is not None and metadata.international_prefix == "00"


# --- batch fast path --------------------------------------------------------------


class FastSpec(NamedTuple):
    """One default region's fast path: a byte pattern of the lines it accepts, and how to rewrite them.

    ``accept`` matches a whole separator-free line in one of the common shapes
    (``0612345678``, ``612345678``, ``+33612345678``, ``0033612345678``,
    ``33612345678``, with the optional ``(0)``) whose national number fits the
    plan; the E.164 digits are then ``code`` + the last ``length`` digits.
    """

    accept: re.Pattern[bytes]
    code: bytes
    length: int


def _plan_filter(region: str, code: int) -> str:
    """Lookahead keeping fast-path numbers whose French-plan prefix matches ``code``."""
    if region not in _FRENCH_PLAN_REGIONS:
        return ""
    if code == 33:
        return "(?!" + _prefix_pattern(list(_FRENCH_OVERSEAS)) + ")"
    return "(?=" + _prefix_pattern([p for p, c in _FRENCH_OVERSEAS.items() if c == code]) + ")"


def _prefix_pattern(prefixes: list[str]) -> str:
    """A regex for equally long digit prefixes, factored digit by digit (``26[239]|59[046]|…``).

    ``re`` tries alternatives one by one; the factored form fails after one or two
    digits instead of trying all 14 overseas prefixes on every line.
    """
    if len(prefixes[0]) == 1:
        return "[" + "".join(sorted(prefixes)) + "]"
    heads: dict[str, list[str]] = {}
    for prefix in sorted(prefixes):
        heads.setdefault(prefix[0], []).append(prefix[1:])
    return "(?:" + "|".join(head + _prefix_pattern(tails) for head, tails in heads.items()) + ")"


@functools.lru_cache(maxsize=64)
def fast_spec(region: str | None) -> FastSpec | None:
    """Fast-path patterns for ``region``, or None when its plan is not simple enough.

    Simple = one possible national length, trunk prefix ``0`` or none, no prefix
    transform, ``00`` as international prefix, main region of its country code
    (FR, ES, PT, MA, TN, DK, RE, GP, MQ, GF, SN, CI, …).
    """
    if region is None:
        return None
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None or metadata.general_desc is None:
        return None
    general = metadata.general_desc
    if metadata.country_code is None or general.national_number_pattern is None:
        return None  # no complete plan for this region: every line takes the per-value path
    trunk = metadata.national_prefix
    simple = (
        len(general.possible_length) == 1
        and not general.possible_length_local_only
        and metadata.national_prefix_transform_rule is None
        and metadata.national_prefix_for_parsing == trunk
        and trunk in ("0", None)
        and metadata.international_prefix == "00"
        and phonenumbers.region_code_for_country_code(metadata.country_code) == region
    )
    if not simple:
        return None
    code = str(metadata.country_code)
    zero = "0?" if trunk else ""
    number = f"(?:{general.national_number_pattern})"
    plan = _plan_filter(region, metadata.country_code)
    # A line starting with 00 is an international call unless it is 00 + our code.
    if code == "33" and plan:
        # Metropolitan France: a number written with its country code (+33, 0033, 33) is kept as
        # written, overseas prefixes included (+33 692… → 33692…); only national-format numbers
        # (0692…) take their département's code, so only they go through the plan filter.
        written = rf"(?:\+{code}{zero}|00{code}{zero}|(?!00){code}{zero}){number}"
        accept = rf"^(?:{written}|(?!00){zero}{plan}{number})$"
    else:
        national = "|0" if trunk else ""
        prefix = rf"(?:\+{code}{zero}|00{code}{zero}|(?!00)(?:{code}{zero}{national})?)"
        accept = rf"^{prefix}{plan}{number}$"
    return FastSpec(re.compile(accept.encode(), re.M), code.encode(), general.possible_length[0])


def fast_phone_lines(buffer: bytes, spec: FastSpec) -> tuple[bytes, bytes]:
    """Check a ``\\n``-joined ASCII buffer of trimmed phones in one regex pass.

    Returns ``(compact, leftovers)``, the buffer without separators and what the
    pass did not accept: wherever line *i* of ``leftovers`` is empty and line *i*
    of ``compact`` is not, the E.164 digits are ``spec.code +
    line[-spec.length:]``.  Other lines need :func:`normalize_phone`.
    """
    compact = buffer.translate(None, FAST_DELETE)
    return compact, spec.accept.sub(b"", compact)
