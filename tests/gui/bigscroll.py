"""Opening a project of 100,000 frames and scrolling its grid as a person would, shared by
the gui-big-project test and bench/gui/run.sh (one set of gestures, measured the same way).

The workbench's main-loop probe (a high-priority 4 ms timeout) records every stall: wall
clock, and "own", the part not spent waiting for a CPU (the kernel's per-thread run delay).
On a shared 2-CPU machine that wait is the machine's, not the workbench's; a main loop that
blocks on the X server, a lock or its own work still counts in full.

SPDX-License-Identifier: GPL-3.0-or-later
"""
import os
import subprocess
import time

import gembagui as g

SIZE = (1366, 768)


def make_big(cache, n_frames):
    """The project of @n_frames frames in @cache, generated once (about 25 s for 100,000)."""
    if not os.path.exists(os.path.join(cache, "project.gemba")):
        subprocess.run(["rm", "-rf", cache], check=True)
        t = time.monotonic()
        subprocess.run([os.path.join(g.BUILD, "tests", "gui", "gemba-make-big-project"), cache,
                        str(n_frames)], check=True)
        g.log("generated %d frames in %.1f s" % (n_frames, time.monotonic() - t))
    return cache


def open_big(app, project, n_frames, shots=None):
    """Starts the workbench on @project; returns the wall-clock ms from launch to the grid
    drawn."""
    t0 = time.monotonic()
    app.start(project, screenshot_dir=shots)
    painted = app.wait_for("grid-painted", timeout=60)
    wall_ms = (time.monotonic() - t0) * 1000
    opened = app.wait_for("project-opened")
    loaded = app.wait_for("list-loaded")
    assert int(painted[2]["n"]) == n_frames, painted
    g.log("open: store opened at %.0f ms, %d ids read at %.0f ms, grid drawn at %.0f ms "
          "after start (wall clock from launch: %.0f ms)"
          % (opened[0], int(loaded[2]["n"]), loaded[0], painted[0], wall_ms))
    return wall_ms


def scroll(app):
    """End and Home, 25 pages down and up, 150 wheel steps down and up, a scrollbar drag from
    the top to the bottom and back. Returns the probe's stall report (max_ms, own_max_ms,
    ticks) and the stalls over 16 ms as (gesture, own_ms, wall_ms)."""
    w, h = SIZE
    app.action("debug-probe", "reset")
    # Focus the first cell with a real click, then jump to the end and back by keys.
    app.click(400, 190)
    app.settle(0.3)
    app.mark("end")
    app.key("End")
    app.settle(1.5)
    # (Screenshots render on the main loop: none inside the measured stretch.)
    app.mark("home")
    app.key("Home")
    app.settle(1.0)
    app.mark("pages")
    app.key(*(["Page_Down"] * 25), delay=60)
    app.key(*(["Page_Up"] * 25), delay=60)
    app.mark("wheel")
    subprocess.run(["xdotool", "mousemove", "--window", app.window, "800", "400",
                    "click", "--repeat", "150", "--delay", "8", "5"], check=True)
    subprocess.run(["xdotool", "click", "--repeat", "150", "--delay", "8", "4"], check=True)
    app.mark("drag")
    # Drag the grid's scrollbar from the top to the bottom and back, as fast as a hand.
    x = w - 6
    subprocess.run(["xdotool", "mousemove", "--window", app.window, str(x), "200"], check=True)
    app.settle(0.3)
    subprocess.run(["xdotool", "mousemove", "--window", app.window, str(x), "110",
                    "mousedown", "1"], check=True)
    for y in list(range(110, h - 10, 20)) + list(range(h - 10, 110, -20)):
        subprocess.run(["xdotool", "mousemove", "--window", app.window, str(x), str(y)],
                       check=True)
        time.sleep(0.01)
    subprocess.run(["xdotool", "mouseup", "1"], check=True)
    app.settle(1.0)
    before = app.count("stall")
    app.action("debug-probe", "report:scroll")
    stall = app.wait_for("stall", before + 1)[2]
    return ({"max_ms": float(stall["max_ms"]), "own_max_ms": float(stall["own_max_ms"]),
             "ticks": int(stall["ticks"])}, app.gaps())
