"""The embedded loopback lab used by ``presend demo`` (DNS responder + scripted mail hosts)."""
