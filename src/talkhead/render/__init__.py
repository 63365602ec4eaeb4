"""Offline rendering: one portrait + a talkhead motion sequence (+ audio) → a speaking video (docs/render.md)."""

from talkhead.render.base import RENDERERS, Renderer, Source, make_renderer, register
from talkhead.render.portrait import MultipleFacesError, NoFaceError, load_image
from talkhead.render.video import render_video

__all__ = ["RENDERERS", "MultipleFacesError", "NoFaceError", "Renderer", "Source", "load_image", "make_renderer",
           "register", "render_video"]
