#!/usr/bin/python3
"""The whole loop without a terminal, driven as a person would (xdotool clicks and keys):

1. Capture page: frames from a generated video file and from an RTSP test stream on
   127.0.0.1 (snapshot with S, every-N-seconds; the stream is dropped and comes back); the
   frames are in the project with their source.
2. Training page: a fine-tune of production through the Advanced expander; progress advances;
   Cancel leaves no model and no half-written folder; a second run finishes and says in one
   sentence what changed.
3. Models page: the new version against production (metrics, heat maps, changed verdicts;
   one opens in a frame view); Export… runs the regression gate and shows its result before
   writing; Promote makes it production and the review queue follows it.

A main-loop probe (not a sleep) records the longest stall during capture and during training;
both must stay under 100 ms. Screenshots of each page in English and Simplified Chinese at
1366×768 and 1920×1080 go to <build>/meson-logs/screenshots/loop/.

SPDX-License-Identifier: GPL-3.0-or-later
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gembagui as g  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
STALL_LIMIT_MS = 100.0


def cli(*args, **kw):
    return subprocess.run([g.CLI] + list(args), check=True, capture_output=True, text=True,
                          **kw).stdout


def shot(app, name):
    """app.screenshot, retried: the workbench renders the window only when its layout is
    valid, and a live preview keeps the page busy."""
    for _ in range(6):
        before = app.count("screenshot")
        app.action("debug-screenshot", name)
        try:
            app.wait_for("screenshot", before + 1, timeout=5)
            return
        except AssertionError:
            continue
    raise AssertionError("no screenshot %s" % name)


def where(app, name, timeout=30):
    """The newest logged place of a watched widget: (x, y, w, h) in window coordinates."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [e for e in app.events() if e[1] == "where" and e[2].get("name") == name]
        if found:
            f = found[-1][2]
            x, y, w, h = (int(float(f[k])) for k in ("x", "y", "w", "h"))
            # Before its first layout a widget is logged at a made-up place: wait for a real
            # one, and for the layout to settle.
            if x >= 0 and y >= 0 and w > 1 and h > 1:
                time.sleep(0.3)
                again = [e for e in app.events()
                         if e[1] == "where" and e[2].get("name") == name]
                if len(again) == len(found):
                    return x, y, w, h
                continue
        if app.proc.poll() is not None:
            raise AssertionError("gemba-workbench exited while looking for %s" % name)
        time.sleep(0.05)
    raise AssertionError("widget %s never appeared" % name)


def dialog_window(app, timeout=20):
    """The workbench's other visible window (a dialog), by its X id."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run(["xdotool", "search", "--onlyvisible", "--pid", str(app.proc.pid)],
                             capture_output=True, text=True).stdout.split()
        others = [w for w in out if w != app.window]
        if others:
            return others[-1]
        time.sleep(0.1)
    raise AssertionError("no dialog appeared")


def key_in(window, *keys):
    subprocess.run(["xdotool", "windowfocus", "--sync", window], check=False)
    subprocess.run(["xdotool", "key", "--delay", "40"] + list(keys), check=True)


def window_height(app, window=None):
    out = subprocess.run(["xdotool", "getwindowgeometry", "--shell", window or app.window],
                         capture_output=True, text=True, check=True).stdout
    return int(dict(l.split("=", 1) for l in out.split())["HEIGHT"])


def click(app, name, dx=None, window=None):
    """Clicks the middle of a watched widget, scrolling it into view with the wheel first, as
    a person scrolls to a button below the fold."""
    window = window or app.window
    x, y, w, h = where(app, name)
    height = window_height(app, window)
    for _ in range(40):
        if y + h <= height - 4:
            break
        subprocess.run(["xdotool", "mousemove", "--window", window, str(x + w // 2),
                        str(height // 2), "click", "5"], check=True)
        time.sleep(0.15)
        x, y, w, h = where(app, name)
    assert y + h <= height - 4, "%s stays out of view (y=%d, window %d high)" % (name, y, height)
    subprocess.run(["xdotool", "mousemove", "--window", window,
                    str(x + (dx if dx is not None else w // 2)), str(y + h // 2), "click", "1"],
                   check=True)


def set_spin(app, name, value):
    click(app, name, dx=20)
    app.key("ctrl+a")
    subprocess.run(["xdotool", "type", "--delay", "30", str(value)], check=True)
    app.key("Tab")


def type_text(app, text):
    subprocess.run(["xdotool", "type", "--delay", "10", text], check=True)


def page(app, index):
    """Clicks the view switcher's button (0 Frames, 1 Capture, 2 Training, 3 Models)."""
    click(app, "switcher.%d" % index)
    app.settle(0.4)


