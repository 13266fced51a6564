"""Release checks for ``./dev package``: build, check and smoke-test the distributions.

1. ``python -m build`` makes the sdist, and the wheel from that sdist, in a temporary
   folder (the build backend pinned by ``scripts/build-constraints.txt``);
2. ``twine check --strict`` reads both, and the wheel must name its licence;
3. a clean venv in another temporary folder gets the wheel (its dependencies from the
   package index) and, from a working directory outside the checkout, imports the
   packages from there, starts both emulator commands, waits until each answers HTTP on
   127.0.0.1 and stops it, then runs the checkout's ``examples/demo.py`` with that venv's
   Python (so on the installed wheel), which must exit 0.

One line per step; any failure prints what the failing command said and exits 1. The
temporary folders and the emulator processes are removed however the run ends (a failed
step, Ctrl-C, SIGTERM). Standard library only: it runs under the dev venv's Python, but
everything it checks runs in the clean venv.
"""

from __future__ import annotations

import argparse
import email.parser
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
CONSTRAINTS = ROOT / "scripts" / "build-constraints.txt"
#: Not shipped in the wheel; run from the checkout against it.
DEMO = ROOT / "examples" / "demo.py"
#: Seconds for one step (a build or an install reaches the package index).
STEP_TIMEOUT = 180.0
#: Seconds an emulator may take to print its URL and answer on it.
READY_TIMEOUT = 30.0
#: Seconds an emulator may take to stop after SIGTERM.
STOP_TIMEOUT = 10.0
#: An emulator that outlives this run (this script killed with SIGKILL) stops by itself.
EMULATOR_DURATION = "300"


class CheckFailed(Exception):
    """A step failed; the message says which and what it printed."""


def say(text: str) -> None:
    print(f"dev package: {text}", flush=True)


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without what could point a child at the checkout, another venv,
    or a real TutorFlow or Next Tech account."""
    dropped = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PIP_CONSTRAINT", "PYTHONSTARTUP")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in dropped and not k.startswith(("TUTORFLOW_", "NEXTTECH_"))
    }
    env.update(PYTHONUNBUFFERED="1", PIP_DISABLE_PIP_VERSION_CHECK="1", **extra)
    return env


def run(
    argv: Sequence[str | Path],
    what: str,
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float = STEP_TIMEOUT,
) -> str:
    """Run ``argv`` to completion; its combined output, or CheckFailed naming ``what``."""
    try:
        done = subprocess.run(  # noqa: S603 (our own interpreters and tools)
            [str(a) for a in argv],
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise CheckFailed(f"{what}: no end after {timeout:.0f} s") from exc
    if done.returncode != 0:
        raise CheckFailed(f"{what}: exit status {done.returncode}\n{done.stdout.rstrip()}")
    return done.stdout


def build(dist: Path) -> tuple[Path, Path]:
    """The sdist and the wheel built from it, both in ``dist``."""
    backend = next(
        line for line in CONSTRAINTS.read_text().splitlines() if line and line[0] != "#"
    )
    env = clean_env(PIP_CONSTRAINT=str(CONSTRAINTS))
    run([sys.executable, "-m", "build", "--outdir", dist, ROOT], "python -m build",
        cwd=ROOT, env=env)
    sdists, wheels = sorted(dist.glob("*.tar.gz")), sorted(dist.glob("*.whl"))
    if len(sdists) != 1 or len(wheels) != 1:
        raise CheckFailed(f"python -m build: expected one sdist and one wheel, got "
                          f"{[p.name for p in dist.iterdir()]}")
    say(f"built {sdists[0].name} and {wheels[0].name} ({backend})")
    return sdists[0], wheels[0]


def check_metadata(sdist: Path, wheel: Path) -> None:
    out = run([sys.executable, "-m", "twine", "check", "--strict", sdist, wheel],
              "twine check --strict", cwd=ROOT, env=clean_env())
    if out.count("PASSED") != 2:
        raise CheckFailed(f"twine check --strict: not two PASSED lines\n{out.rstrip()}")
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        meta = email.parser.Parser().parsestr(archive.read(name).decode("utf-8"))
        licences = [n for n in archive.namelist() if n.endswith(".dist-info/licenses/LICENSE")]
    if meta["License-Expression"] != "MIT" or "LICENSE" not in meta.get_all("License-File", []):
        raise CheckFailed("wheel metadata: no License-Expression MIT with License-File LICENSE")
    if not licences:
        raise CheckFailed("wheel: LICENSE is not in its .dist-info/licenses/")
    say(f"twine check --strict passed on both (Metadata-Version {meta['Metadata-Version']}, "
        f"License-Expression {meta['License-Expression']}, LICENSE included)")


def install(wheel: Path, venv: Path, work: Path) -> Path:
    """A new venv with the wheel installed; its bin folder."""
    run([sys.executable, "-m", "venv", venv], "python -m venv", cwd=work, env=clean_env())
    bin_dir = venv / "bin"
    run([bin_dir / "python", "-m", "pip", "install", "-q", wheel], "pip install (wheel)",
        cwd=work, env=clean_env())
    out = run(
        [bin_dir / "python", "-c",
         "import importlib.metadata as m, importlib.util as u\n"
         "import edu_async_core, nexttech_async, tutorflow_async\n"
         "mods = (edu_async_core, nexttech_async, tutorflow_async)\n"
         "for mod in mods: print(mod.__file__)\n"
         "if {mod.__version__ for mod in mods} != {m.version('tutorflow-async')}:\n"
         "    raise SystemExit('__version__ is not the metadata version')\n"
         "if u.find_spec('tutorflow_async.demo') is not None:\n"
         "    raise SystemExit('the wheel ships tutorflow_async.demo')\n"
         "print(m.version('tutorflow-async'))"],
        "import the installed packages", cwd=work, env=clean_env(),
    )
    *files, version = out.split()
    outside = [f for f in files if not Path(f).resolve().is_relative_to(venv.resolve())]
    if outside:
        raise CheckFailed(f"imported from outside the clean venv: {outside}")
    say(f"installed tutorflow-async {version} in a clean venv ({venv}); "
        f"its three packages import from there and report that version")
    return bin_dir


def _read_lines(stream: Iterator[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def answered(url: str) -> int | None:
    """The HTTP status ``url`` answers with, or None while nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=2.0) as response:  # noqa: S310 (http://127.0.0.1)
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code  # 401 or 404 is an answer too: the server is up
    except OSError:
        return None


