"""kill -9 during sustained ingest of logs, spans and metrics loses nothing acknowledged and
stores nothing twice."""
from crash_ingest import crash_rounds, problems


def test_twenty_kill_rounds_lose_and_duplicate_nothing(tmp_path, extension, ducklake_extension):
    acked, stored = crash_rounds(tmp_path, extension, ducklake_extension, rounds=20, seed=7)
    for signal, ids in acked.items():
        assert len(ids) > 500, f"the {signal} senders should have been acknowledged many times"
    assert problems(acked, stored) == {}
    # unacknowledged but spooled items may be stored too, but only ones we sent
    for table, ids in stored.items():
        assert all(i.startswith("r") for i in ids), table


def test_kill_rounds_over_grpc_lose_and_duplicate_nothing(tmp_path, extension, ducklake_extension):
    """The same over OTLP/gRPC: an acknowledged Export call is as durable as a 200."""
    acked, stored = crash_rounds(tmp_path, extension, ducklake_extension, rounds=6, seed=11, transport="grpc")
    for signal, ids in acked.items():
        assert len(ids) > 100, f"the {signal} gRPC senders should have been acknowledged many times"
    assert problems(acked, stored) == {}
    for table, ids in stored.items():
        assert all(i.startswith("r") for i in ids), table
