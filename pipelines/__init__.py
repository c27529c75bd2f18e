"""DALI pipelines that feed region operators (installed as ``dali_regaug.pipelines``)."""

from dali_regaug.pipelines.classification import (IMAGENET_MEAN, IMAGENET_STD, image_pipeline,
                                                  resolve_device, sample_images)

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "image_pipeline", "resolve_device", "sample_images"]
