"""Loopback labs the tests start and stop: Postfix + postgrey, scripted SMTP hosts, DNS."""
