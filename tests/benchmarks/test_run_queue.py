"""benchmarks/run_queue.py: one command at a time, resumable, interruptible without losing a command."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "run_queue.py"


def _queue(tmp_path: Path, *commands: str) -> Path:
    q = tmp_path / "q.txt"
    q.write_text("# a comment\n\n" + "\n".join(commands) + "\n")
    return q


def _run(q: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), str(q), *args], cwd=q.parent, capture_output=True,
                          text=True, timeout=timeout)


def _start_queue(q: Path) -> subprocess.Popen:
    """A queue process on ``q``, returned once its first command has touched ``started``."""
    proc = subprocess.Popen([sys.executable, str(SCRIPT), str(q)], cwd=q.parent, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not (q.parent / "started").exists():
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"the queue's first command never started (exit {proc.returncode}):\n{out}\n{err}")
        time.sleep(0.05)
    return proc


def test_commands_run_in_order_once_and_a_rerun_skips_the_done_ones(tmp_path):
    q = _queue(tmp_path, "echo one >> out", "echo two >> out")
    first = _run(q)
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "out").read_text() == "one\ntwo\n"
    assert "1/2: echo one >> out" in first.stdout and "2/2 done" in first.stdout
    rows = [json.loads(line) for line in (tmp_path / "q.txt.done.jsonl").read_text().splitlines()]
    assert [(r["command"], r["rc"]) for r in rows] == [("echo one >> out", 0), ("echo two >> out", 0)]
    assert all(r["wall_s"] >= 0 for r in rows)

    assert _run(q).returncode == 0
    assert (tmp_path / "out").read_text() == "one\ntwo\n"  # nothing ran again


def test_the_counter_counts_the_queue_as_it_is_when_a_command_ends(tmp_path):
    q = _queue(tmp_path, "echo 'echo added >> out' >> q.txt")  # the command adds a line to its own queue
    result = _run(q)
    assert result.returncode == 0, result.stderr
    assert "1/1: echo" in result.stdout and "1/2 exited 0" in result.stdout and "2/2: echo added" in result.stdout
    assert (tmp_path / "out").read_text() == "added\n"


def test_each_command_s_output_goes_to_the_queue_s_stdout_and_its_own_log(tmp_path):
    q = _queue(tmp_path, "echo hello; echo oops >&2")
    result = _run(q)
    assert "hello\noops\n" in result.stdout
    logs = list((tmp_path / "q.txt.logs").glob("*.log"))
    assert len(logs) == 1 and logs[0].name.startswith("echo-hello-echo-oops")
    assert logs[0].read_text().endswith("echo hello; echo oops >&2\nhello\noops\n")


def test_a_failed_command_stops_the_queue_and_is_retried_by_the_next_run(tmp_path):
    q = _queue(tmp_path, "test -e flag", "echo after >> out")
    failed = _run(q)
    assert failed.returncode == 1
    assert not (tmp_path / "out").exists()
    assert "failed rc 1" in _run(q, "--status").stdout

    kept_going = _run(q, "--keep-going")
    assert kept_going.returncode == 1  # something is still not done
    assert (tmp_path / "out").read_text() == "after\n"

    (tmp_path / "flag").touch()
    assert _run(q).returncode == 0
    assert "2/2 done" in _run(q, "--status").stdout


def test_a_command_piped_into_tee_fails_when_the_command_fails(tmp_path):
    assert _run(_queue(tmp_path, "false | tee log")).returncode == 1


def test_commands_find_the_tools_of_the_python_running_the_queue(tmp_path):
    q = _queue(tmp_path, 'echo "$PATH" > path')
    assert _run(q).returncode == 0
    assert (tmp_path / "path").read_text().split(":")[0] == str(Path(sys.executable).parent)


def test_lines_added_while_the_queue_runs_are_picked_up(tmp_path):
    q = _queue(tmp_path, "echo 'echo added >> out' >> q.txt")
    assert _run(q).returncode == 0
    assert (tmp_path / "out").read_text() == "added\n"


def test_sigterm_reaches_the_running_command_which_stays_pending(tmp_path):
    # The command stands in for kedro run: on SIGTERM it saves its state and exits non-zero.
    q = _queue(tmp_path, "trap 'echo saved >> out; exit 3' TERM; touch started; sleep 30 & wait", "echo next >> out")
    proc = _start_queue(q)
    assert "running since" in _run(q, "--status").stdout
    assert _run(q).returncode != 0  # a second queue on the same file is refused while the first runs
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert (tmp_path / "out").read_text() == "saved\n"  # the command saw the signal; the next one never started
    assert "stays pending" in out
    assert not (tmp_path / "q.txt.done.jsonl").exists()
    assert "[pending] trap" in _run(q, "--status").stdout


def test_pause_and_continue_reach_the_running_command(tmp_path):
    q = _queue(tmp_path, "touch started; sleep 30")
    proc = _start_queue(q)
    try:
        pgid = json.loads((tmp_path / "q.txt.running.json").read_text())["pid"]
        assert "SIGSTOP" in _run(q, "--pause").stdout
        state = Path(f"/proc/{pgid}/stat").read_text().split(")")[-1].split()[0]
        assert state == "T"  # stopped
        assert "SIGCONT" in _run(q, "--continue").stdout
    finally:
        proc.send_signal(signal.SIGTERM)  # also wakes a stopped command before terminating it
        proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM


def test_after_sigterm_the_queue_waits_for_a_piped_command_to_finish_saving_and_keeps_its_output(tmp_path):
    # Like `kedro run ... | tee log` in a script: the shell dies of SIGTERM at once, while the command behind
    # it takes a moment to save and prints as it does; tee ignores SIGTERM as benchmarks/table4.sh's does.
    saver = "trap 'sleep 1; echo saved; exit 3' TERM; touch started; while :; do sleep 0.1; done"
    q = _queue(tmp_path, f'bash -c "{saver}" | (trap "" TERM; exec tee -a tee.log)')
    proc = _start_queue(q)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert out.index("saved") < out.index("stays pending")  # the queue ended after the saving did
    assert (tmp_path / "tee.log").read_text() == "saved\n"
    assert "saved" in next((tmp_path / "q.txt.logs").glob("*.log")).read_text()


def test_a_missing_queue_file_says_what_to_write(tmp_path):
    result = _run(tmp_path / "nope.txt")
    assert result.returncode != 0 and "one shell command a line" in result.stderr


@pytest.mark.parametrize("flag", ["--pause", "--continue"])
def test_pause_with_nothing_running_says_so(tmp_path, flag):
    assert "nothing is running" in _run(_queue(tmp_path, "true"), flag).stdout
