"""The readiness report as text for a terminal (``presend sender``); JSON is :func:`report_data`."""

from __future__ import annotations

from pipeline.sender.findings import SenderFinding
from pipeline.sender.readiness import SenderReport

_MARKS = {"problem": "PROBLEM", "advice": "advice ", "unchecked": "not checked", "ok": "ok     "}


def readiness_text(report: SenderReport) -> str:
    """Every finding, one block each, problems first; then what the verdict is."""
    problems = report.impact.problems
    lines = [
        f"Sender readiness for {report.from_addr}"
        + (f" (envelope {report.envelope})" if report.envelope != report.from_addr else "")
        + (", bulk sender rules" if report.bulk else "")
    ]
    if report.resolvers:
        lines.append(f"DNS asked through {', '.join(report.resolvers)} ({sum(report.questions.values())} questions)")
    lines.append("")
    order = {"problem": 0, "advice": 1, "unchecked": 2, "ok": 3}
    for finding in sorted(report.findings, key=lambda f: order[f.state]):
        lines.extend(_block(finding))
    lines.append("")
    if problems:
        count = len(problems)
        lines.append(
            f"NOT READY: {count} problem{'s' if count != 1 else ''} would draw refusals because of how "
            "the campaign is sent; fix them before sending."
        )
    else:
        unchecked = any(f.state == "unchecked" for f in report.findings)
        lines.append(
            "READY: no problem found on the sending side" + (" (see what was not checked above)." if unchecked else ".")
        )
    return "\n".join(lines) + "\n"


def _block(finding: SenderFinding) -> list[str]:
    mark = _MARKS[finding.state]
    where = f" [{', '.join(finding.providers)} rows]" if finding.providers else ""
    code = f" {finding.code} {finding.enhanced}" if finding.state == "problem" else ""
    lines = [f"  {mark} {finding.check}{where}{code}: {finding.detail}"]
    if finding.remedy and finding.state in ("problem", "advice"):
        lines.append(f"          what to do: {finding.remedy}")
    if finding.source and finding.state == "problem":
        lines.append(f"          the rule: {finding.source}")
    return lines
