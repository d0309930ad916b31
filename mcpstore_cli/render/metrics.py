"""The Prometheus text exposition format of a :class:`~mcpstore_cli.model.metrics.MetricSet`,
built with prometheus_client (imported here only: the other commands never load it).

Every metric is a gauge named ``mcpstore_<name>``; every sample carries the labels ``backend``,
``layout`` and ``store`` (the store's short name: its file, database or table, never a
password), so that the files of several stores can sit in one textfile-collector directory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcpstore_cli.model.metrics import HELP

if TYPE_CHECKING:
    from mcpstore_cli.model.metrics import MetricSet

PREFIX = "mcpstore_"


def preload() -> None:
    """Import prometheus_client now (in a thread while the store works: it takes a while)."""
    import prometheus_client  # noqa: F401


def exposition(figures: MetricSet, *, store_labels: dict[str, str], duration_s: float) -> str:
    from prometheus_client import CollectorRegistry, Gauge, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    common = sorted(store_labels)
    gauges: dict[str, Gauge] = {}
    samples = list(figures.samples)
    from mcpstore_cli.model.metrics import Sample

    samples.append(Sample("figures_estimated", 1.0 if figures.estimated else 0.0))
    samples.append(Sample("figures_duration_seconds", round(duration_s, 6)))
    for sample in samples:
        own = [k for k, _v in sample.labels]
        gauge = gauges.get(sample.name)
        if gauge is None:
            gauge = gauges[sample.name] = Gauge(
                PREFIX + sample.name,
                HELP[sample.name],
                labelnames=[*common, *own],
                registry=registry,
            )
        gauge.labels(**store_labels, **dict(sample.labels)).set(sample.value)
    return generate_latest(registry).decode("utf-8")
