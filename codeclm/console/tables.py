"""Tables that stay readable where they are printed: rich's table on a terminal (fitted to its width), and
one `column: value` line per cell elsewhere (a pipe, a log file, CI), where rich would squeeze a wide
table into 80 columns and wrap every cell over many lines."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text


def print_table(console: Console, table: Table) -> None:
    """`table` on `console`: as drawn on a terminal; elsewhere each row as a block of `column: value` lines."""
    if console.is_terminal:
        console.print(table)
        return
    if table.title:
        console.print(Text(str(table.title)), soft_wrap=True)
    headers = [Text.from_markup(c.header).plain if isinstance(c.header, str) else str(c.header) for c in table.columns]
    for row in zip(*(list(c.cells) for c in table.columns)):
        cells = [Text.from_markup(v).plain if isinstance(v, str) else str(v) for v in row]
        if table.show_header and headers[0].strip():  # one record per row: a block of `column: value` lines
            lines = [f"  {h}: {v}" for h, v in zip(headers, cells)] + [""]
        elif table.show_header and len(headers) > 2:  # row labels, one value column per named thing
            lines = [f"  {cells[0]}: " + "; ".join(f"{h} {v}" for h, v in zip(headers[1:], cells[1:]))]
        else:  # a key/value table
            lines = [f"  {cells[0]}: {' '.join(cells[1:])}"]
        for line in lines:
            console.print(Text(line), soft_wrap=True)
