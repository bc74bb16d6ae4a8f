"""The embedded loopback lab used by ``presend demo`` (DNS responder + scripted mail hosts)."""

from __future__ import annotations

from pipeline.lab.lab import DEMO_EXPECTED, DEMO_LIST, DEMO_ZONE, Lab

__all__ = ["DEMO_EXPECTED", "DEMO_LIST", "DEMO_ZONE", "Lab"]
