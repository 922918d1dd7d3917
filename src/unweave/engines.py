"""Where the cells of a study run (:mod:`unweave.study`): processes on this machine, or Ray
tasks on a cluster.

An engine's ``run(cells, work)`` calls ``work(threads)(cell)`` for every cell, ``work``
returning None or the failure's one-sentence summary, and yields ``(cell, failure,
attempts)`` as each cell finishes. Ray is the engine for many runs on many machines (it
places each task on a node with the CPUs and GPUs it asks for and runs it again when its
worker or node is lost); Lightning's DDP stays the way to spread one large run.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from unweave.errors import UnweaveError

#: Environment variables a Ray task takes from the process that starts the study.
SHARED_VARIABLES = ("UNWEAVE_CACHE", "UNWEAVE_DATA")

#: A cell's work: threads -> (cell -> None or the failure's summary).
Work = Callable[[int], Callable[[Any], str | None]]


def cores() -> int:
    """The cores this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@dataclass
class Progress:
    """Counts of a study's cells: finished, failed and retried (run more than once)."""

    total: int
    finished: int = 0
    failures: list[str] = field(default_factory=list)
    retried: int = 0

    def record(self, cell: Any, failure: str | None, attempts: int) -> None:
        self.finished += failure is None
        self.retried += attempts > 1
        if failure:
            self.failures.append(failure)

    def line(self, running: int) -> str:
        return (
            f"finished {self.finished}, running {running}, failed {len(self.failures)}, "
            f"retried {self.retried} of {self.total}"
        )


class LocalEngine:
    """Cells as processes on this machine, ``jobs`` at a time, the cores shared out."""

    def __init__(self, jobs: int = 1, address: str | None = None, gpus: float = 0.0) -> None:
        if address is not None:
            raise UnweaveError("--address names a Ray cluster; add --engine ray.")
        self.jobs, self.threads, self.active = jobs, max(1, cores() // jobs), 0

    def describe(self) -> str:
        return (
            f"local engine: {self.jobs} run(s) at a time, each with {self.threads} torch "
            f"thread(s) (OMP_NUM_THREADS) on this machine's {cores()} core(s)."
        )

    def running(self) -> int:
        return self.active

    def run(self, cells: list, work: Work) -> Iterator[tuple[Any, str | None, int]]:
        task = work(self.threads)

        def one(cell: Any) -> str | None:
            self.active += 1
            try:
                return task(cell)
            finally:
                self.active -= 1

        before = {cell.name: cell.attempts() for cell in cells}
        with ThreadPoolExecutor(max_workers=self.jobs) as pool:
            futures = {pool.submit(one, cell): cell for cell in cells}
            for future in as_completed(futures):
                cell = futures[future]
                yield cell, future.result(), cell.attempts() - before[cell.name]


def _run_task(work: Callable[[Any], str | None], cell: Any) -> tuple[str | None, Any]:
    return work(cell), cell


class RayEngine:
    """Cells as Ray tasks of one CPU (and ``gpus`` GPUs) each, on the cluster at ``address``
    (None: a Ray instance started on this machine), each retried up to ``retries`` times when
    its worker or node is lost; a retried cell resumes from its last checkpoint."""

    def __init__(
        self, jobs: int = 1, address: str | None = None, gpus: float = 0.0, retries: int = 3
    ) -> None:
        try:
            import ray
        except ImportError:
            raise UnweaveError("--engine ray needs Ray: pip install 'unweave[ray]'.") from None
        self.ray, self.address, self.gpus, self.retries, self.pending = (
            ray,
            address,
            gpus,
            retries,
            0,
        )
        _check_reachable(address)
        try:
            ray.init(address=address, ignore_reinit_error=True, log_to_driver=False,
                     include_dashboard=False)  # fmt: skip
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise UnweaveError(f"Ray cluster at {address} is unreachable: {error}") from None

    def describe(self) -> str:
        resources = self.ray.cluster_resources()
        nodes = len([n for n in self.ray.nodes() if n.get("Alive")])
        return (
            f"ray engine: {nodes} node(s), {resources.get('CPU', 0):g} CPU(s), "
            f"{resources.get('GPU', 0):g} GPU(s); each cell 1 CPU, {self.gpus:g} GPU(s)."
        )

    def running(self) -> int:
        """Cells submitted and not finished, at most as many as the cluster's CPUs (and
        GPUs) hold at once; the rest wait in Ray's queue."""
        resources = self.ray.cluster_resources()
        slots = int(resources.get("CPU", 0))
        if self.gpus:
            slots = min(slots, int(resources.get("GPU", 0) / self.gpus))
        return min(self.pending, slots)

    def run(self, cells: list, work: Work) -> Iterator[tuple[Any, str | None, int]]:
        # The study's data and cache paths travel with each task, so every node reads the
        # shared folders this process names.
        shared = {k: os.environ[k] for k in SHARED_VARIABLES if k in os.environ}
        remote = self.ray.remote(
            num_cpus=1, num_gpus=self.gpus, max_retries=self.retries,
            runtime_env={"env_vars": shared} if shared else None,
        )  # fmt: skip
        task = remote(_run_task)
        before = {cell.name: cell.attempts() for cell in cells}
        job = work(1)
        waiting = [task.remote(job, cell) for cell in cells]
        self.pending = len(waiting)
        while waiting:
            ready, waiting = self.ray.wait(waiting, num_returns=1)
            self.pending = len(waiting)
            try:
                failure, cell = self.ray.get(ready[0])
            except self.ray.exceptions.RayError as error:
                raise UnweaveError(
                    f"A study cell was lost {self.retries + 1} times: {error}"
                ) from None
            yield cell, failure, cell.attempts() - before[cell.name]


def _check_reachable(address: str | None, timeout: float = 5.0) -> None:
    """One sentence, before Ray's own retries, when a ``host:port`` address does not answer."""
    if address in (None, "auto", "local") or address.startswith("ray://"):
        return
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except (OSError, ValueError):
        raise UnweaveError(
            f"Ray cluster at {address} is unreachable (no answer within {timeout:g} s); "
            "expected the address 'ray start --head' printed, e.g. 10.0.0.1:6379."
        ) from None


#: --engine NAME -> the engine.
ENGINES: dict[str, Callable[..., Any]] = {"local": LocalEngine, "ray": RayEngine}
