"""Our own side of the send: the sender's domain, sending IPs, relay and message.

The checks here answer what no list check can see: whether the mail would be refused
because of *how* it is sent (SPF, DKIM, DMARC, reverse DNS, block lists, the relay's AUTH,
the message's size and lines). Each check yields :class:`~pipeline.sender.findings.SenderFinding`
records; :class:`~pipeline.sender.findings.SenderImpact` gathers them and is one more input of
the single verdict path (:func:`pipeline.verdict.decide`).
"""
