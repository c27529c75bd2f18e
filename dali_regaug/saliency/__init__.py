"""Saliency for KeepAugment and CAM-guided erasing: a bank of per-sample maps shared by the
trainer, which writes them, and the pipeline, which reads them
(:class:`~dali_regaug.saliency.bank.SaliencyBank`)."""

from dali_regaug.saliency.bank import SaliencyBank

__all__ = ["SaliencyBank"]
