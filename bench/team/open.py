#!/usr/bin/python3
"""bench/team/open.py: the time to open a 100,000-frame project in the workbench, as a team
project on a PostgreSQL server against the same project in its SQLite file (issue 13).

Makes the big project of the GUI tests once (tests/gui/bigscroll.py: 100,000 tiny frames,
labels, a production model's predictions), copies it to the server with `gemba migrate`, and
gives it a team folder (its frames and models, and a gemba-server.ini naming the database).
Then opens each RUNS times, in turn, in a fresh workbench under Xvfb, and times the launch to
the grid drawn with every frame counted (the workbench's own probe events), and `gemba stats`
(opening the store and counting) from the CLI. Prints each run, the medians and the ratios.
Run through bench/team/open.sh, which starts the throwaway server and the display.

SPDX-License-Identifier: GPL-3.0-or-later
"""
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tests", "gui"))
import bigscroll  # noqa: E402
import gembagui as g  # noqa: E402

N_FRAMES = 100000
RUNS = 3


def server_uri(db):
    """GEMBA_TEST_SERVER with its database replaced by @db."""
    return re.sub(r"^(postgresql://[^/?]*)/[^?]*", r"\g<1>/" + db, os.environ["GEMBA_TEST_SERVER"])


def make_team(base, work):
    """The big project moved to database gemba_open of the server, and its team folder."""
    uri = server_uri("gemba_open")
    subprocess.run(["psql", "-q", os.environ["GEMBA_TEST_SERVER"], "-c",
                    "CREATE DATABASE gemba_open"], check=True, stdout=subprocess.DEVNULL)
    t = time.monotonic()
    subprocess.run([g.CLI, "migrate", base, "--to", uri, "-q"], check=True,
                   stdout=subprocess.DEVNULL)
    g.log("gemba migrate of %d frames to the server: %.1f s" % (N_FRAMES, time.monotonic() - t))
    team = os.path.join(work, "team")
    shutil.rmtree(team, ignore_errors=True)
    os.makedirs(os.path.join(team, "thumbs"))
    for sub in ("frames", "models"):
        if os.path.isdir(os.path.join(base, sub)):
            subprocess.run(["cp", "-al", os.path.join(base, sub), team], check=True)
    with open(os.path.join(team, "gemba-server.ini"), "w") as f:
        f.write("[server]\nuri=%s\n" % uri)
    return team


def open_workbench(project, name):
    app = g.Workbench(g.workdir(name), size=bigscroll.SIZE)
    try:
        ms = bigscroll.open_big(app, project, N_FRAMES)
        app.quit()
    finally:
        app.kill()
    return ms


def open_cli(project):
    t = time.monotonic()
    subprocess.run([g.CLI, "stats", project], check=True, stdout=subprocess.DEVNULL)
    return (time.monotonic() - t) * 1000


def main():
    g.skip_without_display()
    if not os.environ.get("GEMBA_TEST_SERVER"):
        sys.exit("open.py: GEMBA_TEST_SERVER is not set; run bench/team/open.sh")
    g.log("%s, %d CPUs, load %.2f %.2f %.2f" % (os.uname().machine, os.cpu_count(),
                                                *os.getloadavg()))
    base = bigscroll.make_big(os.path.join(g.BUILD, "bench", "gui", "big-project-%d" % N_FRAMES),
                              N_FRAMES)
    team = make_team(base, g.workdir("bench-team-open"))
    times = {"sqlite": [], "server": []}
    cli = {"sqlite": [], "server": []}
    for i in range(RUNS):
        for kind, project in (("sqlite", base), ("server", team)):
            ms = open_workbench(project, "bench-team-open-%s-%d" % (kind, i))
            c = open_cli(project)
            times[kind].append(ms)
            cli[kind].append(c)
            g.log("run %d %-6s: workbench grid of %d frames drawn %.0f ms after launch; "
                  "gemba stats %.0f ms (load %.2f)" % (i + 1, kind, N_FRAMES, ms, c,
                                                       os.getloadavg()[0]))
    med = {k: statistics.median(v) for k, v in times.items()}
    medc = {k: statistics.median(v) for k, v in cli.items()}
    g.log("medians of %d runs: workbench open sqlite %.0f ms, server %.0f ms (server/sqlite "
          "%.2f); gemba stats sqlite %.0f ms, server %.0f ms (%.2f); load %.2f at the end"
          % (RUNS, med["sqlite"], med["server"], med["server"] / med["sqlite"], medc["sqlite"],
             medc["server"], medc["server"] / medc["sqlite"], os.getloadavg()[0]))


if __name__ == "__main__":
    main()
