#!/usr/bin/python3
"""bench/loop driver: the whole learning loop on a lighting shift, Gemba's CLI against PyTorch.

Run through bench/loop/run.sh [BUILD]. For each seed:
  1. make-frames renders the scenario (900 labeled frames of lines 1 and 2, 600 unlabeled of
     line 3 under a new lighting, 400 + 400 held-out test frames of both conditions);
  2. Gemba: init, import, `gemba train` (defaults), `gemba promote`, `gemba ls --review --json`;
     a scripted annotator labels the queue's first 50 frames with the generator's truth
     (`gemba label`); in a copy of the project, 50 random unlabeled frames instead (the control);
     `gemba train --from production` in each; `gemba export` without --force (the gate), then
     with --force if refused; `gemba infer` on both held-out sets;
  3. PyTorch (loop_torch.py): the same frames Gemba trained on, the same 50 random frames and
     the same 50 queue frames, a conventional recipe.
Prints a table of mean ± std over the seeds, and the targets of issue 10 against them.
"""
import argparse
import hashlib
import json
import os
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
N_FIX = 50


def run(cmd, check=True, **kw):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    if check and p.returncode != 0:
        sys.exit(f"loop.py: {' '.join(cmd)} failed ({p.returncode}):\n{p.stderr}")
    return p


class Measured:
    """Wall seconds of a block, and the kernel CPU seconds and minor page faults of the child
    processes that ran in it: `with Measured() as m: ...`, then m.seconds, m.sys, m.faults."""

    def __enter__(self):
        u = resource.getrusage(resource.RUSAGE_CHILDREN)
        self._start = (time.perf_counter(), u.ru_stime, u.ru_minflt)
        return self

    def __exit__(self, *exc):
        u = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0, sys0, faults0 = self._start
        self.seconds = time.perf_counter() - t0
        self.sys = u.ru_stime - sys0
        self.faults = u.ru_minflt - faults0
        return False


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def read_truth(frames):
    truth = {}
    with open(os.path.join(frames, "truth.tsv")) as f:
        next(f)
        for line in f:
            s, name, _, cls = line.rstrip("\n").split("\t")
            truth[name] = (s, cls)
    return truth


def ls_json(gemba, project, *args):
    out = run([gemba, "ls", project, "--json", *args]).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


class Gemba:
    def __init__(self, build, work, key):
        self.bin = os.path.join(build, "src", "cli", "gemba")
        self.work = work
        self.key = key

    def __call__(self, *args, check=True):
        return run([self.bin, *args], check=check)

    def accuracy(self, package, frames, truth, sets):
        files = [os.path.join(frames, s, n) for n, (s, _) in sorted(truth.items()) if s in sets]
        out = self("infer", package, *files, "--json", "--trust",
                   os.path.join(self.key, "public")).stdout
        right = total = 0
        for line in out.splitlines():
            r = json.loads(line)
            total += 1
            right += r.get("verdict") == truth[os.path.basename(r["file"])][1]
        return right / max(total, 1)

    def export(self, project, model, out):
        """Exports through the gate; returns (passed, message); forces a refused export."""
        p = self("export", project, str(model), "-o", out, "--key",
                 os.path.join(self.key, "secret"), check=False)
        if p.returncode == 0:
            return True, ""
        lines = p.stderr.strip().splitlines() or ["?"]
        # The refusal, then its first reason ("  - significantly worse on class …").
        message = " ".join([lines[0]] + [x.strip()[2:] for x in lines[1:2] if x.startswith("  - ")])
        self("export", project, str(model), "-o", out, "--key", os.path.join(self.key, "secret"),
             "--force", "--reason", "bench/loop measures every fine-tune")
        return False, message


def newest_model(project):
    """The newest model's id and settings, read-only from the project database."""
    db = sqlite3.connect(f"file:{os.path.join(project, 'project.gemba')}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT id, settings FROM models ORDER BY id DESC LIMIT 1").fetchone()
    finally:
        db.close()
    return row[0], json.loads(row[1])


