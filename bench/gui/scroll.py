#!/usr/bin/python3
"""bench/gui: opens a project of 100,000 frames, scrolls its grid (End/Home, pages, wheel,
a scrollbar drag: tests/gui/bigscroll.py, the same gestures as the gui-big-project test),
then labels 12 frames from the frame view and undoes them; then the same 12 label keys on a
project of 60 camera-sized frames (1280×720 JPEGs: the big project's frames are tiny, and
decoding and drawing a real frame is most of what a label key costs). 3 runs; prints each stall over
16 ms with its gesture, and last the medians: the worst stall (wall clock), the launch to
grid drawn (wall clock), the label key to the next frame drawn (rendered and handed to the
X server). The load average is printed: figures from a busy machine say little (the "not
waiting for a CPU" figures say more there).

SPDX-License-Identifier: GPL-3.0-or-later
"""
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tests", "gui"))
import bigscroll  # noqa: E402
import gembagui as g  # noqa: E402

N_FRAMES = 100000
RUNS = 3
LABELS = 12
HD_FRAMES = 60


def make_hd(cache):
    """A project of HD_FRAMES 1280×720 JPEGs in @cache, made once."""
    project = os.path.join(cache, "project")
    if not os.path.exists(os.path.join(project, "project.gemba")):
        subprocess.run(["rm", "-rf", cache], check=True)
        jpegs = os.path.join(cache, "jpegs")
        gemba = os.path.join(g.BUILD, "src", "cli", "gemba")
        subprocess.run([os.path.join(g.BUILD, "bench", "import", "make-jpegs"), jpegs,
                        str(HD_FRAMES), "1280", "720"], check=True)
        subprocess.run([gemba, "init", project, "--classes", "ok,scratch"], check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run([gemba, "import", project, jpegs, "--quiet"], check=True)
    return project


def label_keys(app, name):
    """LABELS label keys in the frame view, from the first frame; undone after. Returns the
    probe's latency summary."""
    app.key("Home")
    app.settle(0.5)
    app.key("Return")
    app.settle(1.0)
    app.action("debug-probe", "reset")
    app.key(*(["1"] * LABELS), delay=150)
    app.wait_for("labeled", LABELS)
    app.settle(0.5)
    app.action("debug-probe", "report:" + name)
    latency = app.wait_for("latency-summary")[2]
    # Undone, so that every run sees the same project.
    app.key(*(["ctrl+z"] * LABELS), delay=80)
    app.wait_for("undone", LABELS)
    return latency


def run_hd(project, i):
    app = g.Workbench(g.workdir("bench-gui-hd-%d" % i), size=bigscroll.SIZE)
    try:
        app.start(project)
        app.wait_for("grid-painted", timeout=60)
        app.settle(1.0)
        app.click(400, 190)
        app.settle(0.3)
        latency = label_keys(app, "label-hd")
        app.quit()
    finally:
        app.kill()
    g.log("run %d: next frame on 1280×720 frames %s ms (median of %s; %s ms not waiting for a "
          "CPU; worst %s ms)" % (i, latency["median_ms"], latency["n"],
                                 latency["own_median_ms"], latency["max_ms"]))
    return float(latency["median_ms"]), float(latency["own_median_ms"])


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
        latency = label_keys(app, "label")
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
    hd_project = make_hd(os.path.join(g.BUILD, "bench", "gui", "hd-project-%d" % HD_FRAMES))
    results = []
    hd = []
    for i in range(RUNS):
        results.append(run(project, i + 1))
        hd.append(run_hd(hd_project, i + 1))
    med = [statistics.median(r[k] for r in results) for k in range(5)]
    g.log("next frame on 1280×720 frames: next_frame_ms=%.1f (%.1f ms not waiting for a CPU; "
          "medians of %d runs)" % (statistics.median(r[0] for r in hd),
                                   statistics.median(r[1] for r in hd), RUNS))
    g.log("not waiting for a CPU: worst_gap_ms=%.1f next_frame_ms=%.1f (medians of %d runs; "
          "%d CPUs, load average %.2f at the end)"
          % (med[1], med[4], RUNS, os.cpu_count(), os.getloadavg()[0]))
    g.log("worst_gap_ms=%.1f open_ms=%.0f next_frame_ms=%.1f load=%.2f"
          % (med[0], med[2], med[3], load))


if __name__ == "__main__":
    main()
