"""Normalizers for the person keys: EMAIL, FN, LN, FI, GEN, MADID, EXTERN_ID.

Each takes text that :func:`fbsync.identity._text.to_text` already trimmed (never
empty) and returns ``(normalized, None)`` or ``(None, reason)``.  Sources are the
tags of ``docs/identity.md``: DOC-CA (Meta's Custom Audience
hashing guide), DOC-CAPI (Meta's customer-information parameters, with vectors),
PY-CA (Meta's Python SDK helper ``CustomAudienceMixin``), PB, SEG, RUD (peers).
"""

from __future__ import annotations

import re
import unicodedata

from fbsync.identity._text import fold_ascii, nfc

Result = tuple[str | None, str | None]

INVALID_EMAIL = "invalid email"
INVALID_NAME = "invalid name"
UNKNOWN_GENDER = "unknown gender"
INVALID_MADID = "invalid madid"

# Characters that cannot appear in an address we would send: whitespace, '@',
# controls, zero-width characters and the RFC 5322 specials that only appear in
# quoted local parts or in pasted lists ("a@b.fr; c@d.fr").
_NOT_EMAIL_CHAR = r"\s@,;:<>()\[\]\\\"\x00-\x1f\x7f\u200b-\u200d\u2060\ufeff"
_EMAIL_RE = re.compile(rf"[^{_NOT_EMAIL_CHAR}]++@(?:[^{_NOT_EMAIL_CHAR}.]++\.)++[^{_NOT_EMAIL_CHAR}.]++")
#: Byte pattern of the batch fast path; every line it accepts is accepted by
#: :func:`normalize_email` with the same value (tested).
EMAIL_FAST_LINE = re.compile(rb"^[a-z0-9!#$%&'*+/=?^_`{|}~.\-]++@[a-z0-9_\-]++(?:\.[a-z0-9_\-]++)++$", re.M)

_ASCII_NON_LETTER = re.compile(r"[^a-z]+")
_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_ZERO_UUID = "00000000-0000-0000-0000-000000000000"


def normalize_email(text: str, region: str | None = None) -> Result:
    """EMAIL: trim, lowercase (DOC-CA: "Trim leading and trailing white space;
    lowercase all characters"), after NFC.

    The docs do no validation; PB, RUD and Meta's CAPI SDKs drop invalid values,
    PY-CA hashes anything.  We keep only values that look like an address: one
    ``@``, no whitespace, a domain with a dot and no empty label.  A trailing dot
    (``jean@mail.fr.``) is invalid: PY-CA strips it, PB drops it, we drop it too
    rather than guess.  Non-ASCII local parts are lowercased with Unicode rules
    (``Élodie@…`` → ``élodie@…``); PHP-CA lowercases only ASCII.
    """
    value = nfc(nfc(text).lower())
    if _EMAIL_RE.fullmatch(value):
        return value, None
    return None, INVALID_EMAIL


def _letters(text: str) -> str:
    """Lowercase letters and combining marks only, NFC (accents and non-Roman kept)."""
    low = nfc(text).lower()
    if low.isascii():
        return _ASCII_NON_LETTER.sub("", low)
    return nfc("".join(c for c in low if unicodedata.category(c)[0] in "LM"))


def normalize_name(text: str, region: str | None = None) -> Result:
    """FN / LN: lowercase, no punctuation, no spaces, no digits; UTF-8 letters kept.

    DOC-CA: "Use a-z only. Lowercase only, no punctuation. Special characters in
    UTF-8 format"; "Only FN and LN support special characters and non-Roman
    alphabets".  DOC-CAPI vectors: Mary→mary, 정→정, Valéry→valéry (NFC).
    So ``François`` → ``françois``, ``Jean-Pierre`` → ``jeanpierre``,
    ``D'Artagnan`` → ``dartagnan``.  Differs from PY-CA, which deletes every
    non a-z letter (``franois``), against Meta's own Valéry example; and from
    SEG/RUD, which keep inner spaces.  Digits are removed ("a-z only").
    """
    value = _letters(text)
    return (value, None) if value else (None, INVALID_NAME)


def normalize_first_initial(text: str, region: str | None = None) -> Result:
    """FI: the first letter of the first name, normalized like FN.

    DOC-CA: "Use a-z only. Lowercase only. Special characters in UTF-8 format";
    Meta's CAPI SDKs take the first character.  ``Élodie`` → ``é``, ``J.`` → ``j``.
    Differs from PY-CA, which keeps every letter (``Ms.`` → ``ms``), and PHP-CA
    (first a-z byte: ``Élodie`` → ``l``).
    """
    value = _letters(text)
    return (value[0], None) if value else (None, INVALID_NAME)


_MALE = (
    "m h male man boy homme monsieur mr mister masculin masc garcon messieurs sir "
    "hombre masculino mann mannlich maschio"
)
_FEMALE = (
    "f female woman girl femme madame mme mlle mademoiselle miss mrs ms feminin fem "
    "fille dame mujer femenino frau weiblich femmina"
)
_GENDERS = dict.fromkeys(_MALE.split(), "m") | dict.fromkeys(_FEMALE.split(), "f")


def normalize_gender(text: str, region: str | None = None) -> Result:
    """GEN: ``m`` or ``f`` (DOC-CA: "m for male, f for female").

    Words in French and English (and a few neighbours) map to the initial after
    folding accents, case and punctuation: Homme, H, M., Monsieur, Mr → m;
    Femme, F, Mme, Madame, Mlle, Mrs, Ms → f.  Anything else (``X``, ``1``,
    ``inconnu``) is dropped as "unknown gender", never guessed.  Differs from
    PY-CA (first character: ``homme`` → ``h``), RUD (anything else → m) and SEG
    (hashes the raw word).  ISO 5218 digits (1/2) are not accepted: 0/1 flags
    are as common in CRMs and would be silently misread.
    """
    word = _ASCII_NON_LETTER.sub("", fold_ascii(text))
    gender = _GENDERS.get(word)
    return (gender, None) if gender else (None, UNKNOWN_GENDER)


def normalize_madid(text: str, region: str | None = None) -> Result:
    """MADID: lowercase, keep hyphens, **not hashed** (DOC-CA: "Do not hash").

    Apple IDFA and Google AAID are UUIDs, so we require the hyphenated UUID shape;
    the all-zero UUID (tracking disabled) is dropped.  Anything else (``some-id``,
    32 hex digits without hyphens, an email in the wrong column) is dropped too,
    never sent: MADID is sent unhashed, and another shape cannot be an IDFA/AAID
    (docs/identity.md, "MADID").  Differs from PY-CA, which hashes MADID in
    multi-key uploads, SEG, which sends any value unchanged, and RUD, which sends
    any value lowercased.
    """
    value = text.lower()
    if _UUID_RE.fullmatch(value) and value != _ZERO_UUID:
        return value, None
    return None, INVALID_MADID


def normalize_extern_id(text: str, region: str | None = None) -> Result:
    """EXTERN_ID: the exact value, **not hashed** (DOC-CA: "use the exact format").

    Only outer whitespace is trimmed (CHAR padding, CSV spaces); case, inner
    spaces and Unicode form are kept byte for byte.  Differs from PY-CA, which
    lowercases it and strips edge dots.
    """
    return text, None
