"""Which nodes of a pipeline must run together in one process: the tasks of a distributed run.

A *task group* joins nodes that

* share a full namespace: one run of a grid (``ablation.<config>.s<seed>``: its training,
  heatmaps and evaluation) is one task, so it runs on one worker, with its data local and its
  MLflow child run activated once (a stage of ``train_eval``, e.g. ``heatmaps``, is one task
  too, though not a grid run: :mod:`metal_pipeline.pipelines.stages`); and
* hand data to each other in memory: an ephemeral dataset (``metal_net``, any dataset not in the
  catalog) exists only in the process that made it.

Groups depend on each other only through persisted datasets, so independent groups (the
trainings of a grid) can run at the same time on different workers.

Kedro's own ``Pipeline.group_nodes_by("namespace")`` is not used: it groups by the *top-level*
namespace, which puts every run of the grid into one group ``ablation`` and would run its
trainings one after the other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from metal_pipeline.pipelines.stages import STAGES


@dataclass(frozen=True)
class TaskGroup:
    """Nodes to run in this order in one process, after the groups named in ``depends_on``."""

    name: str
    nodes: tuple[Any, ...]
    depends_on: tuple[str, ...]
    namespace: str | None  # the grid run's namespace, when the group is one

    @property
    def node_names(self) -> list[str]:
        return [node.name for node in self.nodes]


class _Union:
    def __init__(self, items: Iterable[Any]) -> None:
        self.parent = {item: item for item in items}

    def find(self, item: Any) -> Any:
        while self.parent[item] is not item:
            self.parent[item] = self.parent[self.parent[item]]
            item = self.parent[item]
        return item

    def join(self, a: Any, b: Any) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra is not rb:
            self.parent[rb] = ra


def task_groups(pipeline, is_ephemeral: Callable[[str], bool]) -> list[TaskGroup]:
    """The pipeline's nodes as task groups, in an order where every group follows its dependencies.

    Args:
        pipeline: a Kedro ``Pipeline`` (its ``nodes`` are in topological order).
        is_ephemeral: whether a dataset lives in memory only (it cannot cross processes).

    Raises:
        ValueError: two groups would depend on each other (in-memory data going back and forth
            between namespaces); the message names the datasets to persist in the catalog.
    """
    nodes = list(pipeline.nodes)
    union = _Union(nodes)
    by_namespace: dict[str, Any] = {}
    for node in nodes:
        if node.namespace:
            first = by_namespace.setdefault(node.namespace, node)
            union.join(first, node)
    producers = {output: node for node in nodes for output in node.outputs}
    in_memory = sorted(name for name in producers if is_ephemeral(name))
    for name in in_memory:
        for consumer in nodes:
            if name in consumer.inputs:
                union.join(producers[name], consumer)

    members: dict[Any, list[Any]] = {}
    for node in nodes:
        members.setdefault(union.find(node), []).append(node)
    group_of = {node: root for root, group in members.items() for node in group}
    dependencies = pipeline.node_dependencies
    depends: dict[Any, set[Any]] = {root: set() for root in members}
    for node in nodes:
        for parent in dependencies[node]:
            if group_of[parent] is not group_of[node]:
                depends[group_of[node]].add(group_of[parent])

    names = {root: _name(group) for root, group in members.items()}
    ordered = _toposort(list(members), depends, names, in_memory)
    return [TaskGroup(name=names[root], nodes=tuple(members[root]),
                      depends_on=tuple(sorted(names[d] for d in depends[root])),
                      namespace=_run_namespace(members[root]))
            for root in ordered]


def _run_namespace(nodes: list[Any]) -> str | None:
    """The grid run the nodes make up: their shared namespace, unless it is a stage of ``train_eval``."""
    namespace = _namespace(nodes)
    return None if namespace in STAGES else namespace


def _namespace(nodes: list[Any]) -> str | None:
    spaces = {node.namespace for node in nodes}
    return spaces.pop() if len(spaces) == 1 else None


def _name(nodes: list[Any]) -> str:
    namespace = _namespace(nodes)
    if namespace:
        return namespace
    return nodes[0].name if len(nodes) == 1 else f"{nodes[0].name}+{len(nodes) - 1}"


def _toposort(roots: list[Any], depends: dict[Any, set[Any]], names: dict[Any, str],
              in_memory: list[str]) -> list[Any]:
    done: list[Any] = []
    left = list(roots)
    while left:
        ready = [root for root in left if depends[root] <= set(done)]
        if not ready:
            stuck = ", ".join(sorted(names[root] for root in left))
            memory = f" (in-memory datasets: {', '.join(in_memory)})" if in_memory else ""
            raise ValueError(
                f"The task groups {stuck} depend on each other: a namespace's nodes, or nodes sharing "
                f"in-memory data{memory}, are interleaved with another group's, so no group can run first "
                "on its own worker. Keep each namespace's nodes together (Kedro warns 'Namespace ... is "
                "interrupted'), give the in-memory datasets a file type in conf/base/catalog*.yml, or run "
                "with the SequentialRunner.")
        done.extend(ready)
        left = [root for root in left if root not in ready]
    return done
