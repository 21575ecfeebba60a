"""What a run writes and reads back: records, the sink, JSON Lines, fingerprint, versions, sizing."""