def one_seed(args, gemba, seed):
    work = os.path.join(gemba.work, f"seed{seed}")
    frames = os.path.join(work, "frames")
    project = os.path.join(work, "project")
    os.makedirs(work)
    run([os.path.join(args.build, "bench", "loop", "make-frames"), frames, str(seed)])
    truth = read_truth(frames)
    by_sha = {}
    for name, (s, _) in truth.items():
        if s in ("old", "pool"):
            cls = truth[name][1]
            path = (os.path.join(frames, "old", "line" + name[1], cls, name) if s == "old"
                    else os.path.join(frames, "pool", name))
            by_sha[sha256(path)] = name
    test_sets = {"old": ["test-old"], "new": ["test-new"]}
    r = {"seed": seed}

    gemba("init", project, "-c", "ok,scratch,dent,missing-hole")
    gemba("import", project, os.path.join(frames, "old", "line1"), "-s", "Line 1 top camera",
          "-q")
    gemba("import", project, os.path.join(frames, "old", "line2"), "-s", "Line 2 side camera",
          "-q")
    gemba("import", project, os.path.join(frames, "pool"), "-s", "Line 3 top camera", "-q")

    # First model, with the defaults.
    with Measured() as train:
        gemba("train", project, "--seed", str(seed), "-q")
    r["g_train_s"] = train.seconds
    first, settings = newest_model(project)
    r["g_input"] = settings["input"]["width"]

    # The review queue: promote, classify what promote left unclassified, list.
    with Measured() as listing:
        gemba("promote", project, str(first))
        unlabeled = ls_json(gemba.bin, project, "--unlabeled")
        if any(f.get("prediction") is None for f in unlabeled):
            gemba("predict", project, str(first), "-q")
            r["g_predict_all"] = True
        queue = ls_json(gemba.bin, project, "--review", "--limit", str(N_FIX))
    r["g_queue_s"] = listing.seconds

    pool = sorted(n for n, (s, _) in truth.items() if s == "pool")
    rng = random.Random(seed)
    picks = {"queue": [by_sha[f["id"]] for f in queue],
             "random": rng.sample(pool, N_FIX)}
    predicted = {by_sha[f["id"]]: f.get("prediction") for f in unlabeled if f["id"] in by_sha}
    r["queue_labeled_first"] = sum(1 for f in queue if f.get("label"))
    r["queue_pool"] = sum(1 for n in picks["queue"] if truth[n][0] == "pool")
    for kind, names in picks.items():
        r[f"{kind}_errors"] = sum(1 for n in names
                                  if truth[n][0] == "pool" and predicted.get(n) != truth[n][1])
        classes = [predicted.get(n) for n in names]
        r[f"{kind}_max_class_share"] = max(classes.count(c) for c in set(classes)) / len(names)
        with open(os.path.join(work, kind + ".list"), "w") as f:
            f.write("\n".join(names) + "\n")

    base_pkg = os.path.join(work, "base.gemba")
    gemba.export(project, first, base_pkg)
    for cond, sets in test_sets.items():
        r[f"g_base_{cond}"] = gemba.accuracy(base_pkg, frames, truth, sets)

    shutil.copytree(project, project + "-random")
    for kind in ("queue", "random"):
        p = project if kind == "queue" else project + "-random"
        sha_of = {v: k for k, v in by_sha.items()}
        for name in picks[kind]:
            gemba("label", p, sha_of[name], truth[name][1])
        with Measured() as tune:
            gemba("train", p, "--from", "production", "--seed", str(seed), "-q")
        r[f"g_{kind}_finetune_s"] = tune.seconds
        if kind == "queue":
            # the kernel's share of the processes the loop's wall time counts
            loop = (train, listing, tune)
            r["g_loop_sys_s"] = sum(m.sys for m in loop)
            r["g_loop_faults"] = sum(m.faults for m in loop)
        tuned, _ = newest_model(p)
        pkg = os.path.join(work, kind + ".gemba")
        r[f"g_{kind}_gate"], r[f"g_{kind}_gate_message"] = gemba.export(p, tuned, pkg)
        for cond, sets in test_sets.items():
            r[f"g_{kind}_{cond}"] = gemba.accuracy(pkg, frames, truth, sets)

    r["g_loop_s"] = r["g_train_s"] + r["g_queue_s"] + r["g_queue_finetune_s"]
    if args.gemba_only:
        if not args.keep:
            shutil.rmtree(frames)
        return r
    # PyTorch on the frames Gemba trained and validated on, with the same corrections.
    trained = [by_sha[f["id"]] for f in ls_json(gemba.bin, project + "-random", "--labeled")
               if f.get("split") in ("train", "val") and f["id"] in by_sha
               and truth[by_sha[f["id"]]][0] == "old"]
    train_list = os.path.join(work, "torch-train.list")
    with open(train_list, "w") as f:
        f.write("\n".join(trained) + "\n")
    with Measured() as torch_run:
        t = json.loads(run(["/usr/bin/python3", os.path.join(HERE, "loop_torch.py"),
                            "--data", frames, "--train", train_list, "--seed", str(seed),
                            "--threads", str(args.threads),
                            "--fix", "random=" + os.path.join(work, "random.list"),
                            "--fix", "queue=" + os.path.join(work, "queue.list")]).stdout)
    r["t_sys_s"], r["t_faults"] = torch_run.sys, torch_run.faults
    r["t_train_s"] = t["train_s"]
    r["t_n_train"] = t["n_train"]
    for cond in ("old", "new"):
        r[f"t_base_{cond}"] = t["base"][cond]
        for kind in ("random", "queue"):
            r[f"t_{kind}_{cond}"] = t[kind][cond]
    for kind in ("random", "queue"):
        r[f"t_{kind}_finetune_s"] = t[kind]["finetune_s"]
    r["t_loop_s"] = r["t_train_s"] + r["t_random_finetune_s"]
    if not args.keep:
        shutil.rmtree(frames)
    return r


