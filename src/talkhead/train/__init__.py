"""Training loops of the talkhead models (each phase resumable in place)."""
