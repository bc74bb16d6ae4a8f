"""Pure decisions about one address or one row: syntax, hygiene flags, typos, disposable domains, duplicate keys."""
