"""Deployment of V3 Face: the crisp_mouth filters and the streaming ONNX graph."""
