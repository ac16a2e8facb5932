"""The HTML report's style sheet and content security policy (inline: the page fetches nothing)."""

CSS = """
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--bg:#fff;--soft:#f6f8fa;--add:#1a7f37;--rem:#cf222e;
--rep:#8250df;--lo:#0969da;--hi:#0550ae;--band:#54aeff;--drop:#bc4c00}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;print-color-adjust:exact;-webkit-print-color-adjust:exact}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Liberation Sans",Arial,sans-serif;
color:var(--fg);background:var(--bg)}
main,header.page,footer{max-width:1100px;margin:0 auto;padding:0 16px}
header.page{padding-top:20px;border-bottom:1px solid var(--line)}
h1{font-size:1.7rem;margin:0 0 8px}
h2{font-size:1.35rem;margin:32px 0 4px;padding-top:8px;border-top:2px solid var(--line)}
h3{font-size:1.05rem;margin:20px 0 6px}
.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0 0 14px}
.meta dt{color:var(--muted)}.meta dd{margin:0;font-variant-numeric:tabular-nums}
code{font:0.92em ui-monospace,"Liberation Mono",Menlo,Consolas,monospace}
nav ul{padding-left:20px;margin:4px 0 12px}
.sub{color:var(--muted);margin:0 0 8px}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;margin:6px 0 12px}
table{border-collapse:collapse;width:100%;font-size:0.92rem}
caption{text-align:left;font-weight:600;padding:4px 0;color:var(--muted)}
th,td{border-bottom:1px solid var(--line);padding:5px 8px;vertical-align:top;text-align:left}
thead th{background:var(--soft);border-bottom:2px solid var(--line);white-space:nowrap}
tbody th{font-weight:600}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,420px),1fr));gap:0 28px}
.panel{min-width:0;break-inside:avoid;page-break-inside:avoid}
figure{margin:6px 0 14px;break-inside:avoid;page-break-inside:avoid}
figcaption{color:var(--muted);font-size:0.9rem;margin-top:2px}
svg.chart{display:block;width:100%;height:auto;border:1px solid var(--line);border-radius:6px;
background:#fff;font-family:system-ui,"Liberation Sans",Arial,sans-serif}
.grid{stroke:#e6eaef;stroke-width:1}.zero{stroke:#59636e;stroke-width:1.2}.ref{stroke:#59636e;stroke-dasharray:4 3}
.yl,.xl,.lg,.hl,.hv,.axt{font-size:13px;fill:#3d444d}.axt{fill:#59636e}.hl{font-size:13px}
.mark{font-size:13px;font-weight:700;fill:var(--rep)}.mark-in{fill:#fff}
.band,.sw-band{fill:var(--band);fill-opacity:.3;stroke:none}
.line-lower{fill:none;stroke:var(--lo);stroke-width:2}
.line-upper{fill:none;stroke:var(--hi);stroke-width:1.5;stroke-dasharray:5 3}
.pt-lower,.sw-lower{fill:var(--lo)}.pt-upper,.sw-upper{fill:#fff;stroke:var(--hi);stroke-width:1.5}
.sw-upper{fill:var(--hi)}
.bar-add,.sw-add{fill:var(--add)}.bar-remove,.sw-remove{fill:var(--rem)}
.bar-replace,.sw-replace{fill:var(--rep)}.bar-drop{fill:var(--drop)}
.badge{display:inline-block;padding:0 7px;border-radius:10px;font-size:0.82rem;font-weight:600;
border:1px solid currentColor;white-space:nowrap}
.st-ok{color:var(--add)}.st-failed,.st-refused,.st-interrupted{color:var(--rem)}
.st-partial,.st-running,.st-skipped{color:#9a6700}
.estimate{background:#fff8c5;border:1px solid #d4a72c;border-radius:6px;padding:8px 12px;margin:8px 0}
.big{font-size:1.25rem;font-weight:700;font-variant-numeric:tabular-nums}
ul.counts{list-style:none;margin:0;padding:0}ul.counts li{margin-bottom:2px}.nw{white-space:nowrap}
.msg{max-width:28em;overflow-wrap:anywhere}
table.runs td.when{min-width:8em}table.runs ul.counts{min-width:16em}
.empty{font-size:1.2rem;padding:40px 0}
footer{color:var(--muted);font-size:0.85rem;padding-top:16px;padding-bottom:24px}
@media (max-width:640px){body{font-size:14px}h1{font-size:1.35rem}h2{font-size:1.15rem}
th,td{padding:4px 5px}.meta{grid-template-columns:1fr}.meta dt{margin-top:4px}}
@media print{body{font-size:10.5pt}nav{display:none}a{color:inherit;text-decoration:none}
h2{break-before:page;page-break-before:always}section.audience:first-of-type h2{break-before:auto}
h2,h3{break-after:avoid}tr{break-inside:avoid}.scroll{overflow:visible}svg.chart{max-width:100%}}
"""

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
