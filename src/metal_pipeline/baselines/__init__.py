"""Baselines trained under the project's data, training loop and metrics (no Kedro).

* :mod:`.conv_ae`: the convolutional autoencoder of Bergmann et al. 2019 (VISAPP);
* :mod:`.loss`: its training losses, squared error (l2-AE) and ``1 - SSIM`` (SSIM-AE);
* :mod:`.methods`: the rows of the Table 4-style comparison (MeTAL's recipes and the
  autoencoders) x seeds, their parameters and run names (no torch: the project hook names
  runs with it at start-up).

``kedro run --pipelines=baselines`` trains and compares them; see README.md.
"""
