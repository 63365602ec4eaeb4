"""LivePortrait (Guo et al. 2024, https://arxiv.org/abs/2407.03168), reimplemented to load the official checkpoints.

One network per module, each with the state-dict keys and shapes of the released files
(HF KwaiVGI/LivePortrait, `base_models/*.pth`, `retargeting_models/*.pth`):

- `weights`: where each checkpoint lives in the release layout, reading and strict loading.
- `keypoints`: head-pose bins → degrees, the rotation convention, the implicit-keypoint transform (Eqn. 2).
- `convnext`: the ConvNeXt-V2 tiny trunk of the motion extractor.
- `motion_extractor`: M, canonical keypoints, head pose, expression deformation, scale and translation.
- `appearance` (F), `dense_motion` and `warping` (W), `spade` (G), `stitching` (S), and their shared `blocks`.
"""
