"""Stage progress in logs (no terminal): counts, and a batch's status when it changes, not at every poll.

Runs against: no model and no server (the code's own logic on hand-made inputs).
"""

import io

from rich.console import Console

from codeclm.console.progress import StageProgress


def test_batch_status_lines_in_logs_print_when_the_status_changes_not_when_counts_do():
    out = io.StringIO()
    progress = StageProgress(Console(file=out, force_terminal=False, width=200))
    progress.start("filter", 3)
    for text in ["openai batch b1 in_progress (completed 1 total 3)", "openai batch b1 in_progress (completed 2 total 3)",
                 "openai batch b1 completed (completed 3 total 3)", ""]:
        progress.status("filter", text)
    assert out.getvalue().splitlines() == ["filter: 3 items", "filter: openai batch b1 in_progress (completed 1 total 3)",
                                           "filter: openai batch b1 completed (completed 3 total 3)"]


def test_byte_progress_draws_a_bar_on_a_terminal():
    import io

    from rich.console import Console

    from codeclm.console.progress import byte_progress

    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    with byte_progress("assembling model", 4_000_000, console) as advance:
        for _ in range(4):
            advance(1_000_000)
    text = out.getvalue()
    assert "assembling model" in text and "4.0/4.0 MB" in text
