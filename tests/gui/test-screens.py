#!/usr/bin/python3
"""Every screen of the workbench, in English and in Simplified Chinese, at 1366×768 and at
1920×1080, driven by keys and saved as PNG under <build>/meson-logs/screenshots/screens/.

Checks along the way that each screen comes up (the window and each dialog is rendered) and
that what was done by key reached the project (one label given in the frame view).

SPDX-License-Identifier: GPL-3.0-or-later
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gembagui as g  # noqa: E402

LANGS = ["en", "zh_CN"]
SIZES = [(1366, 768), (1920, 1080)]


def shots_of(app, name):
    return [e for e in app.events() if e[1] == "screenshot" and
            os.path.basename(e[2]["path"]).startswith(name)]


def run(lang, size, root):
    tag = "%s-%dx%d" % (lang, size[0], size[1])
    work = g.workdir("screens-" + tag)
    project = g.make_demo(os.path.join(work, "demo"))
    shots = os.path.join(root, tag)
    app = g.Workbench(work, lang=lang, size=size,
                      settings={"recent-projects": "['%s']" % project})

    # The start page: no project given, none open last time; the demo is a recent project.
    try:
        app.start(None, screenshot_dir=shots)
        app.settle(1.5)
        app.screenshot("01-start")
        app.quit()
    finally:
        app.kill()

    app = g.Workbench(work, lang=lang, size=size)
    try:
        app.start(project, screenshot_dir=shots)
        app.wait_for("grid-painted")
        app.settle(1.5)
        app.screenshot("02-review-queue")
        app.key("Return")
        app.settle(1.0)
        app.screenshot("03-frame-view")
        app.key("2")
        app.wait_for("labeled")
        app.settle(0.8)
        app.screenshot("04-frame-labeled")
        app.key("plus", "plus")
        app.settle(0.5)
        app.screenshot("05-frame-zoomed")
        app.key("ctrl+0", "Escape")
        app.settle(0.8)
        app.screenshot("06-grid-after-label")
        app.key("ctrl+k")
        app.settle(1.0)
        app.screenshot("07-classes")
        assert shots_of(app, "07-classes-1"), "the class editor did not open on Ctrl+K"
        # Adding a class by keyboard: the editor opens on "New class name".
        subprocess.run(["xdotool", "type", "--delay", "40", "burr"], check=True)
        app.key("Return", focus=False)
        app.settle(1.0)
        app.screenshot("07-classes-added")
        app.key("Escape", focus=False)
        app.settle(0.5)
        app.key("ctrl+comma")
        app.settle(1.0)
        app.screenshot("08-preferences")
        assert shots_of(app, "08-preferences-1"), "preferences did not open on Ctrl+,"
        # The annotator's name, typed and confirmed with Enter, signs the next label.
        subprocess.run(["xdotool", "type", "--delay", "40", "anna"], check=True)
        app.key("Return", focus=False)
        app.settle(0.5)
        app.key("Escape", focus=False)
        app.settle(0.5)
        app.key("Return")   # the grid's selected frame, large
        app.settle(0.8)
        app.key("1")
        app.wait_for("labeled", 2)
        app.key("Escape")
        app.settle(0.5)
        app.key("ctrl+question")
        app.settle(1.0)
        app.screenshot("09-shortcuts")
        assert shots_of(app, "09-shortcuts-1"), "the shortcuts window did not open on Ctrl+?"
        app.key("Escape", focus=False)
        app.settle(0.5)
        # About, from the main menu by keys: F10 opens it, Up wraps to its last item.
        app.key("F10")
        app.settle(0.5)
        app.key("Up", "Return")
        app.settle(1.0)
        app.screenshot("10-about")
        assert shots_of(app, "10-about-1"), "About did not open from the main menu"
        app.key("Escape", focus=False)
        app.settle(0.5)
        app.quit()
    finally:
        app.kill()
    con = g.db(project)
    before = g.db(os.path.join(g.BUILD, "tests", "gui", "demo-project"))
    n_before = before.execute("SELECT count(*) FROM labels").fetchone()[0]
    before.close()
    n = con.execute("SELECT count(*) FROM labels").fetchone()[0] - n_before
    con.close()
    assert n == 2, "expected the two labels given by keys 2 and 1, found %d" % n
    con = g.db(project)
    burr = con.execute("SELECT key FROM classes WHERE name = 'burr'").fetchone()
    author = con.execute("SELECT author FROM labels ORDER BY id DESC LIMIT 1").fetchone()[0]
    con.close()
    assert burr is not None, "the class typed in the class editor was not added"
    assert burr[0] == 5, "the new class got key %r, expected the next free key 5" % (burr[0],)
    assert author == "anna", "the last label was signed %r, not by the name set in the " \
        "preferences" % author
    g.log("%s: screenshots in %s" % (tag, shots))


def main():
    g.skip_without_display()
    root = os.path.join(g.screenshot_root(), "screens")
    for lang in LANGS:
        for size in SIZES:
            run(lang, size, root)
    g.log("PASS")


if __name__ == "__main__":
    main()
