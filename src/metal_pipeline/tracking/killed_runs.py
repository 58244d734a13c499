"""MLflow runs left RUNNING by a killed process, and the metric history of a resumed run.

A process killed with SIGKILL (or by the out-of-memory killer, or a power cut)
cannot end its MLflow run, which then stays RUNNING forever. The training node
tags its MLflow run with the process that owns it (``metal.process``: host,
pid and the process's start time). When a later command starts a run of the
same MLflow run name, :func:`mark_killed_runs` ends each RUNNING run of that
name whose process no longer exists as KILLED, and links the new run to them.

Only runs whose process is known to be gone are touched: a run of another
host, or one without the tag, is reported and left alone, because its process
may still be alive.

A resumed run is a new MLflow run (kedro-mlflow starts one per command);
:func:`log_restored_history` gives it the epochs the checkpoint already holds,
so its loss curve is complete from epoch 1.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import mlflow
from mlflow.entities import Metric, RunStatus
from mlflow.tracking import MlflowClient

logger = logging.getLogger(__name__)

PROCESS_TAG = "metal.process"
KILLED_BY_TAG = "metal.marked_killed_by"
RESUMES_TAG = "metal.continues_killed_runs"
_BATCH = 1000  # MLflow's limit of metrics per log_batch call


# -- which process owns a run ----------------------------------------------
def _start_ticks(pid: int) -> str:
    """The process's start time in clock ticks after boot (Linux), or "" where unknown.

    With the pid it identifies a process even after the pid is reused.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    fields = stat[stat.rindex(")") + 2:].split()
    return fields[19] if len(fields) > 19 else ""


def process_tag() -> str:
    """``<host>:<pid>:<start ticks>`` of this process."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_ticks(pid)}"


def process_gone(tag: str | None) -> bool | None:
    """True if the process a :func:`process_tag` names has ended, False if it runs, None if unknown
    (another host, or no tag)."""
    if not tag or tag.count(":") < 2:
        return None
    host, pid_text, ticks = tag.rsplit(":", 2)
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    pid = int(pid_text)
    if Path("/proc").is_dir() and ticks:
        now = _start_ticks(pid)
        return now != ticks  # "" (no such process) or another process that got the pid since
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


# -- killed runs -------------------------------------------------------------
def mark_killed_runs() -> list[str]:
    """In the active run's experiment, end every other RUNNING run of the active run's name whose
    process is gone as KILLED; tag the active run with their ids. Returns those ids.

    Also tags the active run with this process (:data:`PROCESS_TAG`). Does nothing without an
    active run.
    """
    active = mlflow.active_run()
    if active is None:
        return []
    run_id, name = active.info.run_id, active.info.run_name
    client = MlflowClient()
    client.set_tag(run_id, PROCESS_TAG, process_tag())
    if not name:
        return []
    quoted = name.replace("\\", "\\\\").replace("'", "\\'")
    others = [r for r in client.search_runs(
        [active.info.experiment_id],
        filter_string=f"tags.`mlflow.runName` = '{quoted}' and attributes.status = 'RUNNING'",
        max_results=100,
    ) if r.info.run_id != run_id]
    killed = []
    for other in others:
        tag = other.data.tags.get(PROCESS_TAG)
        gone = process_gone(tag)
        if gone:
            client.set_terminated(other.info.run_id, RunStatus.to_string(RunStatus.KILLED))
            client.set_tag(other.info.run_id, KILLED_BY_TAG, run_id)
            killed.append(other.info.run_id)
            logger.warning("MLflow run %s (%s) was left RUNNING by a process that no longer exists (pid %s, "
                           "killed?): marked KILLED. This run, %s, continues from the run's checkpoint.",
                           other.info.run_id, name, tag.rsplit(":", 2)[1], run_id)
        elif gone is None:
            logger.warning("MLflow run %s (%s) is still RUNNING and was started %s, so whether its process "
                           "is alive cannot be checked; it is left as it is. If that process is gone, end the "
                           "run with: python -c \"from mlflow import MlflowClient; "
                           "MlflowClient().set_terminated('%s', 'KILLED')\"", other.info.run_id, name,
                           f"on {tag.rsplit(':', 2)[0]}" if tag else "without a process tag (before training began)",
                           other.info.run_id)
        else:
            logger.warning("MLflow run %s (%s) belongs to process %s, which is still running: two commands "
                           "are working on the same run at once.", other.info.run_id, name, tag)
    if killed:
        client.set_tag(run_id, RESUMES_TAG, ",".join(killed))
    return killed


# -- the history of a resumed run -------------------------------------------------
def log_restored_history(epochs: Iterable[tuple[int, Mapping[str, float]]], prefix: str = "",
                         probe: str = "train_loss") -> list[int]:
    """Log ``(epoch, metrics)`` pairs the active run has not got yet (judged by ``prefix + probe``'s
    steps), each at ``step=epoch``. Returns the epochs logged."""
    active = mlflow.active_run()
    if active is None:
        return []
    client = MlflowClient()
    run_id = active.info.run_id
    have = {m.step for m in client.get_metric_history(run_id, f"{prefix}{probe}")}
    now = int(time.time() * 1000)
    logged, batch = [], []
    for epoch, metrics in epochs:
        if epoch in have:
            continue
        logged.append(epoch)
        batch += [Metric(key=f"{prefix}{k}", value=float(v), timestamp=now, step=int(epoch))
                  for k, v in metrics.items() if math.isfinite(float(v))]
    for lo in range(0, len(batch), _BATCH):
        client.log_batch(run_id, metrics=batch[lo:lo + _BATCH])
    return logged
