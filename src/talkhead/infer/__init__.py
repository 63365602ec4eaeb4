"""Using trained models on new inputs (talkhead's user-facing inference)."""
