"""The local stack runs a template: resources in moto, routes over HTTP, queues, schedules, e-mails, shutdown.

The template and handlers here are small throwaway ones written into a temporary folder, so these tests
exercise the machinery, not the service's own handlers.
"""

from __future__ import annotations

import json
import os
import socket
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from devstack.stack import LocalStack

pytestmark = pytest.mark.integration

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage: {Type: String, Default: dev}
  Sender: {Type: String, Default: robot@example.com}
Globals:
  Function:
    Runtime: python3.12
    Timeout: 10
    Environment:
      Variables:
        TABLE_NAME: !Ref Table
        WORK_QUEUE_URL: !Ref WorkQueue
        BUCKET: !Ref Bucket
        SENDER: !Ref Sender
        STAGE: !Ref Stage
        KEY_SECRET: !Sub "demo/${AWS::StackName}/key"
        TRY_SUB: !Sub "${WorkQueue.QueueName}|${WorkQueueDLQ.Arn}"
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      TimeToLiveSpecification: {AttributeName: expiresAt, Enabled: true}
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      VersioningConfiguration: {Status: Enabled}
      BucketEncryption:
        ServerSideEncryptionConfiguration: [{ServerSideEncryptionByDefault: {SSEAlgorithm: AES256}}]
  KeySecret:
    Type: AWS::SecretsManager::Secret
    Properties:
      Name: !Sub "demo/${AWS::StackName}/key"
      GenerateSecretString: {PasswordLength: 20}
  SenderIdentity:
    Type: AWS::SES::EmailIdentity
    Properties: {EmailIdentity: !Ref Sender}
  WorkQueue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 60
      RedrivePolicy: {deadLetterTargetArn: !GetAtt WorkQueueDLQ.Arn, maxReceiveCount: 3}
  WorkQueueDLQ:
    Type: AWS::SQS::Queue
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: !Ref Stage
      BinaryMediaTypes: ["application~1pdf"]
  WebFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/web/
      Handler: app.lambda_handler
      Events:
        Enqueue: {Type: Api, Properties: {RestApiId: !Ref Api, Path: /enqueue, Method: post}}
        Echo: {Type: Api, Properties: {RestApiId: !Ref Api, Path: "/echo/{name}", Method: get}}
        Pdf: {Type: Api, Properties: {RestApiId: !Ref Api, Path: /pdf, Method: post}}
        Broken: {Type: Api, Properties: {RestApiId: !Ref Api, Path: /broken, Method: get}}
  WorkerFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/worker/
      Handler: app.lambda_handler
      Events:
        Work:
          Type: SQS
          Properties:
            Queue: !GetAtt WorkQueue.Arn
            BatchSize: 5
            FunctionResponseTypes: [ReportBatchItemFailures]
  TickFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/tick/
      Handler: app.lambda_handler
      Events:
        EveryMinute: {Type: Schedule, Properties: {Schedule: rate(1 minute)}}
  MissingFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/missing/
      Handler: app.lambda_handler
      Events:
        Nothing: {Type: Api, Properties: {RestApiId: !Ref Api, Path: /missing, Method: get}}
"""

WEB = """\
import base64, json, os
import boto3

def lambda_handler(event, context):
    if event["resource"] == "/broken":
        raise RuntimeError("broken on purpose")
    if event["resource"] == "/pdf":
        data = base64.b64decode(event["body"]) if event["isBase64Encoded"] else event["body"].encode()
        return {"statusCode": 200, "headers": {"Content-Type": "application/pdf"},
                "body": base64.b64encode(data[::-1]).decode(), "isBase64Encoded": True}
    if event["resource"] == "/echo/{name}":
        secret = boto3.client("secretsmanager").get_secret_value(SecretId=os.environ["KEY_SECRET"])["SecretString"]
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
                "body": json.dumps({"name": event["pathParameters"]["name"], "stage": os.environ["STAGE"],
                                    "query": event["multiValueQueryStringParameters"], "secret_length": len(secret),
                                    "function": context.function_name, "sub": os.environ["TRY_SUB"]})}
    sqs = boto3.client("sqs")
    for body in json.loads(event["body"]):
        sqs.send_message(QueueUrl=os.environ["WORK_QUEUE_URL"], MessageBody=body)
    return {"statusCode": 202, "body": "{}"}
