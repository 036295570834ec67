#!/usr/bin/python3
"""Two workbenches on one team project (issue 13: "two workbenches on one team project see
each other's labels within a second"). Runs under tests/server/with-server.sh, which starts a
throwaway PostgreSQL server and names its fresh, empty database in GEMBA_TEST_SERVER.

The team project is made as a team makes one: `gemba init --server`, frames imported (the demo
project's, its labeled ones as an ImageFolder layout), two small models trained and the first
promoted. Then two real workbench processes, each with its own session bus as on two PCs, open
it side by side: A labels frames with number keys in its frame view and B's Frames page must
show each label (the class count in its sidebar and the review queue without the frame);
then B labels and A must show it; a class added in A appears in B's sidebar; a promotion from
A's Models page shows in B's Models page. Each time, from the key (A's probe log) to the
change in the other window (B's probe log), on one clock. The issue's bound is a second; it is
asserted on the median of the label samples, with a looser bound for every single sample, since
a loaded CI machine delays single samples.

SPDX-License-Identifier: GPL-3.0-or-later
"""
import importlib
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gembagui as g  # noqa: E402

loop = importlib.import_module("test-loop")   # its click / where / page helpers

N_LABELS = 5          # labels each way
N_REVIEW = 6          # frames each labels from the shared review queue
MEDIAN_LIMIT_S = 1.0  # the "within a second", on the median of the samples
SINGLE_LIMIT_S = 3.0  # any one sample, a class or a promotion: headroom for a loaded machine
SIZE = (1280, 1000)   # two windows side by side on a 2600×1080 screen (meson.build)


def cli(*args):
    done = subprocess.run([g.CLI] + list(args), capture_output=True, text=True)
    assert done.returncode == 0, "gemba %s failed: %s" % (" ".join(args), done.stderr)
    return done.stdout


def make_team_project(work, server):
    """A team project on @server with the demo's frames: labeled ones imported with their
    labels (ImageFolder layout), the others unlabeled; models 1 (production) and 2."""
    demo = g.make_demo(os.path.join(work, "demo"))
    sorted_dir = os.path.join(work, "import", "sorted")
    line_dir = os.path.join(work, "import", "line-1")
    for line in cli("ls", demo, "--json").splitlines():
        frame = json.loads(line)
        folder = os.path.join(sorted_dir, frame["label"]) if frame["label"] else line_dir
        os.makedirs(folder, exist_ok=True)
        os.link(frame["path"], os.path.join(folder, os.path.basename(frame["path"])))
    # The unlabeled frames were captured 10 s apart (their files' times), so that the review
    # queue does not fold them as near-duplicates: a queue long enough for two annotators.
    for i, name in enumerate(sorted(os.listdir(line_dir))):
        t = 1_700_000_000 + 10 * i
        os.utime(os.path.join(line_dir, name), (t, t))
    project = os.path.join(work, "team")
    cli("init", project, "--server", server, "--classes", "ok,scratch,dent,missing-hole")
    assert os.path.exists(os.path.join(project, "gemba-server.ini")), os.listdir(project)
    assert not os.path.exists(os.path.join(project, "project.gemba"))
    cli("import", project, sorted_dir, "--source", "Line 1 top camera", "-q")
    cli("import", project, line_dir, "--source", "Line 1 top camera", "-q")
    for seed in ("1", "2"):
        cli("train", project, "--size", "32", "--epochs", "2", "--seed", seed, "-q")
    cli("promote", project, "1", "-q")
    cli("predict", project, "production", "-q")
    return project


def class_names(project):
    return [c["name"] for c in json.loads(cli("classes", project, "--json"))]


def last(app, event, **match):
    """The newest probe event @event whose fields include @match, or None."""
    found = [e for e in app.events()
             if e[1] == event and all(e[2].get(k) == str(v) for k, v in match.items())]
    return found[-1] if found else None


