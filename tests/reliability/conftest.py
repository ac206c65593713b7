"""The fault suite: every test here feeds loralab one fault and checks that it ended cleanly.

`python -m pytest tests/reliability -q` closes with how many faults were tried and how many
ended cleanly (the exact failure, nothing lost, nothing half-written).
"""

from __future__ import annotations


def pytest_terminal_summary(terminalreporter):
    here = "tests/reliability/"
    reports = [
        r
        for key in ("passed", "failed", "error")
        for r in terminalreporter.stats.get(key, [])
        if getattr(r, "when", "call") == "call" and here in r.nodeid.replace("\\", "/")
    ]
    if reports:
        clean = sum(r.outcome == "passed" for r in reports)
        terminalreporter.write_line(
            f"reliability: {len(reports)} faults tried, {clean} ended cleanly"
        )
