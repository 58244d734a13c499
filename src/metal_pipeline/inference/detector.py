"""``AnomalyDetector``: a trained reconstruction network plus the rules that turn
its output into a heatmap, an image score and an accept/reject decision.

The evaluation pipeline and the ``predict`` pipeline both score images through
:meth:`AnomalyDetector.score`, so a registered model gives exactly the same
scores in both places. The detector is what gets logged to MLflow: its
``forward`` is the reconstruction, and the scoring settings travel inside it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from metal_pipeline.inference.reconstruct import reconstruction_batches
from metal_pipeline.utils.precision import amp_mode, check_amp
from metal_pipeline.scoring import image_scores, smooth_maps_torch
from metal_pipeline.utils.device import resolve_device
from metal_pipeline.scoring.maps import HEAD_KINDS, anomaly_maps, check_kinds
from metal_pipeline.scoring.foreground import REGIONS, region_masks


@dataclass
class Scores:
    """What scoring a batch of images yields."""

    reconstructions: np.ndarray  # float32 (n, C, H, W) in model space
    maps: np.ndarray  # float32 (n, H, W) smoothed (and normalised) anomaly maps
    scores: np.ndarray  # float64 (n,) image scores
    decisions: np.ndarray | None  # bool (n,) True = anomalous; None without a threshold


class AnomalyDetector(nn.Module):
    """A reconstruction network with its scoring rule and decision threshold.

    Args:
        net: maps (B, C, N, N) images in [0, 1] to their reconstruction.
        sigma: Gaussian smoothing of each anomaly map, in model pixels.
        reduction: how a map becomes an image score ("max", "mean", "p99").
        threshold: image score above which an image is called anomalous.
        metadata: JSON-able facts about training (class, configuration, ...).
        map_kinds: anomaly maps to compute (``metal_pipeline.scoring.maps``);
            several are summed, each after normalisation when there is one.
        offsets: pixel shifts ``(dy, dx)`` of the patch grid at test time. The
            image is rolled by each, reconstructed, rolled back, and the maps
            are averaged, so every pixel is inpainted from several contexts.
        normalise: ``"none"``, ``"pixel"`` (each map minus the per-pixel mean,
            over the per-pixel std, of validation normals: for aligned
            objects) or ``"global"`` (one mean and std per map kind). Fitted
            by :meth:`fit_normaliser`.
        region: ``"all"`` or ``"foreground"``: the pixels the image score
            reduces over (:mod:`metal_pipeline.scoring.foreground`; maps stay
            whole), with ``region_erode`` pixels of the object's rim dropped.
        seg_head: the trained discriminative head
            (:class:`~metal_pipeline.model.seg_head.SegHead`) behind map kind
            ``seg`` (its anomaly probability); required by that kind only.
            ``seg`` is never normalised: it is a probability already, and the
            near-zero spread of normal images' probabilities would turn noise
            into large z-scores.
        image_kinds: the map kinds the *image score* reduces (``None``: the
            heatmap's ``map_kinds``). A heatmap has to localise and an image
            score has to rank images; the best map for one need not be the
            best for the other, and the validation signal chooses each.
        amp: ``"off"`` or ``"bf16"``: the network's forward pass under bf16
            autocast (``scoring.amp``; faster on CPUs with native bf16 and on
            GPUs). Maps, the head, normalisation and scores stay fp32. The
            normaliser and the threshold are fitted with the same arithmetic.
    """

    def __init__(
        self,
        net: nn.Module,
        sigma: float,
        reduction: str = "max",
        threshold: float | None = None,
        metadata: dict | None = None,
        map_kinds=("l2",),
        offsets=((0, 0),),
        normalise: str = "none",
        region: str = "all",
        region_erode: int = 0,
        seg_head: nn.Module | None = None,
        image_kinds=None,
        amp: str = "off",
    ) -> None:
        super().__init__()
        self.net = net
        self.sigma = float(sigma)
        self.reduction = reduction
        self.threshold = None if threshold is None else float(threshold)
        self.metadata = dict(metadata or {})
        self.map_kinds = check_kinds(map_kinds)
        self.image_kinds = None if image_kinds is None else check_kinds(image_kinds)
        used = self.map_kinds + (self.image_kinds or ())
        if seg_head is None and any(k in HEAD_KINDS for k in used):
            raise ValueError(f"map kinds {sorted(set(used))} include 'seg', which needs a trained "
                             "discriminative head (seg_head); none was given")
        self.seg_head = seg_head.eval() if seg_head is not None else None
        self.offsets = check_offsets(offsets)
        if normalise not in NORMALISE_MODES:
            raise ValueError(f"normalise must be one of {list(NORMALISE_MODES)}, got {normalise!r}")
        self.normalise = normalise
        self.norm_stats: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        if region not in REGIONS:
            raise ValueError(f"region must be one of {list(REGIONS)}, got {region!r}")
        if int(region_erode) < 0:
            raise ValueError(f"region_erode must be >= 0, got {region_erode!r}")
        self.region = region
        self.region_erode = int(region_erode)
        self.amp = amp_mode(amp)

    @property
    def img_size(self) -> int:
        return int(self.net.config.img_size)

    @property
    def channels(self) -> int:
        return int(self.net.config.channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def scoring_settings(self) -> dict:
        """The rules that turn a reconstruction into a score (logged and tagged)."""
        return {"sigma": self.sigma, "reduction": self.reduction, "map_kinds": list(self._kinds()),
                "image_kinds": None if self._image_kinds() is None else list(self._image_kinds()),
                "offsets": [list(o) for o in self._offsets()], "normalise": self._normalise(),
                "region": self._region()[0], "region_erode": self._region()[1], "amp": self._amp()}

    # Detectors pickled before these settings existed score as they did then.
    def _kinds(self) -> tuple[str, ...]:
        return getattr(self, "map_kinds", ("l2",))

    def _image_kinds(self) -> tuple[str, ...] | None:
        return getattr(self, "image_kinds", None)

    def _all_kinds(self) -> tuple[str, ...]:
        """The heatmap's kinds, then any further kinds of the image score."""
        extra = tuple(k for k in (self._image_kinds() or ()) if k not in self._kinds())
        return self._kinds() + extra

    def _offsets(self) -> tuple[tuple[int, int], ...]:
        return getattr(self, "offsets", ((0, 0),))

    def _normalise(self) -> str:
        return getattr(self, "normalise", "none")

    def _amp(self) -> str:
        return getattr(self, "amp", "off")

    def _region(self) -> tuple[str, int]:
        return getattr(self, "region", "all"), getattr(self, "region_erode", 0)

    def regions(self, images: np.ndarray) -> np.ndarray | None:
        """The scored pixels of each image (None: all of them)."""
        region, erode = self._region()
        return region_masks(images, region, erode)

    def raw_maps(self, images: np.ndarray, batch_size: int = 32, device: str = "cpu"):
        """Smoothed, un-normalised maps per kind and the plain (offset 0) reconstructions.

        Maps stay on torch (on ``device``) from the residual to the smoothing
        (:func:`~metal_pipeline.scoring.smoothing.smooth_maps_torch`, equal to
        scipy's ``gaussian_filter`` within float32 rounding) and reach numpy
        once per batch. Every step works on each image alone, so a map does
        not depend on the batch it was scored in.
        """
        if images.ndim != 4 or images.shape[1] != self.channels or images.shape[2:] != (self.img_size,) * 2:
            raise ValueError(
                f"images of shape {images.shape} do not match the model, which expects "
                f"(n, {self.channels}, {self.img_size}, {self.img_size})"
            )
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        device = resolve_device(device)
        kinds, offsets = self._all_kinds(), self._offsets()
        array_kinds = tuple(k for k in kinds if k not in HEAD_KINDS)
        head = getattr(self, "seg_head", None)
        self.net.to(device)
        if head is not None:
            head.to(device).eval()
        n, _, h, w = images.shape
        recon = np.empty(images.shape, dtype=np.float32)
        maps = {k: np.empty((n, h, w), dtype=np.float32) for k in kinds}
        no_autocast = torch.autocast(device_type=torch.device(device).type, enabled=False)
        # the plain reconstruction is returned too, so offset 0 is always run
        passes = offsets if (0, 0) in offsets else (*offsets, (0, 0))
        if self._amp() != "off":
            check_amp(self._amp(), torch.device(device), name="scoring.amp")
        for lo, x, recs in reconstruction_batches(self.net, images, batch_size, device, passes, amp=self._amp()):
            recon[lo:lo + len(x)] = recs[(0, 0)].float().cpu().numpy()
            acc: dict[str, torch.Tensor] = {}
            with no_autocast:  # maps in fp32 even when the caller runs the network under AMP
                for offset in offsets:
                    found = anomaly_maps(x, recs[offset].float(), array_kinds) if array_kinds else {}
                    if "seg" in kinds:
                        with torch.inference_mode():
                            found["seg"] = torch.sigmoid(head(x, recs[offset].float()))
                    for k, m in found.items():
                        acc[k] = m if k not in acc else acc[k] + m
                # smoothed on the device; one copy to numpy per batch and kind
                for k in kinds:
                    m = acc[k] if len(offsets) == 1 else acc[k] / len(offsets)
                    maps[k][lo:lo + len(x)] = smooth_maps_torch(m, self.sigma).cpu().numpy()
        return maps, recon

    def fit_normaliser(self, images: np.ndarray, batch_size: int = 32, device: str = "cpu") -> np.ndarray:
        """Fit per-kind map statistics on normal images (validation normals, never test).

        Returns those images' held-out scores (see :meth:`leave_one_out_scores`),
        from the same maps, so a threshold needs no second pass of the model.
        """
        maps, _ = self.raw_maps(images, batch_size=batch_size, device=device)
        mode = self._normalise()
        self.norm_stats = {} if mode == "none" else {k: map_statistics(m, mode) for k, m in maps.items()
                                                     if k not in HEAD_KINDS}
        return self._held_out_scores(maps, self.regions(images))

    def leave_one_out_scores(self, images: np.ndarray, batch_size: int = 32, device: str = "cpu") -> np.ndarray:
        """Image scores of normal images, each normalised with statistics of the *other* images.

        Scoring the images the normaliser was fitted on would give them
        optimistically low scores, and a threshold taken from those would flag
        most new normals. Without normalisation this is plain :meth:`score`.
        """
        maps, _ = self.raw_maps(images, batch_size=batch_size, device=device)
        return self._held_out_scores(maps, self.regions(images))

    def _held_out_scores(self, maps: dict[str, np.ndarray], regions: np.ndarray | None = None) -> np.ndarray:
        mode = self._normalise()
        n = len(next(iter(maps.values())))
        kinds = self._image_kinds() or self._kinds()
        maps = {k: m for k, m in maps.items() if k in kinds}
        if mode == "none" or all(k in HEAD_KINDS for k in kinds):
            return image_scores(self.combine(maps, kinds), self.reduction, regions)
        saved = getattr(self, "norm_stats", {})
        if n < 3:
            # Too few to leave one out (tiny data sets): in-sample scores, said in the log.
            logging.getLogger(__name__).warning(
                "Only %d validation normals: the threshold comes from scores normalised on those same "
                "images (optimistic); use more validation images for a reliable threshold.", n)
            self.norm_stats = {k: map_statistics(m, mode) for k, m in maps.items() if k not in HEAD_KINDS}
            try:
                return image_scores(self.combine(maps, kinds), self.reduction, regions)
            finally:
                self.norm_stats = saved
        out = np.empty(n, dtype=np.float64)
        try:
            for i in range(n):
                keep = np.arange(n) != i
                self.norm_stats = {k: map_statistics(m[keep], mode) for k, m in maps.items() if k not in HEAD_KINDS}
                out[i] = image_scores(self.combine({k: m[i:i + 1] for k, m in maps.items()}, kinds), self.reduction,
                                      None if regions is None else regions[i:i + 1])[0]
        finally:
            self.norm_stats = saved
        return out

    def combine(self, maps: dict[str, np.ndarray], kinds=None) -> np.ndarray:
        """The sum of ``kinds`` (default: the heatmap's), each normalised when the detector normalises
        (except head kinds, see the class docstring)."""
        stats = getattr(self, "norm_stats", {})
        out = None
        for k in (self._kinds() if kinds is None else kinds):
            m = maps[k]
            if self._normalise() != "none" and k not in HEAD_KINDS:
                if k not in stats:
                    raise RuntimeError("normalise is set but fit_normaliser was never called")
                mean, std = stats[k]
                m = (m - mean) / std
            out = m if out is None else out + m
        return out.astype(np.float32, copy=False)

    def score(self, images: np.ndarray, batch_size: int = 32, device: str = "cpu") -> Scores:
        """Score uint8 images ``(n, C, N, N)`` already at the model's size and channels."""
        maps, recon = self.raw_maps(images, batch_size=batch_size, device=device)
        combined = self.combine(maps)
        image_kinds = self._image_kinds()
        image_map = combined if image_kinds is None or image_kinds == self._kinds() else self.combine(maps, image_kinds)
        scores = image_scores(image_map, reduction=self.reduction, regions=self.regions(images))
        decisions = None if self.threshold is None else scores > self.threshold
        return Scores(reconstructions=recon, maps=combined, scores=scores, decisions=decisions)


NORMALISE_MODES = ("none", "pixel", "global")


def check_offsets(offsets) -> tuple[tuple[int, int], ...]:
    try:
        out = tuple((int(dy), int(dx)) for dy, dx in offsets)
    except (TypeError, ValueError):
        raise ValueError(f"offsets must be a list of [dy, dx] pixel pairs, got {offsets!r}") from None
    if not out or len(set(out)) != len(out):
        raise ValueError(f"offsets must be a non-empty list of distinct [dy, dx] pairs, got {offsets!r}")
    return out


def map_statistics(maps: np.ndarray, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean and a floored std of normal maps, per pixel or global.

    The per-pixel std of a few validation maps can be near zero somewhere by
    chance; flooring it at a tenth of its median keeps one quiet pixel from
    dominating every normalised map.
    """
    maps = np.asarray(maps, dtype=np.float64)
    if mode == "pixel":
        mean, std = maps.mean(axis=0), maps.std(axis=0)
        std = np.maximum(std, 0.1 * float(np.median(std)) + 1e-12)
    elif mode == "global":
        mean, std = np.asarray(maps.mean()), np.asarray(maps.std() + 1e-12)
    else:
        raise ValueError(f"unknown normalise mode {mode!r}")
    return mean.astype(np.float32), std.astype(np.float32)
