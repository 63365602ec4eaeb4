"""Quality: per-clip measures (blur, loudness, speech, A/V offset, scene cuts) and the accept/reject gate."""
