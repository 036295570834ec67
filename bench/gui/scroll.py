#!/usr/bin/python3
"""bench/gui: opens a project of 100,000 frames, scrolls its grid (End/Home, pages, wheel,
a scrollbar drag: tests/gui/bigscroll.py, the same gestures as the gui-big-project test),
then labels 12 frames from the frame view and undoes them. 3 runs; prints each stall over
16 ms with its gesture, and last the medians: the worst stall (wall clock), the launch to
grid drawn (wall clock), the label key to the next frame drawn (rendered and handed to the
X server). The load average is printed: figures from a busy machine say little (the "not
waiting for a CPU" figures say more there).

SPDX-License-Identifier: GPL-3.0-or-later
"""
import os
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tests", "gui"))
import bigscroll  # noqa: E402
import gembagui as g  # noqa: E402

N_FRAMES = 100000
RUNS = 3
LABELS = 12


def run(project, i):
    app = g.Workbench(g.workdir("bench-gui-%d" % i), size=bigscroll.SIZE)
    try:
        open_ms = bigscroll.open_big(app, project, N_FRAMES)
        app.settle(1.0)
        stall, gaps = bigscroll.scroll(app)
        for step, own, wall in gaps:
            g.log("run %d  %-6s stall %6.1f ms (%.1f ms not waiting for a CPU)"
                  % (i, step, wall, own))
        # Label keys in the frame view: each moves to the next frame.
        app.key("Home")
        app.settle(0.5)
        app.key("Return")
        app.settle(1.0)
        app.action("debug-probe", "reset")
        app.key(*(["1"] * LABELS), delay=150)
        app.wait_for("labeled", LABELS)
        app.settle(0.5)
        app.action("debug-probe", "report:label")
        latency = app.wait_for("latency-summary")[2]
        # Undone, so that every run sees the same project.
        app.key(*(["ctrl+z"] * LABELS), delay=80)
        app.wait_for("undone", LABELS)
        app.quit()
    finally:
        app.kill()
    g.log("run %d: worst stall %.1f ms (%.1f ms not waiting for a CPU), grid in %.0f ms, "
          "next frame %s ms (median of %s; %s ms not waiting for a CPU; worst %s ms)"
          % (i, stall["max_ms"], stall["own_max_ms"], open_ms, latency["median_ms"],
             latency["n"], latency["own_median_ms"], latency["max_ms"]))
    return (stall["max_ms"], stall["own_max_ms"], open_ms, float(latency["median_ms"]),
            float(latency["own_median_ms"]))


def main():
    g.skip_without_display()
    load = os.getloadavg()[0]
    project = bigscroll.make_big(os.path.join(g.BUILD, "bench", "gui",
                                              "big-project-%d" % N_FRAMES), N_FRAMES)
    results = [run(project, i + 1) for i in range(RUNS)]
    med = [statistics.median(r[k] for r in results) for k in range(5)]
    g.log("not waiting for a CPU: worst_gap_ms=%.1f next_frame_ms=%.1f (medians of %d runs; "
          "%d CPUs, load average %.2f at the end)"
          % (med[1], med[4], RUNS, os.cpu_count(), os.getloadavg()[0]))
    g.log("worst_gap_ms=%.1f open_ms=%.0f next_frame_ms=%.1f load=%.2f"
          % (med[0], med[2], med[3], load))


if __name__ == "__main__":
    main()
