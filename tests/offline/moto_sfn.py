#!/usr/bin/env python3
"""Run state machine scenarios on moto's Step Functions interpreter (an
independent Amazon States Language implementation: moto's copy of
LocalStack's parser), with scripted Lambda outcomes, and print what each
execution did, for tests/second_interpreter.rs to compare with ours.

stdin: {"definition": "<ASL text, ARNs substituted>",
        "scenarios": [{"name": "...", "input": {...},
                       "outcomes": {"<task key>": [{"ok": <json>} | {"error": "E", "cause": "C"}, ...]}}]}
The task key of an invocation is its input's `model`, else `source`, else
`quality` when it names checks; a key with no outcome left returns its
input (a report that holds the fields the state machine selects).
stdout: [{"name", "status", "states": [entered state names], "error",
          "cause", "output"}]

A Lambda error reaches Step Functions as the function's error object
{"errorType", "errorMessage"}: its Cause is that JSON text (as on AWS); the
message is printed as the cause. Retry waits are skipped.
"""

import json
import sys
import time
import types

import boto3
from moto import mock_aws
from moto.awslambda_simple import models as lambda_simple
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

retrier_decl.time = types.SimpleNamespace(sleep=lambda _s: None)

OUTCOMES = {}


def task_key(event):
    if not isinstance(event, dict):
        return None
    return event.get("model") or event.get("source") or ("quality" if "checks" in event else None)


def scripted(self, function_name, qualifier, body, headers, response_headers):
    """moto's Lambda without Docker (awslambda_simple), answering from the
    scenario's outcomes: an error as an unhandled function error."""
    event = json.loads(body) if body else {}
    queue = OUTCOMES.get(task_key(event), [])
    outcome = queue.pop(0) if queue else {"ok": event}
    if "error" in outcome:
        response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps({"errorType": outcome["error"], "errorMessage": outcome["cause"]}).encode()
    return json.dumps(outcome["ok"]).encode()


lambda_simple.LambdaSimpleBackend.invoke = scripted

ROLE = "arn:aws:iam::123456789012:role/ovom"
FUNCTIONS = ["stage", "load", "quality"]


def run(definition, scenarios):
    results = []
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}):
        iam = boto3.client("iam", region_name="us-east-1")
        iam.create_role(RoleName="ovom", AssumeRolePolicyDocument="{}")
        lam = boto3.client("lambda", region_name="us-east-1")
        for f in FUNCTIONS:
            lam.create_function(
                FunctionName=f"ovom-{f}", Runtime="provided.al2023", Role=ROLE,
                Handler="bootstrap", Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
            )
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        arn = sfn.create_state_machine(name="pipeline", definition=definition, roleArn=ROLE)["stateMachineArn"]
        for sc in scenarios:
            OUTCOMES.clear()
            OUTCOMES.update({k: list(v) for k, v in sc["outcomes"].items()})
            ex = sfn.start_execution(stateMachineArn=arn, name=sc["name"], input=json.dumps(sc["input"]))["executionArn"]
            deadline = time.time() + 60
            while True:
                d = sfn.describe_execution(executionArn=ex)
                if d["status"] != "RUNNING" or time.time() > deadline:
                    break
                time.sleep(0.02)
            events = sfn.get_execution_history(executionArn=ex, maxResults=1000)["events"]
            states = [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
            failed = next((e["executionFailedEventDetails"] for e in events if "executionFailedEventDetails" in e), {})
            cause = failed.get("cause")
            try:
                cause = json.loads(cause)["errorMessage"]
            except (TypeError, ValueError, KeyError):
                pass
            results.append({
                "name": sc["name"], "status": d["status"], "states": states,
                "error": failed.get("error"), "cause": cause,
                "output": json.loads(d["output"]) if d.get("output") else None,
            })
    return results


if __name__ == "__main__":
    request = json.load(sys.stdin)
    json.dump(run(request["definition"], request["scenarios"]), sys.stdout)
