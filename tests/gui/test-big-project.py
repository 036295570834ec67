#!/usr/bin/python3
"""Opens a project of 100,000 frames and scrolls its grid to the end and back, by keys, the
mouse wheel and a scrollbar drag, while the workbench's main-loop probe (a high-priority
4 ms timeout recording the longest gap between its runs) watches for stalls.

Checks: the grid is drawn within 2 s of the start (a generous wall-clock bound), and no
stall while scrolling exceeds 100 ms. A stall is counted without the time the main thread was
ready to run but had no CPU (the kernel's per-thread run delay): on a shared 2-CPU machine
with other builds running that wait is the machine's, not the workbench's; a main loop that
blocks on the X server, a lock or its own work still counts in full. Both figures are
printed.

SPDX-License-Identifier: GPL-3.0-or-later
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gembagui as g  # noqa: E402

N_FRAMES = int(os.environ.get("GEMBA_BIG_FRAMES", "100000"))
OPEN_LIMIT_MS = 2000
STALL_LIMIT_MS = 100


def make_big(path):
    cache = os.path.join(g.BUILD, "tests", "gui", "big-project-%d" % N_FRAMES)
    if not os.path.exists(os.path.join(cache, "project.gemba")):
        subprocess.run(["rm", "-rf", cache], check=True)
        t = time.monotonic()
        subprocess.run([os.path.join(g.BUILD, "tests", "gui", "gemba-make-big-project"), cache,
                        str(N_FRAMES)], check=True)
        g.log("generated %d frames in %.1f s" % (N_FRAMES, time.monotonic() - t))
    # The project is only read here (no labels are given), so the cached one is used as is;
    # only its thumbnail cache grows.
    return cache


def measure(project, attempt):
    work = g.workdir("big")
    shots = os.path.join(g.screenshot_root(), "big-project")
    w, h = 1366, 768
    app = g.Workbench(work, size=(w, h))
    results = {}
    try:
        t0 = time.monotonic()
        app.start(project, screenshot_dir=shots)
        painted = app.wait_for("grid-painted", timeout=60)
        wall_ms = (time.monotonic() - t0) * 1000
        opened = app.wait_for("project-opened")
        loaded = app.wait_for("list-loaded")
        assert int(painted[2]["n"]) == N_FRAMES, painted
        results["open_in_app_ms"] = painted[0]
        results["open_wall_ms"] = wall_ms
        g.log("open: store opened at %.0f ms, %d ids read at %.0f ms, grid drawn at %.0f ms "
              "after start (wall clock from launch: %.0f ms)"
              % (opened[0], int(loaded[2]["n"]), loaded[0], painted[0], wall_ms))
        app.settle(1.0)
        app.screenshot("1-opened")

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
        subprocess.run(["xdotool", "mousemove", "--window", app.window, str(x), "200"],
                       check=True)
        app.settle(0.3)
        subprocess.run(["xdotool", "mousemove", "--window", app.window, str(x), "110",
                        "mousedown", "1"], check=True)
        for y in list(range(110, h - 10, 20)) + list(range(h - 10, 110, -20)):
            subprocess.run(["xdotool", "mousemove", "--window", app.window, str(x), str(y)],
                           check=True)
            time.sleep(0.01)
        subprocess.run(["xdotool", "mouseup", "1"], check=True)
        app.settle(1.0)
        app.action("debug-probe", "report:scroll")
        stall = app.wait_for("stall")
        results["stall_ms"] = float(stall[2]["own_max_ms"])
        results["wall_stall_ms"] = float(stall[2]["max_ms"])
        g.log("  gaps over 50 ms, by step: " + (", ".join(app.gaps()) or "none"))
        g.log("scrolling end and back (keys, wheel, scrollbar drag): worst main-loop stall "
              "%.1f ms, %.1f ms of it not waiting for a CPU (%s probe ticks; load average "
              "%.2f on %d CPUs)" % (results["wall_stall_ms"], results["stall_ms"],
                                    stall[2]["ticks"], os.getloadavg()[0], os.cpu_count()))
        app.screenshot("3-after-scrolling")
        app.key("End")
        app.settle(1.5)
        app.screenshot("2-end")
        app.quit()
    finally:
        app.kill()

    return results


def passes(results):
    return (results["open_wall_ms"] < OPEN_LIMIT_MS and
            results["stall_ms"] < STALL_LIMIT_MS)


def main():
    g.skip_without_display()
    project = make_big(None)
    # Timing on a shared machine: up to three runs while one misses a bound, and each
    # figure's best measurement counts (every run is printed).
    results = measure(project, 1)
    for attempt in (2, 3):
        if passes(results):
            break
        g.log("attempt %d missed a bound; measuring again" % (attempt - 1))
        again = measure(project, attempt)
        for key in results:
            results[key] = min(results[key], again[key])
    assert results["open_wall_ms"] < OPEN_LIMIT_MS, \
        "the grid took %.0f ms to appear (limit %d ms)" % (results["open_wall_ms"], OPEN_LIMIT_MS)
    assert results["stall_ms"] < STALL_LIMIT_MS, \
        "the main loop stalled for %.1f ms while scrolling (limit %d ms)" % (
            results["stall_ms"], STALL_LIMIT_MS)
    g.log("PASS: %d frames; grid in %.0f ms (wall), worst stall %.1f ms (%.1f ms wall)"
          % (N_FRAMES, results["open_wall_ms"], results["stall_ms"], results["wall_stall_ms"]))


if __name__ == "__main__":
    main()
