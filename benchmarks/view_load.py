"""`codeclm view` on a large output: load time and memory, server and browser (headless Chromium).

Generates N valid records (default 100,000; 80% kept, 20% dropped) shaped like the local default's
(a ~130-character instruction, a ~1,500-character strong answer, a target-loss verdict with its
packed per-token losses, 1-3 Self-Rubrics iterations, 300 use cases x 400 skills), then measures:

  server   reading and checking the files, building the page's data (one process, peak RSS)
  browser  from navigation to the table drawn (fetch + JSON.parse + index + first page), repeated;
           the page's JS heap and the Chromium processes' PSS; then, on the loaded page, the time of
           a filter, a search, a sort by gap, a page flip and opening one item's story
  html     --html of the first `--html-n` items: file size, write time, browser load

    python benchmarks/view_load.py --n 100000 --repeats 3 --save benchmarks/results/view_load_DATE
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORDS = ("the a of to and in is for that with on as by this be are from or an it at which data model use when "
         "function value list string python email budget plan write explain compare reason steps because "
         "example result first second then however therefore each time user customer report summary").split()


def sentence(rng: random.Random, chars: int) -> str:
    words, size = [], 0
    while size < chars:
        w = rng.choice(WORDS)
        words.append(w)
        size += len(w) + 1
    return " ".join(words).capitalize() + "."


def generate(folder: Path, n: int, seed: int = 0) -> Path:
    """N items in folder/big.jsonl (kept) and big.dropped.jsonl; valid codeclm records."""
    from codeclm.judging.token_losses import pack

    rng = random.Random(seed)
    uses = [f"use case {k}" for k in range(300)]
    skills = [f"skill {k}" for k in range(400)]
    kept_out = (folder / "big.jsonl").open("w")
    dropped_out = (folder / "big.dropped.jsonl").open("w")
    for i in range(n):
        metadata = {"use_case": rng.choice(uses), "skills": rng.sample(skills, rng.randint(1, 3))}
        iterations = rng.choice((1, 1, 1, 2, 3))
        instruction = sentence(rng, 130)
        history = [{"iteration": k, "instruction": instruction, "action": None if k == 1 else sentence(rng, 60),
                    "rubric": None if k == 1 else sentence(rng, 40), "gap": round(rng.uniform(0, 3), 4),
                    "decision": "too easy"} for k in range(1, iterations + 1)]
        mid = f"m{i:09x}-i{rng.getrandbits(32):08x}"
        origin = rng.choice(("enlarged", f"encoded:s{rng.getrandbits(40):010x}"))
        if i % 5:
            answer = sentence(rng, 1500)
            offsets = list(range(0, len(answer), 5))
            gap = history[-1]["gap"]
            row = {"id": mid, "instruction": instruction, "response": answer, "response_source": "strong",
                   "response_model": "openai/qwen2.5-coder-1.5b-instruct", "metadata": metadata, "metadata_origin": origin,
                   "iteration": iterations, "actions": [h["action"] for h in history[1:]], "strong_response": answer,
                   "target_response": None,
                   "answers": {"strong": {"finish_reason": "stop", "completion_tokens": len(offsets), "max_tokens": 384, "guard": "ok"}},
                   "judge": {"scheme": "target-loss", "orders": [{"order": "target-loss", "strong": gap, "target": 0.0,
                             "raw": "n of m answer tokens", "tokens": pack([(-rng.uniform(0, 6), o) for o in offsets])}],
                             "strong": gap, "target": 0.0, "gap": gap, "orders_agree": True, "scale": "nats"},
                   "gap": gap, "theta": 1.0, "decision": f"gap +{gap:.2f} > theta 1.0", "history": history,
                   "models": {"strong": "openai/qwen2.5-coder-1.5b-instruct", "target": "openai/smollm2-135m-instruct",
                              "judge": "openai/smollm2-135m-instruct"},
                   "templates": {"respond": "0" * 64}, "program": "codeclm"}
            kept_out.write(json.dumps(row) + "\n")
        else:
            row = {"id": mid, "stage": "filter", "reason": "|gap| <= theta 1.0 after 3 iterations", "kind": "filtered",
                   "instruction": instruction, "metadata": metadata, "metadata_origin": origin, "iteration": iterations,
                   "history": history, "program": "codeclm"}
            dropped_out.write(json.dumps(row) + "\n")
    kept_out.close()
    dropped_out.close()
    return folder / "big.jsonl"


SERVER_PROBE = """
import json, resource, sys, time
t0 = time.perf_counter()
from codeclm.view import open_runs
from codeclm.view.page import payload, to_json
t = time.perf_counter()
runs = open_runs([sys.argv[1]])
read = time.perf_counter() - t
body = to_json(payload(runs))
print(json.dumps({"import_s": t - t0, "read_s": read, "total_s": time.perf_counter() - t, "data_mb": len(body.encode()) / 1e6,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def server_side(path: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", SERVER_PROBE, str(path)], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    return json.loads(out.stdout.strip().splitlines()[-1])


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in children.get(p, []):
            found.append(c)
            todo.append(c)
    return found


def pss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000",
                "--enable-precise-memory-info"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)


def wait_ready(driver, timeout: float = 300) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if driver.execute_script("return document.body && document.body.dataset.ready === '1'"):
            return
        error = driver.execute_script("return document.body && document.body.dataset.error")
        if error:
            raise RuntimeError(error)
        time.sleep(0.05)
    raise TimeoutError("page not ready")


READY_MS = "return performance.now()"  # ms since navigation started, read right after ready is seen
TIMED = """
const t0 = performance.now();
%s
return performance.now() - t0;
"""


def browser_side(url: str, repeats: int) -> dict:
    driver = browser()
    try:
        loads, heaps = [], []
        for _ in range(repeats):
            driver.get("about:blank")
            start = time.perf_counter()
            driver.get(url)
            wait_ready(driver)
            loads.append(time.perf_counter() - start)
            heaps.append(driver.execute_script("return performance.memory.usedJSHeapSize") / 1e6)
        pss = pss_mb(descendants(driver.service.process.pid))
        rows = driver.execute_script("return window.codeclmView.rows")
        actions = {
            "filter by use case": "const s = document.getElementById('f-use_case'); s.selectedIndex = 1; s.dispatchEvent(new Event('change'));",
            "clear": "document.getElementById('clear').click();",
            "search 'python budget'": "const q = document.getElementById('search'); q.value = 'python budget'; q.dispatchEvent(new Event('input'));",
            "clear again": "document.getElementById('clear').click();",
            "sort by gap": "document.getElementById('sort-gap').click();",
            "next page": "document.getElementById('next').click();",
        }
        timed = {name: driver.execute_script(TIMED % js) for name, js in actions.items()}
        start = time.perf_counter()
        driver.find_element("css selector", "#items tbody tr").click()
        while not driver.execute_script("return !!document.querySelector('#view-story .story')"):
            time.sleep(0.01)
        timed["open a story (incl. fetch)"] = (time.perf_counter() - start) * 1000
        return {"rows": rows, "load_s": loads, "js_heap_mb": heaps, "chromium_pss_mb": pss, "actions_ms": timed}
    finally:
        driver.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--html-n", type=int, default=10_000, help="items in the --html measurement (0: skip)")
    parser.add_argument("--save", help="write PREFIX.txt and PREFIX.json")
    args = parser.parse_args()

    from codeclm.view import open_runs, write_html
    from codeclm.view.page import payload
    from codeclm.view.server import make_server

    folder = Path(tempfile.mkdtemp(prefix="codeclm-view-bench-"))
    try:
        t = time.perf_counter()
        path = generate(folder, args.n)
        size = (path.stat().st_size + path.with_name("big.dropped.jsonl").stat().st_size) / 1e6
        result = {"n": args.n, "files_mb": round(size, 1), "generate_s": round(time.perf_counter() - t, 1),
                  "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
                  "chromium": subprocess.run(["chromium", "--version"], capture_output=True, text=True).stdout.strip()}
        result["server"] = server_side(path)
        runs = open_runs([str(path)])
        server = make_server(runs, payload(runs), 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        result["served"] = browser_side(f"http://127.0.0.1:{server.server_address[1]}/", args.repeats)
        server.shutdown()
        if args.html_n:
            small = folder / "small"
            small.mkdir()
            for name in ("big.jsonl", "big.dropped.jsonl"):
                with (folder / name).open() as src, (small / name).open("w") as dst:
                    share = args.html_n * (4 if name == "big.jsonl" else 1) // 5
                    for _, line in zip(range(share), src):
                        dst.write(line)
            t = time.perf_counter()
            html = write_html(open_runs([str(small / "big.jsonl")]), folder / "view.html")
            result["html"] = {"n": args.html_n, "write_s": time.perf_counter() - t, "file_mb": html.stat().st_size / 1e6,
                              **browser_side(html.as_uri(), args.repeats)}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    text = report(result)
    print(text)
    if args.save:
        Path(args.save + ".json").write_text(json.dumps(result, indent=2) + "\n")
        Path(args.save + ".txt").write_text(text + "\n")


def spread(values: list[float], unit: str, digits: int = 2) -> str:
    return (f"median {statistics.median(values):.{digits}f} {unit} (min {min(values):.{digits}f}, max {max(values):.{digits}f}, "
            f"n={len(values)})")


def report(r: dict) -> str:
    s, b = r["server"], r["served"]
    lines = [f"codeclm view, {r['n']} items ({r['files_mb']} MB of JSONL); {r['machine']}; {r['chromium']}",
             f"server: import {s['import_s']:.1f} s, then read + check {s['read_s']:.1f} s, page data built {s['total_s']:.1f} s, data {s['data_mb']:.1f} MB, "
             f"peak RSS {s['peak_rss_mb']:.0f} MB",
             f"served page, {b['rows']} rows: navigation to table drawn {spread(b['load_s'], 's')}; "
             f"JS heap {spread(b['js_heap_mb'], 'MB', 0)}; Chromium PSS (all processes) {b['chromium_pss_mb']:.0f} MB",
             "  on the loaded page (ms, one each): " + ", ".join(f"{k} {v:.0f}" for k, v in b["actions_ms"].items())]
    if "html" in r:
        h = r["html"]
        lines += [f"--html of {h['n']} items: written in {h['write_s']:.1f} s, {h['file_mb']:.1f} MB; opened to table drawn "
                  f"{spread(h['load_s'], 's')}; JS heap {spread(h['js_heap_mb'], 'MB', 0)}",
                  "  on the loaded page (ms): " + ", ".join(f"{k} {v:.0f}" for k, v in h["actions_ms"].items())]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
