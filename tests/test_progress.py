"""Stage progress in logs (no terminal): counts, and a batch's status when it changes, not at every poll.

Runs against: no model and no server (the code's own logic on hand-made inputs).
"""

import io

from rich.console import Console

from codeclm.progress import StageProgress


def test_batch_status_lines_in_logs_print_when_the_status_changes_not_when_counts_do():
    out = io.StringIO()
    progress = StageProgress(Console(file=out, force_terminal=False, width=200))
    progress.start("filter", 3)
    for text in ["openai batch b1 in_progress (completed 1 total 3)", "openai batch b1 in_progress (completed 2 total 3)",
                 "openai batch b1 completed (completed 3 total 3)", ""]:
        progress.status("filter", text)
    assert out.getvalue().splitlines() == ["filter: 3 items", "filter: openai batch b1 in_progress (completed 1 total 3)",
                                           "filter: openai batch b1 completed (completed 3 total 3)"]
