"""DALI pipelines that feed region operators (installed as ``dali_regaug.pipelines``)."""

from dali_regaug import extras

extras.dali()  # a missing DALI is named with the extras that bring it

from dali_regaug.pipelines.built import Built  # noqa: E402
from dali_regaug.pipelines.classification import (IMAGENET_MEAN, IMAGENET_STD, load_dataset,
                                                  resolve_device, resolve_shard, sample_images,
                                                  train_pipeline, val_pipeline)  # noqa: E402
from dali_regaug.pipelines.detection import coco_files, detection_pipeline  # noqa: E402
from dali_regaug.pipelines.folder import Dataset, find_corrupt, scan  # noqa: E402

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "Built", "Dataset", "coco_files",
           "detection_pipeline", "find_corrupt", "load_dataset", "resolve_device",
           "resolve_shard", "sample_images", "scan", "train_pipeline", "val_pipeline"]
