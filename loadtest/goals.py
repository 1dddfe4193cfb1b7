"""Each issue-14 goal next to the latest measured figure (``make bench-all`` ends here).

Reads loadtest/results/*-latest.json (whatever benchmarks have run) and prints one line
per goal (``--markdown``: as the README's table): the figure, the goal, MET / NOT MET /
not measured, and the machine load the figure was taken under (the machine is shared: a
ratio measured in one run is what to compare, not absolute rates).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"

# The 15,000-VM fiscal year built in one run (loadtest/year_fixture.py, committed result).
HAINAN_YEAR = "year-hainan-fy2023.json"
YEAR_FIGURES: list[tuple[str, Callable[[dict[str, Any]], Any]]] = [
    ("months built", lambda d: d.get("months_done")),
    ("wall clock, s", lambda d: d.get("wall_seconds")),
    ("raw samples kept after retention", lambda d: d.get("samples")),
    ("bytes per raw sample", lambda d: d.get("bytes_per_sample")),
    ("bytes per bill line", lambda d: d.get("bytes_per_bill_line")),
    ("raw generation, s", lambda d: d["seconds"].get("raw_samples")),
    ("rollups, s", lambda d: d["seconds"].get("rollups")),
    ("rating the year, s", lambda d: d["seconds"].get("rating")),
    ("closing the months, s", lambda d: d["seconds"].get("close_months")),
    ("raw retention drop, s", lambda d: d["seconds"].get("retention")),
]

# (file, label, getter, goal, at_most)
Goal = tuple[str, str, Callable[[dict[str, Any]], Any], float, bool]
GOALS: list[Goal] = [
    ("latest.json", "ingest end to end / direct insert",
     lambda d: d.get("ratio_end_to_end_vs_direct"), 0.3, False),
    ("ingest-profile-latest.json", "worker alone (ingest only) / direct insert",
     lambda d: d["ingest-only"]["ratio_vs_direct"], 0.7, False),
    ("ingest-profile-latest.json", "worker alone (with derivation) / direct insert",
     lambda d: d["with-derive"]["ratio_vs_direct"], 0.7, False),
    ("latest.json", "worker peak RSS at full ingest, MB",
     lambda d: d.get("worker_rss_peak_mb"), 600, True),
    ("ingest-profile-latest.json", "worker idle RSS, MB",
     lambda d: d["ingest-only"]["rss_idle_mb"], 300, True),
    *(
        ("memory-latest.json", f"worker {mode}: {label}", get, goal, True)
        for mode in ("embedded", "cluster")
        for label, get, goal in (
            ("idle RSS, 300 VMs, MB",
             lambda d, m=mode: d["modes"][m]["phases"]["small-fleet"]["rss_settled_mb"], 300),
            ("idle anonymous (heaps), 300 VMs, MB",
             lambda d, m=mode: d["modes"][m]["phases"]["small-fleet"]["anon_settled_mb"], 300),
            ("peak RSS at full ingest, MB",
             lambda d, m=mode: d["modes"][m]["phases"]["full-ingest"]["rss_peak_mb"], 600),
        )
    ),
    ("invoice-1m-latest.json", "invoice import+verify 1M lines, s",
     lambda d: d.get("import_plus_verify_s") if d.get("lines", 0) >= 1_000_000 else None,
     20, True),
    ("invoice-1m-latest.json", "invoice import+verify 1M lines, peak RSS MB",
     lambda d: d.get("peak_rss_mb_import_verify") if d.get("lines", 0) >= 1_000_000 else None,
     600, True),
    ("latest.json", "worker alone (bench.py drain) / direct insert",
     lambda d: d.get("ratio_worker_alone_vs_direct"), 0.7, False),
    *(
        (f"api-{run}-latest.json", f"API {run}: {label}", get, goal, at_most)
        for run in ("cluster", "cluster-paced", "embedded", "embedded-paced")
        for label, get, goal, at_most in (
            ("p95 ms, 50 clients", lambda d: d["clients_result"]["all"]["p95_ms"], 100, True),
            ("requests/s", lambda d: d["clients_result"]["all"]["rps"], 500, False),
            ("ingest with / without the API", lambda d: d.get("ingest_ratio"), 0.9, False),
        )
    ),
    *(
        (name, f"{label}: {what}", get, 0, True)
        for name, label in (("year-latest.json", "year fixture"),
                            (HAINAN_YEAR, "Hainan year, 15k VMs"))
        for what, get in YEAR_FIGURES
    ),
]  # fmt: skip


def _shown(value: Any) -> str:
    """A figure as measured, floats to at most three decimals (no binary noise)."""
    return f"{value:.4g}" if isinstance(value, float) and abs(value) < 10 else (
        f"{value:,.1f}" if isinstance(value, float) else f"{value:,}"
        if isinstance(value, int) else f"{value}")  # fmt: skip


def main() -> None:
    import sys

    markdown = "--markdown" in sys.argv[1:]  # the README's table
    if markdown:
        print("| goal | figure | goal | verdict | load (1 / 5 min) | result file |")
        print("|---|---|---|---|---|---|")
    else:
        print(f"{'goal':<50} {'figure':>12} {'goal':>8}  verdict   load")
    for name, label, get, goal, at_most in GOALS:
        path = RESULTS / name
        try:
            data = json.loads(path.read_text())
            value = get(data)
        except (OSError, KeyError, TypeError, ValueError):
            data, value = {}, None
        load = (data.get("machine") or {}).get("load_average") or next(
            (data[k] for k in ("load_average_after", "load_average_during") if k in data), ""
        )
        if isinstance(load, list):
            load = "/".join(f"{x:.1f}" for x in load[:2])
        if value is None:
            verdict, shown = "not measured", "-"
        elif goal == 0:
            verdict, shown = "reported", _shown(value)
        else:
            ok = value <= goal if at_most else value >= goal
            verdict, shown = ("MET" if ok else "NOT MET"), _shown(value)
        goal_text = "-" if goal == 0 else ("≤ " if at_most else "≥ ") + f"{goal:g}"
        if markdown:
            bold = f"**{verdict}**" if verdict == "NOT MET" else verdict
            print(f"| {label} | {shown} | {goal_text} | {bold} | {load} | `{name}` |")
        else:
            print(f"{label:<50} {shown:>12} {goal_text:>8}  {verdict:<9} {load}")


if __name__ == "__main__":
    main()
