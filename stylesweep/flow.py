"""Optical flow between consecutive frames: OpenCV's DIS, forward and backward; torch-free."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image


def _grey(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("L"), dtype=np.uint8)  # (H, W)


def dis_flow(src: Image.Image, dst: Image.Image) -> np.ndarray:
    """The flow from `src` to `dst`, (2, H, W) float32 in pixels (x then y): src(p) ~ dst(p +
    flow(p)). DIS (Kroeger et al. 2016) at OpenCV's medium preset, on the luminance.

    DIS stands in for the DeepFlow of Ruder et al. 2016: it needs no downloaded weights and
    runs in milliseconds at the sizes we stylize.
    """
    dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    flow = dis.calc(_grey(src), _grey(dst), None)  # type: ignore[call-overload]  # (H, W, 2)
    return np.ascontiguousarray(flow.transpose(2, 0, 1), dtype=np.float32)


def pair_flows(prev: Image.Image, cur: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """(forward, backward) of a consecutive pair: prev -> cur and cur -> prev, each (2, H, W).

    The backward flow warps the previous stylized frame onto the current one; the forward one
    checks it (temporal.consistency).
    """
    if prev.size != cur.size:
        raise ValueError(f"frames of different sizes: {prev.size} and {cur.size}")
    return dis_flow(prev, cur), dis_flow(cur, prev)
