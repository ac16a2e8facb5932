"""The made-up French population :mod:`fbsync.dev.demo` draws its customers from.

Weighted tables of first and last names (accents, hyphens, apostrophes), cities with
their real postcodes and regions, e-mail domains, country spellings, overseas phone
plans and the junk people type in phone fields.  Only data and the helpers that
build the tables: no randomness here.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Sequence

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
DOM = {"MQ": (("696",), "596", "596"), "GP": (("690",), "590", "590"),
        "RE": (("692", "693"), "262", "262"), "GF": (("694",), "594", "594")}
GARBAGE_PHONES = ("12", "n/a", "N/A", "-", "0000000000", "inconnu", "06", "+33", ".", "xx", "0", "tel")


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


FIRST_TABLE = _table([((n, sex, _ascii(n)), w) for n, sex, w in _FIRST_NAMES])
LAST_TABLE = _table([((n, _ascii(n)), w) for n, w in _LAST_NAMES])
CITY_TABLE = _table([((name, zips, region, _plain(name)), w)
                      for name, zips, w, region in _CITIES])
COUNTRY_TABLE = {k: _table(v) for k, v in _COUNTRY_SPELLINGS.items()}
DOMAIN_TABLE = {k: _table(v) for k, v in _DOMAINS.items()}
FEMALE_LABELS = _table((("Femme", 40), ("F", 25), ("Mme", 25), (None, 10)))
MALE_LABELS = _table((("Homme", 40), ("M", 25), ("M.", 25), (None, 10)))
