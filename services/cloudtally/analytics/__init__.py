"""Utilization analytics: rollups in ClickHouse and the queries behind the API."""
