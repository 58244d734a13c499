"""A resumable queue of long commands (trainings, tables), run one at a time.

On a small machine two trainings at once each run at a third of their speed, and a session can end
mid-run. The queue file holds one shell command a line (``#`` comments and blank lines are skipped).
The queue runs the first line not yet done with ``bash -o pipefail -c`` (so ``cmd | tee log`` fails
when ``cmd`` fails), then re-reads the file: lines added while it runs are picked up. Each command's
output goes to the queue's stdout and to ``<queue>.logs/<words of the command>-<hash>.log`` (appended to
by every attempt), so a command needs no ``| tee``. A command is done once it exited 0; its line in
``<queue>.done.jsonl`` records when it ran and how long it took.
A failed command stops the queue (``--keep-going`` moves on) and is retried by the next run. SIGTERM
or Ctrl-C is passed on to the running command (``kedro run`` then saves its checkpoint), which stays
pending: run the queue again to go on where it stopped. The project's trainings resume from their
last checkpoint and finished runs are reused by name, so an interruption costs at most the epochs
since the last checkpoint.

Usage:
    setsid nohup python benchmarks/run_queue.py benchmarks/queues/tables.txt > queue.log 2>&1 &
    python benchmarks/run_queue.py benchmarks/queues/tables.txt --status
    python benchmarks/run_queue.py benchmarks/queues/tables.txt --pause      # SIGSTOP the running command
    python benchmarks/run_queue.py benchmarks/queues/tables.txt --continue   # SIGCONT it (e.g. after timing something)
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

#: Set for every command unless the caller's environment sets them: no network, and torch threads that
#: do not spin while another process (a timing, a test) briefly shares the cores.
DEFAULT_ENV = {"KEDRO_DISABLE_TELEMETRY": "true", "MLFLOW_DISABLE_TELEMETRY": "true", "OMP_WAIT_POLICY": "PASSIVE"}


def read_commands(queue: Path) -> list[str]:
    """The queue's commands in order (comments and blank lines dropped; surrounding space stripped)."""
    if not queue.is_file():
        raise SystemExit(f"queue: {queue} does not exist; write one shell command a line")
    lines = [line.strip() for line in queue.read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def done_path(queue: Path) -> Path:
    return queue.with_name(queue.name + ".done.jsonl")


def running_path(queue: Path) -> Path:
    return queue.with_name(queue.name + ".running.json")


def read_done(queue: Path) -> list[dict]:
    path = done_path(queue)
    if not path.exists():
        return []
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise SystemExit(f"queue: {path} line {n} is not JSON ({e}); fix or delete that line") from e
    return rows


def _succeeded(rows: list[dict]) -> set[str]:
    return {row["command"] for row in rows if row.get("rc") == 0}


def finished(queue: Path) -> set[str]:
    """Commands that have exited 0 at least once."""
    return _succeeded(read_done(queue))


def _pending(commands: list[str], done: set[str]) -> list[str]:
    return [c for c in commands if c not in done]


def pending(queue: Path) -> list[str]:
    return _pending(read_commands(queue), finished(queue))


def _append_done(queue: Path, row: dict) -> None:
    with open(done_path(queue), "a") as f:  # one short line a write: appends do not interleave
        f.write(json.dumps(row) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _fmt_seconds(s: float) -> str:
    return f"{s / 60:.1f} min" if s >= 60 else f"{s:.1f} s"


def status(queue: Path) -> str:
    commands = read_commands(queue)
    rows = read_done(queue)
    last = {row["command"]: row for row in rows}
    ok = _succeeded(rows)
    lines = []
    running = _read_running(queue)
    for i, c in enumerate(commands, 1):
        if c in ok:
            row = next(r for r in reversed(rows) if r["command"] == c and r.get("rc") == 0)
            state = f"done {row['finished']} ({_fmt_seconds(row['wall_s'])})"
        elif running and running["command"] == c:
            state = f"running since {running['started']} (pid {running['pid']}, log {running.get('log')})"
        elif c in last:
            state = f"failed rc {last[c]['rc']} at {last[c]['finished']}"
        else:
            state = "pending"
        lines.append(f"{i:3d}. [{state}] {c}")
    n_done = sum(c in ok for c in commands)
    lines.append(f"{n_done}/{len(commands)} done")
    return "\n".join(lines)


def _read_running(queue: Path) -> dict | None:
    path = running_path(queue)
    try:
        info = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    try:
        os.kill(info["pid"], 0)
    except (ProcessLookupError, PermissionError):
        return None  # left by a queue that was killed hard
    return info


def signal_running(queue: Path, sig: int) -> str:
    info = _read_running(queue)
    if info is None:
        return "queue: nothing is running"
    os.killpg(info["pid"], sig)  # the command runs in its own process group (its children too)
    return f"queue: sent {signal.Signals(sig).name} to {info['command']!r} (process group {info['pid']})"


def log_path(queue: Path, command: str) -> Path:
    """Where a command's output is kept (appended to by every attempt): ``<queue>.logs/<words>-<hash>.log``."""
    words = "-".join("".join(ch if ch.isalnum() or ch in "_=" else " " for ch in command).split())[:80]
    return queue.with_name(queue.name + ".logs") / f"{words}-{hashlib.sha1(command.encode()).hexdigest()[:6]}.log"


def _copy_output(child: subprocess.Popen, log_file) -> None:
    """The command's output, to this process's stdout and to its log, until every writer has closed it.

    The queue holds the read end itself, so no ``| tee`` in a command can be killed by the SIGTERM that
    asks ``kedro run`` to save its checkpoint, and what kedro prints while saving still reaches the log.
    """
    out = sys.stdout.buffer
    fd = child.stdout.fileno()
    while chunk := os.read(fd, 65536):  # retried after a signal handler runs (PEP 475)
        log_file.write(chunk)
        log_file.flush()
        out.write(chunk)
        out.flush()
    child.stdout.close()


def _wait_for_group(pgid: int, limit_s: float = 300.0, poll_s: float = 0.2) -> None:
    """Until no process of the command's group is left (a command whose shell died of SIGTERM may leave
    its kedro run saving a checkpoint), so that the next command does not start beside it; at most
    ``limit_s`` (a command that leaves a daemon behind must not hold the queue for ever)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(poll_s)
    print(f"[queue] process group {pgid} still has processes after {limit_s:.0f} s; going on", flush=True)


def _position(commands: list[str], command: str) -> str:
    """``i/N``: where ``command`` stands in the queue's ``commands`` (``-/N`` once its line is gone)."""
    index = commands.index(command) + 1 if command in commands else "-"
    return f"{index}/{len(commands)}"


def run(queue: Path, keep_going: bool = False) -> int:
    lock = open(queue.with_name(queue.name + ".lock"), "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SystemExit(f"queue: another queue process is running {queue} (see --status); "
                         "one at a time, or trainings slow each other down") from None

    env = {**DEFAULT_ENV, **os.environ}
    # The commands find the tools of the Python that runs the queue (``kedro`` of .venv/bin/python), as if
    # that virtualenv were activated.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    child: subprocess.Popen | None = None
    stop = {"signal": None}

    def forward(signum, _frame):
        stop["signal"] = signum
        if child is not None:
            try:
                os.killpg(child.pid, signal.SIGCONT)  # a paused command must wake up to save its checkpoint
                os.killpg(child.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    failed_here: set[str] = set()
    while stop["signal"] is None:
        commands = read_commands(queue)  # re-read every time: lines may be added while a command runs
        todo = [c for c in _pending(commands, finished(queue)) if c not in failed_here]
        if not todo:
            break
        command = todo[0]
        started, t0 = _now(), time.monotonic()
        print(f"[queue {started}] {_position(commands, command)}: {command}", flush=True)
        log = log_path(queue, command)
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as log_file:
            log_file.write(f"# [queue {started}] {command}\n".encode())
            child = subprocess.Popen(["bash", "-o", "pipefail", "-c", command], env=env, start_new_session=True,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            running_path(queue).write_text(json.dumps({"command": command, "pid": child.pid, "started": started,
                                                       "log": str(log)}))
            _copy_output(child, log_file)
            rc = child.wait()
            _wait_for_group(child.pid)
        child = None
        running_path(queue).unlink(missing_ok=True)
        wall = time.monotonic() - t0
        if stop["signal"] is not None:
            print(f"[queue {_now()}] stopped by {signal.Signals(stop['signal']).name} after "
                  f"{_fmt_seconds(wall)}; {command!r} stays pending: run the queue again to go on", flush=True)
            return 128 + stop["signal"]
        _append_done(queue, {"command": command, "rc": rc, "started": started, "finished": _now(),
                             "wall_s": round(wall, 1)})
        # The queue as it is now: lines may have been added or removed while the command ran.
        print(f"[queue {_now()}] {_position(read_commands(queue), command)} exited {rc} after {_fmt_seconds(wall)}",
              flush=True)
        if rc != 0:
            if not keep_going:
                print(f"[queue] stopped: {command!r} failed (exit {rc}); it is retried by the next run", flush=True)
                return rc
            failed_here.add(command)
    commands = read_commands(queue)
    left = _pending(commands, finished(queue))
    print(f"[queue {_now()}] {len(commands) - len(left)}/{len(commands)} done"
          + (f", {len(left)} failed" if left else ""), flush=True)
    return 1 if left else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("queue", type=Path, help="a text file, one shell command a line")
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--status", action="store_true", help="list the commands: done, running, failed, pending")
    group.add_argument("--pause", action="store_true", help="SIGSTOP the running command (and its children)")
    group.add_argument("--continue", dest="resume", action="store_true", help="SIGCONT the running command")
    ap.add_argument("--keep-going", action="store_true", help="after a failed command, go on with the next")
    a = ap.parse_args(argv)
    if a.status:
        print(status(a.queue))
        return 0
    if a.pause or a.resume:
        print(signal_running(a.queue, signal.SIGSTOP if a.pause else signal.SIGCONT))
        return 0
    return run(a.queue, keep_going=a.keep_going)


if __name__ == "__main__":
    sys.exit(main())
