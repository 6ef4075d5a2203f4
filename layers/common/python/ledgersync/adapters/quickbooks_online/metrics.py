"""The QuickBooks Online token metrics (EMF) the alarms watch."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from ledgersync.observability import logger, metrics

if TYPE_CHECKING:
    pass


class PowertoolsTokenMetrics:
    """EMF metrics RefreshTokenDaysLeft and TokenRefreshFailed with the one ``service`` dimension the alarms watch.

    Which company is concerned goes to the log line beside each data point: a CompanyId dimension would make one
    custom metric per company (each billed, none alarmed on).
    """

    def refresh_token_days_left(self, company_id: str, days: float) -> None:
        logger.info("QuickBooks refresh token days left", extra={"company_id": company_id, "days_left": days})
        self._emit("RefreshTokenDaysLeft", days)

    def token_refresh_failed(self, company_id: str, reason: str) -> None:
        logger.warning("QuickBooks token refresh failed", extra={"company_id": company_id, "reason": reason})
        self._emit("TokenRefreshFailed", 1)

    @staticmethod
    def _emit(name: str, value: float) -> None:
        with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace=metrics.namespace) as metric:
            metric.add_dimension(name="service", value=SERVICE)


SERVICE = "ledgersync"
