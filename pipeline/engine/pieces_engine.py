"""The ``processes`` engine when the run allows piece workers: a wrapper around
:func:`pipeline.engine.processes.judge_in_parallel` that speaks the seam (:mod:`pipeline.engine.base`).
"""

from __future__ import annotations

from pipeline.engine.base import EngineOutcome, Job, paused_gc, stage_timings
from pipeline.engine.processes import judge_in_parallel


class ProcessesEngine:
    """Worker processes forked at the start judge whole pieces of a delimited text file.

    Only for a fresh run without the network levels (see :func:`pipeline.engine.base.piece_workers`).
    """

    name = "processes"

    def __init__(self, workers: int) -> None:
        self.workers = workers

    def run(self, job: Job) -> EngineOutcome:
        """Judge the list with ``self.workers`` processes; this process commits in file order."""
        with paused_gc():
            done = judge_in_parallel(job.options, job.table, job.keep, self.workers)
        timings = stage_timings()
        for stage, seconds in done.timings.items():
            timings[stage] = timings.get(stage, 0.0) + seconds
        return EngineOutcome(read=done.read, syntax=done.syntax, timings=timings, workers=self.workers, name=self.name)


__all__ = ["ProcessesEngine"]
