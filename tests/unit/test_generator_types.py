"""Types the generator proposes for columns whose values are identifiers written with digits
(issue #20.2): a zip code typed bigint loses its leading zero in every row that has one."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from pyiceberg.types import LongType, StringType

from dativo_plugins.files import CsvReader
from dativo_workers.generator.source import Probe, probe_reader
from dativo_workers.plugins import SourceContext


def _probe(tmp_path: Path, text: str) -> Probe:
    (tmp_path / "people.csv").write_text(text)
    context = SourceContext(base_dir=tmp_path, files=[{"path": "people.csv"}])
    return probe_reader(CsvReader(CsvReader.config_model(), context))


def test_postal_codes_sampled_as_numbers_are_proposed_as_text(tmp_path: Path) -> None:
    # No leading zero in the sample, so the reader infers integers; the generator knows better.
    rows = "".join(f"{i},{90210 + i},{i * 7}\n" for i in range(1, 60))
    probe = _probe(tmp_path, "id,zip_code,visits\n" + rows)
    assert probe.findings["zip_code"].detector == "postal_address"
    assert probe.arrow.field("zip_code").type == pa.string()
    assert probe.iceberg.find_field("zip_code").field_type == StringType()
    assert probe.iceberg.find_field("visits").field_type == LongType()  # a count stays a number
    assert probe.iceberg.find_field("id").field_type == LongType()


def test_quoted_zip_codes_with_leading_zeros_stay_text(tmp_path: Path) -> None:
    rows = "".join(f'{i},"0{8100 + i}",x{i}\n' for i in range(1, 60))
    probe = _probe(tmp_path, "id,zip,note\n" + rows)
    assert probe.arrow.field("zip").type == pa.string()
    assert probe.sample is not None and probe.sample.column("zip")[0].as_py() == "08101"