def wait_event(app, event, after, timeout=20, **match):
    """The first probe event @event with fields @match logged after @after (an index in the
    probe log), waited for."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = app.events()[after:]
        for e in events:
            if e[1] == event and all(e[2].get(k) == str(v) for k, v in match.items()):
                return e
        if app.proc.poll() is not None:
            raise AssertionError("a workbench exited while waiting for %s" % event)
        time.sleep(0.02)
    raise AssertionError("no %s %s within %d s; recent probe log:\n%s"
                         % (event, match, timeout,
                            "\n".join(" ".join(map(str, e)) for e in app.events()[-40:])))


def counts_now(app, key):
    e = last(app, "filter-count", key=key)
    assert e, "no count of %s yet" % key
    return int(e[2]["n"])


def label_and_watch(labeler, watcher, key, klass, name):
    """@labeler labels its frame with number @key; returns the seconds until @watcher's Frames
    page shows it: its grid reloaded, and the sidebar's counts of class id @klass one higher
    and of unlabeled frames one lower (whichever comes last)."""
    n_class = counts_now(watcher, "class:%d" % klass)
    n_unlabeled = counts_now(watcher, "unlabeled")
    mark = len(watcher.events())
    given_before = labeler.count("label-given")
    labeler.key(key)
    given = labeler.wait_for("label-given", given_before + 1)
    t_key = labeler.monotonic(given)
    counted = wait_event(watcher, "filter-count", mark, key="class:%d" % klass, n=n_class + 1)
    unlabeled = wait_event(watcher, "filter-count", mark, key="unlabeled", n=n_unlabeled - 1)
    listed = wait_event(watcher, "list-loaded", mark)
    seen = max(watcher.monotonic(counted), watcher.monotonic(unlabeled),
               watcher.monotonic(listed))
    latency = seen - t_key
    g.log("%s: frame %s labeled in one window, shown in the other after %.0f ms "
          "(counts %.0f ms, grid %.0f ms)"
          % (name, given[2]["frame"], latency * 1000,
             (watcher.monotonic(counted) - t_key) * 1000,
             (watcher.monotonic(listed) - t_key) * 1000))
    # The next label comes after the other window has settled: each sample is one label.
    time.sleep(0.6)
    return latency


def history(project, frame):
    return [json.loads(line) for line in cli("history", project, frame, "--json").splitlines()
            if line.strip()]


def current_label(project, frame):
    for line in cli("ls", project, "--json").splitlines():
        f = json.loads(line)
        if f["id"].startswith(frame):
            return f["label"]
    raise AssertionError("frame %s is not in the project" % frame)


def label_at_once(a, b, key_a, key_b):
    """Anna and Ben press a number key on the frame each has open, one right after the other
    (about 0.1 s apart: xdotool focuses each window in turn). Returns the frame ids each
    labeled (from their label-given probe events)."""
    given_a, given_b = a.count("label-given"), b.count("label-given")
    a.key(key_a, delay=0)
    b.key(key_b, delay=0)
    ea = a.wait_for("label-given", given_a + 1)
    eb = b.wait_for("label-given", given_b + 1)
    return ea, eb


def crossing(a, b, project, ids):
    """Both label one frame at about the same time: both labels are in its history, the later
    is its label, and each workbench says that the labels crossed: who, which class, whose is
    the label now."""
    for attempt in range(3):
        # The same first frame of "All frames" (capture order: labels do not move it) in both.
        for app in (a, b):
            loaded = app.count("list-loaded")
            loop.click(app, "filter.all")
            app.wait_for("list-loaded", loaded + 1)
        a.settle(1.0)
        for app in (a, b):
            app.click(350, 165)
            app.key("Return")
        a.settle(1.0)
        marks = (len(a.events()), len(b.events()))
        given_a, given_b = label_at_once(a, b, "4", "1")
        frame_a, frame_b = given_a[2]["frame"], given_b[2]["frame"]
        if frame_a == frame_b:
            break
        g.log("crossing attempt %d: the two labeled different frames (%s, %s); again"
              % (attempt + 1, frame_a, frame_b))
        for app in (a, b):
            app.key("Escape")
    else:
        raise AssertionError("the two workbenches never had the same frame open")
    # Each is told, whichever label landed first: the one overtaken when the other's label
    # comes in (its change signal), the one that overtook when its own lands.
    seen = {}
    for app, mark, other in ((a, marks[0], "ben"), (b, marks[1], "anna")):
        seen[other] = wait_event(app, "labels-crossed", mark, timeout=30, frame=frame_a,
                                 other=other)
    name = None
    for e in seen.values():
        assert e[2]["name"], e
        name = e[2]["name"]
    steps = history(project, name)
    mine = [h for h in steps if h["author"] == "anna" and h["class"] == "missing-hole"]
    his = [h for h in steps if h["author"] == "ben" and h["class"] == "ok"]
    assert mine and his, "both labels must be in the frame's history: %s" % steps
    later = steps[-1]
    assert later in (mine[-1], his[-1]), steps
    assert current_label(project, name) == later["class"], (steps, current_label(project, name))
    anna_later = later["author"] == "anna"
    # Anna's workbench told of Ben's label (other=ben), and the reverse; each says whose label
    # is the frame's now.
    assert seen["ben"][2]["own_current"] == ("1" if anna_later else "0"), seen
    assert seen["anna"][2]["own_current"] == ("0" if anna_later else "1"), seen
    assert seen["ben"][2]["other_first"] == ("1" if anna_later else "0"), seen
    g.log("labels crossed on frame %s: %s's label is the later and current; history: %s"
          % (name, later["author"], [(h["author"], h["class"]) for h in steps]))
    t_keys = max(a.monotonic(given_a), b.monotonic(given_b))
    g.log("keys %.0f ms apart; told in Anna's workbench %.0f ms and in Ben's %.0f ms after the "
          "second key" % (abs(a.monotonic(given_a) - b.monotonic(given_b)) * 1000,
                          (a.monotonic(seen["ben"]) - t_keys) * 1000,
                          (b.monotonic(seen["anna"]) - t_keys) * 1000))
    a.settle(1.0)
    a.screenshot("6-anna-labels-crossed")
    b.screenshot("6-ben-labels-crossed")
    # The notice's button shows that frame, with both labels in its history.
    for app in (a, b):
        loop.click(app, "frames.show-crossed")
    a.settle(1.5)
    a.screenshot("7-anna-crossed-frame")
    b.screenshot("7-ben-crossed-frame")
    for app in (a, b):
        app.key("Escape")


def psql(sql):
    done = subprocess.run(["psql", "-XAtq", os.environ["GEMBA_TEST_SERVER"], "-c", sql],
                          capture_output=True, text=True)
    assert done.returncode == 0, "psql failed: %s" % done.stderr
    return [line for line in done.stdout.splitlines() if line]


def review_together(a, b, project):
    """Both open the review queue in their frame views and label, turn about, N_REVIEW frames
    each: the queue hands each frames nobody else holds, so no frame is labeled by both (their
    probe logs, and the history on the server)."""
    for app in (a, b):
        loaded, leased = app.count("list-loaded"), app.count("leases")
        loop.click(app, "filter.review")
        app.wait_for("list-loaded", loaded + 1)
        app.wait_for("leases", leased + 1)   # the first claim: the frame shown and the next
    a.settle(1.0)
    for app in (a, b):
        app.click(350, 165)
        app.key("Return")
    a.settle(1.0)
    a.screenshot("8-anna-review-queue")
    b.screenshot("8-ben-review-queue")
    given = {"anna": [], "ben": []}
    for i in range(N_REVIEW):
        for app, name, key in ((a, "anna", "2"), (b, "ben", "3")):
            n = app.count("label-given")
            app.key(key, delay=0)
            given[name].append(app.wait_for("label-given", n + 1)[2]["frame"])
        time.sleep(0.3)
    for app in (a, b):
        app.wait_for("labeled", app.count("label-given"))
    g.log("review queue: anna labeled %s, ben %s" % (given["anna"], given["ben"]))
    both = set(given["anna"]) & set(given["ben"])
    assert not both, "frames labeled by both from the review queue: %s" % both
    assert len(set(given["anna"])) == N_REVIEW and len(set(given["ben"])) == N_REVIEW, given
    frames = ",".join(given["anna"] + given["ben"])
    twice = psql("SELECT frame_id FROM labels WHERE frame_id IN (%s) GROUP BY frame_id "
                 "HAVING count(DISTINCT author) > 1" % frames)
    assert not twice, "the server's history has frames labeled by both: %s" % twice
    n = psql("SELECT count(*) FROM labels WHERE frame_id IN (%s) AND author IN ('anna', 'ben')"
             % frames)
    assert n == [str(2 * N_REVIEW)], n
    a.screenshot("9-anna-reviewed")
    b.screenshot("9-ben-reviewed")
    # Leaving the queue gives back what was held ahead: nothing is left on the server for
    # either (the test's bound is generous: the release is a background write).
    for app in (a, b):
        app.key("Escape")
        loop.click(app, "filter.all")
    deadline = time.monotonic() + 20
    while psql("SELECT count(*) FROM leases") != ["0"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert psql("SELECT count(*) FROM leases") == ["0"], psql("SELECT * FROM leases")


def server_away(a, b):
    """Anna works through the review queue while the server is stopped and started again: her
    labels wait in the outbox and land when it is back, the frames she holds stay hers, and
    closing her workbench gives them back."""
    ctl = os.environ.get("GEMBA_TEST_SERVER_CTL")
    if not ctl:
        g.log("no GEMBA_TEST_SERVER_CTL: the server is not taken away")
        return
    loaded, leased = a.count("list-loaded"), a.count("leases")
    loop.click(a, "filter.review")
    a.wait_for("list-loaded", loaded + 1)
    a.wait_for("leases", leased + 1)
    a.settle(0.5)
    a.click(350, 165)
    a.key("Return")
    a.settle(1.0)
    held = psql("SELECT frame_id FROM leases WHERE holder LIKE 'anna@%'")
    assert held, "Anna's workbench holds no frame of the review queue"
    subprocess.run([ctl, "stop"], check=True)
    queued = a.count("queued")
    given = []
    for _ in range(2):
        n = a.count("label-given")
        a.key("2", delay=0)
        given.append(a.wait_for("label-given", n + 1)[2]["frame"])
    a.wait_for("queued", queued + 2, timeout=60)
    a.wait_for("reconnecting", timeout=30)
    a.settle(0.5)
    a.screenshot("10-anna-server-away")
    subprocess.run([ctl, "start"], check=True)
    a.wait_for("reconnected", timeout=60)
    landed = psql("SELECT count(*) FROM labels WHERE author = 'anna' AND frame_id IN (%s)"
                  % ",".join(given))
    assert landed == ["2"], "the labels given while the server was away: %s" % landed
    assert set(given) <= set(held), (given, held)
    still = psql("SELECT count(*) FROM leases WHERE holder LIKE 'anna@%'")
    g.log("server away: 2 labels waited and landed; Anna holds %s frames after it" % still[0])
    assert still != ["0"], "Anna's leases were lost with the server"
    a.quit()
    deadline = time.monotonic() + 20
    while psql("SELECT count(*) FROM leases WHERE holder LIKE 'anna@%'") != ["0"] and \
            time.monotonic() < deadline:
        time.sleep(0.2)
    assert psql("SELECT count(*) FROM leases WHERE holder LIKE 'anna@%'") == ["0"], \
        "closing the workbench did not give its frames back"


def start(work, name, project, shots, x):
    app = g.Workbench(os.path.join(work, name), size=SIZE, bus=g.session_bus(),
                      settings={"annotator-name": "'%s'" % name})
    app.start(project, screenshot_dir=os.path.join(shots, name))
    subprocess.run(["xdotool", "windowmove", "--sync", app.window, str(x), "0"], check=False)
    app.wait_for("grid-painted", timeout=60)
    app.wait_for("counts", timeout=60)
    # Both work through the unlabeled frames (the review queue of this small project's
    # first model is a few frames long).
    loaded = app.count("list-loaded")
    loop.click(app, "filter.unlabeled")
    app.wait_for("list-loaded", loaded + 1)
    app.settle(0.5)
    app.click(350, 165)    # the first frame, selected: Enter opens it large
    return app


def main():
    g.skip_without_display()
    server = os.environ.get("GEMBA_TEST_SERVER")
    if not server:
        g.log("SKIP: no GEMBA_TEST_SERVER (run under tests/server/with-server.sh)")
        sys.exit(g.SKIP)
    for tool in ("dbus-daemon",):
        if not subprocess.run(["sh", "-c", "command -v " + tool],
                              stdout=subprocess.DEVNULL).returncode == 0:
            g.log("SKIP: %s is not installed" % tool)
            sys.exit(g.SKIP)
    work = g.workdir("team")
    started = time.monotonic()
    project = make_team_project(work, server)
    # A fresh database numbers the classes in the order they were made (the sidebar's keys
    # are "class:ID").
    assert class_names(project) == ["ok", "scratch", "dent", "missing-hole"]
    ids = {"scratch": 2, "dent": 3}
    g.log("team project on the server made in %.1f s: %s" % (time.monotonic() - started,
                                                             cli("stats", project).strip()
                                                             .splitlines()[0]))
    shots = os.path.join(g.screenshot_root(), "team")
    a = b = None
    try:
        a = start(work, "anna", project, shots, 0)
        b = start(work, "ben", project, shots, SIZE[0] + 20)
        a.settle(1.0)
        a.screenshot("1-anna-opened")
        b.screenshot("1-ben-opened")

        # Anna labels the review queue in her frame view; Ben's Frames page follows.
        a.key("Return")
        a.settle(1.0)
        samples = []
        for i in range(N_LABELS):
            samples.append(label_and_watch(a, b, "2", ids["scratch"], "anna → ben %d" % (i + 1)))
        a.screenshot("2-anna-labeled")
        b.screenshot("2-ben-sees-anna")

        # Then Ben, in his; Anna, back on her grid, sees his labels.
        a.key("Escape")
        b.key("Return")
        b.settle(1.0)
        for i in range(N_LABELS):
            samples.append(label_and_watch(b, a, "3", ids["dent"], "ben → anna %d" % (i + 1)))
        b.screenshot("3-ben-labeled")
        a.screenshot("3-anna-sees-ben")
        b.key("Escape")

        median = statistics.median(samples)
        g.log("label in one workbench → shown in the other: median %.0f ms, worst %.0f ms over "
              "%d labels (load average %.2f on %d CPUs)"
              % (median * 1000, max(samples) * 1000, len(samples), os.getloadavg()[0],
                 os.cpu_count()))
        assert median <= MEDIAN_LIMIT_S, "labels took %.2f s (median) to show" % median
        assert max(samples) <= SINGLE_LIMIT_S, "a label took %.2f s to show" % max(samples)

        # Both label one frame at the same moment.
        crossing(a, b, project, ids)

        # Both work through the review queue at once.
        review_together(a, b, project)

        # A class added in Anna's class editor (Ctrl+K, a name, Enter) is in Ben's sidebar:
        # a count for a class key his sidebar did not have.
        mark = len(b.events())
        known = {e[2]["key"] for e in b.events() if e[1] == "filter-count"}
        a.key("ctrl+k")
        a.settle(1.0)
        subprocess.run(["xdotool", "type", "--delay", "40", "burr"], check=True)
        t_enter = time.monotonic()
        a.key("Return", focus=False)
        deadline = time.monotonic() + 20
        shown = None
        while shown is None and time.monotonic() < deadline:
            shown = next((e for e in b.events()[mark:] if e[1] == "filter-count" and
                          e[2]["key"].startswith("class:") and e[2]["key"] not in known), None)
            time.sleep(0.02)
        assert "burr" in class_names(project), "the class typed in Anna's editor was not added"
        assert shown, "the class added in Anna's editor did not appear in Ben's sidebar"
        assert shown[2]["n"] == "0", shown
        class_latency = b.monotonic(shown) - t_enter
        g.log("class added in Anna's editor (Enter) → in Ben's sidebar after %.0f ms"
              % (class_latency * 1000))
        a.key("Escape", focus=False)
        a.settle(0.5)
        b.screenshot("4-ben-sees-new-class")
        assert class_latency <= SINGLE_LIMIT_S, "the new class took %.2f s" % class_latency

        # A promotion from Anna's Models page shows in Ben's Models page.
        loop.page(b, 3)
        b.wait_for("models-listed")
        loop.page(a, 3)
        a.wait_for("models-compared", timeout=60)
        a.settle(0.5)
        mark = len(b.events())
        loop.click(a, "models.promote")
        promoted = a.wait_for("promoted", timeout=120)
        listed = wait_event(b, "models-listed", mark, production=2)
        promote_latency = b.monotonic(listed) - a.monotonic(promoted)
        g.log("model 2 promoted in Anna's Models page → production in Ben's after %.0f ms"
              % (promote_latency * 1000))
        b.wait_for("models-compared", timeout=30)
        b.settle(0.8)
        a.screenshot("5-anna-promoted")
        b.screenshot("5-ben-sees-promotion")
        assert promote_latency <= SINGLE_LIMIT_S, "the promotion took %.2f s" % promote_latency

        # The server goes away while Anna works through the review queue; she closes her
        # workbench after.
        loop.page(a, 0)
        server_away(a, b)

        # What both windows showed is what the server holds.
        g.log("on the server:\n%s" % cli("stats", project).rstrip())
        a.quit()
        b.quit()
    finally:
        for app in (a, b):
            if app:
                app.kill()


if __name__ == "__main__":
    main()
