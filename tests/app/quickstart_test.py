#!/usr/bin/env python3
"""README command 1's job, jobs/quickstart.ini, end to end at a fiftieth of its size:
the same stages and options (so a stage added to the quickstart, or an output of one
stage that the next refuses, fails here), with fewer events, epochs and trees. Runs
`bsmhunt run` on 2 ranks and checks that every stage completed, that the results hold
every signal model, that the report's plots exist, and that a second run redoes
nothing. Stop 29 broke the quickstart's last stage without a test noticing.

Usage: quickstart_test.py BSMHUNT WORKDIR"""
import html.parser
import json
import os
import re
import shutil
import subprocess
import sys

SOURCE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1")
# (section, option) -> the smaller value. Each must be in the quickstart exactly once:
# the test fails, rather than silently running the full size, if the job changes shape.
SMALLER = {
    ("generate", "events"): "40000",
    ("generate", "signal-events"): "100",
    ("train:mlp", "epochs"): "2",
    ("train:pmlp", "epochs"): "2",
    ("train:bdt", "bdt-trees"): "20",
}
SIGNAL_MODELS = 144  # DESIGN.md section 1: analysis A's grid


def smaller_job(text):
    section, out, seen = None, [], set()
    for line in text.splitlines():
        m = re.match(r"\s*\[([^\]]+)\]\s*$", line)
        if m:
            section = m.group(1)
        else:
            m = re.match(r"\s*([A-Za-z0-9-]+)\s*=", line)
            if m and (section, m.group(1)) in SMALLER:
                key = (section, m.group(1))
                if key in seen:
                    sys.exit(f"jobs/quickstart.ini sets [{key[0]}] {key[1]} twice")
                seen.add(key)
                line = f"{key[1]} = {SMALLER[key]}"
        out.append(line)
    missing = set(SMALLER) - seen
    if missing:
        sys.exit(f"jobs/quickstart.ini no longer sets {sorted(missing)}: update this test")
    return "\n".join(out) + "\n"


def job_stages(text):
    m = re.search(r"^stages\s*=\s*(.+)$", text, re.M)
    return [s.strip() for s in m.group(1).split(",")]


class Images(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.sources += [v for k, v in attrs if k == "src"]


def run(bsmhunt, job, out):
    p = subprocess.run(["mpirun", "-n", "2", bsmhunt, "run", job, "--output-dir", out],
                       env=ENV, capture_output=True, text=True, timeout=900)
    return p.returncode, p.stdout + p.stderr


def main():
    bsmhunt, work = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    with open(os.path.join(SOURCE, "jobs", "quickstart.ini")) as f:
        text = smaller_job(f.read())
    job, out = os.path.join(work, "quickstart.ini"), os.path.join(work, "out")
    with open(job, "w") as f:
        f.write(text)
    failures = []

    code, log = run(bsmhunt, job, out)
    if code != 0:
        sys.exit(f"FAILED: the quickstart job ended with exit {code}:\n{log[-6000:]}")

    with open(os.path.join(out, "manifest.json")) as f:
        manifest = {s["stage"]: s for s in json.load(f)["stages"]}
    for stage in job_stages(text):
        if not manifest.get(stage, {}).get("complete"):
            failures.append(f"stage {stage} is not complete in manifest.json")

    for name in ("mlp_limits.json", "pmlp_limits.json"):
        with open(os.path.join(out, name)) as f:
            limits = json.load(f)
        models = limits["models"]
        if len(models) != SIGNAL_MODELS:
            failures.append(f"{name}: {len(models)} models, expected {SIGNAL_MODELS}")
        with_limit = [m for m in models if m.get("ok") and m["limit"]["expected"][2] > 0]
        # Tiny samples leave some models without background in their bins; most must fit.
        if len(with_limit) < SIGNAL_MODELS // 2:
            failures.append(f"{name}: only {len(with_limit)} of {len(models)} models have an expected limit")
    for name in ("mlp_significance.json", "pmlp_significance.json", "bdt_significance.json"):
        with open(os.path.join(out, name)) as f:
            channels = json.load(f)["channels"]
        names = sorted(c["name"] for c in channels)
        if names != ["ee", "mumu"]:
            failures.append(f"{name}: channels {names}, expected ee and mumu")

    page = os.path.join(out, "report", "index.html")
    if not os.path.exists(page):
        failures.append("the report has no index.html")
    else:
        parser = Images()
        with open(page) as f:
            parser.feed(f.read())
        plots = [s for s in parser.sources if not s.startswith("data:")]
        if len(plots) < 20:
            failures.append(f"the report shows {len(plots)} plots, expected the features, scores, scans and limits")
        for src in plots:
            path = os.path.join(out, "report", src)
            if not os.path.exists(path):
                failures.append(f"the report shows {src}, which does not exist")
            else:
                with open(path, "rb") as f:
                    if f.read(8) != b"\x89PNG\r\n\x1a\n":
                        failures.append(f"{src} is not a PNG image")

    code, log = run(bsmhunt, job, out)
    if code != 0:
        failures.append(f"the second run failed (exit {code}):\n{log[-3000:]}")
    else:
        redone = [stage for stage in job_stages(text)
                  if f"stage {stage}: complete with the same inputs and configuration, skipped" not in log]
        if redone:
            failures.append(f"the second run did not skip {redone}:\n{log[-3000:]}")

    if failures:
        print("FAILED:\n" + "\n".join(failures))
        sys.exit(1)
    print(f"passed: the quickstart's {len(job_stages(text))} stages at a fiftieth of its size, "
          f"{len(plots)} plots in the report, and a second run that redoes nothing")


if __name__ == "__main__":
    main()
