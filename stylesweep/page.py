"""The sweep's summary as HTML: a page of its own, and the table the report's first page shows."""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Sequence
from pathlib import Path

# Sorts the clicked header's column, numbers as numbers, again to reverse. It is an onclick
# attribute, not a <script>: the report puts its first page in with innerHTML, which runs no
# script elements but does run event attributes.
_SORT = (
    "const th=this,body=th.closest('table').tBodies[0],col=th.cellIndex,"
    "up=th.dataset.order!=='up';"
    "th.parentNode.querySelectorAll('th').forEach(h=>delete h.dataset.order);"
    "th.dataset.order=up?'up':'down';"
    "Array.from(body.rows).sort((a,b)=>{const x=a.cells[col].textContent,"
    "y=b.cells[col].textContent,nx=parseFloat(x),ny=parseFloat(y),"
    "d=isNaN(nx)||isNaN(ny)?x.localeCompare(y):nx-ny;return up?d:-d})"
    ".forEach(r=>body.appendChild(r))"
)

# Scoped to the table, so that it styles nothing else of the report it sits in.
_TABLE_STYLE = (
    "table.sweep-summary{border-collapse:collapse;font-size:12px}"
    "table.sweep-summary th,table.sweep-summary td{border:1px solid #ccc;padding:2px 6px;"
    "text-align:right}"
    "table.sweep-summary th{cursor:pointer;background:#eee;position:sticky;top:0}"
    "table.sweep-summary th[data-order=up]::after{content:' \\25B2'}"
    "table.sweep-summary th[data-order=down]::after{content:' \\25BC'}"
    "table.sweep-summary tr.pick td{background:#fde0e0}"
)


def summary_table(tsv: str) -> str:
    """The summary TSV as an HTML table, sorted by clicking a header; rank-1 rows shaded.

    A fragment with its own style, to stand in a page or in the report's first page.
    """
    lines = tsv.rstrip("\n").split("\n")
    names = lines[0].split("\t")
    rank = names.index("rank") if "rank" in names else None
    sort = html.escape(_SORT, quote=True)
    # In a scrolling box: a sweep of many options is wider than the report's column.
    parts = [f"<style>{_TABLE_STYLE}</style><div style='overflow-x:auto'>"]
    parts.append("<table class='sweep-summary'><thead><tr>")
    parts += [f'<th onclick="{sort}">{html.escape(n)}</th>' for n in names]
    parts.append("</tr></thead><tbody>")
    for line in lines[1:]:
        cells = line.split("\t")
        pick = rank is not None and cells[rank] == "1"
        parts.append("<tr class='pick'>" if pick else "<tr>")
        parts += [f"<td>{html.escape(c)}</td>" for c in cells]
        parts.append("</tr>")
    parts.append("</tbody></table></div>\n")
    return "".join(parts)


def summary_body(
    tsv: str, figures: Sequence[tuple[str, str | os.PathLike[str]]], *, note: str = ""
) -> str:
    """The summary's content without a page around it: `note`, the PNGs of `figures`
    ((caption, path), embedded as data URIs, so that it stands wherever it is put), then the
    summary table (`summary_table`)."""
    parts = [f"<p>{html.escape(note)}</p>"] if note else []
    for caption, path in figures:
        data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        parts.append(
            f"<h2>{html.escape(caption)}</h2>"
            f"<img style='max-width:100%' src='data:image/png;base64,{data}'>"
        )
    parts.append("<h2>Every run</h2><p>Click a column's header to sort by it, again to reverse; "
                 "the picks (rank 1) are shaded.</p>")  # fmt: skip
    parts.append(summary_table(tsv))
    return "".join(parts)


def summary_html(
    tsv: str,
    figures: Sequence[tuple[str, str | os.PathLike[str]]],
    *,
    title: str,
    note: str = "",
) -> str:
    """A self-contained page: its title, then `summary_body`."""
    return (
        f"<!DOCTYPE html><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;font-size:13px}</style>"
        f"<h1>{html.escape(title)}</h1>" + summary_body(tsv, figures, note=note)
    )
