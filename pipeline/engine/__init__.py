"""Where a run executes: judging chunks in this process, worker processes, and the children they start."""
