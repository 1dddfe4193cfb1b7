"""The staff web console served by the API process at ``/``.

Server-rendered (Jinja2 templates, htmx for as-you-type search and partial updates,
Apache ECharts for charts), Chinese first with an English switch. Every page reads
through the same scoped read models as the API (``queries/``, ``analytics/``,
``billing/``, ``invoices/``), passing ``Principal.scope``; the console never filters
by bureau itself.
"""