def check_emulator(
    command: Path, variable: str, *, work: Path, procs: list[subprocess.Popen[str]]
) -> str:
    """Start ``command emulator``, wait until the base URL it prints (its ``variable=...``
    line) answers HTTP, stop it with SIGTERM; where it served and what it answered."""
    log_path = work / f"{command.name}.stderr"
    with log_path.open("w") as log:
        proc = subprocess.Popen(  # noqa: S603 (the console script of the clean venv)
            [str(command), "emulator", "--host", "127.0.0.1", "--port", "0",
             "--duration", EMULATOR_DURATION],
            cwd=work, env=clean_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=log, text=True,
        )
    procs.append(proc)
    assert proc.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_read_lines, args=(proc.stdout, lines), daemon=True).start()

    def failed(why: str) -> CheckFailed:
        return CheckFailed(f"{command.name} emulator: {why}\n{log_path.read_text().rstrip()}")

    deadline = time.monotonic() + READY_TIMEOUT
    url = None
    while url is None:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise failed(f"no {variable}= line within {READY_TIMEOUT:.0f} s") from None
        if line is None:
            raise failed(f"exited ({proc.wait()}) before printing {variable}=")
        if line.startswith(f"{variable}="):
            url = line.strip().partition("=")[2]
    if not url.startswith("http://127.0.0.1:"):
        raise failed(f"serves on {url}, not on 127.0.0.1")
    while (status := answered(url)) is None:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise failed(f"no HTTP answer on {url}")
        time.sleep(0.1)
    if status >= 500:
        raise failed(f"{url} answered {status}")
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise failed(f"still running {STOP_TIMEOUT:.0f} s after SIGTERM") from None
    if code != 0:
        raise failed(f"stopped with exit status {code}")
    return f"{url} (answered HTTP {status})"


def smoke(bin_dir: Path, work: Path, procs: list[subprocess.Popen[str]]) -> None:
    for tool, variable in (("tutorflow-async", "TUTORFLOW_API_BASE_URL"),
                           ("nexttech-async", "NEXTTECH_API_BASE_URL")):
        where = check_emulator(bin_dir / tool, variable, work=work, procs=procs)
        say(f"{tool} emulator served on {where}, stopped cleanly")
    started = time.monotonic()
    # The demo is not in the wheel: run the checkout's file with the clean venv's Python,
    # from outside the checkout, so what it imports is the installed wheel. -P keeps the
    # script's folder (examples/) off sys.path; nothing there may stand in for a package.
    out = run([bin_dir / "python", "-P", DEMO], "the demo (on the installed wheel)",
              cwd=work, env=clean_env(), timeout=120.0)
    summary = next((line for line in out.splitlines() if " jobs: " in line), "?")
    say(f"the demo ({DEMO.relative_to(ROOT)}) exited 0 on the installed wheel in "
        f"{time.monotonic() - started:.1f} s ({summary})")


def stop_all(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # so the finally clauses below still clean up


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="./dev package",
        description="release checks: build, twine check, install and smoke-test the wheel",
    )
    parser.add_argument("--outdir", type=Path,
                        help="also keep the checked sdist and wheel here (e.g. dist/)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminated)
    signal.signal(signal.SIGHUP, _terminated)
    started = time.monotonic()
    temp = Path(tempfile.mkdtemp(prefix="tutorflow-package-"))
    procs: list[subprocess.Popen[str]] = []
    try:
        if temp.resolve().is_relative_to(ROOT):
            raise CheckFailed(f"the temporary folder {temp} is inside the checkout; set TMPDIR")
        dist, work = temp / "dist", temp / "work"
        work.mkdir()
        sdist, wheel = build(dist)
        check_metadata(sdist, wheel)
        bin_dir = install(wheel, temp / "venv", work)
        smoke(bin_dir, work, procs)
        if args.outdir:
            args.outdir.mkdir(parents=True, exist_ok=True)
            for path in (sdist, wheel):
                shutil.copy2(path, args.outdir)
            say(f"kept {sdist.name} and {wheel.name} in {args.outdir}")
    except CheckFailed as exc:
        print(f"dev package: FAILED: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        stop_all(procs)
        shutil.rmtree(temp, ignore_errors=True)
    say(f"all release checks passed in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
