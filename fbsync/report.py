"""Render results for people: the sync summary, status and history tables. No logic."""

from __future__ import annotations

from typing import Any, Sequence

from .sync import AudienceReport, RunReport


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


def _size(a: AudienceReport) -> str:
    if a.size_lower is None:
        return ""
    if a.size_upper is None or a.size_upper == a.size_lower:
        return f"{a.size_lower:,}"
    return f"{a.size_lower:,}–{a.size_upper:,}"


def _sent(a: AudienceReport) -> str:
    if a.strategy == "replace" and (a.replaced or a.status == "planned"):
        return f"replace {a.replaced:,}"
    return f"+{a.added:,} −{a.removed:,}"


LEFT_OUT = (  # AudienceReport counter -> how the details line names it
    ("rows_no_consent", "without consent"),
    ("rows_suppressed", "suppressed (opt-out or forgotten)"),
    ("rows_excluded", "excluded (in an `exclude` audience)"),
    ("rows_not_intersecting", "outside an `intersect` audience"),
    ("rows_dropped", "with no usable identifier"),
    ("rows_duplicate", "duplicates merged"),
)


def render_run(r: RunReport) -> str:
    title = "Plan (nothing sent)" if r.dry_run else f"{r.command.capitalize()} run {r.run_id}"
    rows = []
    for a in r.audiences:
        rows.append([a.name, a.meta_id or "", a.action, f"{a.rows_read:,}", f"{a.rows_left_out:,}", _sent(a), _size(a),
                     a.status])
    out = [title, table(["audience", "Meta id", "action", "read", "dropped", "sent", "size on Meta", "status"],
                        rows)]
    details = []
    for a in r.audiences:
        why = [f"{getattr(a, f):,} {label}" for f, label in LEFT_OUT if getattr(a, f)]
        for key, reasons in a.drops.items():
            for reason, n in reasons.items():
                ex = a.examples.get(f"{key}: {reason}") or []
                why.append(f"{key} {reason}: {n:,}" + (f" (e.g. {', '.join(ex)})" if ex else ""))
        if a.invalid_on_meta:
            why.append(f"Meta counted {a.invalid_on_meta:,} invalid entries")
        why += a.notes
        if why:
            details.append(f"  {a.name}: " + "; ".join(why))
    if details:
        out += ["", "Details:"] + details
    if r.ad_sets:
        out += ["", "Ad sets:"]
        for a in r.ad_sets:
            ch = "; ".join(f"{k} {', '.join(v)}" for k, v in a.get("changes", {}).items() if v) or "no change"
            out.append(f"  {a['id']} {a.get('name') or ''}: {a['status']} ({ch})"
                       + (f" — {a['message']}" if a.get("message") else ""))
    if r.orphans:
        out += ["", "Audiences fbsync created that audiences.yaml no longer declares:"]
        out += [f"  {o['action']}: {o.get('display_name') or o['name']} (Meta id {o['meta_id']})"
                + (f" — {o['message']}" if o.get("message") else "") for o in r.orphans]
        if any(o["action"] == "orphan" for o in r.orphans):
            out.append("  Run `fbsync sync --prune` to delete them (fbsync never deletes audiences it did not create).")
    return "\n".join(out)


def render_status(rows: list[dict[str, Any]]) -> str:
    return table(["audience", "Meta id", "size on Meta", "delivery", "last sync", "last result"],
                 [[r["name"], r.get("meta_id") or "", r.get("size") or "", r.get("delivery") or "",
                   (r.get("last_sync") or "")[:19], r.get("last_result") or ""] for r in rows])


def render_history(runs: list[dict[str, Any]]) -> str:
    rows = []
    for r in runs:
        for a in r["audiences"] or [{}]:
            rows.append([r["id"], str(r["started_at"])[:19], r["command"], r["status"], a.get("audience", ""),
                         a.get("rows_read", ""), a.get("rows_dropped", ""),
                         f"+{a.get('rows_added', 0):,} −{a.get('rows_removed', 0):,}" if a else "",
                         a.get("status", "")])
    if not rows:
        return "No runs yet: run `fbsync sync`."
    return table(["run", "started (UTC)", "command", "run status", "audience", "read", "dropped", "sent",
                  "result"], rows)
