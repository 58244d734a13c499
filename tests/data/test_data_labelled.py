"""Labelled folders (Head CT layout): labels.csv parsing, the seeded protocol split, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from metal_pipeline.data.errors import DataError
from metal_pipeline.data.ingest import ingest_class
from metal_pipeline.data.labelled import read_labels, scan_labelled_folder, split_labelled


def run(folder, seed=0, **head_ct):
    head = {"n_train_normal": 8, **head_ct}
    return ingest_class("ct", {"data_root": str(folder.parent), "class_paths": {"ct": str(folder)},
                               "img_size": 24, "head_ct": head}, seed=seed)


def message(excinfo) -> str:
    return " ".join(str(excinfo.value).split())


def test_labels_header_with_stray_space(make_labelled):
    folder = make_labelled(header="id, hemorrhage")
    labels = read_labels(folder / "labels.csv", "id", "hemorrhage")
    assert list(labels.columns) == ["id", "label"]
    assert labels["label"].tolist() == [1] * 6 + [0] * 12
    assert read_labels(folder / "labels.csv")["label"].sum() == 6  # label column found on its own


def test_scan_matches_padded_stems(make_labelled):
    folder = make_labelled(pad=3)
    records = scan_labelled_folder(folder, label_column="hemorrhage", defect_name="hemorrhage")
    assert records[0].name == "hemorrhage/000" and records[0].label == 1
    assert records[-1].name == "good/017" and records[-1].defect == "good"
    assert all(r.mask_path is None for r in records)


def test_protocol_split(make_labelled):
    folder = make_labelled(n_normal=12, n_anomalous=6)
    train, val, test = run(folder)
    assert len(train) + len(val) == 8 and len(val) == 1
    assert (test.labels == 0).sum() == 4 and (test.labels == 1).sum() == 6
    assert test.masks is None and train.masks is None
    assert set(test.defects) == {"good", "hemorrhage"}
    seen = set(train.names) | set(val.names)
    assert not seen & set(test.names)
    assert all(n.startswith("good/") for n in seen)
    assert train.channels == 3 and test.images.shape[1:] == (3, 24, 24)


def test_split_is_seeded(make_labelled):
    folder = make_labelled(n_normal=12, n_anomalous=6)
    a, b, c = run(folder, seed=1), run(folder, seed=1), run(folder, seed=2)
    assert a.test.names == b.test.names and a.train.names == b.train.names and a.val.names == b.val.names
    assert a.test.names != c.test.names


def test_split_counts_are_parameters(make_labelled):
    folder = make_labelled(n_normal=12, n_anomalous=6)
    _, _, test = run(folder, n_test_normal=2, n_test_anomalous=3)
    assert (test.labels == 0).sum() == 2 and (test.labels == 1).sum() == 3


def test_split_labelled_draws_with_default_rng(make_labelled):
    records = scan_labelled_folder(make_labelled(n_normal=12, n_anomalous=6), label_column="hemorrhage")
    train, _ = split_labelled(records, 5, seed=3)
    normals = [r for r in records if r.label == 0]
    expected = sorted(np.random.default_rng(3).permutation(12)[:5])
    assert [r.name for r in train] == [normals[i].name for i in expected]


def test_missing_labels_file(make_labelled):
    folder = make_labelled()
    (folder / "labels.csv").unlink()
    # without labels.csv and train/ the folder is not recognised at all
    with pytest.raises(DataError, match="neither an MVTec AD category nor a labelled folder"):
        run(folder)
    with pytest.raises(DataError) as err:
        read_labels(folder / "labels.csv")
    assert f"Labels file '{folder / 'labels.csv'}' does not exist" in message(err)


@pytest.mark.parametrize(("content", "needle"), [
    ("", "cannot be parsed"),
    ("id, label\n0,1\n", "no 'hemorrhage' column"),
    ("name, hemorrhage\n000,1\n", "no 'id' column"),
    ("id, hemorrhage\n", "no rows"),
    ("id, hemorrhage\n0,1\n1,2\n2,yes\n", "must be 0 or 1, found 2 other value(s) (id '1': '2', id '2': 'yes')"),
    ("id, hemorrhage\n0,1\n1,\n", "must be 0 or 1"),
    ("id, hemorrhage\n0,1\n0,0\n", "more than once"),
])
def test_malformed_labels(make_labelled, content, needle):
    folder = make_labelled()
    (folder / "labels.csv").write_text(content)
    with pytest.raises(DataError) as err:
        run(folder)
    assert needle in message(err)
    assert str(folder / "labels.csv") in message(err)


def test_ids_without_images(make_labelled):
    folder = make_labelled()
    (folder / "003.png").unlink()
    with open(folder / "labels.csv", "a") as fh:
        fh.write("250,0\n")
    with pytest.raises(DataError) as err:
        run(folder)
    text = message(err)
    assert "2 id(s)" in text and "'3'" in text and "'250'" in text and str(folder) in text


def test_images_without_ids_are_skipped(make_labelled, caplog):
    folder = make_labelled(n_normal=12, n_anomalous=6)
    from synthetic import save_image, synthetic_picture
    save_image(synthetic_picture(30, 30), folder / "900.png")
    train, val, test = run(folder)
    assert len(train) + len(val) + len(test) == 18
    assert "900.png" in caplog.text


def test_too_few_normals(make_labelled):
    folder = make_labelled(n_normal=8, n_anomalous=3)
    with pytest.raises(DataError) as err:
        run(folder, n_train_normal=8)
    text = message(err)
    assert "Too few normal images" in text and "found 8" in text and "need 8 for training + 1 for testing" in text
    assert str(folder) in text and "n_train_normal" in text


def test_too_many_anomalous_requested(make_labelled):
    with pytest.raises(DataError, match="n_test_anomalous is 9 but there are 6"):
        run(make_labelled(), n_test_anomalous=9)


def test_no_anomalous_images(make_labelled):
    with pytest.raises(DataError, match="No anomalous images"):
        run(make_labelled(n_anomalous=0))