def stall(app, name):
    """The worst main-loop stall of the stretch, as a person sees it (wall clock). Printed with
    the part of it that was not spent waiting for a CPU (the probe reads that from the
    scheduler), which tells a busy machine from a busy main loop when the bound is missed."""
    before = app.count("stall")
    app.action("debug-probe", "report:" + name)
    e = app.wait_for("stall", before + 1)
    gaps = ["%s %.1f/%.1f ms" % gap for gap in app.gaps(over_ms=50)]
    g.log("%s: worst main-loop stall %s ms, %s ms of it not waiting for a CPU (load %.2f)%s"
          % (name, e[2]["max_ms"], e[2]["own_max_ms"], os.getloadavg()[0],
             "; gaps over 50 ms: " + ", ".join(gaps) if gaps else ""))
    return float(e[2]["max_ms"])


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def build_rtsp_server(work):
    exe = os.path.join(work, "gemba-rtsp-serve")
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "gstreamer-rtsp-server-1.0",
                            "gstreamer-1.0"], capture_output=True, text=True)
    if flags.returncode != 0:
        return None
    subprocess.run(["cc", "-o", exe, os.path.join(HERE, "gemba-rtsp-serve.c")]
                   + flags.stdout.split(), check=True)
    return exe


def start_rtsp(exe, port, color):
    proc = subprocess.Popen([exe, str(port), color], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready", "the RTSP test server did not start"
    return proc


def make_video(path):
    subprocess.run(["gst-launch-1.0", "-q", "videotestsrc", "num-buffers=150", "pattern=ball",
                    "!", "video/x-raw,width=320,height=240,framerate=30/1", "!", "vp8enc",
                    "!", "webmmux", "!", "filesink", "location=" + path], check=True)


def frames_from(project, source_name):
    con = g.db(project)
    n = con.execute("SELECT count(*) FROM frames f JOIN sources s ON s.id = f.source_id "
                    "WHERE s.name = ?", (source_name,)).fetchone()[0]
    con.close()
    return n


def models(project):
    con = g.db(project)
    rows = con.execute("SELECT id, parent_id FROM models ORDER BY id").fetchall()
    con.close()
    return rows


def production(project):
    out = cli("models", project, "--json")
    import json
    for line in out.splitlines():
        if line.strip():
            m = json.loads(line)
            if m.get("production"):
                return m["id"]
    return None


def prepare(work):
    """The demo project with a first small model in production and its verdict on every
    frame: the state a line is in when people start correcting false readings."""
    project = g.make_demo(os.path.join(work, "demo"))
    cli("train", project, "--size", "32", "--epochs", "3", "--seed", "1", "-q")
    cli("promote", project, "1")
    cli("predict", project, "production", "-q")
    return project


def capture(app, work, project, shots):
    video = os.path.join(work, "belt.webm")
    make_video(video)
    page(app, 1)
    shot(app, "capture-1-idle")
    stalls = []

    # A video file, one frame every second of video: 0, 1, 2, 3, 4 s of a 5 s clip.
    click(app, "capture.location")
    type_text(app, video)
    click(app, "capture.mode")
    app.settle(0.5)
    app.key("Down", "Return")       # the popover list: "One frame every few seconds"
    app.settle(0.3)
    set_spin(app, "capture.interval", "1")
    app.action("debug-probe", "reset")
    click(app, "capture.start")
    done = app.wait_for("capture-done", 1, timeout=60)
    app.settle(0.5)
    stalls.append(stall(app, "capture-video"))
    assert int(done[2]["stored"]) == 5, done
    n = frames_from(project, os.path.basename(video))
    assert n == 5, "%d frames of %s in the project, expected 5" % (n, video)
    shot(app, "capture-2-video-done")
    # The grid shows them: it reloads when it comes back into view.
    loads = app.count("list-loaded")
    page(app, 0)
    app.wait_for("list-loaded", loads + 1, timeout=30)
    app.settle(0.5)
    shot(app, "capture-3-grid-with-video-frames")
    page(app, 1)
    g.log("video: 5 frames stored with their source, and the grid reloaded")

    # An RTSP stream: snapshots by S while it plays, a drop and a reconnection.
    exe = build_rtsp_server(work)
    if exe is None:
        g.log("no gstreamer-rtsp-server development files: RTSP part skipped")
        return max(stalls), 0
    port = free_port()
    uri = "rtsp://127.0.0.1:%d/cam" % port
    server = start_rtsp(exe, port, "0xffff0000")
    try:
        click(app, "capture.location")
        app.key("ctrl+a")
        type_text(app, uri)
        click(app, "capture.mode")
        app.settle(0.5)
        app.key("Up", "Return")     # back to "Only snapshots (S)"
        app.settle(0.3)
        app.action("debug-probe", "reset")
        click(app, "capture.start")
        app.wait_for("capture-preview", 1, timeout=30)
        app.settle(1.0)
        app.key("s")
        app.wait_for("capture-stored", app.count("capture-stored") + 1, timeout=20)
        app.settle(0.3)
        stalls.append(stall(app, "capture-stream"))
        shot(app, "capture-4-stream-live")
        # Drop the stream, then bring it back with another colour.
        server.send_signal(signal.SIGTERM)
        server.wait(10)
        app.settle(3.5)
        shot(app, "capture-5-stream-dropped")
        app.action("debug-probe", "reset")
        server = start_rtsp(exe, port, "0xff00ff00")
        app.wait_for("capture-reconnected", 1, timeout=90)
        app.settle(1.5)
        app.key("s")
        before = app.count("capture-stored")
        app.wait_for("capture-stored", before + 1, timeout=20)
        click(app, "capture.stop")
        app.wait_for("capture-done", 2, timeout=30)
        app.settle(0.3)
        stalls.append(stall(app, "capture-reconnect"))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(10)
    n_stream = frames_from(project, "127.0.0.1")
    if n_stream == 0:
        con = g.db(project)
        names = [r[0] for r in con.execute("SELECT name FROM sources")]
        con.close()
        raise AssertionError("no frames from the stream; sources: %r" % names)
    assert n_stream >= 2, n_stream
    app.settle(0.5)
    shot(app, "capture-6-stream-done")
    g.log("RTSP: %d snapshots stored across a drop and a reconnection" % n_stream)
    return max(stalls), n_stream


def training(app, project):
    page(app, 2)
    shot(app, "training-1-idle")
    click(app, "training.advanced")
    app.settle(0.5)
    shot(app, "training-2-advanced")
    # A run that cannot end on its own before the Cancel: no early stopping, many epochs
    # (a demo fine-tune stops early after a dozen epochs, in seconds on a fast machine).
    click(app, "training.stop-early")
    set_spin(app, "training.epochs", "150")
    app.action("debug-probe", "reset")
    click(app, "training.start")
    app.wait_for("train-started")
    # Progress advances: three epochs end, the fraction grows (an epoch of the demo's
    # fine-tune now takes well under a second, and the page logs few reports per epoch).
    app.wait_for("train-epoch", 3, timeout=120)
    fractions = [float(e[2]["fraction"]) for e in app.events() if e[1] == "train-progress"]
    assert len(fractions) >= 2 and fractions[-1] > fractions[0], fractions
    stalls = [stall(app, "training-cancelled-run")]
    shot(app, "training-3-running")
    # Labeling goes on while it trains: the first frame of the review queue gets a label.
    labeled = app.count("labeled")
    page(app, 0)
    app.key("2")                # the selected frame, the first of the queue
    app.wait_for("labeled", labeled + 1, timeout=30)
    assert app.count("train-cancelled") + app.count("train-saved") == 0, \
        "the training run ended before the label was given: make it longer"
    page(app, 2)
    click(app, "training.cancel")
    app.wait_for("train-cancelled", timeout=60)
    assert len(models(project)) == 1, "a cancelled run left a model: %r" % models(project)
    leftovers = [d for d in os.listdir(os.path.join(project, "models")) if d.startswith(".")]
    assert not leftovers, "a cancelled run left %r" % leftovers
    app.settle(0.3)
    shot(app, "training-4-cancelled")
    g.log("labeled a frame while training; cancelled at %.0f %%: no model, no staging folder"
          % (100 * fractions[-1]))

    click(app, "training.advanced")     # Start folded it away to show the curves
    app.settle(0.5)
    click(app, "training.stop-early")   # back to the default
    set_spin(app, "training.epochs", "8")
    app.action("debug-probe", "reset")
    started = time.monotonic()
    click(app, "training.start")
    saved = app.wait_for("train-saved", timeout=300)
    done = app.wait_for("train-done", timeout=300)
    assert saved[2]["model"] == done[2]["model"], (saved, done)
    wall = time.monotonic() - started
    app.settle(0.3)
    stalls.append(stall(app, "training"))
    max_stall = max(stalls)
    rows = models(project)
    assert len(rows) == 2 and rows[1][1] == 1, rows
    app.settle(0.5)
    shot(app, "training-5-done")
    g.log("fine-tune: model %s in %.1f s wall (%.1f s training)"
          % (done[2]["model"], wall, float(done[2]["train_s"])))
    return max_stall, wall, int(done[2]["model"])


def models_page(app, work, project, new_id):
    click(app, "training.compare")
    app.wait_for("models-compared", 1, timeout=60)
    app.settle(0.6)
    shot(app, "models-1-compare")
    compared = [e for e in app.events() if e[1] == "models-compared"][-1][2]
    assert compared["a"] == "1" and compared["b"] == str(new_id), compared
    if int(compared["changed"]) > 0:
        click(app, "models.changed0")
        app.wait_for("changed-frame-opened")
        app.settle(0.8)
        shot(app, "models-2-changed-frame")
        # A label corrected right there, saved at once, and undone with Ctrl+Z.
        frame_window = dialog_window(app)
        key_in(frame_window, "3")
        given = app.wait_for("window-labeled", timeout=30)
        frame_id = int(given[2]["frame"])
        con = g.db(project)
        history = [r[0] for r in con.execute(
            "SELECT class_id FROM labels WHERE frame_id = ? ORDER BY id", (frame_id,))]
        current = con.execute("SELECT l.class_id, c.key FROM frames f JOIN labels l ON "
                              "l.id = f.label_id JOIN classes c ON c.id = l.class_id "
                              "WHERE f.id = ?", (frame_id,)).fetchone()
        con.close()
        assert current == (int(given[2]["class"]), 3), current
        app.settle(0.5)
        shot(app, "models-2-changed-frame-labeled")
        key_in(frame_window, "ctrl+z")
        app.wait_for("window-undone", timeout=30)
        con = g.db(project)
        after = con.execute("SELECT l.class_id FROM frames f LEFT JOIN labels l ON "
                            "l.id = f.label_id WHERE f.id = ?", (frame_id,)).fetchone()[0]
        con.close()
        before = history[-2] if len(history) >= 2 else None
        assert after == before, "undo left class %r, not %r" % (after, before)
        g.log("changed-frame window: frame %d labeled by key 3, then undone" % frame_id)
        key_in(frame_window, "Escape")
        app.settle(0.5)
        out = subprocess.run(["xdotool", "search", "--onlyvisible", "--pid", str(app.proc.pid)],
                             capture_output=True, text=True).stdout.split()
        assert out == [app.window], "Escape did not close the frame window: %r" % out

    # Export: the gate's result first, then the file.
    env = dict(os.environ, XDG_CONFIG_HOME=app.config)
    subprocess.run([g.CLI, "keygen"], env=env, check=True, capture_output=True)
    out = os.path.join(os.path.dirname(project), "demo-%d.gemba" % new_id)
    click(app, "models.export")
    dialog = dialog_window(app)
    click(app, "export.check", window=dialog)
    gate = app.wait_for("export-gate", timeout=120)
    if gate[2]["result"] != "error" and production(project) is not None:
        where(app, "export.gate")   # frames fixed and broken per class, shown with the result
    assert not os.path.exists(out), "the package was written before the gate's result was shown"
    app.settle(0.3)
    shot(app, "models-3-export-gate")
    if gate[2]["result"] == "passed":
        click(app, "export.write", window=dialog)
    else:
        assert gate[2]["result"] == "refused", gate
        click(app, "export.reason", window=dialog)
        type_text(app, "Line 2 trial run, agreed with QA")
        click(app, "export.force", window=dialog)
    app.wait_for("exported", timeout=120)
    assert os.path.exists(out), out
    app.settle(0.3)
    shot(app, "models-4-exported")
    key_in(dialog, "Escape")
    app.settle(0.3)
    g.log("export: gate %s, then %s written" % (gate[2]["result"], out))

    review_before = g.review_queue(project)
    old_production = production(project)
    compares = app.count("models-compared")
    click(app, "models.promote")
    app.wait_for("promoted", timeout=120)
    assert production(project) == new_id, production(project)
    review_after = g.review_queue(project)
    assert review_after != review_before, "the review queue did not change with the new model"
    app.wait_for("models-compared", compares + 1, timeout=60)
    # The new production is compared with the version it replaced, not with itself.
    compared = [e for e in app.events() if e[1] == "models-compared"][-1][2]
    assert int(compared["b"]) == new_id and int(compared["a"]) == old_production, compared
    app.settle(0.5)
    shot(app, "models-5-promoted")
    # The grid (the review queue) follows the new production model when shown again.
    loads = app.count("list-loaded")
    n_counts = app.count("counts")
    page(app, 0)
    loaded = app.wait_for("list-loaded", loads + 1, timeout=30)
    assert int(loaded[2]["n"]) == len(review_after), (loaded, len(review_after))
    app.settle(0.8)
    shot(app, "frames-after-promotion")
    g.log("promoted model %d: the review queue changed (%d → %d frames, first %s → %s)"
          % (new_id, len(review_before), len(review_after), review_before[:1], review_after[:1]))

    # The sidebar's suspect labels are `gemba ls --suspect`; a source with too few labeled test
    # frames is named, and its random batch to label for testing is one click away.
    counts = app.wait_for("counts", n_counts + 1, timeout=30)[2]
    suspect = [l for l in cli("ls", project, "--suspect", "--json").splitlines() if l.strip()]
    assert int(counts["suspect"]) == len(suspect), (counts, len(suspect))
    short = int(counts["short_source"])
    assert short != 0, "no source is short of test frames after capturing new ones: %r" % counts
    con = g.db(project)
    reserved_sql = ("SELECT count(*) FROM frames f LEFT JOIN labels l ON l.id = f.label_id "
                    "WHERE f.split = 3 AND l.class_id IS NULL")
    before = con.execute(reserved_sql).fetchone()[0]
    con.close()
    loads = app.count("list-loaded")
    click(app, "frames.test-batch")
    batch = app.wait_for("test-batch", timeout=30)
    loaded = app.wait_for("list-loaded", loads + 1, timeout=30)
    con = g.db(project)
    after = con.execute(reserved_sql).fetchone()[0]
    of_source = con.execute(reserved_sql + " AND f.source_id = ?", (short,)).fetchone()[0]
    con.close()
    assert after == before + int(batch[2]["reserved"]), (before, after, batch)
    assert of_source > 0, "nothing of source %d waits to be labeled for testing" % short
    assert int(loaded[2]["n"]) == after, (loaded, after)
    app.settle(0.8)
    shot(app, "frames-test-batch")
    g.log("suspect labels: %d as the CLI; test batch: %d frames reserved, %d shown"
          % (len(suspect), int(batch[2]["reserved"]), after))


def tour(work, project, lang, size, tag):
    """Screenshots of each page of the finished project, for the README and the translators."""
    shots = os.path.join(g.screenshot_root(), "loop", tag)
    app = g.Workbench(os.path.join(work, tag), lang=lang, size=size)
    try:
        app.start(project, screenshot_dir=shots)
        app.wait_for("grid-painted")
        app.settle(0.8)
        shot(app, "1-frames")
        for i, name in ((1, "2-capture"), (2, "3-training"), (3, "4-models")):
            page(app, i)
            if i == 3:
                app.wait_for("models-compared", timeout=60)
            app.settle(0.8)
            shot(app, name)
        app.quit()
    finally:
        app.kill()


def main():
    g.skip_without_display()
    work = g.workdir("loop")
    project = prepare(work)
    shots = os.path.join(g.screenshot_root(), "loop", "run")
    app = g.Workbench(work, size=(1366, 768))
    try:
        app.start(project, screenshot_dir=shots)
        app.wait_for("grid-painted")
        capture_stall, n_stream = capture(app, work, project, shots)
        train_stall, wall, new_id = training(app, project)
        models_page(app, work, project, new_id)
        app.quit()
    finally:
        app.kill()
    g.log("main-loop stalls: capture %.1f ms, training %.1f ms (limit %.0f)"
          % (capture_stall, train_stall, STALL_LIMIT_MS))
    assert capture_stall < STALL_LIMIT_MS, "the main loop stalled %.1f ms during capture" % (
        capture_stall,)
    assert train_stall < STALL_LIMIT_MS, "the main loop stalled %.1f ms during training" % (
        train_stall,)

    if os.environ.get("GEMBA_LOOP_TOUR", "1") != "0":
        for lang, size, tag in (("en_US", (1366, 768), "en-1366"),
                                ("zh_CN", (1366, 768), "zh_CN-1366"),
                                ("en_US", (1920, 1080), "en-1920"),
                                ("zh_CN", (1920, 1080), "zh_CN-1920")):
            tour(work, project, lang, size, tag)
    g.log("PASS; demo fine-tune wall time %.1f s; screenshots in %s"
          % (wall, os.path.join(g.screenshot_root(), "loop")))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
