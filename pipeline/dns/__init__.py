"""The DNS level: resolving each domain's mail hosts and deciding what DNS alone forecasts."""
