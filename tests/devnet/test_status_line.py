"""The live status line written to a log (stderr not a terminal): a line when something changed, never
the same line twice."""

import io

from chainplug.devnet.observer import Observer


def test_a_log_gets_no_duplicate_status_lines() -> None:
    log = io.StringIO()  # not a terminal
    observer = Observer("http://127.0.0.1:9", {"v1": "http://127.0.0.1:9"}, lambda: None, label="t", status=log)
    for phase in ("register (waiting for block 5)", "register", "register", "strip", "strip", "strip"):
        observer.set_phase(phase)
    observer.head = 7
    observer.set_phase("strip")
    observer._draw()  # nothing changed since
    lines = log.getvalue().splitlines()
    assert [line.split(" | ")[0].split("] ")[1].strip() for line in lines] == [
        "register (waiting for",
        "register",
        "strip",
        "strip",
    ]
    assert "block    7" in lines[-1]
    assert len({line.rsplit(" | ", 1)[0] for line in lines}) == len(lines)
