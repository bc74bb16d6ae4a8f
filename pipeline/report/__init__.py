"""The run's tally, summary.json helpers and the self-contained HTML report."""
