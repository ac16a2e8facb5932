"""Reading an audience's rows: the CRM query (or a file's chunks) → consent → identity engine →
suppression → ``exclude``/``intersect`` → distinct encrypted rows in a :class:`Staging`.

The step returns a :class:`~fbsync.results.ReadResult` (counts by reason, per-key drops, masked
examples); no plaintext identifier is kept: rows are hashed as they are read, then staged
fingerprinted and encrypted under the state key.  :func:`preflight` checks everything that can be
checked before anything is read or sent.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from . import identity
from .config import Audience, LoadedConfig, effective
from .config_types import ValueTransform, columns_of, is_fanned
from .customers import CUSTOMER, FANNED, Fan, customer_tags, drop_customers, expand, values_of
from .errors import ConfigError, Refused
from .identity._text import is_missing as identity_missing
from .identity.attributes import ATTRIBUTE_KEYS, COUNTRY, OPTIONS, STATE
from .identity.attributes import normalize as normalize_attribute
from .quality import QualityMeter
from .results import ReadResult
from .settings import Settings
from .sources import columnar, pushdown
from .sources.crm import Chunk, CrmSource
from .stage import Sealer, cover, patterns_of_rows
from .state.crypto import RowCipher
from .state.staging import Staging
from .suppression import Suppression, check_suppression
from .values import VALUE, ValueProfile, ValueRule, parse

TRUE_WORDS = frozenset({"1", "true", "t", "yes", "y", "oui"})
Progress = Callable[[str, str, int, "int | None"], None]


def is_consent(value: Any) -> bool:
    """Consent is given only by 1, true, t, yes, y or oui (any case); NULL and anything else is no."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in TRUE_WORDS


def schema_of(keys: Iterable[str]) -> tuple[str, ...]:
    """The Meta keys of a mapping, in Meta's order (the order of every row sent and stored), then the
    value of a value-based list and the row attributes (Limited Data Use flags) it carries."""
    wanted = set(keys)
    return tuple(k for k in (*identity.KEYS, VALUE, *ATTRIBUTE_KEYS) if k in wanted)


@dataclass(frozen=True)
class Spec:
    """What to read for one audience: its key mapping and the rules that filter its rows."""

    name: str
    keys: dict[str, str]
    consent: str | None = None
    country: str | None = None
    exclude: tuple[str, ...] = ()
    intersect: tuple[str, ...] = ()
    hash_in_database: bool = False
    #: Row attributes the same for every row (the audience's ``data_processing_options``), attribute -> text.
    constants: tuple[tuple[str, str], ...] = ()
    #: Keys that may give a customer several values (``keys`` maps each to its expanded column ``KEY*``).
    fans: tuple[Fan, ...] = ()
    #: The value column of a value-based list, its transform, and the rule once its percentiles are known.
    value: str | None = None
    transform: ValueTransform | None = None
    rule: ValueRule | None = None

    @property
    def schema(self) -> tuple[str, ...]:
        """The columns of every row kept: Meta's keys, the value, the attributes, and (fanned) the customer tag."""
        tag = (CUSTOMER,) if self.fans else ()
        return schema_of([*self.keys, *dict(self.constants), *([VALUE] if self.value else [])]) + tag

    @property
    def crm_columns(self) -> dict[str, tuple[str, ...]]:
        """Key (or ``value``) -> the CRM columns it reads."""
        fanned = {f.key: f.columns for f in self.fans}
        out = {k: fanned.get(k, (c,)) for k, c in self.keys.items()}
        if self.value:
            out["value"] = (self.value,)
        return out

    @property
    def identity_keys(self) -> dict[str, str]:
        """Meta key -> column, for the identifiers (what the identity engine hashes)."""
        return {k: c for k, c in self.keys.items() if k not in ATTRIBUTE_KEYS}

    @property
    def attribute_columns(self) -> dict[str, str]:
        """Row attribute -> column, for the attributes read from the CRM (per row)."""
        return {k: c for k, c in self.keys.items() if k in ATTRIBUTE_KEYS}

    @classmethod
    def of(cls, loaded: LoadedConfig, a: Audience) -> Spec:
        eff = effective(loaded.config, a)
        keys: dict[str, str] = {}
        fans: list[Fan] = []
        for key, source in (a.keys or {}).items():
            if is_fanned(source):
                fans.append(Fan(key, columns_of(source), getattr(source, "split", None)))
                keys[key] = FANNED.format(key)
            else:
                keys[key] = str(source)
        return cls(
            a.name,
            keys,
            eff.consent,
            eff.default_country,
            tuple(a.exclude),
            tuple(a.intersect),
            eff.hash_in_database,
            _ldu(eff.data_processing),
            tuple(fans),
            a.value,
            a.value_transform,
        )


