"""The CenterFace detector on real face photos (bundled with scikit-image)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage
from skimage import data

from reelflow.faces import Face, get_face_detector

# Centre of the astronaut's face in skimage's 512x512 photo, checked by drawing the box.
ASTRONAUT_FACE = (226, 118)


@pytest.fixture(scope="module")
def astronaut_bgr() -> np.ndarray:
    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


def _near(face: Face, x: float, y: float, tol: float) -> bool:
    return abs(face.cx - x) <= tol and abs(face.cy - y) <= tol


def test_astronaut_has_one_face_where_it_is(astronaut_bgr):
    faces = get_face_detector().detect(astronaut_bgr)
    assert len(faces) == 1
    face = faces[0]
    assert face.score > 0.8
    assert _near(face, *ASTRONAUT_FACE, tol=15)
    assert 60 < face.w < 130 and 80 < face.h < 160


def test_no_faces_in_blank_or_noise():
    detector = get_face_detector()
    rng = np.random.default_rng(0)
    assert detector.detect(np.zeros((360, 640, 3), np.uint8)) == []
    assert detector.detect(np.full((360, 640, 3), 200, np.uint8)) == []
    assert detector.detect(rng.integers(0, 256, (360, 640, 3), dtype=np.uint8)) == []


def test_face_found_at_its_place_in_a_larger_frame(astronaut_bgr):
    # The head region, doubled, pasted into a 1280x720 frame (not a multiple of 32 high).
    head = cv2.resize(astronaut_bgr[20:240, 130:330], None, fx=2, fy=2)
    canvas = np.full((720, 1280, 3), 90, np.uint8)
    x0, y0 = 700, 200
    canvas[y0 : y0 + head.shape[0], x0 : x0 + head.shape[1]] = head
    faces = get_face_detector().detect(canvas)
    assert len(faces) == 1
    expected = (x0 + (ASTRONAUT_FACE[0] - 130) * 2, y0 + (ASTRONAUT_FACE[1] - 20) * 2)
    assert _near(faces[0], *expected, tol=25)


def test_small_grey_faces_and_non_faces():
    # lfw_subset: 100 face crops, then 100 non-face crops, 25x25 grey in [0, 1].
    crops = np.load(Path(skimage.__file__).parent / "data" / "lfw_subset.npy")
    detector = get_face_detector()

    def found(crop: np.ndarray) -> bool:
        grey = cv2.resize((crop * 255).astype(np.uint8), (96, 96), interpolation=cv2.INTER_CUBIC)
        return bool(detector.detect(np.pad(grey, 48, constant_values=128)))

    assert sum(found(c) for c in crops[:100]) >= 95
    assert sum(found(c) for c in crops[100:]) <= 5


def test_faces_side_by_side_stay_separate():
    crops = np.load(Path(skimage.__file__).parent / "data" / "lfw_subset.npy")[:6]
    tiles = [cv2.resize((c * 255).astype(np.uint8), (96, 96)) for c in crops]
    row = np.concatenate([np.pad(t, 24, constant_values=128) for t in tiles], axis=1)
    faces = sorted(get_face_detector().detect(row), key=lambda f: f.cx)
    assert len(faces) == 6
    for i, face in enumerate(faces):
        assert abs(face.cx - (72 + 144 * i)) < 15
