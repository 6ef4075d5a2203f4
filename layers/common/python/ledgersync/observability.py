"""The one logger, tracer and metrics of every function (Powertools)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(service="ledgersync")
tracer = Tracer(service="ledgersync")
metrics = Metrics(namespace="Ledgersync", service="ledgersync")
