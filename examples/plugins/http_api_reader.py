"""A paginated JSON HTTP API as a Dativo source (standard library only).

Each page is a JSON object holding a list of records (`items_field`) and the URL of the next
page (`next_field`, absolute or relative; absent or null on the last page), the cursor style
most APIs use. With `partition_param`, the reader plans one partition per value of a query
parameter (a region, an account, ...), so a worker pool fetches them in parallel.

    source:
      reader:
        type: plugin
        plugin_path: http_api_reader.JsonApiReader
        config:
          url: https://api.example.com/v1/orders
          headers: {Authorization: "Bearer ${secret:example_api.token}"}
          partition_param: region
          partition_values: [eu, us, apac]
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
from pydantic import Field

from dativo_workers.errors import SourceError, TransientError
from dativo_workers.plugins import DataReader, Partition, PluginSettings


class JsonApiSettings(PluginSettings):
    url: str = Field(description="first page")
    items_field: str = "data"
    next_field: str = "next"
    page_size: int | None = Field(default=None, ge=1, description="sent as `page_size_param` when set")
    page_size_param: str = "limit"
    partition_param: str | None = Field(default=None, description="query parameter that splits the source")
    partition_values: list[str] = Field(default_factory=list)
    headers: dict[str, str] = Field(default_factory=dict, description="may hold ${secret:...} references")
    timeout_s: float = 30.0


class JsonApiReader(DataReader):
    """Records of a cursor-paginated JSON API; each page is handed over as a list of dicts."""

    name = "json_api"
    description = "Paginated JSON HTTP API (example plugin)"
    config_model = JsonApiSettings
    config: JsonApiSettings

    def plan(self) -> list[Partition]:
        if self.config.partition_param is None:
            return [Partition(index=0, spec={}, label=self.config.url)]
        return [
            Partition(index=i, spec={"value": value}, label=f"{self.config.partition_param}={value}")
            for i, value in enumerate(self.config.partition_values)
        ]

    def schema(self) -> pa.Schema | None:
        """Inferred from the first page of the first partition (None when it is empty)."""
        first = next(self._pages(self.plan()[0]), [])
        return pa.Table.from_pylist(first).schema if first else None

    def read(self, partition: Partition, schema: pa.Schema | None) -> Iterator[list[dict[str, Any]]]:
        yield from self._pages(partition)

    def _pages(self, partition: Partition) -> Iterator[list[dict[str, Any]]]:
        params: dict[str, Any] = {}
        if self.config.page_size is not None:
            params[self.config.page_size_param] = self.config.page_size
        if "value" in partition.spec:
            params[self.config.partition_param or ""] = partition.spec["value"]
        url: str | None = _with_params(self.config.url, params)
        while url is not None:
            page = self._get(url)
            items = page.get(self.config.items_field)
            if not isinstance(items, list):
                raise SourceError(f"{url}: the response has no list under {self.config.items_field!r}")
            if items:
                yield items
            following = page.get(self.config.next_field)
            url = urllib.parse.urljoin(url, following) if following else None

    def _get(self, url: str) -> dict[str, Any]:
        request = urllib.request.Request(url, headers={"Accept": "application/json", **self.config.headers})
        try:
            with urllib.request.urlopen(request, timeout=self.config.timeout_s) as response:
                return dict(json.load(response))
        except urllib.error.HTTPError as exc:
            # rate limits and server errors pass; the engine retries the partition with backoff
            if exc.code == 429 or exc.code >= 500:
                raise TransientError(f"{url}: HTTP {exc.code} {exc.reason}") from None
            raise SourceError(f"{url}: HTTP {exc.code} {exc.reason}") from None
        except urllib.error.URLError as exc:
            raise TransientError(f"{url}: {exc.reason}") from None


def _with_params(url: str, params: dict[str, Any]) -> str:
    if not params:
        return url
    return url + ("&" if urllib.parse.urlparse(url).query else "?") + urllib.parse.urlencode(params)
