"""Read models over the store: SQL that the API and CLI share.

Every function that returns bureau data takes ``bureau``: when given, the
restriction is applied inside the SQL, so a bureau-scoped caller cannot read
another bureau's rows whatever route it came through.
"""