def _ldu(setting: tuple[str, int, int] | None) -> tuple[tuple[str, str], ...]:
    """An audience's ``data_processing_options`` as constant row attributes (none when it sets none)."""
    if setting is None:
        return ()
    options, country, state = setting
    return ((OPTIONS, options), (COUNTRY, str(country)), (STATE, str(state)))


def preflight(loaded: LoadedConfig, crm: CrmSource | None, auds: Sequence[Audience]) -> None:
    """Everything checkable before sending anything: suppression, push-down, every query's columns."""
    cfg = loaded.config
    problems = []
    try:
        check_suppression(cfg, crm, loaded.path.parent)
        for a in auds:
            if not a.is_lookalike and effective(cfg, a).hash_in_database:
                pushdown.require_postgresql(require_crm(crm).dialect, a.name)
    except ConfigError as exc:
        problems.append(str(exc))
    for a in auds:
        if a.is_lookalike:
            continue
        wanted = {
            (k if len(cols) == 1 else f"{k} ({i + 1})"): c
            for k, cols in Spec.of(loaded, a).crm_columns.items()
            for i, c in enumerate(cols)
        }
        consent = effective(cfg, a).consent
        if consent:
            wanted["consent"] = consent
        try:
            require_crm(crm).check_columns(a.query or "", wanted, f"audience {a.name}")
        except ConfigError as exc:
            problems.append(str(exc))
    if problems:
        raise ConfigError("\n".join(problems), problems)


def open_crm(loaded: LoadedConfig, settings: Settings) -> CrmSource | None:
    """The CRM of the config (``FBSYNC_CRM_URL`` first), or None when none is set."""
    url = settings.crm_url or loaded.config.crm.url
    return CrmSource(url, base_dir=loaded.path.parent) if url else None


def require_crm(crm: CrmSource | None) -> CrmSource:
    if crm is None:
        raise ConfigError("No CRM: set crm.url in audiences.yaml or FBSYNC_CRM_URL.")
    return crm


def _column_wise(spec: Spec, pd: pushdown.Pushdown | None, meter: QualityMeter | None) -> bool:
    """Whether only identifiers are read: then pyarrow arrays may reach the hashing, and nothing else."""
    return pd is None and meter is None and not (spec.consent or spec.fans or spec.value or spec.attribute_columns)


