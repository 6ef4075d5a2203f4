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
        ("GET", "/v1/companies/{id}/health"),
        ("POST", "/v1/users"),
        ("POST", "/v1/tokens"),
        ("DELETE", "/v1/tokens/{id}"),
        ("PUT", "/v1/directory/{kind}"),
        ("GET", "/v1/directory/{kind}"),
        ("PUT", "/v1/accounting/settings"),
        ("GET", "/v1/accounting/settings"),
        ("GET", "/v1/accounting/connection"),
        ("GET", "/v1/process-log"),
        ("GET", "/v1/process-log/{runId}"),
        ("GET", "/v1/accounting/export/preview"),
        ("POST", "/v1/accounting/export"),
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
        ("GET", "/v1/docs/{asset}"),
    },
    "InvoiceCreateFunction": {
        ("POST", "/api/invoice.create"),
        ("POST", "/api/invoice.checkout"),
        ("GET", "/v1/invoices"),
        ("GET", "/v1/invoices/{id}"),
        ("PUT", "/v1/invoices/{id}"),
        ("POST", "/v1/invoices/{id}/confirm"),
        ("POST", "/v1/invoices/{id}/ship"),
        ("POST", "/v1/invoices/{id}/unship"),
        ("POST", "/v1/invoices/{id}/send-now"),
        ("POST", "/v1/invoices/{id}/send-again"),
        ("POST", "/v1/invoices/{id}/send-sales-order"),
    },
    "SendToExternalFunction": {
        ("PUT", "/v1/purchase-orders/{id}"),
        ("GET", "/v1/purchase-orders/{id}"),
        ("POST", "/v1/purchase-orders/{id}/vendor-invoices"),
        ("PUT", "/v1/purchase-orders/{id}/vendor-invoices/{invoiceNumber}"),
        ("DELETE", "/v1/purchase-orders/{id}/vendor-invoices/{invoiceNumber}"),
        ("POST", "/v1/purchase-orders/{id}/approvals"),
        ("POST", "/v1/purchase-orders/send-to-external"),
        ("POST", "/v1/purchase-orders/{id}/resend"),
        ("POST", "/v1/purchase-orders/{id}/send-again"),
        ("GET", "/v1/documents/{token}"),
    },
    "QbwcFunction": {("POST", "/qbwc"), ("GET", "/qbwc")},
}
# every path above once more as ANY, answered 405 (tests/unit/test_method_not_allowed.py)
# (Komet methods and the Web Connector in one function, the rest in the other: each one's resource policy fits)
_PATHS = {p for rs in list(EXPECTED_ROUTES.values()) for _, p in rs}
EXPECTED_ROUTES["KometMethodNotAllowedFunction"] = {("ANY", p) for p in _PATHS if p.startswith(("/api/", "/qbwc"))}
EXPECTED_ROUTES["MethodNotAllowedFunction"] = {("ANY", p) for p in _PATHS if not p.startswith(("/api/", "/qbwc"))}


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
        # the 405 function calls nothing: SAM's basic execution role is all it has
        assert spec.policies or logical_id.endswith("MethodNotAllowedFunction"), f"{logical_id} has no policies"
        assert spec.runtime == "python3.12"


def test_every_work_queue_has_a_dead_letter_queue_when_the_template_is_parsed() -> None:
    queues = TEMPLATE.of_type("AWS::SQS::Queue")
    consumed = {s.queue_id for s in TEMPLATE.sqs_sources}

    for queue_id in consumed:
        redrive = queues[queue_id]["Properties"]["RedrivePolicy"]
        dlq = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
        assert dlq in queues and "RedrivePolicy" not in queues[dlq]["Properties"]
        assert redrive["maxReceiveCount"] >= 3
    assert consumed == {"SyncQueue", "WebhookQueue", "ExportQueue"}
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
    assert {s.queue_id for s in sync} == {"SyncQueue"}
    assert all(s.maximum_concurrency == 2 for s in sync)
    webhook = [s for s in TEMPLATE.sqs_sources if s.function_id == "WebhookSenderFunction"]
    assert [s.maximum_concurrency for s in webhook] == [5]


def test_schedules_run_at_their_rates_when_the_template_is_parsed() -> None:
    rates = {s.function_id: s.expression for s in TEMPLATE.schedules}

    assert rates == {"TokenRefreshFunction": "rate(15 minutes)", "SchedulerFunction": "rate(1 minute)"}


