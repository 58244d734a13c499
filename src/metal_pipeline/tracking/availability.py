"""Is the MLflow server there, and does this command need it? (issue 11, case 4)

kedro-mlflow contacts the tracking server as soon as Kedro has built its
context (it looks up or creates the experiment), for every pipeline, even one
whose tracking is disabled in ``mlflow.yml``. Against a dead server MLflow
retries for about four minutes, then five chained tracebacks follow.
:class:`TrackingHook` (kedro-mlflow's ``MlflowHook`` with a check in front)
makes it:

* **check first**: an HTTP(S) tracking or registry URI gets one request with a
  :data:`PROBE_TIMEOUT_S` timeout and no retries, before kedro-mlflow touches
  it (SQLite and file URIs are local and not checked);
* **fail fast where tracking is needed**: one paragraph naming the URI, where
  it was set and the fix (:class:`~metal_pipeline.errors.TrackingUnavailableError`),
  raised before any node runs and before an MLflow run exists;
* **run without it where it is not**: pipelines whose tracking ``mlflow.yml``
  disables (``ingestion``) and ``predict`` from a local ``predict.checkpoint``
  run untracked, with a log line saying so.

:data:`HTTP_DEFAULTS` also bounds MLflow's own retries for a server that goes
away *during* a run (environment defaults; a user's own values win): a refused
connection ends the run after about 15 s of retries instead of about 4 minutes,
a server that stops answering after at most 4 x 60 s instead of 8 x 120 s.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

logger = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 5.0
"""Seconds the pre-flight request waits for the server to connect, and again to answer."""

HTTP_DEFAULTS: dict[str, str] = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",  # MLflow's default 7 with backoff factor 2 is ~4 minutes
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",     # MLflow's default 120 s per attempt
}
"""MLflow client settings applied with ``os.environ.setdefault`` (settings.py): a user's own values win."""

NONE, OPTIONAL, REQUIRED = "none", "optional", "required"


@dataclass(frozen=True)
class Unreachable:
    """A tracking or registry server that did not answer the pre-flight request."""

    uri: str
    role: str     # "tracking" or "registry"
    source: str   # where the URI was set, for the message
    reason: str   # "connection refused", "no answer within 5 s", ...


def apply_http_defaults(environ: dict[str, str] | None = None) -> None:
    env = os.environ if environ is None else environ
    for name, value in HTTP_DEFAULTS.items():
        env.setdefault(name, value)


def probe(uri: str | None, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """Why an HTTP(S) MLflow server at ``uri`` cannot be reached, or ``None`` when it answers.

    Any HTTP answer counts (even 401 or 404: the server is there; MLflow then
    reports what is wrong). URIs of other schemes (``sqlite:``, ``file:``, a path,
    ``databricks``) are not checked and give ``None``.
    """
    if not uri or urlparse(str(uri)).scheme.lower() not in ("http", "https"):
        return None
    import requests

    url = str(uri).rstrip("/") + "/health"
    try:
        requests.get(url, timeout=(timeout, timeout), allow_redirects=False)
    except requests.exceptions.ConnectTimeout:
        return f"it did not accept a connection within {timeout:g} s"
    except requests.exceptions.ReadTimeout:
        return f"it accepted the connection but did not answer within {timeout:g} s"
    except requests.exceptions.SSLError as exc:
        return f"the TLS handshake failed ({_root_cause(exc)})"
    except requests.exceptions.RequestException as exc:
        return _root_cause(exc)
    return None


def _root_cause(exc: BaseException) -> str:
    """The innermost reason of a requests/urllib3 error, in a few words."""
    seen = set()
    while True:
        nxt = exc.__cause__ or exc.__context__ or _first_arg_error(exc)
        if nxt is None or id(nxt) in seen:
            break
        seen.add(id(exc))
        exc = nxt
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (nothing listens on that host and port)"
    text = " ".join(str(exc).split())
    if "Name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text:
        return "the host name cannot be resolved"
    if "Connection refused" in text:
        return "connection refused (nothing listens on that host and port)"
    return text[:200] or type(exc).__name__


def _first_arg_error(exc: BaseException) -> BaseException | None:
    """requests wraps urllib3's error as an argument, not as a cause; urllib3 keeps it in ``.reason``."""
    reason = getattr(exc, "reason", None)
    if isinstance(reason, BaseException):
        return reason
    for arg in getattr(exc, "args", ()):
        if isinstance(arg, BaseException):
            return arg
    return None


def find_unreachable(tracking_uri: str | None, registry_uri: str | None, *, tracking_source: str,
                     registry_source: str, timeout: float = PROBE_TIMEOUT_S) -> Unreachable | None:
    """The first of the tracking and registry servers that does not answer (``None``: all fine)."""
    checked = set()
    for uri, role, source in ((tracking_uri, "tracking", tracking_source),
                              (registry_uri, "registry", registry_source)):
        if not uri or uri in checked:
            continue
        checked.add(uri)
        reason = probe(uri, timeout)
        if reason is not None:
            return Unreachable(str(uri), role, source, reason)
    return None


def tracking_need(pipeline_names: Sequence[str], disabled: Sequence[str], params: Mapping[str, Any]) -> str:
    """How much this command needs MLflow: :data:`NONE`, :data:`OPTIONAL` or :data:`REQUIRED`.

    * ``none``: every pipeline named has its tracking disabled in ``mlflow.yml``
      (``ingestion``), so kedro-mlflow starts no run and no node uses MLflow.
    * ``optional``: ``predict`` scoring with a local ``predict.checkpoint``
      (docs/PREDICT.md: no MLflow needed); the run is tracked when the server is there.
    * ``required``: everything else (training logs its run and registers the model;
      ``predict`` from the registry loads the model from it).
    """
    names = list(pipeline_names) or ["__default__"]
    if all(name in disabled for name in names):
        return NONE
    predict = params.get("predict") or {}
    if names == ["predict"] and isinstance(predict, Mapping) and predict.get("checkpoint") not in (None, ""):
        return OPTIONAL
    return REQUIRED


def unreachable_message(down: Unreachable, pipeline_names: Sequence[str]) -> str:
    """The one paragraph for a pipeline that needs the server."""
    names = ", ".join(pipeline_names) or "__default__"
    what = ("loads the registered model from its registry" if list(pipeline_names) == ["predict"]
            else "logs its run and registers its model there")
    if down.role == "tracking":
        local = ("to track locally instead, unset MLFLOW_TRACKING_URI and keep server.mlflow_tracking_uri in "
                 "conf/base/mlflow.yml at its default ${env:MLFLOW_TRACKING_URI, sqlite:///mlflow.db}")
    else:
        local = "or set server.mlflow_registry_uri in conf/base/mlflow.yml to null (the registry of the tracking store)"
    return (
        f"The MLflow {down.role} server at {down.uri} (set by {down.source}) cannot be reached: {down.reason}. "
        f"The pipeline '{names}' {what}, so nothing was run and nothing was written. Fix: start that server "
        f"(e.g. mlflow server --host <host> --port <port>) or correct the URI; {local}. "
        "Pipelines that need no tracking run without it: --pipelines=ingestion, and --pipelines=predict with "
        "--params predict.checkpoint=<detector.pt>."
    )
