"""The mailbox level: SMTP sessions that ask each mail host about its recipients (never DATA)."""
