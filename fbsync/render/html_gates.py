"""The HTML report's tables beside the charts: the data-quality gates (each gate's figure over the last runs,
so a drift shows before a gate fails, with its threshold) and the identifiers the rows sent carry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..quality import percent
from .charts import e
from .history import AudienceSeries, Point


def gates_table(s: AudienceSeries, fi: Callable[[Any], str], last: int = 8) -> str:
    """The quality gates of the last runs, figure by figure, so a drift shows before a gate fails."""
    pts = [p for p in s.points if p.gates][-last:]
    if not pts:
        return ""
    names = list(dict.fromkeys(str(g["name"]) for p in pts for g in p.gates))
    head = "".join(f'<th scope="col" class="num">#{p.run_id}</th>' for p in pts)
    body = []
    for name in names:
        cells, threshold = [], ""
        for p in pts:
            g = next((g for g in p.gates if g.get("name") == name), None)
            if g is None:
                cells.append('<td class="num">–</td>')
                continue
            threshold = _gate_figure(name, g.get("threshold"), fi)
            mark = {"failed": " ✗", "warning": " ⚠"}.get(str(g.get("status")), "")
            title = e(str(g.get("sentence") or ""))
            cells.append(f'<td class="num" title="{title}">{_gate_figure(name, g.get("measured"), fi)}{mark}</td>')
        body.append(f'<tr><th scope="row">{e(name)}</th>{"".join(cells)}<td class="num">{threshold}</td></tr>')
    return (
        '<div class="scroll"><table class="drops"><caption>Quality gates: measured in the last '
        f'{fi(len(pts))} runs (✗ failed, ⚠ warning)</caption><thead><tr><th scope="col">Gate</th>{head}'
        f'<th scope="col" class="num">Threshold</th></tr></thead><tbody>{"".join(body)}</tbody></table></div>'
    )


def _gate_figure(name: str, value: Any, fi: Callable[[Any], str]) -> str:
    if not isinstance(value, (int, float)):
        return "–"
    return fi(value) if name in ("min_rows", "max_rows") else e(percent(float(value)))


def keys_table(p: Point, fi: Callable[[Any], str], fp: Callable[..., str]) -> str:
    """Which identifiers the rows of run ``p`` carry: rows and share per key, and the rows a key alone
    identifies (without it they could not match); the key that alone identifies the most is marked."""
    if not p.keys:
        return ""
    best = max(p.keys, key=lambda k: (p.keys[k].get("alone", 0), p.keys[k]["rows"]))
    body = "".join(
        f'<tr><th scope="row">{e(k)}{" ★" if k == best else ""}</th><td class="num">{fi(int(v["rows"]))}</td>'
        f'<td class="num">{fp(v.get("share", 0.0))}</td><td class="num">{fi(int(v.get("alone", 0)))}</td></tr>'
        for k, v in p.keys.items()
    )
    return (
        '<div class="scroll"><table class="keys"><caption>Identifiers on the rows sent in run '
        f"#{p.run_id}; ★ the key that adds the most matches (it alone identifies the most rows)</caption>"
        '<thead><tr><th scope="col">Key</th><th scope="col" class="num">Rows carrying it</th>'
        '<th scope="col" class="num">Share</th><th scope="col" class="num">Only identifier</th>'
        f"</tr></thead><tbody>{body}</tbody></table></div>"
    )
