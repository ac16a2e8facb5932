"""Render results for people: the sync summary, status and history tables. No logic."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..accounts import label
from ..results import AudienceResult, ReadResult, RunResult
from ..state.records import RunRecord


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain aligned text table (numbers right-aligned)."""
    cells = [[("" if v is None else str(v)) for v in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    numeric = [all(_num(r[i]) for r in cells if r[i]) and bool(cells) for i in range(len(headers))]

    def fmt(r: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if n else v.ljust(w) for v, w, n in zip(r, widths, numeric)).rstrip()

    return "\n".join([fmt(headers), fmt(["-" * w for w in widths])] + [fmt(r) for r in cells])


def _num(s: str) -> bool:
    return s.replace(",", "").replace("+", "").replace("−", "").replace("-", "").strip().isdigit()


def _size(a: AudienceResult) -> str:
    lo, hi = a.size.lower, a.size.upper
    if lo is None:
        return ""
    if hi is None or hi == lo:
        return f"{lo:,}"
    return f"{lo:,}–{hi:,}"


def _action(a: AudienceResult) -> str:
    """What happened to the audience: its own action, or, when only its members change, say so (never
    "unchanged" beside "+107 −994")."""
    s = a.sent
    if a.action == "unchanged" and (s.added or s.removed or s.replaced):
        return "update members" if a.status == "planned" else "members updated"
    return a.action_text


def _sent(a: AudienceResult) -> str:
    if a.strategy == "replace" and (a.sent.replaced or a.status == "planned"):
        return f"replace {a.sent.replaced:,}"
    return f"+{a.sent.added:,} −{a.sent.removed:,}"


LEFT_OUT = (  # ReadResult counter -> how the details line names it
    ("rows_no_consent", "without consent"),
    ("rows_suppressed", "suppressed (opt-out or forgotten)"),
    ("rows_excluded", "excluded (in an `exclude` audience)"),
    ("rows_not_intersecting", "outside an `intersect` audience"),
    ("rows_dropped", "with no usable identifier"),
    ("rows_duplicate", "duplicates merged"),
)


_GATE_MARK = {"passed": "✓", "failed": "✗", "warning": "⚠", "not applicable": "–"}


def render_run(r: RunResult) -> str:
    title = "Plan (nothing sent)" if r.dry_run else f"{r.command.capitalize()} run {r.run_id}"
    rows = []
    for a in r.audiences:
        read = a.read or ReadResult()
        rows.append(
            [
                label(a.name),
                a.meta_id or "",
                _action(a),
                f"{read.rows_read:,}",
                f"{read.rows_left_out:,}",
                _sent(a),
                _size(a),
                a.status,
            ]
        )
    out = [title, table(["audience", "Meta id", "action", "read", "dropped", "sent", "size on Meta", "status"], rows)]
    details = []
    for a in r.audiences:
        read = a.read or ReadResult()
        why = [f"{getattr(read, f):,} {label}" for f, label in LEFT_OUT if getattr(read, f)]
        for key, reasons in read.drops.items():
            for reason, n in reasons.items():
                ex = read.examples.get(f"{key}: {reason}") or []
                why.append(f"{key} {reason}: {n:,}" + (f" (e.g. {', '.join(ex)})" if ex else ""))
        if a.sent.invalid_on_meta:
            why.append(f"Meta counted {a.sent.invalid_on_meta:,} invalid entries")
        if a.sent.resent:
            why.append(
                f"of the adds, {a.sent.resent:,} kept rows sent again after the removals (they share an identifier "
                "with a removed row, and Meta takes off the person a removal matches)"
            )
        why += [*read.notes, *a.notes]
        if why:
            details.append(f"  {label(a.name)}: " + "; ".join(why))
    if details:
        out += ["", "Details:"] + details
    matched = [line for a in r.audiences if (line := _match_line(a))]
    if matched:
        out += ["", "Match on Meta:"] + matched
    gated = [a for a in r.audiences if a.gates]
    if gated:
        out += ["", "Quality gates:"]
        for a in gated:
            out.append(f"  {label(a.name)}:")
            out += [f"    {_GATE_MARK.get(str(g.get('status')), '?')} {g.get('sentence')}" for g in a.gates]
    if r.ad_sets:
        out += ["", "Ad sets:"]
        for s in r.ad_sets:
            ch = "; ".join(f"{k} {', '.join(v)}" for k, v in s.changes.items() if v) or "no change"
            out.append(f"  {s.id} {s.name or ''}: {s.status} ({ch})" + (f" — {s.message}" if s.message else ""))
            out += [f"    {note}" for note in s.notes]
    if r.orphans:
        out += ["", "Audiences fbsync created that audiences.yaml no longer declares:"]
        out += [
            f"  {o.action}: {o.display_name or o.name} (Meta id {o.meta_id})" + (f" — {o.message}" if o.message else "")
            for o in r.orphans
        ]
        if any(o.action == "orphan" for o in r.orphans):
            out.append("  Run `fbsync sync --prune` to delete them (fbsync never deletes audiences it did not create).")
    return "\n".join(out)


def _pct(x: float) -> str:
    return f"{x * 100:.0f} %"


def _keys_text(keys: Mapping[str, Mapping[str, Any]], best: str | None) -> str:
    """``EMAIL on 98 % of rows, PHONE 61 %; EMAIL alone identifies 1,020 rows (adds the most matches)``"""
    if not keys:
        return ""
    shares = ", ".join(f"{k} {_pct(float(v.get('share') or 0))}" for k, v in keys.items())
    text = f"rows carrying each key: {shares}"
    alone = int((keys.get(best) or {}).get("alone") or 0) if best else 0
    if best and alone:
        text += f"; {best} alone identifies {alone:,} rows, the key that adds the most matches"
    return text


def _match_line(a: AudienceResult) -> str | None:
    """One audience's match on Meta after a run: the estimated rate (Meta's size over the people sent)
    and which keys the rows carry."""
    if a.status != "ok" or a.read is None or not a.read.carrying:
        return None
    rate = a.match_rate
    head = (
        f"Meta matched ≈ {_pct(sum(rate) / 2)} of {a.read.people:,} people"
        + (f" ({_pct(rate[0])}–{_pct(rate[1])})" if _pct(rate[0]) != _pct(rate[1]) else "")
        if rate
        else "Meta has not given a size yet (see `fbsync status` later)"
    )
    return f"  {label(a.name)}: {head}; {_keys_text(a.read.key_coverage(), a.read.best_key)}"


_TREND = {"up": "rising", "down": "falling", "steady": "steady"}


def render_status(rows: list[dict[str, Any]]) -> str:
    """The status table, the match rates (trend, keys), then one line per audience whose Meta operation
    status a person should know."""
    says = [f"  {_who(r)}: Meta says {r['operation']}" for r in rows if r.get("operation")]
    matches = []
    for r in rows:
        rate, keys = r.get("match_rate"), r.get("keys") or {}
        if rate is None and not keys:
            continue
        parts = [f"≈ {_pct(rate)}" if rate is not None else "no size from Meta"]
        history = r.get("match_history") or []
        if r.get("match_trend") and history:
            first = history[0]
            parts.append(f"{_TREND[r['match_trend']]} (was {_pct(first['rate'])} at run #{first['run_id']})")
        if keys:
            parts.append(_keys_text(keys, r.get("best_key")))
        matches.append(f"  {_who(r)}: " + "; ".join(parts))
    text = _status_table(rows)
    if matches:
        text += "\n\nMatch rates (Meta's size over the people last sent):\n" + "\n".join(matches)
    return text + ("\n\n" + "\n".join(says) if says else "")


def _status_table(rows: list[dict[str, Any]]) -> str:
    return table(
        ["audience", "Meta id", "size on Meta", "delivery", "last sync", "last result"],
        [
            [
                _who(r),
                r.get("meta_id") or "",
                r.get("size") or "",
                r.get("delivery") or "",
                (r.get("last_sync") or "")[:19],
                r.get("last_result") or "",
            ]
            for r in rows
        ],
    )


def render_history(runs: Sequence[RunRecord]) -> str:
    rows = []
    for r in runs:
        when = r.started_at.strftime("%Y-%m-%d %H:%M:%S") if r.started_at else ""
        if not r.audiences:
            rows.append([r.id, when, r.command, r.status, "", "", "", "", ""])
        for a in r.audiences:
            rows.append(
                [
                    r.id,
                    when,
                    r.command,
                    r.status,
                    a.audience,
                    a.rows_read,
                    a.rows_dropped,
                    f"+{a.rows_added:,} −{a.rows_removed:,}",
                    a.status,
                ]
            )
    if not rows:
        return "No runs yet: run `fbsync sync`."
    return table(
        ["run", "started (UTC)", "command", "run status", "audience", "read", "dropped", "sent", "result"], rows
    )


def _who(row: dict[str, Any]) -> str:
    """A status row's audience as people read it: ``vip``, or ``vip (act_…)`` on another ad account."""
    return label(str(row.get("slot") or row["name"]))
