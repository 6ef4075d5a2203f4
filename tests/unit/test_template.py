"""template.yaml as the stack deploys it: routes, queues, policies, environment; and the intrinsic resolver."""

from __future__ import annotations

from pathlib import Path

import pytest
from devstack.template import Resolver, Template, TemplateError, load_template

from ledgersync.config import Settings

TEMPLATE = Template.load()

EXPECTED_ROUTES = {
    "ManagementApiFunction": {
        ("GET", "/v1/health"),
        ("POST", "/v1/companies"),
        ("POST", "/v1/users"),
        ("POST", "/v1/tokens"),
        ("DELETE", "/v1/tokens/{id}"),
        ("PUT", "/v1/directory/{kind}"),
        ("GET", "/v1/directory/{kind}"),
        ("PUT", "/v1/accounting/settings"),
        ("GET", "/v1/accounting/settings"),
        ("GET", "/v1/accounting/connection"),
        ("GET", "/v1/accounting/quickbooks-online/authorize"),
        ("GET", "/v1/accounting/quickbooks-online/callback"),
        ("POST", "/v1/accounting/quickbooks-online/disconnect"),
        ("PUT", "/v1/webhooks/po-reconciliation"),
        ("GET", "/v1/webhooks/po-reconciliation"),
        ("GET", "/v1/accounting/quickbooks-desktop/qwc"),
        *{
            (m, f"/api/{n}.list")
            for m in ("GET", "POST")
            for n in ("customer", "carrier", "location", "product", "boxtype", "inventory")
        },
        ("GET", "/v1/openapi.json"),
        ("GET", "/v1/docs"),
    },
    "InvoiceCreateFunction": {
        ("POST", "/api/invoice.create"),
        ("POST", "/api/invoice.checkout"),
        ("GET", "/v1/invoices"),
        ("GET", "/v1/invoices/{id}"),
    },
    "SendToExternalFunction": {
        ("PUT", "/v1/purchase-orders/{id}"),
        ("GET", "/v1/purchase-orders/{id}"),
        ("POST", "/v1/purchase-orders/{id}/vendor-invoices"),
        ("POST", "/v1/purchase-orders/{id}/approvals"),
        ("POST", "/v1/purchase-orders/send-to-external"),
        ("POST", "/v1/purchase-orders/{id}/resend"),
        ("GET", "/v1/documents/{token}"),
    },
    "QbwcFunction": {("POST", "/qbwc"), ("GET", "/qbwc")},
}


def test_every_function_serves_its_routes_when_the_template_is_parsed() -> None:
    # When
    found = {lid: {(r.method, r.path) for r in spec.routes} for lid, spec in TEMPLATE.functions.items()}

    # Then
    for function_id, routes in EXPECTED_ROUTES.items():
        assert found[function_id] == routes, function_id
    assert not found["AccountingSyncFunction"] and not found["SchedulerFunction"]


def test_no_route_is_served_twice_when_routes_are_collected() -> None:
    routes = [(r.method, r.path) for r in TEMPLATE.routes]

    assert len(routes) == len(set(routes))


def test_every_function_has_code_layer_and_policies_when_the_template_is_parsed() -> None:
    for logical_id, spec in TEMPLATE.functions.items():
        assert spec.handler == "app.lambda_handler", logical_id
        assert spec.code_uri == (TEMPLATE.root / "functions" / spec.code_uri.name).resolve(), logical_id
        assert spec.layers == [{"Ref": "CommonLayer"}], logical_id
        assert spec.policies, f"{logical_id} has no policies"
        assert spec.runtime == "python3.12"


def test_every_work_queue_has_a_dead_letter_queue_when_the_template_is_parsed() -> None:
    queues = TEMPLATE.of_type("AWS::SQS::Queue")
    consumed = {s.queue_id for s in TEMPLATE.sqs_sources}

    for queue_id in consumed:
        redrive = queues[queue_id]["Properties"]["RedrivePolicy"]
        dlq = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
        assert dlq in queues and "RedrivePolicy" not in queues[dlq]["Properties"]
        assert redrive["maxReceiveCount"] >= 3
    assert consumed == {"SyncQueue", "AutoSyncQueue", "WebhookQueue"}
    for queue in queues.values():
        assert queue["Properties"]["MessageRetentionPeriod"] == 1209600
        assert queue["Properties"]["SqsManagedSseEnabled"] is True


def test_webhook_retries_cover_a_day_when_the_sender_backs_off() -> None:
    # Given the webhook queue's redrive and visibility (webhook_sender stretches visibility up to 12 h per retry)
    props = TEMPLATE.of_type("AWS::SQS::Queue")["WebhookQueue"]["Properties"]

    # Then 30 receives leave room for a 24-hour schedule of backed-off retries
    assert props["RedrivePolicy"]["maxReceiveCount"] >= 30
    assert props["VisibilityTimeout"] >= 6 * TEMPLATE.functions["WebhookSenderFunction"].timeout


