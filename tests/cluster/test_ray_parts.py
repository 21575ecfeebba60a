"""The Ray executor's parts that need no Ray: the endpoint limiter service, program files, identity, executor choice.

Runs against: no model and no server (the code's own logic on hand-made inputs); no Ray.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

from codeclm.models.config import load_config
from codeclm.errors import ConfigError
from codeclm.run import run
from codeclm.cluster.limits import LimiterService
from codeclm.cluster.worker import Identity, ProgramFiles
from codeclm.programs import build_program

ROOT = Path(__file__).resolve().parents[2]


def program_config(tmp_path, *sets):
    return load_config(ROOT / "programs" / "self_instruct.yaml", [f"output={tmp_path}/out.jsonl", *sets])


def test_a_restarted_worker_gives_back_the_slots_its_dead_process_held():
    service = LimiterService(max_concurrency=1, rpm=None, tpm=None)
    assert service.acquire(("w1", "pid-a"), 0) > 0 and service.held() == 1
    granted = []
    other = threading.Thread(target=lambda: granted.append(service.acquire(("w2", "pid-x"), 0)))
    other.start()
    time.sleep(0.1)
    assert not granted  # the only slot is held by w1's process, which is about to die
    assert service.forget("w1", "pid-b") == 1  # w1 restarted as pid-b: pid-a's slot comes back
    other.join(2)
    assert granted and granted[0] > 0 and service.held() == 1


def test_a_slot_granted_to_a_process_that_died_while_waiting_is_not_kept():
    service = LimiterService(max_concurrency=1, rpm=None, tpm=None)
    service.forget("w1", "pid-b")
    assert service.acquire(("w1", "pid-a"), 0) == 0  # pid-a is an earlier incarnation: its grant is returned at once
    assert service.held() == 0
    first = service.acquire(("w1", "pid-b"), 0)
    service.release(first)
    assert service.held() == 0
    service.forget("w2", None)  # a worker gone for good
    assert service.acquire(("w2", "pid-z"), 0) == 0


def test_program_files_travel_as_bytes_and_open_the_same_program(tmp_path):
    config = program_config(tmp_path)
    files = ProgramFiles.of(config, None)
    assert "respond.jinja" in files.prompts and files.size > 0
    moved, tuned = files.write(config, tmp_path / "worker")
    assert tuned is None and Path(moved.prompts).parent == tmp_path / "worker"
    assert build_program(moved).templates == build_program(config).templates


def test_identity_names_what_differs():
    driver = Identity({"respond": "a", "judge": "b"}, None, {"dspy": "3.4.1"}, {"strong": "m@x"})
    worker = Identity({"respond": "a", "judge": "c"}, "t", {"dspy": "3.4.0"}, {"strong": "m@y"})
    assert driver.differences(worker) == ["template judge", "tuned program file", "dspy 3.4.1 vs 3.4.0", "models.strong m@x vs m@y"]
    assert driver.differences(driver) == []
    assert Identity({}, None, {}, None).differences(Identity({}, None, {}, {"strong": "m"})) == []  # models not compared


def test_executor_choice_is_checked_before_anything_starts(tmp_path, monkeypatch):
    config = program_config(tmp_path)
    with pytest.raises(ConfigError, match="--address auto: only --executor ray joins a cluster"):
        run(config, address="auto")
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    with pytest.raises(ConfigError, match=r"^--executor ray needs Ray, which is not installed: pip install 'codeclm\[ray\]'$"):
        run(config, executor="ray")
    assert not (tmp_path / "out.jsonl").exists()  # refused before anything was written


def test_ray_refuses_lms_from_python_and_unserved_local_models(tmp_path):
    pytest.importorskip("ray", reason="the ray extra is not installed")
    config = program_config(tmp_path, "models.strong={model: m, api_base: 'http://127.0.0.1:9/v1'}",
                            "models.target={model: m, api_base: 'http://127.0.0.1:9/v1'}")
    with pytest.raises(ConfigError, match="each worker opens the YAML's models itself"):
        run(config, executor="ray", lms={"strong": object()})
    local = program_config(tmp_path, "models.strong={local: smollm2-135m-instruct}")
    with pytest.raises(ConfigError, match=r"models.strong: local:smollm2-135m-instruct under --executor ray: start it first with "
                                          r"`codeclm serve smollm2-135m-instruct`"):
        run(local, executor="ray")


def test_an_address_where_nothing_listens_is_refused_at_once():
    import socket

    from codeclm.cluster.connect import check_reachable

    with pytest.raises(ConfigError, match=r"^--address 127.0.0.1:1: no Ray cluster answers there"):
        check_reachable("127.0.0.1:1")
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        check_reachable(f"127.0.0.1:{listening.getsockname()[1]}")
    for left_to_ray in (None, "auto", "ray://head:10001"):
        check_reachable(left_to_ray)
