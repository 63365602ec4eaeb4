"""Media I/O: probe, decode, resample and encode video and audio (PyAV, bundled FFmpeg)."""
