"""The samples stream's buffer (CLOUDTALLY_STREAM_BUFFER_MESSAGES) is what Faust bounds it by."""

from __future__ import annotations

from cloudtally.worker.app import create_app


def test_the_stream_buffer_comes_from_settings(settings, chdb_store) -> None:
    s = settings(stream_buffer_messages=321, derive_enabled=False)
    app = create_app(s, chdb_store)
    assert app.conf.stream_buffer_maxsize == 321
    agent = next(a for a in app.agents.values() if a.name.endswith("ingest-samples"))
    stream = agent.stream()  # the stream Faust builds for the agent: its queue's bound
    assert stream.outbox.maxsize == 321
    assert settings().stream_buffer_messages == 1000  # default: ~60 MB of 2,000-sample messages
