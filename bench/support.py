"""What the moto-backed benchmarks set first: fake AWS credentials and region, quiet Powertools."""

from __future__ import annotations

import os

MOTO_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "TABLE_NAME": "ledgersync-bench",
    "POWERTOOLS_TRACE_DISABLED": "1",
    "POWERTOOLS_LOG_LEVEL": "ERROR",
    "POWERTOOLS_METRICS_DISABLED": "1",
}


def use_moto_environment(**extra: str) -> None:
    """Set the environment for moto in process (table ``ledgersync-bench``), plus ``extra`` variables."""
    os.environ.update(MOTO_ENVIRONMENT | extra)
