"""Shared fixtures: synthetic MVTec-layout and labelled (Head CT) folders, tiny ImageSets.

The builders live in ``tests/synthetic.py`` (importable as ``synthetic``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from synthetic import make_image_set, make_labelled_folder, make_mvtec_category  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def make_mvtec(tmp_path):
    """Factory: ``make_mvtec(name="widget", **kwargs) -> Path`` of a category under ``tmp_path/"mvtec"``.

    Keyword arguments as ``synthetic.make_mvtec_category`` (n_train, n_test_good,
    defects, mode, ext, sizes, mask_ext, seed).
    """
    root = tmp_path / "mvtec"

    def build(name: str = "widget", **kwargs) -> Path:
        return make_mvtec_category(root, name, **kwargs)

    return build


@pytest.fixture
def mvtec_rgb(make_mvtec):
    """RGB category ``widget``: 6 train, 2 test/good, crack x2 + hole x2 with masks;
    PNG and JPEG mixed, sizes 48x48 and 56x40 mixed."""
    return make_mvtec("widget", mode="RGB", ext=[".png", ".jpg"], sizes=[(48, 48), (56, 40)])


@pytest.fixture
def mvtec_gray(make_mvtec):
    """Grayscale (mode L) category ``gadget``: same counts as ``mvtec_rgb``, PNG and JPEG mixed."""
    return make_mvtec("gadget", mode="L", ext=[".jpg", ".png"], sizes=[(40, 40), (32, 48)])


@pytest.fixture
def make_labelled(tmp_path):
    """Factory: ``make_labelled(name="ct", **kwargs) -> Path`` of a Head-CT-style folder
    (images + labels.csv) under ``tmp_path``; kwargs as ``synthetic.make_labelled_folder``."""

    def build(name: str = "ct", **kwargs) -> Path:
        return make_labelled_folder(tmp_path, name, **kwargs)

    return build


@pytest.fixture
def tiny_image_set():
    """In-memory ImageSet: 8 RGB 32x32 images, the last 3 anomalous with masks."""
    return make_image_set(8, 3, 32, anomalous=3)


@pytest.fixture
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture(autouse=True)
def _torch_threads_as_they_were():
    """Give every test the process's starting torch thread count back: some tests (the benchmarks'
    ``--threads``) set it, and the discriminative head's convolutions round differently with another
    thread count (~1e-8), so a later test comparing in-process scores bit for bit with a ``kedro run``
    subprocess (which starts with the default count) would depend on test order."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