"""

WORKER = """\
import os
import boto3

SEEN = []

def lambda_handler(event, context):
    failures = []
    for record in event["Records"]:
        SEEN.append((record["body"], record["attributes"]["ApproximateReceiveCount"]))
        if record["body"].startswith("fail"):
            failures.append({"itemIdentifier": record["messageId"]})
        elif record["body"] == "mail":
            boto3.client("ses").send_email(
                Source=os.environ["SENDER"], Destination={"ToAddresses": ["ops@example.com"]},
                Message={"Subject": {"Data": "Sync failed"}, "Body": {"Text": {"Data": "invoice 7 failed"}}})
        else:
            boto3.client("dynamodb").put_item(TableName=os.environ["TABLE_NAME"], Item={"pk": {"S": record["body"]}})
    return {"batchItemFailures": failures}
"""

TICK = """\
CALLS = []

def lambda_handler(event, context):
    CALLS.append(event)
    return {"ticks": len(CALLS)}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name, code in {"web": WEB, "worker": WORKER, "tick": TICK}.items():
        folder = tmp_path / "functions" / name
        folder.mkdir(parents=True)
        (folder / "app.py").write_text(textwrap.dedent(code), encoding="utf-8")
    (tmp_path / "template.yaml").write_text(TEMPLATE, encoding="utf-8")
    return tmp_path


@pytest.fixture
def stack(project: Path) -> Iterator[LocalStack]:
    with LocalStack(project / "template.yaml", emulators=False, pollers=False, schedules=False) as running:
        yield running


def test_resources_exist_in_moto_when_the_stack_starts(stack: LocalStack) -> None:
    # When
    queue = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.resources.queues["WorkQueue"], AttributeNames=["All"]
    )["Attributes"]
    ttl = stack.client("dynamodb").describe_time_to_live(TableName=stack.resources.tables["Table"])

    # Then
    assert json.loads(queue["RedrivePolicy"]) == {
        "deadLetterTargetArn": stack.resources.queue_arns["WorkQueueDLQ"],
        "maxReceiveCount": 3,
    }
    assert queue["VisibilityTimeout"] == "60"
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expiresAt"
    versioning = stack.client("s3").get_bucket_versioning(Bucket=stack.resources.buckets["Bucket"])
    assert versioning["Status"] == "Enabled"
    assert os.environ["TABLE_NAME"] == stack.resources.tables["Table"]


def test_handler_gets_its_environment_and_path_parameters_when_called_over_http(stack: LocalStack) -> None:
    # When
    answer = requests.get(f"{stack.api_url}/echo/ang%20flowers?x=1&x=2", timeout=10)

    # Then
    assert answer.status_code == 200
    body = answer.json()
    assert body["name"] == "ang flowers"
    assert body["stage"] == "local"
    assert body["query"] == {"x": ["1", "2"]}
    assert body["secret_length"] == 20
    assert body["function"] == stack.resources.functions["WebFunction"]
    assert body["sub"] == f"{stack.stack_name}-WorkQueue|{stack.resources.queue_arns['WorkQueueDLQ']}"


def test_binary_bodies_round_trip_when_the_media_type_is_binary(stack: LocalStack) -> None:
    pdf = b"%PDF\x00\x01\xfe\xff"

    answer = requests.post(f"{stack.api_url}/pdf", data=pdf, headers={"Content-Type": "application/pdf"}, timeout=10)

    assert answer.status_code == 200
    assert answer.content == pdf[::-1]
    assert answer.headers["Content-Type"] == "application/pdf"


