from __future__ import annotations

import pytest
import torch

from metal_pipeline.training import TrainConfig


def test_defaults_follow_the_paper():
    c = TrainConfig()
    assert (c.lr, c.batch_size, c.max_epochs, c.min_epochs, c.patience) == (1e-4, 64, 3000, 500, 50)
    assert (c.weight_decay, c.min_delta, c.seed, c.device, c.num_threads) == (0.0, 0.0, 0, "auto", None)
    assert (c.checkpoint_every, c.deterministic, c.progress) == (25, True, True)


def test_from_dict_fills_defaults_and_reads_numeric_strings():
    c = TrainConfig.from_dict({"lr": "1e-3", "patience": 7})
    assert c.lr == 1e-3 and c.patience == 7 and c.batch_size == 64
    assert TrainConfig.from_dict(None) == TrainConfig()
    assert TrainConfig.from_dict(c.to_dict()) == c


def test_unknown_key_is_named_with_the_valid_keys():
    with pytest.raises(ValueError, match=r"Unknown training parameter\(s\) \['learning_rate'\]") as err:
        TrainConfig.from_dict({"learning_rate": 1e-3, "lr": 1e-3})
    assert "'lr'" in str(err.value) and "'patience'" in str(err.value)


@pytest.mark.parametrize("changes, fragment", [
    ({"lr": -1.0}, "lr must be"),
    ({"batch_size": 0}, "batch_size must be"),
    ({"batch_size": 2.5}, "batch_size must be"),
    ({"patience": 0}, "patience must be"),
    ({"max_epochs": True}, "max_epochs must be"),
    ({"checkpoint_every": 0}, "checkpoint_every must be"),
    ({"num_threads": 0}, "num_threads must be"),
    ({"device": "gpu0"}, "not a torch device"),
    ({"deterministic": "yes"}, "deterministic must be"),
    ({"lr": "fast"}, "lr must be a number"),
])
def test_invalid_values_are_rejected(changes, fragment):
    with pytest.raises(ValueError, match=fragment):
        TrainConfig.from_dict(changes)


def test_auto_device_resolves_to_what_is_available():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert TrainConfig(device="auto").resolved_device().type == expected
    assert TrainConfig(device="cpu").resolved_device() == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_requested_without_cuda_is_a_clear_error():
    with pytest.raises(ValueError, match="CUDA is not available"):
        TrainConfig(device="cuda").resolved_device()
