"""records: N that cannot be reached: the run stops in bounded rounds, keeps what it has, and says why in one line,
naming each cell below its quota with its kept / asked / yield (summary, manifest, and the command's last line).

Runs against: fake LMs (tests/fakes.py ScriptedLM: scripted answers per step), no server.
"""

import json
import threading

from fakes import ScriptedLM, field_value
from pipeline_scripts import harder_wins, strong_script
from test_quota import config_for, rows, target_lm

import codeclm.programs.quota as quota_module
from codeclm.cli import main
from codeclm.plan import quota_rows
from codeclm.run import manifest_path, run

# The fake strong LM encodes the two seeds as two use cases with skills {planning, python}: the metadata space is
# 2 use cases x 3 skill sets = 6 metadata, 2 instructions each, 12 instructions in all.
METADATA_SPACE = 6


def travel_never_harder(messages):
    """Travel-planning instructions come back too easy however hard they are made; the others as `harder_wins`."""
    if "travel planning" in field_value(messages, "instruction"):
        return {"score_1": 7, "score_2": 7, "explanation": "same"}
    return harder_wins(messages)


def run_within(seconds, config, out, strong):
    """The run's summary; fails (instead of hanging the suite) if it has not returned after `seconds`."""
    result = {}
    worker = threading.Thread(target=lambda: result.update(summary=run(config, output=str(out), lms={"strong": strong, "target": target_lm()})),
                              daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"records: N run still going after {seconds} s"
    return result["summary"]


def test_a_use_case_that_always_comes_back_too_easy_falls_short_and_is_named(root, tmp_path):
    out, strong = tmp_path / "data.jsonl", ScriptedLM(strong_script(travel_never_harder))
    summary = run_within(60, config_for(root, tmp_path, "records=4", "per_use_case=2"), out, strong)
    quota = summary["quota"]
    assert summary["kept"] == len(rows(out)) == quota["kept"] == 2  # what it could keep is kept
    assert {r["metadata"]["use_case"] for r in rows(out)} == {"code generation"}
    assert quota["short_by"] == 2 and quota["stopped_because"] == "metadata"
    # bounded: every travel-planning metadata decoded once (3 of them, 2 instructions each), none twice
    assert strong.steps().count("decode") == quota["rounds_metadata"] <= METADATA_SPACE
    assert quota["rounds"] <= METADATA_SPACE
    travel = {"kept": 0, "asked": 6, "yield": 0.0, "quota": 2}
    assert quota["short_cells"] == {"use case: travel planning": travel}
    assert quota["short"] == ("short by 2 (2 of 4 kept from 8 instructions): every combination of the 2 use cases and "
                              "2 skills with room left was decoded; add seeds with other use cases and skills; below quota: "
                              "use case: travel planning kept 0/2 of 6 asked")
    manifest = json.loads(manifest_path(out).read_text())
    assert manifest["quota"]["short_cells"] == quota["short_cells"] and manifest["quota"]["short"] == quota["short"]


def test_fewer_use_cases_than_n_needs_stop_once_every_use_case_is_full(root, tmp_path):
    out, strong = tmp_path / "data.jsonl", ScriptedLM(strong_script(harder_wins))
    summary = run_within(60, config_for(root, tmp_path, "records=10", "per_use_case=2"), out, strong)
    quota = summary["quota"]
    assert len(rows(out)) == quota["kept"] == 4 and quota["short_by"] == 6
    assert quota["stopped_because"] == "quotas" and quota["short_cells"] == {}
    assert quota["short"] == ("short by 6 (4 of 10 kept from 4 instructions): all 2 use cases at per_use_case 2 "
                              "(2 x 2 = 4 < 10); raise the quota or add seeds with other use cases and skills")
    # nothing is decoded once no use case has room: fewer than the whole metadata space
    assert strong.steps().count("decode") < METADATA_SPACE


def test_records_beyond_the_metadata_space_keep_everything_and_say_so(root, tmp_path):
    out, strong = tmp_path / "data.jsonl", ScriptedLM(strong_script(harder_wins))
    summary = run_within(60, config_for(root, tmp_path, "records=20"), out, strong)
    quota = summary["quota"]
    assert len(rows(out)) == quota["kept"] == 2 * METADATA_SPACE and quota["short_by"] == 20 - 2 * METADATA_SPACE
    assert strong.steps().count("decode") == METADATA_SPACE  # every metadata once, then it stops
    assert quota["stopped_because"] == "metadata" and quota["short_cells"] == {}
    assert quota["short"] == ("short by 8 (12 of 20 kept from 12 instructions): every combination of the 2 use cases "
                              "and 2 skills was decoded; add seeds with other use cases and skills")


def test_the_round_limit_stops_a_run_and_says_rerun(root, tmp_path, monkeypatch):
    monkeypatch.setattr(quota_module, "MAX_ROUNDS", 1)
    out, strong = tmp_path / "data.jsonl", ScriptedLM(strong_script(harder_wins))
    quota = run_within(60, config_for(root, tmp_path, "records=20"), out, strong)["quota"]
    assert quota["rounds"] == 1 and quota["stopped_because"] == "rounds"
    assert quota["short"].endswith("stopped after 1 rounds; rerun the same command to go on")
    assert 0 < len(rows(out)) == quota["kept"] < 20


def test_the_command_ends_with_the_shortfall_line_and_lists_short_cells_first(root, tmp_path, monkeypatch, capsys):
    import sys

    out, strong = tmp_path / "data.jsonl", ScriptedLM(strong_script(travel_never_harder))
    config = config_for(root, tmp_path, "records=4", "per_use_case=2")
    monkeypatch.setattr(sys.modules["codeclm.run"], "run_file", lambda *a, **k: run(config, output=str(out), lms={"strong": strong, "target": target_lm()}))
    assert main(["run", str(root / "programs" / "codeclm.yaml")]) == 0  # the run finished: what it could keep is kept
    err = capsys.readouterr().err
    lines = [line.strip() for line in err.splitlines() if line.strip()]
    assert lines[-1].startswith("records: short by 2 (2 of 4 kept from 8 instructions)")
    rows_shown = quota_rows(json.loads(manifest_path(out).read_text()))  # the summary table's rows
    assert rows_shown[0][1].endswith("kept, 8 instructions asked (yield 0.25); short by 2")
    assert rows_shown[1] == ("  use case: travel planning", "kept 0 / asked 6 (yield 0.00), below its quota of 2")