def ms(values, scale=1.0, fmt="{:.1f}"):
    if any(x is None for x in values):
        return "-"  # not measured (--gemba-only)
    v = [x * scale for x in values]
    sd = statistics.stdev(v) if len(v) > 1 else 0.0
    return f"{fmt.format(statistics.mean(v))} ± {fmt.format(sd)}"


def report(results):
    def col(key):
        return [r.get(key) for r in results]

    def mean(key, scale=1.0):
        if any(x is None for x in col(key)):
            return None
        return statistics.mean(col(key)) * scale

    print()
    print(f"| Mean ± std over {len(results)} seeds | old lighting, % | new lighting, % |")
    print("| --- | ---: | ---: |")
    rows = [("Gemba, first model", "g_base"), ("Gemba, + 50 from the review queue", "g_queue"),
            ("Gemba, + 50 random (control)", "g_random"), ("PyTorch, first model", "t_base"),
            ("PyTorch, + 50 random", "t_random"), ("PyTorch, + the same 50 as Gemba's queue",
                                                    "t_queue")]
    for label, key in rows:
        print(f"| {label} | {ms(col(key + '_old'), 100)} | {ms(col(key + '_new'), 100)} |")
    print()
    print("| Mean ± std | Gemba | PyTorch |")
    print("| --- | ---: | ---: |")
    print(f"| first model, s | {ms(col('g_train_s'))} | {ms(col('t_train_s'))} |")
    print(f"| review queue (promote, classify, list), s | {ms(col('g_queue_s'))} | - |")
    print(f"| fine-tune on the queue's 50, s | {ms(col('g_queue_finetune_s'))} | "
          f"{ms(col('t_queue_finetune_s'))} |")
    print(f"| train + queue + fine-tune, s | {ms(col('g_loop_s'))} | {ms(col('t_loop_s'))} |")
    # Where the machine makes page faults dear, PyTorch's allocator pays for them (its tensors
    # are allocated and given back to the system at every step); say so beside the times.
    print(f"| time in the kernel, s (Gemba: those processes; PyTorch: its whole process) | "
          f"{ms(col('g_loop_sys_s'))} | {ms(col('t_sys_s'))} |")
    print(f"| page faults, thousands (the same processes) | {ms(col('g_loop_faults'), 1e-3)} | "
          f"{ms(col('t_faults'), 1e-3)} |")
    print(f"| input size (Gemba's default) | {ms(col('g_input'), fmt='{:.0f}')} | 64 |")
    print(f"| frames trained on (first model) | | {ms(col('t_n_train'), fmt='{:.0f}')} |")
    print()
    print("| Review queue, mean ± std | queue's first 50 | 50 random |")
    print("| --- | ---: | ---: |")
    print(f"| frames the first model gets wrong | {ms(col('queue_errors'))} | "
          f"{ms(col('random_errors'))} |")
    print(f"| largest share of one predicted class, % | "
          f"{ms(col('queue_max_class_share'), 100)} | {ms(col('random_max_class_share'), 100)} |")
    print(f"| already-labeled frames among them | {ms(col('queue_labeled_first'))} | 0 |")
    gates = sum(1 for r in results if r["g_queue_gate"])
    gates_r = sum(1 for r in results if r["g_random_gate"])
    print(f"| fine-tunes the gate passes without --force | {gates} of {len(results)} | "
          f"{gates_r} of {len(results)} |")
    for r in results:
        for kind in ("queue", "random"):
            if not r[f"g_{kind}_gate"]:
                print(f"  seed {r['seed']} {kind}: {r[f'g_{kind}_gate_message']}")

    print()
    print("Targets of issue 10:")
    torch_random = mean("t_random_new", 100)
    targets = [
        ("new lighting after 50 queue corrections >= PyTorch random-50 + 3 points",
         mean("g_queue_new", 100), None if torch_random is None else torch_random + 3),
        ("new lighting after 50 queue corrections >= Gemba random-50",
         mean("g_queue_new", 100), mean("g_random_new", 100)),
        ("old lighting drops at most 0.5 point (queue fine-tune vs first model)",
         mean("g_queue_old", 100), mean("g_base_old", 100) - 0.5),
        ("errors among the queue's first 50 >= 1.5 x among 50 random",
         mean("queue_errors"), 1.5 * mean("random_errors")),
    ]
    for text, got, want in targets:
        if want is None:
            print(f"  [not measured] {text}: {got:.1f} vs - (--gemba-only)")
            continue
        print(f"  [{'met' if got >= want else 'MISSED'}] {text}: {got:.1f} vs {want:.1f}")
    share = mean("queue_max_class_share", 100)
    print(f"  [{'met' if share <= 40 else 'MISSED'}] no predicted class over 40 % of the queue's "
          f"50: {share:.0f} %")
    print(f"  [{'met' if gates == len(results) else 'MISSED'}] the fine-tune passes the gate "
          f"without --force: {gates} of {len(results)}")
    if mean("t_loop_s") is None:
        print(f"  [not measured] train + queue + fine-tune wall time <= PyTorch's: "
              f"{mean('g_loop_s'):.0f} s vs - (--gemba-only)")
        return
    print(f"  [{'met' if mean('g_loop_s') <= mean('t_loop_s') else 'MISSED'}] train + queue + "
          f"fine-tune wall time <= PyTorch's: {mean('g_loop_s'):.0f} s vs "
          f"{mean('t_loop_s'):.0f} s (ratio {mean('g_loop_s') / mean('t_loop_s'):.2f})")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--build", default="_build")
    p.add_argument("--seeds", default="1,2,3")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--keep", action="store_true", help="keep the work folder")
    p.add_argument("--json", help="also write every seed's figures to this file")
    p.add_argument("--report", nargs="+", metavar="JSON",
                   help="print the table of the seeds saved with --json by earlier runs (e.g. "
                        "one seed per run, run side by side) instead of running")
    p.add_argument("--gemba-only", action="store_true",
                   help="skip the PyTorch half (its rows and the targets against it show -)")
    args = p.parse_args()

    if args.report:
        results = []
        for path in args.report:
            with open(path) as f:
                results.extend(json.load(f))
        results.sort(key=lambda r: r["seed"])
        print(f"# seeds {', '.join(str(r['seed']) for r in results)} from "
              f"{', '.join(args.report)}")
        report(results)
        return

    work = tempfile.mkdtemp(prefix="gemba-loop.")
    os.environ["GEMBA_AUTHOR"] = "bench"
    os.environ["HOME"] = work  # keys, trusted keys and settings stay in the work folder
    key = os.path.join(work, "keys")
    run([os.path.join(args.build, "src", "cli", "gemba"), "keygen", "-o", key])
    gemba = Gemba(args.build, work, key)
    results = []
    try:
        for seed in [int(s) for s in args.seeds.split(",")]:
            print(f"# seed {seed}…", file=sys.stderr, flush=True)
            results.append(one_seed(args, gemba, seed))
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    finally:
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=1)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"# kept {work}", file=sys.stderr)
    if results:
        report(results)


if __name__ == "__main__":
    main()
