"""Check that installing tfbert into Google Colab's runtime leaves Colab's own packages alone.

Colab publishes its runtime's ``pip freeze``. This script rebuilds the part of that runtime
that tfbert's install could touch, then installs tfbert exactly as the notebooks do and
compares the installed versions before and after:

1. create a fresh virtual environment with Python 3.13 (Colab's) and upgrade pip in it;
2. dry-run tfbert's install in that empty venv (``--ignore-installed --report``) to learn
   every package name it would install;
3. install, in one ``pip install``, Colab's pinned versions of those packages plus the eight
   watched ones (tensorflow, tf-keras, tensorflow-text, tensorflow-hub, keras, numpy,
   protobuf, wandb);
4. snapshot the installed versions;
5. ``pip install --quiet "tfbert @ git+file://<repo>@<HEAD commit>"`` (the notebooks' command,
   no upgrade flags; pip clones the local repository instead of GitHub);
6. snapshot again, report, and check that ``import tfbert, tensorflow, tf_keras`` works.

It passes (exit 0) only if the eight watched packages keep their versions, no preinstalled
package is downgraded, and tfbert imports. Upgrades of other packages are only reported.
The last line printed is the verdict.

Run from the repository root (standard library only, network access to PyPI needed)::

    python .ci/check_colab_install.py [--freeze PATH] [--python CMD] [--repo DIR] [--venv DIR] [--keep]

Defaults: ``--freeze <repo>/../shared/colab/pip-freeze.txt``; ``--python python3.13``
(run with ``PYENV_VERSION=3.13.0`` unless that variable is set); ``--repo`` the repository
holding this script; ``--venv`` a temporary directory, deleted at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

WATCHED: tuple[str, ...] = (
    "tensorflow",
    "tf-keras",
    "tensorflow-text",
    "tensorflow-hub",
    "keras",
    "numpy",
    "protobuf",
    "wandb",
)
DEFAULT_PYTHON = "python3.13"
DEFAULT_PYENV_VERSION = "3.13.0"
IMPORT_CHECK = "import tfbert, tensorflow as tf, tf_keras; print(tf.__version__)"
PIN_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#@]+)$")
NO_DIST = re.compile(
    r"(?:No matching distribution found for|"
    r"Could not find a version that satisfies the requirement) ([A-Za-z0-9._-]+)==([^\s()]+)"
)
TAIL_LINES = 15
MAX_DROPPED_PINS = 10

Versions = dict[str, tuple[str, str]]  # normalised name -> (display name, version)


class CheckFailed(Exception):
    """An expected failure: reported as one line, no traceback."""


@dataclass(frozen=True)
class Env:
    """How to run the venv's Python and with which environment variables."""

    python: Path
    environ: dict[str, str]


def normalise(name: str) -> str:
    """PEP 503 name normalisation."""
    return re.sub(r"[-_.]+", "-", name).lower()


def say(message: str) -> None:
    print(message, flush=True)


