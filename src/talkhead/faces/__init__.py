"""Faces: detector backends (a registry chosen by name in params), tracking, and the stable crop."""