class Reader:
    """Reads audiences of one config into stagings; remembers the identifiers other audiences refer to."""

    def __init__(
        self,
        loaded: LoadedConfig,
        crm: CrmSource | None,
        cipher: RowCipher,
        suppression: Suppression,
        state_dir: Path,
        progress: Progress | None = None,
    ) -> None:
        self.loaded, self.crm, self.cipher, self.suppression = loaded, crm, cipher, suppression
        self.state_dir = state_dir
        self.progress: Progress = progress or (lambda *a: None)
        self._idsets: dict[str, Suppression] = {}

    def audience(self, a: Audience, stg: Staging, meter: QualityMeter | None = None) -> ReadResult:
        """Read one customer-list audience of the YAML from the CRM into ``stg``.

        A value-based list is first profiled (one pass over its value column): values Meta would refuse
        refuse the audience before anything is read further; ``clip`` percentiles come from that pass."""
        spec = Spec.of(self.loaded, a)
        crm = require_crm(self.crm)
        query, columns, what = a.query or "", self._columns(spec), f"audience {a.name}"
        notes: tuple[str, ...] = ()
        if spec.value:
            profile = value_profile(crm, spec, query, what)
            problem = profile.problem(a.name)
            if problem:
                raise Refused(problem)
            spec = replace(spec, rule=profile.rule(spec.transform))
            described = spec.rule.describe() if spec.rule else None
            notes += (f"value {described}",) if described else ()
        pd: pushdown.Pushdown | None = None
        if spec.hash_in_database:
            pd = pushdown.plan_for(crm, query, spec.identity_keys, spec.country, what)
            notes += tuple(pd.plan_lines())
            keep = ([spec.consent] if spec.consent else []) + list(spec.attribute_columns.values())
            keep += [spec.value] if spec.value else []
            query, columns = pushdown.rewrite(query, pd, keep=keep), pd.columns(keep=keep)
        arrays = _column_wise(spec, pd, meter)  # COPY's text as pyarrow arrays, hashed column-wise
        result = self.chunks(spec, crm.stream(query, columns, what, arrays=arrays), stg, pd, meter)
        self._remember(spec, stg)
        return replace(result, notes=notes)

    def chunks(
        self,
        spec: Spec,
        chunks: Iterable[Chunk],
        stg: Staging,
        pd: pushdown.Pushdown | None = None,
        meter: QualityMeter | None = None,
    ) -> ReadResult:
        """Filter consent, normalize and hash, drop suppressed customers and set-filtered ones, stage the rest.

        With several values per key, a customer's rows are dropped together (suppressed, excluded…), and
        counts are of customers (CRM rows), not of the rows sent."""
        schema, keys, consent = spec.schema, spec.identity_keys, spec.consent
        counts: Counter[str] = Counter()
        drops: Counter[tuple[str, str]] = Counter()
        empty: Counter[str] = Counter()
        examples: dict[tuple[str, str], list[str]] = {}
        patterns: Counter[tuple[bool, ...]] = Counter()  # which identifiers each staged row carries
        staged = 0
        # rows that need nothing but hashing (no consent, suppression, set rule, fan, value or attribute)
        column_wise = _column_wise(spec, pd, meter)  # pyarrow arrays may reach the hashing, and nothing else
        sealed = (
            column_wise
            and not (self.suppression or spec.exclude or spec.intersect)
            and len(schema) == len(keys)  # no column beside the identifiers (constant attributes)
        )
        with Sealer(self.cipher, stg, patterns) as sealer:
            for chunk in chunks:
                counts["read"] += chunk.size
                cols = chunk.columns if column_wise else columnar.as_lists(chunk.columns)
                size = chunk.size
                if consent:
                    ok = [i for i, v in enumerate(cols[consent]) if is_consent(v)]
                    counts["no_consent"] += size - len(ok)
                    if len(ok) != size:
                        cols = {c: [vals[i] for i in ok] for c, vals in cols.items()}
                        size = len(ok)
                if meter is not None and pd is None:
                    meter.feed(_first_values(spec, cols))
                if meter is not None and spec.value:
                    meter.feed_values(cols[spec.value])
                origin: list[int] | None = None
                if spec.fans:
                    cols, origin, over = expand(cols, spec.fans, size)
                    for key, n in over.items():
                        drops[(key, "more than 10 values")] += n
                key_cols = {k: cols[c] for k, c in keys.items()} if pd is None else {}
                block = columnar.hash_block(columnar.arrow_text(key_cols), spec.country) if sealed else None
                if block is not None:  # nothing but hashing: sealed from the fields
                    assert block.schema == schema
                    _tally(block.counters, drops, empty, examples)
                    counts["dropped"] += block.dropped_rows
                    staged += sealer.add(block)
                    self.progress(spec.name, "reading and hashing", counts["read"], None)
                    continue
                batch = (
                    pushdown.hash_chunk(cols, pd) if pd is not None else columnar.hash_members(key_cols, spec.country)
                )
                assert batch.schema == schema[: len(batch.schema)]
                if meter is not None and pd is not None:
                    meter.feed_batch(batch)
                _tally(batch, drops, empty, examples)
                rows, kept = batch.rows, batch.kept_index
                if len(schema) > len(batch.schema):
                    rows, kept = self._with_attributes(spec, cols, rows, kept, drops)
                owners = [origin[j] for j in kept] if origin is not None else list(kept)
                counts["dropped"] += size - len(set(owners))
                if self.suppression:
                    doomed = {o for r, o in zip(rows, owners) if self.suppression.matches(schema, r)}
                    rows, owners, n = drop_customers(rows, owners, doomed)
                    counts["suppressed"] += n
                rows, owners = self._set_filters(spec, rows, owners, counts)
                if spec.fans:
                    rows = [(*r, t) for r, t in zip(rows, customer_tags(rows, owners, self._tag))]
                staged += len(rows)
                patterns_of_rows(patterns, schema, keys, rows)
                if spec.value:  # one row per set of identifiers (one person for Meta): the highest value
                    at = schema.index(VALUE)
                    ident = schema[:at] + schema[at + 1 :]
                    stg.add_valued(
                        (
                            self.cipher.fingerprint(ident, r[:at] + r[at + 1 :]),
                            self.cipher.fingerprint(schema, r),
                            self.cipher.encrypt(r),
                            float(r[at]),
                        )
                        for r in rows
                    )
                else:
                    stg.add_desired(self.cipher.pairs(schema, rows))
                self.progress(spec.name, "reading and hashing", counts["read"], None)
        stg.settle()
        desired = stg.desired
        by_key: dict[str, dict[str, int]] = {}
        for (key, reason), n in sorted(drops.items()):
            by_key.setdefault(key, {})[reason] = n
        carrying, alone = cover(patterns, [k for k in schema if k in keys])
        return ReadResult(
            rows_read=counts["read"],
            rows_no_consent=counts["no_consent"],
            rows_suppressed=counts["suppressed"],
            rows_excluded=counts["excluded"],
            rows_not_intersecting=counts["not_intersecting"],
            rows_dropped=counts["dropped"],
            rows_duplicate=staged - desired,
            rows_desired=desired,
            drops=by_key,
            empty=dict(sorted(empty.items())),
            examples={f"{k}: {r}": v for (k, r), v in sorted(examples.items())},
            rows_staged=staged,
            carrying=carrying,
            alone=alone,
        )

    @staticmethod
    def _with_attributes(
        spec: Spec,
        cols: dict[str, list[Any]],
        rows: list[tuple[str, ...]],
        kept: list[int],
        drops: Counter[tuple[str, str]],
    ) -> tuple[list[tuple[str, ...]], list[int]]:
        """The rows with, after the identifiers, the value of a value-based list and the attributes (per row
        from the CRM, or the audience's); a row whose value or attribute Meta would refuse is left out with
        the reason (never sent without its LDU flag).  Returns the rows and their input positions."""
        constants = dict(spec.constants)
        from_columns = dict(spec.attribute_columns)
        rule = spec.rule
        order = [k for k in ATTRIBUTE_KEYS if k in constants or k in from_columns]
        out, where = [], []
        for row, i in zip(rows, kept):
            extra = []
            if spec.value:
                number, reason = parse(cols[spec.value][i])
                if number is None:
                    drops[(VALUE, reason or "invalid")] += 1
                    continue
                extra.append(rule.apply(number) if rule else ValueRule(spec.value).apply(number))
            for key in order:
                if key in constants:
                    extra.append(constants[key])
                    continue
                value, reason = normalize_attribute(key, cols[from_columns[key]][i])
                if value is None:
                    drops[(key, reason or "invalid")] += 1
                    break
                extra.append(value)
            else:
                out.append((*row, *extra))
                where.append(i)
        return out, where

    # ------------------------------------------------------------------ exclude / intersect
    def _set_filters(
        self, spec: Spec, rows: list[tuple[str, ...]], owners: list[int], counts: Counter[str]
    ) -> tuple[list[tuple[str, ...]], list[int]]:
        """``exclude``: drop customers sharing any identifier with an excluded audience; ``intersect``: keep
        customers sharing one with each listed audience (identifiers compared as keyed hashes, key by key;
        a customer with several rows is judged on all of them)."""
        schema = spec.schema
        if spec.exclude:
            doomed = {o for r, o in zip(rows, owners) if any(self.members(x).matches(schema, r) for x in spec.exclude)}
            rows, owners, n = drop_customers(rows, owners, doomed)
            counts["excluded"] += n
        if spec.intersect:
            keep = set(owners)
            for x in spec.intersect:
                ids = self.members(x)
                keep &= {o for r, o in zip(rows, owners) if ids.matches(schema, r)}
            rows, owners, n = drop_customers(rows, owners, set(owners) - keep)
            counts["not_intersecting"] += n
        return rows, owners

    def _tag(self, values: str) -> str:
        """A customer's tag: a keyed hash of its identifiers (no identifier can be read back from it)."""
        return self.cipher.keyed_hash("customer\x1f" + values).hex()

    def members(self, name: str) -> Suppression:
        """The identifiers of another audience's desired rows (its own consent, suppression and set rules
        applied, so chains resolve in dependency order), read once per run and kept as keyed hashes."""
        if name not in self._idsets:
            with Staging(self.state_dir) as stg:
                self.audience(self.loaded.audience(name), stg)
        return self._idsets[name]

    def _remember(self, spec: Spec, stg: Staging) -> None:
        """Keep an audience's identifiers when another audience of the file excludes or intersects it,
        so a run reads each referenced query once (here, or from the audience's own sync)."""
        cfg = self.loaded.config
        if spec.name in self._idsets or not any(
            spec.name in a.exclude or spec.name in a.intersect for a in cfg.audiences
        ):
            return
        ids = Suppression(self.cipher)
        for batch in stg.iter_desired(10_000):
            ids.add_rows(spec.schema, (self.cipher.decrypt(e) for _, e in batch), spec.name)
        self._idsets[spec.name] = ids

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _columns(spec: Spec) -> list[str]:
        """The CRM columns to read: every key's (all of a fanned key's), the value's, and consent."""
        cols = [c for cs in spec.crm_columns.values() for c in cs]
        return list(dict.fromkeys(cols + ([spec.consent] if spec.consent else [])))


