"""Pure parts of `dativo maintain`: ages, run tag max age, paths as the filesystem lists them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dativo_workers.config.job import TargetConfig
from dativo_workers.errors import ConfigError
from dativo_workers.maintenance import _fs_path, age_ms


def test_run_tag_max_age_defaults_to_30_days_and_takes_a_duration() -> None:
    assert TargetConfig(namespace="a", table="b").run_tag_max_age_ms == 30 * 86400 * 1000
    assert TargetConfig(namespace="a", table="b", run_tag_max_age="12h").run_tag_max_age_ms == 12 * 3600 * 1000
    for bad in ("30", "0d", "soon"):
        with pytest.raises(ValidationError, match="positive duration with a unit"):
            TargetConfig(namespace="a", table="b", run_tag_max_age=bad)


def test_ages_need_a_unit() -> None:
    assert age_ms("90m", "--orphan-age") == 90 * 60 * 1000
    assert age_ms("2w", "--expire-older-than") == 14 * 86400 * 1000
    with pytest.raises(ConfigError, match="--expire-older-than: '7' is not a duration"):
        age_ms("7", "--expire-older-than")


def test_paths_compare_as_the_filesystem_lists_them() -> None:
    assert _fs_path("file:///w/acme/t/data/x.parquet") == "/w/acme/t/data/x.parquet"
    assert _fs_path("file:/w/acme/t/x") == "/w/acme/t/x"
    assert _fs_path("/w/acme/t/x") == "/w/acme/t/x"
    assert _fs_path("s3://bucket/acme/t/x") == "bucket/acme/t/x"
    assert _fs_path("29") == "29"  # a cursor value is no path
