"""Offline rendering: one portrait + a talkhead motion sequence (+ audio) → a speaking video (docs/render.md)."""

from talkhead.render.base import RENDERERS, Renderer, Source, make_renderer, register
from talkhead.render.portrait import ImageTooLargeError, MultipleFacesError, NoFaceError, fit_long_side, load_image
from talkhead.render.video import render_video

__all__ = ["RENDERERS", "ImageTooLargeError", "MultipleFacesError", "NoFaceError", "Renderer", "Source",
           "fit_long_side", "load_image", "make_renderer", "register", "render_video"]
