"""The data shipped in data/01_raw: official MVTec AD bottle counts and the Head CT protocol split."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from metal_pipeline.data.ingest import IngestionConfig, ingest_class
from metal_pipeline.data.labelled import scan_labelled_folder, split_labelled
from metal_pipeline.data.mvtec import scan_mvtec


@pytest.fixture
def shipped(project_root):
    raw = project_root / "data" / "01_raw"
    if not (raw / "mvtec_ad" / "bottle").is_dir() or not (raw / "head_ct").is_dir():
        pytest.fail(f"shipped data missing under {raw} (copy it from the project's data source)")
    return raw


def test_shipped_files_carry_license_and_readme(shipped):
    for f in ("mvtec_ad/bottle/license.txt", "mvtec_ad/bottle/readme.txt", "README.md", "head_ct/labels.csv"):
        assert (shipped / f).is_file(), f


def test_bottle_official_counts(shipped):
    train, test = scan_mvtec(shipped / "mvtec_ad" / "bottle")
    assert len(train) == 209
    counts = Counter(r.defect for r in test)
    assert counts == {"good": 20, "broken_large": 20, "broken_small": 22, "contamination": 21}
    masks = [r.mask_path for r in test if r.label == 1]
    assert len(masks) == 63 and all(m is not None and m.is_file() for m in masks)


def test_bottle_ingested_at_model_resolution(shipped, monkeypatch, project_root):
    monkeypatch.chdir(project_root)  # default params use project-relative paths
    train, val, test = ingest_class("bottle", {"img_size": 64}, seed=0)
    assert (len(train), len(val), len(test)) == (188, 21, 83)
    assert train.channels == 3 and test.images.shape == (83, 3, 64, 64)
    assert set(np.unique(test.masks)) == {0, 1}
    assert int(test.labels.sum()) == 63
    assert all(test.masks[test.labels == 1].reshape(63, -1).any(axis=1))
    assert not test.masks[test.labels == 0].any()
    assert (test.original_sizes == 256).all()


def test_head_ct_protocol_split_80_20_100(shipped):
    hc = IngestionConfig.from_params({}).head_ct
    records = scan_labelled_folder(shipped / "head_ct", hc.labels_file, hc.id_column, hc.label_column, hc.defect_name)
    assert len(records) == 200
    train, test = split_labelled(records, hc.n_train_normal, hc.n_test_normal, hc.n_test_anomalous, seed=0)
    assert len(train) == 80 and all(r.label == 0 for r in train)
    assert Counter(r.defect for r in test) == {"good": 20, "hemorrhage": 100}
    assert not {r.name for r in train} & {r.name for r in test}
    # ids 0-99 are hemorrhage, 100-199 normal (data/01_raw/README.md)
    assert {int(r.path.stem) for r in test if r.label == 1} == set(range(100))


def test_head_ct_ingested(shipped, monkeypatch, project_root):
    monkeypatch.chdir(project_root)
    train, val, test = ingest_class("head_ct", {"img_size": 32}, seed=0)
    assert (len(train), len(val), len(test)) == (72, 8, 120)
    assert test.masks is None and int(test.labels.sum()) == 100
