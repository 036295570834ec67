#!/usr/bin/python3
"""A spool two production lines wrote (sidecar + PNG records, as the gembaclassify element
writes them) is imported with `gemba import` into the demo project. The Frames sidebar then
lists each line under Lines and each package version that classified frames under Package
versions, with the counts the project database holds; clicking a row shows exactly those
frames.

SPDX-License-Identifier: GPL-3.0-or-later
"""
import hashlib
import json
import os
import struct
import subprocess
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gembagui as g  # noqa: E402

CLASSES = ["dent", "missing-hole", "ok", "scratch"]
# (line, package version, number of records)
RECORDS = [("Line 3", "1.0", 4), ("Line 4", "1.0", 2), ("Line 4", "1.1", 3)]


def png(width, height, seed):
    """A small RGB PNG, distinct per @seed."""
    raw = b"".join(b"\0" + bytes((x * 7 + y * 3 + seed * 41) % 256 for x in range(width * 3))
                   for y in range(height))

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def write_spool(root):
    """LINE/DAY/NAME.png + NAME.json, the sidecar written last, as the element does."""
    seed = 0
    for line, version, n in RECORDS:
        package_sha = hashlib.sha256(("washers " + version).encode()).hexdigest()
        day = os.path.join(root, line.replace(" ", "_"), "2026-12-06")
        os.makedirs(day, exist_ok=True)
        for i in range(n):
            seed += 1
            image = png(48, 32, seed)
            stem = os.path.join(day, "20261206T0100%02d_000000_%d" % (seed, seed))
            with open(stem + ".png", "wb") as f:
                f.write(image)
            scores = [0.1, 0.1, 0.5, 0.3]
            record = {
                "format": "gemba-spool-record",
                "time": "2026-12-06T01:00:%02dZ" % seed,
                "pts": seed * 40000000,
                "line": line,
                "host": "test",
                "reason": "uncertain",
                "verdict": "uncertain",
                "label": "ok",
                "confidence": 0.5,
                "classes": CLASSES,
                "scores": scores,
                "thresholds": {"reject_below": 0.3, "uncertain_below": 0.6},
                "package": {"name": "washers", "version": version, "sha256": package_sha,
                            "weights_sha256": hashlib.sha256(version.encode()).hexdigest()},
                "image": {"sha256": hashlib.sha256(image).hexdigest(), "width": 48,
                          "height": 32},
            }
            with open(stem + ".json", "w") as f:
                json.dump(record, f)


def where(app, name, timeout=30):
    """The newest logged place of the watched widget @name, once it stopped moving."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [e[2] for e in app.events() if e[1] == "where" and e[2].get("name") == name]
        if found and int(float(found[-1]["w"])) > 1:
            time.sleep(0.3)
            again = [e for e in app.events() if e[1] == "where" and e[2].get("name") == name]
            if len(again) == len(found):
                return tuple(int(float(found[-1][k])) for k in ("x", "y", "w", "h"))
            continue
        time.sleep(0.05)
    raise AssertionError("filter row %s never appeared" % name)


def sidebar_counts(app):
    """The newest count each sidebar row shows."""
    return {e[2]["key"]: int(e[2]["n"]) for e in app.events() if e[1] == "filter-count"}


def main():
    g.skip_without_display()
    work = g.workdir("lines")
    project = g.make_demo(os.path.join(work, "demo"))
    spool = os.path.join(work, "spool")
    write_spool(spool)
    # The demo has no model the packages came from: the frames come without the verdicts,
    # which the import says, but with the line and the package version.
    subprocess.run([g.CLI, "import", project, spool, "--quiet"], check=True)

    con = g.db(project)
    lines = dict(con.execute("SELECT s.name, s.id FROM sources s WHERE s.kind = 'line'"))
    packages = dict(con.execute("SELECT k.version, k.id FROM packages k"))
    truth = {}
    for line, source_id in lines.items():
        truth["source:%d" % source_id] = con.execute(
            "SELECT count(*) FROM frames WHERE source_id = ?", (source_id,)).fetchone()[0]
    for version, package_id in packages.items():
        truth["package:%d" % package_id] = con.execute(
            "SELECT count(*) FROM frames WHERE package_id = ?", (package_id,)).fetchone()[0]
    con.close()
    assert sorted(lines) == ["Line 3", "Line 4"], lines
    assert sorted(packages) == ["1.0", "1.1"], packages
    expected = {"source:%d" % lines["Line 3"]: 4, "source:%d" % lines["Line 4"]: 5,
                "package:%d" % packages["1.0"]: 6, "package:%d" % packages["1.1"]: 3}
    assert truth == expected, (truth, expected)

    shots = os.path.join(g.screenshot_root(), "lines")
    app = g.Workbench(work, size=(1280, 1000))
    try:
        app.start(project, screenshot_dir=shots)
        app.wait_for("grid-painted")
        app.wait_for("counts")
        app.settle(0.5)
        shown = sidebar_counts(app)
        for key, n in truth.items():
            assert shown.get(key) == n, "sidebar row %s shows %r, the project has %d" % (
                key, shown.get(key), n)
        app.screenshot("1-sidebar")
        for key, n in sorted(truth.items()):
            loads = app.count("list-loaded")
            x, y, w, h = where(app, "filter." + key)
            app.click(x + w // 2, y + h // 2)
            loaded = app.wait_for("list-loaded", loads + 1, timeout=30)
            assert int(loaded[2]["n"]) == n, (key, loaded, n)
            g.log("%s: %d frames, as the sidebar says" % (key, n))
        app.settle(0.5)
        app.screenshot("2-package-filter")
        app.quit()
    finally:
        app.kill()
    g.log("lines and package versions: %s" % truth)


if __name__ == "__main__":
    main()
