"""The ``processes`` engine when the run allows piece workers: a wrapper around
:func:`pipeline.engine.processes.judge_in_parallel` that speaks the seam (:mod:`pipeline.engine.base`).
"""

from __future__ import annotations

from pipeline.engine.base import EngineOutcome, Job, paused_gc, stage_timings
from pipeline.engine.coordinator import NetworkLevels
from pipeline.engine.processes import judge_in_parallel


class ProcessesEngine:
    """Worker processes forked at the start judge whole pieces of a delimited text file.

    For a delimited text file (see :func:`pipeline.engine.base.piece_workers`); with the network
    levels this process resolves and probes each piece's new addresses between the steps, and a
    resumed run's pieces start after the rows committed before.
    """

    name = "processes"

    def __init__(self, workers: int) -> None:
        self.workers = workers

    def run(self, job: Job) -> EngineOutcome:
        """Judge the list with ``self.workers`` processes; this process commits in file order."""
        levels = (NetworkLevels(job.resolver, job.prober, job.progress, job.bounces)
                  if job.resolver is not None else None)
        with paused_gc():
            done = judge_in_parallel(job.options, job.table, job.keep, self.workers, levels=levels, done=job.done,
                                     bounces=job.bounces, sender=job.sender)
        timings = stage_timings()
        for stage, seconds in done.timings.items():
            timings[stage] = timings.get(stage, 0.0) + seconds
        return EngineOutcome(read=done.read, syntax=done.syntax, timings=timings, workers=self.workers, name=self.name)


__all__ = ["ProcessesEngine"]
