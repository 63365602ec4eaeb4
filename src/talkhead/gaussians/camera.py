"""The camera of a per-identity Gaussian head: a pinhole far in front of the crop, so the crop's pixels are world units.

The head lives in the crop's pixel frame scaled to the training size (x right, y down, z away from
the camera, MediaPipe's pixel-scaled depth), so the posed canonical face lands on the image where the
face mesh says it is. A pinhole at distance `distance × size` in front of z = 0 with focal length
equal to that distance projects z = 0 exactly onto the pixel grid and keeps a mild, realistic
perspective for the depth of a head (the mesh itself is near-orthographic). Conventions follow
gsplat's: `viewmat` is world → camera (OpenCV axes: x right, y down, z forward), `K` the intrinsics.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Camera:
    """A pinhole camera: world→camera 4×4 `viewmat`, 3×3 intrinsics `K`, image width and height."""

    viewmat: torch.Tensor  # (4, 4)
    K: torch.Tensor  # (3, 3)
    width: int
    height: int

    def to(self, device: torch.device | str, dtype: torch.dtype = torch.float32) -> Camera:
        """The same camera on another device / dtype."""
        return Camera(self.viewmat.to(device, dtype), self.K.to(device, dtype), self.width, self.height)


def crop_camera(size: int, distance: float = 8.0, dtype: torch.dtype = torch.float32) -> Camera:
    """The camera that images the plane z = 0 of a `size`² crop frame pixel for pixel (distance in image sizes)."""
    if size < 1 or distance <= 0:
        raise ValueError(f"need size ≥ 1 and distance > 0, got {size}, {distance}")
    d = float(distance * size)
    viewmat = torch.eye(4, dtype=dtype)
    viewmat[:3, 3] = torch.tensor([-size / 2.0, -size / 2.0, d], dtype=dtype)  # centre on the optical axis
    K = torch.tensor([[d, 0.0, size / 2.0], [0.0, d, size / 2.0], [0.0, 0.0, 1.0]], dtype=dtype)
    return Camera(viewmat, K, size, size)