def run(cmd: Sequence[str], environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing stdout and stderr together."""
    return subprocess.run(
        list(cmd), env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, stdin=subprocess.DEVNULL, check=False,
    )


def tail(output: str, lines: int = TAIL_LINES) -> str:
    return "\n".join("    " + line for line in output.rstrip().splitlines()[-lines:])


def first_error(output: str) -> str:
    """pip's first ERROR line, or its last non-empty line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR:")]
    return (errors[0] if errors else lines[-1] if lines else "no output")[:300]


def run_or_fail(cmd: Sequence[str], environ: dict[str, str], what: str) -> str:
    """Run a command; on failure show its last lines and raise a one-line CheckFailed."""
    result = run(cmd, environ)
    if result.returncode != 0:
        say(f"  {what} failed (exit {result.returncode}); last lines:\n{tail(result.stdout)}")
        raise CheckFailed(f"{what}: {first_error(result.stdout)}")
    return result.stdout


def base_environ() -> dict[str, str]:
    """The environment every command runs with."""
    environ = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    environ["PIP_NO_INPUT"] = "1"
    return environ


def probe_python(cmd: list[str], environ: dict[str, str]) -> str | None:
    """The interpreter's real path, or None if the command does not run."""
    try:
        result = run([*cmd, "-c", "import sys; print(sys.executable)"], environ)
    except OSError:
        return None
    lines = result.stdout.strip().splitlines()
    return lines[-1] if result.returncode == 0 and lines else None


def find_python(python_cmd: str | None, environ: dict[str, str]) -> str:
    """Resolve --python to an interpreter path. For the default python3.13 use the inherited
    PYENV_VERSION if it offers python3.13 (pyenv's shims set it to the version that ran this
    script), otherwise PYENV_VERSION=3.13.0."""
    if python_cmd is not None:
        found = probe_python(shlex.split(python_cmd), environ)
        if found is None:
            raise CheckFailed(f"python command does not run: {python_cmd}")
        return found
    found = probe_python([DEFAULT_PYTHON], environ)
    if found is None:
        found = probe_python([DEFAULT_PYTHON], {**environ, "PYENV_VERSION": DEFAULT_PYENV_VERSION})
    if found is None:
        raise CheckFailed(f"{DEFAULT_PYTHON} does not run, not even with PYENV_VERSION={DEFAULT_PYENV_VERSION}")
    return found


def head_commit(repo: Path) -> str:
    result = run(["git", "-C", str(repo), "rev-parse", "HEAD"], dict(os.environ))
    if result.returncode != 0:
        raise CheckFailed(f"{repo} is not a git repository with a commit: {first_error(result.stdout)}")
    return result.stdout.strip()


def read_freeze(path: Path) -> Versions:
    """The plain ``name==version`` pins of a pip freeze file."""
    if not path.is_file():
        raise CheckFailed(f"freeze file not found: {path}")
    pins: Versions = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        match = PIN_LINE.match(raw.strip())
        if match:
            pins[normalise(match.group(1))] = (match.group(1), match.group(2))
    if not pins:
        raise CheckFailed(f"no name==version lines in {path}")
    return pins


def create_venv(base_python: str, environ: dict[str, str], venv: Path) -> Env:
    """A fresh venv with an up-to-date pip."""
    if venv.exists() and any(venv.iterdir()):
        if not (venv / "pyvenv.cfg").is_file():
            raise CheckFailed(f"{venv} exists, is not empty and is not a venv; refusing to clear it")
        shutil.rmtree(venv)
    result = run([base_python, "-m", "venv", str(venv)], environ)
    if result.returncode != 0:
        raise CheckFailed(f"could not create a venv with {base_python}: {first_error(result.stdout)}")
    env = Env(venv / "bin" / "python", {**environ, "VIRTUAL_ENV": str(venv)})
    run_or_fail([str(env.python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], env.environ, "upgrading pip")
    return env


def python_version(env: Env) -> str:
    return run_or_fail([str(env.python), "-c", "import sys; print(sys.version.split()[0])"],
                       env.environ, "asking the venv's Python version").strip()


def would_install(env: Env, requirement: str, workdir: Path) -> dict[str, str]:
    """Normalised name -> version of every package the requirement's install would bring."""
    report = workdir / "tfbert-dry-run.json"
    run_or_fail([str(env.python), "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                 "--report", str(report), requirement], env.environ, "dry-run of tfbert's install")
    data = json.loads(report.read_text(encoding="utf-8"))
    return {normalise(item["metadata"]["name"]): item["metadata"]["version"] for item in data.get("install", [])}


def baseline_pins(freeze: Versions, names: set[str]) -> list[str]:
    """Colab's pins for the packages tfbert touches plus the watched ones."""
    wanted = (names | set(WATCHED)) & set(freeze)
    missing = set(WATCHED) - set(freeze)
    if missing:
        raise CheckFailed(f"watched packages not pinned in the freeze file: {', '.join(sorted(missing))}")
    return [f"{freeze[n][0]}=={freeze[n][1]}" for n in sorted(wanted)]


def install_baseline(env: Env, pins: list[str]) -> list[str]:
    """Install the pins in one pip install; drop (with a note) non-watched pins that have no
    distribution for this Python. Returns the pins that were installed."""
    pins = list(pins)
    for _ in range(MAX_DROPPED_PINS + 1):
        result = run([str(env.python), "-m", "pip", "install", "--quiet", *pins], env.environ)
        if result.returncode == 0:
            return pins
        match = NO_DIST.search(result.stdout)
        pin = f"{match.group(1)}=={match.group(2)}" if match else None
        if pin is None or pin not in pins or normalise(match.group(1)) in WATCHED:
            say(f"  installing Colab's pins failed (exit {result.returncode}); last lines:\n{tail(result.stdout)}")
            raise CheckFailed(f"Colab's pins do not install: {first_error(result.stdout)}")
        say(f"  note: dropping Colab pin {pin}: no distribution of it installs on this Python")
        pins.remove(pin)
    raise CheckFailed(f"more than {MAX_DROPPED_PINS} Colab pins had no distribution for this Python")


def snapshot(env: Env) -> Versions:
    out = run_or_fail([str(env.python), "-m", "pip", "list", "--format=json"], env.environ, "pip list")
    return {normalise(p["name"]): (p["name"], p["version"]) for p in json.loads(out)}


_VERSION = re.compile(
    r"^v?(?:(\d+)!)?(\d+(?:\.\d+)*)"
    r"(?:[-_.]?(a|b|c|rc|alpha|beta|pre|preview)[-_.]?(\d*))?"
    r"(?:-(\d+)|[-_.]?(?:post|rev|r)[-_.]?(\d*))?"
    r"(?:[-_.]?dev[-_.]?(\d*))?(?:\+(.*))?$",
    re.IGNORECASE,
)
_PRE = {"a": 0, "alpha": 0, "b": 1, "beta": 1, "c": 2, "rc": 2, "pre": 2, "preview": 2}


def version_key(version: str) -> tuple[object, ...]:
    """A sort key following PEP 440 closely enough to tell upgrades from downgrades."""
    m = _VERSION.match(version.strip())
    if m is None:
        return (0, (), (0,), (0,), (1,), version)
    epoch, release, pre_l, pre_n, post_a, post_b, dev, local = m.groups()
    nums = tuple(int(x) for x in release.split("."))
    while len(nums) > 1 and nums[-1] == 0:
        nums = nums[:-1]
    post = post_a if post_a is not None else post_b
    is_post = post is not None
    if pre_l is not None:
        pre: tuple[int, ...] = (1, _PRE[pre_l.lower()], int(pre_n or 0))
    elif dev is not None and not is_post:
        pre = (0,)  # a bare dev release sorts before its pre-releases
    else:
        pre = (2,)
    post_key = (1, int(post or 0)) if is_post else (0,)
    dev_key = (0, int(dev or 0)) if dev is not None else (1,)
    return (int(epoch or 0), nums, pre, post_key, dev_key, local or "")


def compare(before: Versions, after: Versions) -> tuple[list[tuple[str, str, str]], list[str], list[str]]:
    """(changed as (name, before, after), added names, removed names); watched ones included."""
    changed = [(after[n][0], before[n][1], after[n][1]) for n in sorted(before)
               if n in after and before[n][1] != after[n][1]]
    added = [after[n][0] for n in sorted(set(after) - set(before))]
    removed = [before[n][0] for n in sorted(set(before) - set(after))]
    return changed, added, removed


def import_check(env: Env) -> str | None:
    """None if tfbert, tensorflow and tf_keras import; else a one-line reason."""
    result = run([str(env.python), "-c", IMPORT_CHECK], env.environ)
    if result.returncode == 0:
        say(f"  import tfbert, tensorflow, tf_keras: ok (tensorflow {result.stdout.strip().splitlines()[-1]})")
        return None
    say(f"  import check failed (exit {result.returncode}); last lines:\n{tail(result.stdout)}")
    lines = [line for line in result.stdout.strip().splitlines() if line.strip()]
    return f"import tfbert failed: {lines[-1].strip() if lines else 'no output'}"


def check(args: argparse.Namespace, venv: Path, workdir: Path) -> str:
    """Run the whole check; return the verdict line."""
    repo = Path(args.repo).resolve()
    freeze = read_freeze(Path(args.freeze) if args.freeze else repo.parent / "shared" / "colab" / "pip-freeze.txt")
    requirement = f"tfbert @ git+file://{repo}@{head_commit(repo)}"
    environ = base_environ()
    base_python = find_python(args.python, environ)

    say(f"[1/6] creating venv {venv} with {base_python}")
    env = create_venv(base_python, environ, venv)
    say(f"  Python {python_version(env)}")

    say(f"[2/6] dry run: {requirement}")
    touched = would_install(env, requirement, workdir)
    say(f"  tfbert's install would bring {len(touched)} packages")

    pins = baseline_pins(freeze, set(touched))
    say(f"[3/6] installing {len(pins)} Colab pins in one pip install")
    pins = install_baseline(env, pins)

    say("[4/6] snapshot before")
    before = snapshot(env)

    say(f"[5/6] python -m pip install --quiet \"{requirement}\"")
    run_or_fail([str(env.python), "-m", "pip", "install", "--quiet", requirement], env.environ, "installing tfbert")

    say("[6/6] snapshot after, import check")
    after = snapshot(env)
    import_problem = import_check(env)
    return report(python_version(env), pins, before, after, import_problem)


def report(py: str, pins: list[str], before: Versions, after: Versions, import_problem: str | None) -> str:
    """Print the report; return the verdict line."""
    changed, added, removed = compare(before, after)
    say("")
    say("== colab install report ==")
    say(f"Python {py}; {len(pins)} Colab pins preinstalled ({len(before)} packages in the venv)")
    say("watched packages (before -> after):")
    watched_changed: list[str] = []
    for name in WATCHED:
        old = before.get(name, (name, "absent"))[1]
        new = after.get(name, (name, "absent"))[1]
        flag = "" if old == new else "   <-- CHANGED"
        if old != new:
            watched_changed.append(f"{name} {old} -> {new}")
        say(f"  {name:16} {old} -> {new}{flag}")
    others = [c for c in changed if normalise(c[0]) not in WATCHED]
    downgraded = [f"{n} {old} -> {new}" for n, old, new in changed if version_key(new) < version_key(old)]
    say(f"other packages changed: {len(others)}")
    for name, old, new in others:
        kind = "DOWNGRADED" if version_key(new) < version_key(old) else "upgraded"
        say(f"  {name} {old} -> {new} ({kind})")
    say(f"packages added: {len(added)}" + (f": {', '.join(added)}" if added else ""))
    if removed:
        say(f"packages removed: {len(removed)}: {', '.join(removed)}")
    problems = []
    if watched_changed:
        problems.append("watched package changed: " + "; ".join(watched_changed))
    if downgraded:
        problems.append("downgraded: " + "; ".join(downgraded))
    if removed:
        problems.append("removed: " + ", ".join(removed))
    if import_problem:
        problems.append(import_problem)
    if problems:
        return "colab install check: FAILED: " + " | ".join(problems)
    return (f"colab install check: passed ({len(WATCHED)} watched packages unchanged, "
            f"{len(others)} changed, {len(added)} added)")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Check that installing tfbert leaves Colab's packages unchanged.")
    parser.add_argument("--freeze", help="Colab's pip freeze (default: <repo>/../shared/colab/pip-freeze.txt)")
    parser.add_argument("--python", help=f"Python to build the venv with (default: {DEFAULT_PYTHON}, "
                                         f"PYENV_VERSION={DEFAULT_PYENV_VERSION} unless set)")
    parser.add_argument("--repo", default=str(Path(__file__).resolve().parent.parent),
                        help="tfbert repository; its HEAD commit is installed (default: this script's repository)")
    parser.add_argument("--venv", help="where to create the venv (default: a temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the venv afterwards")
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="colab-check-"))
    venv = Path(args.venv).resolve() if args.venv else workdir / "venv"
    try:
        verdict = check(args, venv, workdir)
    except CheckFailed as exc:
        verdict = f"colab install check: FAILED: {exc}"
    except KeyboardInterrupt:
        verdict = "colab install check: FAILED: interrupted"
    finally:
        if args.keep:
            say(f"venv kept at {venv}")
        else:
            shutil.rmtree(venv, ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)
    say(f"took {time.monotonic() - started:.0f} s")
    say(verdict)
    return 0 if verdict.startswith("colab install check: passed") else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
