"""Runnable benchmarks: ``python -m benchmarks.<module>`` from a checkout, or
``dali-regaug bench <name>`` (installed as ``dali_regaug.benchmarks``)."""