def test_environment_names_are_settings_the_code_reads_when_globals_are_read() -> None:
    aliases = {str(f.alias) for f in Settings.model_fields.values()}
    powertools = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"}
    local_only = {"AWS_ENDPOINT_URL", "WEBHOOK_ALLOWED_HOSTS", "WEBHOOK_ALLOWED_PORTS", "QBO_API_BASE_URL"}

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
    metrics = {a["Properties"].get("MetricName") for a in alarms}
    throttled = next(a for a in alarms if "Metrics" in a["Properties"])["Properties"]["Metrics"]

    assert {"SyncQueueDLQ", "WebhookQueueDLQ", "ExportQueueDLQ"} <= watched
    assert set(TEMPLATE.functions) <= watched
    assert {"RefreshTokenDaysLeft", "SyncFailed", "5XXError", "Latency", "ApproximateAgeOfOldestMessage"} <= metrics
    assert {m["MetricStat"]["Metric"]["Dimensions"][0]["Value"]["Ref"] for m in throttled if "MetricStat" in m} == set(
        TEMPLATE.functions
    )
    oldest = {
        a["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for a in alarms
        if a["Properties"].get("MetricName") == "ApproximateAgeOfOldestMessage"
    }
    assert oldest == set(TEMPLATE.of_type("AWS::SQS::Queue"))
    latency = next(a for a in alarms if a["Properties"].get("MetricName") == "Latency")["Properties"]
    assert latency["ExtendedStatistic"] == "p90"


def test_every_alarm_tells_the_topic_when_it_fires_and_when_it_clears() -> None:
    for logical_id, alarm in TEMPLATE.of_type("AWS::CloudWatch::Alarm").items():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}], logical_id
        assert alarm["Properties"]["OKActions"] == [{"Ref": "AlarmTopic"}], logical_id


def test_cloudwatch_may_publish_to_the_encrypted_alarm_topic_when_the_policies_are_read() -> None:
    # Given the topic, its key and its policy
    topic = TEMPLATE.resources["AlarmTopic"]["Properties"]
    key = TEMPLATE.resources[topic["KmsMasterKeyId"]["Ref"]]
    topic_policy = TEMPLATE.of_type("AWS::SNS::TopicPolicy")["AlarmTopicPolicy"]["Properties"]

    # Then the key is customer managed (alias/aws/sns cannot be used by CloudWatch) and lets CloudWatch encrypt
    assert key["Type"] == "AWS::KMS::Key" and key["Properties"]["EnableKeyRotation"] is True
    kms = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert kms and {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(kms[0]["Action"])
    # and the topic policy lets CloudWatch alarms of this account publish
    assert topic_policy["Topics"] == [{"Ref": "AlarmTopic"}]
    sns = [s for s in topic_policy["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert sns[0]["Principal"] == {"Service": "cloudwatch.amazonaws.com"} and sns[0]["Action"] == "sns:Publish"
    assert sns[0]["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}


def test_the_sender_is_required_and_its_identity_is_created_only_when_asked() -> None:
    sender = TEMPLATE.parameters["NotificationSender"]
    identities = TEMPLATE.of_type("AWS::SES::EmailIdentity")

    assert "Default" not in sender
    assert TEMPLATE.parameters["SenderIdentity"]["Default"] == "none"
    assert {i["Condition"] for i in identities.values()} == {"CreatesEmailIdentity", "CreatesDomainIdentity"}
    domain = identities["NotificationDomainIdentity"]["Properties"]
    assert domain["DkimAttributes"] == {"SigningEnabled": True}


def test_the_intuit_app_secret_is_created_without_a_value_when_the_template_is_deployed() -> None:
    props = TEMPLATE.resources["QboAppSecret"]["Properties"]

    assert "SecretString" not in props and "GenerateSecretString" not in props


def test_functions_log_json_to_groups_with_retention_and_scheduled_runs_are_not_retried() -> None:
    groups = TEMPLATE.of_type("AWS::Logs::LogGroup")
    logging = TEMPLATE.document["Globals"]["Function"]["LoggingConfig"]

    assert logging["LogFormat"] == "JSON"
    for logical_id in TEMPLATE.functions:
        group = TEMPLATE.resources[logical_id]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert groups[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    for function_id in {s.function_id for s in TEMPLATE.schedules}:
        assert TEMPLATE.resources[function_id]["Properties"]["EventInvokeConfig"]["MaximumRetryAttempts"] == 0
    access = TEMPLATE.api_properties()["AccessLogSetting"]
    assert access["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}


TAGGABLE = {
    "AWS::DynamoDB::Table",
    "AWS::S3::Bucket",
    "AWS::SQS::Queue",
    "AWS::SecretsManager::Secret",
    "AWS::SNS::Topic",
    "AWS::KMS::Key",
    "AWS::Logs::LogGroup",
    "AWS::CloudWatch::Alarm",
    "AWS::IAM::Role",
    "AWS::ApiGateway::DomainName",
}


def test_every_taggable_resource_carries_the_project_and_stage_tags() -> None:
    for logical_id, resource in TEMPLATE.resources.items():
        if resource["Type"] in TAGGABLE:
            tags = {t["Key"]: t["Value"] for t in resource["Properties"]["Tags"]}
            assert tags == {"project": "ledgersync", "stage": {"Ref": "Stage"}}, logical_id
    assert TEMPLATE.document["Globals"]["Function"]["Tags"] == {"project": "ledgersync", "stage": {"Ref": "Stage"}}
    assert TEMPLATE.api_properties()["Tags"] == {"project": "ledgersync", "stage": {"Ref": "Stage"}}


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
