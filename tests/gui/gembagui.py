"""Drives the real gemba-workbench under X as a person would: real key presses and clicks
through xdotool (XTEST), and, for what no person does (screenshots, the stall probe), the
application's debug actions over its session D-Bus.

SPDX-License-Identifier: GPL-3.0-or-later
"""
import atexit
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

SKIP = 77
BUILD = os.environ.get("GEMBA_BUILD_ROOT") or os.path.abspath("_build")
WORKBENCH = os.path.join(BUILD, "src", "gui", "gemba-workbench")
CLI = os.path.join(BUILD, "src", "cli", "gemba")
APP_ID = "dev.gemba.Workbench"
OBJECT_PATH = "/dev/gemba/Workbench"


def log(*args):
    print(*args, flush=True)


def skip_without_display():
    if not os.environ.get("DISPLAY"):
        log("SKIP: no display (run under xvfb-run)")
        sys.exit(SKIP)
    for tool in ("xdotool", "gdbus"):
        if not shutil.which(tool):
            log("SKIP: %s is not installed" % tool)
            sys.exit(SKIP)
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        log("SKIP: no session bus (run under dbus-run-session)")
        sys.exit(SKIP)
    keep_display()


_keeper = None


def keep_display():
    """Xvfb resets when its last client leaves, which can race a restarted workbench: hold
    one connection open for the whole test."""
    global _keeper
    if _keeper is None and shutil.which("xprop"):
        _keeper = subprocess.Popen(["xprop", "-root", "-spy"], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        atexit.register(_keeper.kill)


def screenshot_root():
    root = os.path.join(BUILD, "meson-logs", "screenshots")
    os.makedirs(root, exist_ok=True)
    return root


def make_demo(path):
    """A fresh demo project, made by the gemba CLI once per build and copied."""
    cache = os.path.join(BUILD, "tests", "gui", "demo-project")
    if not os.path.exists(os.path.join(cache, "project.gemba")):
        shutil.rmtree(cache, ignore_errors=True)
        subprocess.run([CLI, "demo", cache], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    shutil.copytree(cache, path)
    return path


def session_bus():
    """A session bus of its own (a dbus-daemon stopped at exit), as another PC's desktop has:
    the workbench is a unique application, so a second one on the same bus would hand its
    window to the first. Returns the bus address, for Workbench(bus=...)."""
    daemon = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    atexit.register(daemon.kill)
    address = daemon.stdout.readline().strip()
    if not address:
        raise AssertionError("dbus-daemon --session gave no address")
    return address


class Workbench:
    def __init__(self, workdir, lang=None, size=None, settings=None, bus=None):
        self.workdir = workdir
        self.bus = bus
        self.config = os.path.join(workdir, "config")
        self.probe = os.path.join(workdir, "probe.log")
        self.lang = lang
        self.proc = None
        self.window = None
        self.settings = dict(settings or {})
        if size:
            self.settings["window-width"] = str(size[0])
            self.settings["window-height"] = str(size[1])
        self.write_settings()

    def write_settings(self):
        # A keyfile backend in the test's own folder: settings survive a restart, as they do
        # for a person, and tests do not touch anyone's real settings.
        d = os.path.join(self.config, "glib-2.0", "settings")
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, "keyfile")
        lines = {}
        if os.path.exists(path):
            section = None
            for line in open(path):
                line = line.rstrip("\n")
                if line.startswith("["):
                    section = line
                elif "=" in line and section == "[dev/gemba/Workbench]":
                    k, v = line.split("=", 1)
                    lines[k] = v
        for k, v in self.settings.items():
            lines[k] = v
        with open(path, "w") as f:
            f.write("[dev/gemba/Workbench]\n")
            for k, v in lines.items():
                f.write("%s=%s\n" % (k, v))

    def env(self, screenshot_dir=None):
        env = dict(os.environ)
        env["GSETTINGS_BACKEND"] = "keyfile"
        env["XDG_CONFIG_HOME"] = self.config
        env["XDG_DATA_HOME"] = os.path.join(self.workdir, "data")
        env["GSETTINGS_SCHEMA_DIR"] = os.path.join(BUILD, "data")
        env["GEMBA_UNINSTALLED"] = "1"
        env["GEMBA_PROBE_LOG"] = self.probe
        if self.bus:
            env["DBUS_SESSION_BUS_ADDRESS"] = self.bus
        env["GTK_A11Y"] = "none"
        # Xvfb has no GPU: llvmpipe GL pushes every frame through XPutImage; cairo + XShm
        # is what a software-only display does best. Overridable for a real display.
        env.setdefault("GSK_RENDERER", "cairo")
        env.pop("G_DEBUG", None)
        env.pop("MALLOC_CHECK_", None)
        if screenshot_dir:
            env["GEMBA_SCREENSHOT_DIR"] = screenshot_dir
        # LANGUAGE picks the translation; the locale itself is C.UTF-8, which every system
        # has (a minimal Debian has no zh_CN.UTF-8 locale, and gettext ignores LANGUAGE
        # under a locale that failed to load).
        env["LANG"] = env["LC_ALL"] = "C.UTF-8"
        env["LANGUAGE"] = self.lang or "en"
        return env

    def start(self, project=None, screenshot_dir=None, extra_env=None):
        if os.path.exists(self.probe):
            os.unlink(self.probe)
        args = [WORKBENCH] + ([project] if project else [])
        env = self.env(screenshot_dir)
        env.update(extra_env or {})
        self.started = time.monotonic()
        self.proc = subprocess.Popen(args, env=env)
        self.window = self.find_window()
        self.wait_for("start")
        return self

    def find_window(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("gemba-workbench exited with %d" % self.proc.returncode)
            out = subprocess.run(["xdotool", "search", "--onlyvisible", "--pid",
                                  str(self.proc.pid)], capture_output=True, text=True).stdout
            ids = out.split()
            if ids:
                wid = ids[0]
                subprocess.run(["xdotool", "windowfocus", "--sync", wid], check=False)
                return wid
            time.sleep(0.1)
        raise AssertionError("no window appeared")

    def events(self):
        if not os.path.exists(self.probe):
            return []
        out = []
        for line in open(self.probe):
            parts = line.split()
            if len(parts) < 2:
                continue
            fields = dict(p.split("=", 1) for p in parts[2:] if "=" in p)
            out.append((float(parts[0]), parts[1], fields))
        return out

    def monotonic(self, event):
        """When a probe event happened, on time.monotonic()'s clock (both are CLOCK_MONOTONIC):
        to compare two workbenches' logs."""
        start = next(e for e in self.events() if e[1] == "start")
        return (float(start[2]["monotonic_us"]) / 1000.0 + event[0]) / 1000.0

    def count(self, event):
        return sum(1 for e in self.events() if e[1] == event)

    def wait_for(self, event, n=1, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            matching = [e for e in self.events() if e[1] == event]
            if len(matching) >= n:
                return matching[n - 1]
            if self.proc.poll() is not None:
                raise AssertionError("gemba-workbench exited (%d) while waiting for %s"
                                     % (self.proc.returncode, event))
            time.sleep(0.05)
        raise AssertionError("timed out waiting for %d × %s; probe log:\n%s"
                             % (n, event, open(self.probe).read() if os.path.exists(self.probe) else ""))

    def gaps(self, over_ms=16.0):
        """The main-loop stalls over @over_ms (the probe logs those over 16 ms) since the probe
        was last reset, each with what came just before it in the probe log (a test's mark, or
        the workbench's last event), as (step, own_ms, wall_ms); own: not waiting for a CPU.
        Tells which gesture a stall was."""
        out, step = [], "start"
        if not os.path.exists(self.probe):
            return out
        for line in open(self.probe):
            parts = line.split()
            if len(parts) < 2:
                continue
            fields = dict(p.split("=", 1) for p in parts[2:] if "=" in p)
            if parts[1] == "stall-reset":
                out = []
            elif parts[1] == "gap":
                if float(fields.get("ms", 0)) > over_ms:
                    out.append((step, float(fields.get("own_ms", 0)), float(fields["ms"])))
                continue
            step = fields.get("name", "?") if parts[1] == "mark" else parts[1]
        return out

    def mark(self, name):
        """A line in the probe log, to see which step a stall belongs to."""
        with open(self.probe, "a") as f:
            f.write("-1 mark name=%s\n" % name)

    def focus(self):
        subprocess.run(["xdotool", "windowfocus", "--sync", self.window], check=False)

    def key(self, *keys, delay=40, focus=True):
        """Real key presses (XTEST) into the workbench window, or with focus=False into
        whatever window has the focus (a dialog the workbench opened)."""
        if focus:
            self.focus()
        subprocess.run(["xdotool", "key", "--delay", str(delay)] + list(keys), check=True)

    def click(self, x, y, button=1):
        subprocess.run(["xdotool", "mousemove", "--window", self.window, str(x), str(y),
                        "click", str(button)], check=True)

    def action(self, name, param=None):
        args = ["gdbus", "call", "--session", "--dest", APP_ID, "--object-path", OBJECT_PATH,
                "--method", "org.gtk.Actions.Activate", name,
                "[<'%s'>]" % param if param is not None else "[]", "{}"]
        env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS=self.bus) if self.bus else None
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL, env=env)

    def screenshot(self, name):
        before = self.count("screenshot")
        failed = self.count("screenshot-failed")
        self.action("debug-screenshot", name)
        deadline = time.monotonic() + 90
        while self.count("screenshot") <= before:
            if self.count("screenshot-failed") > failed:
                raise AssertionError("the workbench had nothing to render for screenshot %s"
                                     % name)
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.wait_for("screenshot", before + 1, timeout=0)   # raises, with the log
            time.sleep(0.05)

    def settle(self, seconds=0.6):
        time.sleep(seconds)

    def quit(self, timeout=30):
        """Ctrl+Q, as a person closes it."""
        if self.proc.poll() is None:
            self.key("ctrl+q")
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGTERM)
            rc = self.proc.wait(10)
            raise AssertionError("gemba-workbench did not quit on Ctrl+Q")
        assert rc == 0, "gemba-workbench exited with %d" % rc

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def db(project):
    return sqlite3.connect("file:%s?mode=ro" % os.path.join(project, "project.gemba"), uri=True)


def review_queue(project):
    out = subprocess.run([CLI, "ls", project, "--review", "--json"], check=True,
                         capture_output=True, text=True).stdout
    return [json.loads(line)["id"] for line in out.splitlines() if line.strip()]


def workdir(name):
    return tempfile.mkdtemp(prefix="gemba-gui-%s-" % name)
