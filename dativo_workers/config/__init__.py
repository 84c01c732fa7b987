"""Configuration models and loaders: job, asset (ODCS v3), runner."""

from dativo_workers.config.asset import Asset, Column, load_asset
from dativo_workers.config.job import JobConfig, LoadedJob, load_job
from dativo_workers.config.runner import CatalogConfig, RunnerConfig, load_runner

__all__ = [
    "Asset",
    "CatalogConfig",
    "Column",
    "JobConfig",
    "LoadedJob",
    "RunnerConfig",
    "load_asset",
    "load_job",
    "load_runner",
]
