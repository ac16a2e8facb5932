"""Reading an audience's rows: the CRM query (or a file's chunks) → consent → identity engine →
suppression → ``exclude``/``intersect`` → distinct encrypted rows in a :class:`Staging`.

The step returns a :class:`~fbsync.results.ReadResult` (counts by reason, per-key drops, masked
examples); no plaintext identifier is kept: rows are hashed as they are read, then staged
fingerprinted and encrypted under the state key.  :func:`preflight` checks everything that can be
checked before anything is read or sent.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from . import identity
from .config import Audience, LoadedConfig, effective
from .errors import ConfigError
from .identity.attributes import ATTRIBUTE_KEYS, COUNTRY, OPTIONS, STATE
from .identity.attributes import normalize as normalize_attribute
from .results import ReadResult
from .settings import Settings
from .sources import pushdown
from .sources.crm import Chunk, CrmSource
from .state.crypto import RowCipher
from .state.staging import Staging
from .suppression import Suppression, check_suppression

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
    """The Meta keys of a mapping, in Meta's order (the order of every row sent and stored), then the row
    attributes (Limited Data Use flags) it carries."""
    wanted = set(keys)
    return tuple(k for k in (*identity.KEYS, *ATTRIBUTE_KEYS) if k in wanted)


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

    @property
    def schema(self) -> tuple[str, ...]:
        return schema_of([*self.keys, *dict(self.constants)])

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
        return cls(
            a.name,
            dict(a.keys or {}),
            eff.consent,
            eff.default_country,
            tuple(a.exclude),
            tuple(a.intersect),
            eff.hash_in_database,
            _ldu(eff.data_processing),
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
        wanted = dict(a.keys or {})
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

    def audience(self, a: Audience, stg: Staging) -> ReadResult:
        """Read one customer-list audience of the YAML from the CRM into ``stg``."""
        spec = Spec.of(self.loaded, a)
        crm = require_crm(self.crm)
        query, columns, what = a.query or "", self._columns(spec), f"audience {a.name}"
        notes: tuple[str, ...] = ()
        pd: pushdown.Pushdown | None = None
        if spec.hash_in_database:
            pd = pushdown.plan_for(crm, query, spec.identity_keys, spec.country, what)
            notes = tuple(pd.plan_lines())
            keep = ([spec.consent] if spec.consent else []) + list(spec.attribute_columns.values())
            query, columns = pushdown.rewrite(query, pd, keep=keep), pd.columns(keep=keep)
        result = self.chunks(spec, crm.stream(query, columns, what), stg, pd)
        self._remember(spec, stg)
        return replace(result, notes=notes)

    def chunks(
        self, spec: Spec, chunks: Iterable[Chunk], stg: Staging, pd: pushdown.Pushdown | None = None
    ) -> ReadResult:
        """Filter consent, normalize and hash, drop suppressed people and set-filtered rows, stage the rest."""
        schema, keys, consent = spec.schema, spec.identity_keys, spec.consent
        counts: Counter[str] = Counter()
        drops: Counter[tuple[str, str]] = Counter()
        empty: Counter[str] = Counter()
        examples: dict[tuple[str, str], list[str]] = {}
        staged = 0
        for chunk in chunks:
            counts["read"] += chunk.size
            cols = chunk.columns
            if consent:
                ok = [i for i, v in enumerate(cols[consent]) if is_consent(v)]
                counts["no_consent"] += chunk.size - len(ok)
                if len(ok) != chunk.size:
                    cols = {c: [vals[i] for i in ok] for c, vals in cols.items()}
            batch = (
                pushdown.hash_chunk(cols, pd)
                if pd is not None
                else identity.hash_batch({k: cols[c] for k, c in keys.items()}, spec.country)
            )
            assert batch.schema == schema[: len(batch.schema)]
            counts["dropped"] += batch.dropped_rows
            drops.update(batch.invalid)
            empty.update(batch.empty)
            for k, ex in batch.examples.items():
                examples[k] = (examples.get(k, []) + ex)[:3]
            rows = batch.rows
            if len(schema) > len(batch.schema):
                rows = self._with_attributes(spec, cols, batch.rows, batch.kept_index, drops, counts)
            if self.suppression:
                rows = [r for r in rows if not self.suppression.matches(schema, r)]
                counts["suppressed"] += len(batch.rows) - len(rows)
            rows = self._set_filters(spec, rows, counts)
            staged += len(rows)
            stg.add_desired((self.cipher.fingerprint(schema, r), self.cipher.encrypt(r)) for r in rows)
            self.progress(spec.name, "reading and hashing", counts["read"], None)
        desired = stg.desired
        by_key: dict[str, dict[str, int]] = {}
        for (key, reason), n in sorted(drops.items()):
            by_key.setdefault(key, {})[reason] = n
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
        )

    @staticmethod
    def _with_attributes(
        spec: Spec,
        cols: dict[str, list[Any]],
        rows: list[tuple[str, ...]],
        kept: list[int],
        drops: Counter[tuple[str, str]],
        counts: Counter[str],
    ) -> list[tuple[str, ...]]:
        """The rows with their attributes after the identifiers (per row from the CRM, or the audience's);
        a row whose attribute Meta would refuse is dropped with the reason (never sent without its LDU flag)."""
        constants = dict(spec.constants)
        from_columns = spec.attribute_columns
        order = [k for k in ATTRIBUTE_KEYS if k in constants or k in from_columns]
        out = []
        for row, i in zip(rows, kept):
            extra = []
            for key in order:
                if key in constants:
                    extra.append(constants[key])
                    continue
                value, reason = normalize_attribute(key, cols[from_columns[key]][i])
                if value is None:
                    drops[(key, reason or "invalid")] += 1
                    counts["dropped"] += 1
                    break
                extra.append(value)
            else:
                out.append((*row, *extra))
        return out

    # ------------------------------------------------------------------ exclude / intersect
    def _set_filters(self, spec: Spec, rows: list[tuple[str, ...]], counts: Counter[str]) -> list[tuple[str, ...]]:
        """``exclude``: drop rows sharing any identifier with an excluded audience; ``intersect``: keep rows
        sharing one with each listed audience (identifiers compared as keyed hashes, key by key)."""
        schema = spec.schema
        if spec.exclude:
            kept = [r for r in rows if not any(self.members(x).matches(schema, r) for x in spec.exclude)]
            counts["excluded"] += len(rows) - len(kept)
            rows = kept
        if spec.intersect:
            kept = [r for r in rows if all(self.members(x).matches(schema, r) for x in spec.intersect)]
            counts["not_intersecting"] += len(rows) - len(kept)
            rows = kept
        return rows

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
        return list(dict.fromkeys(list(spec.keys.values()) + ([spec.consent] if spec.consent else [])))