def test_gateway_answers_like_api_gateway_when_a_route_is_unknown_broken_or_missing(stack: LocalStack) -> None:
    assert requests.get(f"{stack.api_url}/nowhere", timeout=10).status_code == 403
    assert requests.get(f"{stack.api_url}/broken", timeout=10).status_code == 502
    assert requests.get(f"{stack.api_url}/missing", timeout=10).status_code == 501


def test_failed_records_are_redelivered_then_dead_lettered_when_they_keep_failing(stack: LocalStack) -> None:
    # Given two good messages and one that always fails
    answer = requests.post(f"{stack.api_url}/enqueue", json=["a", "fail-1", "b"], timeout=10)
    assert answer.status_code == 202

    # When
    report = stack.drain_queues(timeout=20)

    # Then the good ones were processed once, the bad one was tried maxReceiveCount times, then dead-lettered
    worker = stack.functions["WorkerFunction"].module
    counts = [count for body, count in worker.SEEN if body == "fail-1"]
    assert counts == ["1", "2", "3"]
    assert sorted(body for body, _ in worker.SEEN if body != "fail-1") == ["a", "b"]
    assert report.dead_letters == {"WorkQueueDLQ": 1}
    items = stack.client("dynamodb").scan(TableName=stack.resources.tables["Table"])["Items"]
    assert sorted(i["pk"]["S"] for i in items) == ["a", "b"]


def test_background_pollers_process_messages_when_the_stack_runs_them(project: Path) -> None:
    with LocalStack(project / "template.yaml", emulators=False, schedules=False) as running:
        requests.post(f"{running.api_url}/enqueue", json=["x"], timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            items = running.client("dynamodb").scan(TableName=running.resources.tables["Table"])["Items"]
            if items:
                break
            time.sleep(0.05)

    assert [i["pk"]["S"] for i in items] == ["x"]


def test_emails_sent_through_ses_are_readable_when_a_handler_sends_one(stack: LocalStack) -> None:
    requests.post(f"{stack.api_url}/enqueue", json=["mail"], timeout=10)
    stack.drain_queues()

    listed = requests.get(f"{stack.api_url}/__devstack/emails", timeout=10).json()

    assert [(m["source"], m["to"], m["subject"]) for m in stack.emails()] == [
        ("robot@example.com", ["ops@example.com"], "Sync failed")
    ]
    assert listed == stack.emails()


def test_schedule_runs_now_when_triggered_by_name_or_over_http(stack: LocalStack) -> None:
    first = stack.run_schedule("TickFunction")
    over_http = requests.post(f"{stack.api_url}/__devstack/schedules/TickFunction.EveryMinute", timeout=10)

    assert first == {"ticks": 1}
    assert over_http.json()["result"] == {"ticks": 2}
    event = stack.functions["TickFunction"].module.CALLS[0]
    assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"
    assert event["resources"] == [stack.resources.rules["TickFunction.EveryMinute"]]
    assert requests.post(f"{stack.api_url}/__devstack/schedules/Nope", timeout=10).status_code == 404


def test_rate_schedule_fires_on_its_own_when_time_passes(project: Path) -> None:
    # Given a minute compressed into a tenth of a second
    with LocalStack(project / "template.yaml", emulators=False, pollers=False, schedule_speedup=600) as running:
        time.sleep(0.5)
        calls = len(running.functions["TickFunction"].module.CALLS)

    assert calls >= 2


def test_everything_stops_and_the_environment_is_restored_when_the_stack_stops(project: Path) -> None:
    # Given
    os.environ.pop("TABLE_NAME", None)
    stack = LocalStack(project / "template.yaml", emulators=False, schedule_speedup=600).start()
    api_port = int(stack.api_url.rsplit(":", 1)[1])
    moto_port = int(stack.moto_url.rsplit(":", 1)[1])

    # When
    stack.stop()

    # Then
    assert "TABLE_NAME" not in os.environ
    for port in (api_port, moto_port):
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0
    time.sleep(0.2)
    import threading

    assert not [t.name for t in threading.enumerate() if t.name.startswith("devstack-")]
