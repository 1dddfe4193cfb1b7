"""Evaluation read models over the store: availability, SLA credits, fault reports
(the pure rules are in :mod:`cloudtally.core.availability`, :mod:`cloudtally.core.sla`
and :mod:`cloudtally.core.faults`)."""
