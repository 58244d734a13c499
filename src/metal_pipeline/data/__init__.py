"""Reading, validating and resizing anomaly-detection image folders (no Kedro imports).

Modules: ``image_set`` (the ``ImageSet`` contract), ``images`` (``read_image``,
``resize_image``, ``resize_mask``, ``load_image``: the one preprocessing path,
shared with inference), ``mvtec`` (MVTec AD layout), ``labelled`` (Head CT
layout), ``splits`` (validation hold-out), ``loading`` (files -> ``ImageSet``),
``ingest`` (``ingest_class``: one class -> train/val/test), ``errors``
(``DataError``). See docs/DATA.md.
"""
