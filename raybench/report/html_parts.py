"""The pieces :mod:`raybench.report.html` builds its page from: escaped text, number cells,
tables, embedded PNG images and the page's one inline style sheet.

Every function returns HTML text, and every string that comes from the results goes through
:func:`esc` on its way in, so a model name such as ``<script>`` is shown, never run.
"""

from __future__ import annotations

import base64
import html
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: What a missing value (None, NaN) looks like in a table.
MISSING = "–"

#: The page's whole style: system fonts (nothing to fetch), tables with right-aligned numbers.
CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328;
       margin: 0 auto; padding: 24px 32px 48px; max-width: 1200px; background: #fff; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 8px; padding-bottom: 4px; border-bottom: 1px solid #d0d7de; }
h3 { font-size: 15px; margin: 20px 0 6px; }
p.lead { color: #59636e; margin: 0 0 16px; }
nav { margin: 0 0 16px; font-size: 13px; }
nav a { margin-right: 14px; color: #0969da; text-decoration: none; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 4px 0 12px; font-size: 13px; }
caption { text-align: left; color: #59636e; padding: 0 0 4px; }
th, td { padding: 4px 7px; border-bottom: 1px solid #e6e9ed; vertical-align: top; }
th { background: #f6f8fa; text-align: left; font-weight: 600; vertical-align: bottom; }
th.num, td.num { text-align: right; }
td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:nth-child(even) td { background: #fbfcfd; }
tr.bad td { background: #fff5f5 !important; }
td.missing { color: #8c959f; }
table.meta th { background: none; width: 180px; }
.warnings { background: #fff8c5; border: 1px solid #d4a72c; border-radius: 6px; padding: 8px 16px;
            margin: 8px 0 16px; }
.warnings h2 { border: none; margin: 4px 0; font-size: 16px; }
.warnings ul { margin: 4px 0 8px; padding-left: 20px; }
.ok { background: #dafbe1; border: 1px solid #4ac26b; border-radius: 6px; padding: 8px 16px; margin: 8px 0 16px; }
.note { color: #59636e; font-style: italic; }
figure { margin: 12px 0 24px; }
figure img { max-width: 100%; height: auto; border: 1px solid #e6e9ed; }
figcaption { color: #59636e; font-size: 13px; }
details summary { cursor: pointer; margin: 6px 0; }
footer { margin-top: 40px; color: #8c959f; font-size: 12px; }
"""


def esc(value: object) -> str:
    """``value`` as text safe inside an element or a quoted attribute."""
    return html.escape(str(value), quote=True)


def number(value: object) -> str:
    """A number as table text: ints with thousands separators, floats to a precision that
    suits their size (12,346 / 385.1 / 5.13 / 0.0123), booleans as yes/no."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        size = abs(value)
        if size >= 1000:
            return f"{value:,.0f}"
        if size >= 100:
            return f"{value:.1f}"
        if size >= 1 or size == 0:
            return f"{value:.2f}"
        return f"{value:.3g}"
    return str(value)


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def with_values(columns: Sequence[Column], rows: Sequence[Mapping[str, Any]],
                keep: Sequence[Column] = ()) -> list[Column]:
    """``columns`` without those no row has a value in (a NeuronCores column of a CPU run only
    pushes the others off the screen), except the ones in ``keep``."""
    return [c for c in columns if c in keep or any(not _missing(row.get(c.key)) for row in rows)]


@dataclass(frozen=True)
class Column:
    """One table column: the row key, its header (units included), and whether it holds numbers
    (right-aligned)."""

    key: str
    header: str
    numeric: bool = True


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column], *, caption: str | None = None,
          bad: Sequence[bool] | None = None, table_id: str | None = None) -> str:
    """An HTML table of ``rows``, one cell per column; a missing value shows as :data:`MISSING`.

    Args:
        rows: The rows (dicts); a key a row lacks is missing.
        columns: What to show, in order.
        caption: A line above the table.
        bad: Per row, whether to highlight it (a failed config).
        table_id: The table's ``id``, for links and tests.
    """
    head = "".join(f'<th{_num_class(c)} scope="col">{esc(c.header)}</th>' for c in columns)
    body = []
    for index, row in enumerate(rows):
        cells = []
        for column in columns:
            value = row.get(column.key)
            if _missing(value):
                cells.append(f'<td class="missing{" num" if column.numeric else ""}">{MISSING}</td>')
            else:
                text = number(value) if column.numeric or isinstance(value, bool) else str(value)
                cells.append(f"<td{_num_class(column)}>{esc(text)}</td>")
        marked = ' class="bad"' if bad is not None and bad[index] else ""
        body.append(f"<tr{marked}>{''.join(cells)}</tr>")
    ident = f' id="{esc(table_id)}"' if table_id else ""
    top = f"<caption>{esc(caption)}</caption>" if caption else ""
    return (f'<div class="scroll"><table{ident}>{top}<thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _num_class(column: Column) -> str:
    return ' class="num"' if column.numeric else ""


def key_values(pairs: Sequence[tuple[str, object]], *, table_id: str | None = None) -> str:
    """A two-column table of label and value (values escaped; missing ones left out)."""
    rows = "".join(f'<tr><th scope="row">{esc(label)}</th><td>{esc(value)}</td></tr>'
                   for label, value in pairs if not _missing(value) and value != "")
    ident = f' id="{esc(table_id)}"' if table_id else ""
    return f'<table class="meta"{ident}><tbody>{rows}</tbody></table>'


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height of a PNG, from its header (the IHDR chunk always comes first)."""
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def image(png: bytes, alt: str, caption: str) -> str:
    """A figure holding ``png`` inline as a base64 data URI, so the page needs no other file;
    width and height are given so the page does not jump while it decodes."""
    width, height = png_size(png)
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{esc(alt)}" width="{width}" '
            f'height="{height}"><figcaption>{esc(caption)}</figcaption></figure>')


def page(title: str, body: str) -> str:
    """The whole document: UTF-8, the inline style sheet, and ``body``."""
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")
