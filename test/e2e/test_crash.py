"""kill -9 during sustained ingest loses nothing acknowledged and stores nothing twice."""
from crash_ingest import crash_rounds


def test_twenty_kill_rounds_lose_and_duplicate_nothing(tmp_path, extension, ducklake_extension):
    acked, stored = crash_rounds(tmp_path, extension, ducklake_extension, rounds=20, seed=7)
    assert len(acked) > 1000, "the senders should have been acknowledged many times"
    assert sorted(acked - stored.keys()) == []
    assert sorted(body for body, n in stored.items() if n > 1) == []
    # unacknowledged but spooled records may be stored too, but only ones we sent
    assert all(body.startswith("r") for body in stored)