def _tally(
    batch: identity.HashedBatch,
    drops: Counter[tuple[str, str]],
    empty: Counter[str],
    examples: dict[tuple[str, str], list[str]],
) -> None:
    """Add a hashed chunk's counters (values dropped, empty, a few examples) to the read's."""
    drops.update(batch.invalid)
    empty.update(batch.empty)
    for k, ex in batch.examples.items():
        examples[k] = (examples.get(k, []) + ex)[:3]


def _first_values(spec: Spec, cols: Mapping[str, Sequence[Any]]) -> dict[str, Sequence[Any]]:
    """Meta key -> one value per customer, as the quality gates measure them (a fanned key: its first value)."""
    fanned = {f.key: f for f in spec.fans}
    out: dict[str, Sequence[Any]] = {}
    for key, col in spec.identity_keys.items():
        fan = fanned.get(key)
        if fan is None:
            out[key] = cols[col]
            continue
        size = len(cols[fan.columns[0]])
        out[key] = [next((v for c in fan.columns for v in values_of(cols[c][i], fan.split)), None) for i in range(size)]
    return out


def value_problem(loaded: LoadedConfig, crm: CrmSource | None, a: Audience) -> str | None:
    """Why Meta would refuse a value-based list's values (``validate``), or None (and None for other lists)."""
    if not a.is_value_based:
        return None
    spec = Spec.of(loaded, a)
    return value_profile(require_crm(crm), spec, a.query or "", f"audience {a.name}").problem(a.name)


def value_profile(crm: CrmSource, spec: Spec, query: str, what: str) -> ValueProfile:
    """One pass over a value-based list's value column (with consent and the identifier columns, to know
    which rows would be sent): invalid values by reason, and the values for ``clip`` percentiles."""
    assert spec.value
    ident = [c for k, cs in spec.crm_columns.items() if k in spec.identity_keys for c in cs]
    columns = list(dict.fromkeys([spec.value, *ident, *([spec.consent] if spec.consent else [])]))
    profile = ValueProfile(spec.value)
    for chunk in crm.stream(query, columns, what):
        cols = chunk.columns
        sent = (
            (not spec.consent or is_consent(cols[spec.consent][i])) and any(_present(cols[c][i]) for c in ident)
            for i in range(chunk.size)
        )
        profile.feed(cols[spec.value], sent)
    return profile


def _present(cell: Any) -> bool:
    return not (cell is None or identity_missing(cell) or (isinstance(cell, str) and not cell.strip()))
