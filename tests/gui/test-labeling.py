#!/usr/bin/python3
"""Label 20 frames of the demo project by keys, undo 3, restart the workbench: the 17 labels
and the undo state (3 redo steps) are in the project database, and redo works after the
restart.

SPDX-License-Identifier: GPL-3.0-or-later
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gembagui as g  # noqa: E402

KEYS = ["1", "2", "3", "4", "1", "2", "1", "3", "4", "2",
        "1", "1", "2", "3", "4", "4", "3", "2", "1", "2"]


def current_labels(project, shas):
    con = g.db(project)
    out = {}
    for sha in shas:
        row = con.execute(
            "SELECT c.key FROM frames f LEFT JOIN labels l ON l.id = f.label_id "
            "LEFT JOIN classes c ON c.id = l.class_id WHERE f.sha256 = ?", (sha,)).fetchone()
        out[sha] = None if row is None or row[0] is None else str(row[0])
    con.close()
    return out


def main():
    g.skip_without_display()
    work = g.workdir("labeling")
    project = g.make_demo(os.path.join(work, "demo"))
    queue = g.review_queue(project)
    assert len(queue) >= 20, "the demo's review queue has only %d frames" % len(queue)
    first = queue[:20]
    assert all(v is None for v in current_labels(project, first).values())
    shots = os.path.join(g.screenshot_root(), "labeling")

    app = g.Workbench(work, size=(1366, 768))
    try:
        app.start(project, screenshot_dir=shots)
        app.wait_for("grid-painted")
        app.settle()
        app.screenshot("1-review-queue")
        # Enter opens the selected (first) frame of the review queue large.
        app.key("Return")
        app.settle()
        app.screenshot("2-frame-view")
        app.key(*KEYS, delay=60)
        app.wait_for("labeled", 20)
        app.settle(0.3)
        app.screenshot("3-after-20-labels")
        # Each label moved to the next frame: how long from the key to the next frame drawn.
        app.action("debug-probe", "report:labeling")
        latency = app.wait_for("latency-summary")[2]
        g.log("next-frame latency over %s moves: median %s ms (%s ms not waiting for a CPU), "
              "95th percentile %s ms, worst %s ms (load average %.2f on %d CPUs)"
              % (latency["n"], latency["median_ms"], latency["own_median_ms"],
                 latency["p95_ms"], latency["max_ms"], os.getloadavg()[0], os.cpu_count()))
        assert int(latency["n"]) >= 19, latency
        # The target is 16 ms on an idle machine (bench/gui/run.sh measures it); twice that
        # leaves room for a loaded CI machine (6-18 ms medians seen at load 7-9 on 2 CPUs).
        assert float(latency["median_ms"]) < 33, "next frame took %s ms (median)" % (
            latency["median_ms"],)
        app.key("ctrl+z", "ctrl+z", "ctrl+z", delay=80)
        app.wait_for("undone", 3)
        app.settle(0.3)
        app.screenshot("4-after-3-undos")
        app.quit()
    finally:
        app.kill()

    labels = current_labels(project, first)
    for i, sha in enumerate(first):
        want = KEYS[i] if i < 17 else None
        assert labels[sha] == want, "frame %d (%s): label key %r, expected %r" % (
            i, sha[:12], labels[sha], want)
    con = g.db(project)
    kinds = [r[0] for r in con.execute(
        "SELECT kind FROM labels WHERE frame_id IN (SELECT id FROM frames WHERE sha256 IN (%s)) "
        "ORDER BY id" % ",".join("?" * 20), first)]
    con.close()
    assert kinds.count("set") == 20 and kinds.count("undo") == 3, kinds
    g.log("after the first session: 17 labels, 3 undone — as expected")

    # Restart with no project named: the last one comes back, at the size it was closed at.
    # The labels are there, and the undo state too: Ctrl+Shift+Z redoes the last undone
    # label (frame 17).
    first_size = [e for e in app.events() if e[1] == "screenshot"][0][2]["size"]
    app = g.Workbench(work)
    try:
        app.start(None, screenshot_dir=shots)
        app.wait_for("grid-painted")
        app.settle()
        app.screenshot("5-after-restart")
        size = [e for e in app.events() if e[1] == "screenshot"][0][2]["size"]
        assert size == first_size, "window restored at %s, closed at %s" % (size, first_size)
        app.key("ctrl+shift+z")
        redone = app.wait_for("redone")
        app.quit()
    finally:
        app.kill()
    labels = current_labels(project, first)
    assert labels[first[16]] == KEYS[16], "frame 16 lost its label"
    assert labels[first[17]] == KEYS[17], "redo after restart did not restore frame 17 (%r)" % (
        labels[first[17]],)
    assert labels[first[18]] is None and labels[first[19]] is None
    g.log("after the restart: redo restored frame 17 (%s); frames 18 and 19 still undone"
          % redone[2].get("frame"))
    g.log("PASS; screenshots in %s" % shots)


if __name__ == "__main__":
    main()