def test_sqs_consumers_report_partial_failures_when_batches_are_fed() -> None:
    for source in TEMPLATE.sqs_sources:
        assert source.batch_size == 10
        assert source.report_batch_item_failures
    sync = [s for s in TEMPLATE.sqs_sources if s.function_id == "AccountingSyncFunction"]
    assert {s.queue_id for s in sync} == {"SyncQueue", "AutoSyncQueue"}
    assert all(s.maximum_concurrency == 2 for s in sync)


def test_schedules_run_at_their_rates_when_the_template_is_parsed() -> None:
    rates = {s.function_id: s.expression for s in TEMPLATE.schedules}

    assert rates == {"TokenRefreshFunction": "rate(15 minutes)", "SchedulerFunction": "rate(5 minutes)"}


def test_environment_names_are_settings_the_code_reads_when_globals_are_read() -> None:
    aliases = {str(f.alias) for f in Settings.model_fields.values()}
    powertools = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"}
    local_only = {"AWS_ENDPOINT_URL", "WEBHOOK_ALLOWED_HOSTS", "QBO_API_BASE_URL"}

    for spec in TEMPLATE.functions.values():
        assert set(spec.environment) <= aliases | powertools
        assert aliases - local_only <= set(spec.environment)


def test_the_single_table_has_the_documented_keys_when_the_template_is_parsed() -> None:
    tables = TEMPLATE.of_type("AWS::DynamoDB::Table")
    props = tables["LedgersyncTable"]["Properties"]

    assert list(tables) == ["LedgersyncTable"]
    assert [k["AttributeName"] for k in props["KeySchema"]] == ["pk", "sk"]
    assert props["GlobalSecondaryIndexes"][0]["IndexName"] == "gsi1"
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_the_bucket_is_private_and_encrypted_when_the_template_is_parsed() -> None:
    props = TEMPLATE.of_type("AWS::S3::Bucket")["DocumentsBucket"]["Properties"]
    policy = TEMPLATE.of_type("AWS::S3::BucketPolicy")["DocumentsBucketPolicy"]["Properties"]["PolicyDocument"]

    assert all(props["PublicAccessBlockConfiguration"].values())
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_alarms_watch_every_dead_letter_queue_and_function_when_the_template_is_parsed() -> None:
    alarms = TEMPLATE.of_type("AWS::CloudWatch::Alarm").values()
    watched = {
        str(d["Value"].get("Fn::GetAtt", [d["Value"].get("Ref")])[0])
        for a in alarms
        for d in a["Properties"].get("Dimensions", [])
        if isinstance(d["Value"], dict)
    }
    metrics = {a["Properties"]["MetricName"] for a in alarms}

    assert {"SyncQueueDLQ", "AutoSyncQueueDLQ", "WebhookQueueDLQ"} <= watched
    assert set(TEMPLATE.functions) <= watched
    assert {"RefreshTokenDaysLeft", "SyncFailed"} <= metrics


def test_short_tags_become_long_forms_when_yaml_is_loaded(tmp_path: Path) -> None:
    # Given
    path = tmp_path / "t.yaml"
    path.write_text(
        "Resources:\n  A:\n    Type: X\n    Properties:\n      R: !Ref B\n      G: !GetAtt B.Arn\n"
        "      S: !Sub '${B}-x'\n      J: !Join [',', [!Ref B, c]]\n",
        encoding="utf-8",
    )

    # When
    props = load_template(path)["Resources"]["A"]["Properties"]

    # Then
    assert props == {
        "R": {"Ref": "B"},
        "G": {"Fn::GetAtt": ["B", "Arn"]},
        "S": {"Fn::Sub": "${B}-x"},
        "J": {"Fn::Join": [",", [{"Ref": "B"}, "c"]]},
    }


def test_intrinsics_resolve_to_local_values_when_refs_and_attributes_are_known() -> None:
    # Given
    resolver = Resolver(
        TEMPLATE,
        {"Stage": "local", "AWS::Region": "us-east-1", "AlarmEmail": "", "SyncQueue": "http://q"},
        {("SyncQueue", "Arn"): "arn:q"},
    )

    # Then
    assert resolver.resolve({"Fn::Sub": "x-${Stage}-${SyncQueue.Arn}-${!Literal}"}) == "x-local-arn:q-${Literal}"
    assert resolver.resolve({"Fn::Sub": ["${A}/${Stage}", {"A": {"Ref": "SyncQueue"}}]}) == "http://q/local"
    assert resolver.resolve({"Fn::If": ["HasAlarmEmail", "yes", {"Ref": "AWS::NoValue"}]}) is not None
    assert resolver.resolve({"K": {"Fn::If": ["HasAlarmEmail", "yes", {"Ref": "AWS::NoValue"}]}}) == {}
    assert resolver.resolve({"Fn::Select": [1, {"Fn::Split": [",", "a,b"]}]}) == "b"


def test_unknown_reference_is_refused_with_its_name_when_resolving() -> None:
    resolver = Resolver(TEMPLATE, {}, {})

    with pytest.raises(TemplateError, match="Nowhere"):
        resolver.resolve({"Ref": "Nowhere"})
