"""The README quick start with the AWS CLI, and the `flint` client commands."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from support import (
    aws_cli_env,
    end_line,
    invoke_ok,
    report_of,
    run_flint,
    sha256_b64,
    start_line,
    stripped_binary,
    tail_request_id,
    unique_name,
    zip_files,
)


def aws_cli_major() -> int:
    completed = subprocess.run(["aws", "--version"], capture_output=True, text=True, timeout=30)
    match = re.search(r"aws-cli/(\d+)\.", completed.stdout + completed.stderr)
    assert match, completed
    return int(match[1])


def aws(endpoint: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["aws", "--endpoint-url", endpoint, *args],
        capture_output=True,
        text=True,
        env=aws_cli_env(),
        cwd=cwd,
        timeout=120,
    )


@pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not installed")
def test_quick_start_with_the_aws_cli(flint, lam, tmp_path):
    name = unique_name("hello")
    (tmp_path / "hello.zip").write_bytes(zip_files({"bootstrap": (stripped_binary("echo"), 0o755)}))

    created = aws(
        flint.endpoint,
        "lambda",
        "create-function",
        "--function-name",
        name,
        "--runtime",
        "provided.al2023",
        "--handler",
        "x",
        "--role",
        "arn:aws:iam::000000000000:role/x",
        "--zip-file",
        "fileb://hello.zip",
        cwd=tmp_path,
    )
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["FunctionName"] == name

    # AWS CLI v2 needs `--cli-binary-format raw-in-base64-out` to send the payload as is;
    # v1 sends it as is already and does not know the option.
    binary_format = ["--cli-binary-format", "raw-in-base64-out"] if aws_cli_major() >= 2 else []
    invoked = aws(
        flint.endpoint,
        "lambda",
        "invoke",
        "--function-name",
        name,
        "--payload",
        '{"a":1}',
        *binary_format,
        "--log-type",
        "Tail",
        "out.json",
        cwd=tmp_path,
    )
    assert invoked.returncode == 0, invoked.stderr
    summary = json.loads(invoked.stdout)
    assert summary["StatusCode"] == 200
    assert summary["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in summary
    assert json.loads((tmp_path / "out.json").read_text()) == {"a": 1}
    tail = base64.b64decode(summary["LogResult"]).decode()
    request_id = tail_request_id(tail)
    assert start_line(request_id) in tail
    assert end_line(request_id) in tail
    report_of(tail, request_id)

    lam.delete_function(FunctionName=name)


@pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not installed")
def test_aws_cli_reports_errors(flint, tmp_path):
    missing = aws(flint.endpoint, "lambda", "get-function", "--function-name", unique_name("none"), cwd=tmp_path)
    assert missing.returncode != 0
    assert "ResourceNotFoundException" in missing.stderr, missing.stderr


@pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not installed")
def test_aws_cli_lists_functions(flint, lam, make_function, tmp_path):
    name = make_function(zip_files({"bootstrap": (stripped_binary("echo"), 0o755)}), label="clils")["FunctionName"]
    listed = aws(flint.endpoint, "--output", "json", "lambda", "list-functions", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert name in [function["FunctionName"] for function in json.loads(listed.stdout)["Functions"]]


# ----------------------------------------------------------------------------------------------
# flint deploy / invoke / ls / logs / rm


def function_dir(tmp_path: Path, binary: str = "probe") -> Path:
    directory = tmp_path / "function"
    directory.mkdir()
    bootstrap = directory / "bootstrap"
    bootstrap.write_bytes(stripped_binary(binary))
    bootstrap.chmod(0o755)
    (directory / "data.txt").write_text("shipped with the code\n")
    return directory


def check_ok(completed: subprocess.CompletedProcess[str]) -> str:
    assert completed.returncode == 0, (completed.returncode, completed.stdout, completed.stderr)
    return completed.stdout + completed.stderr


def test_deploy_a_directory_then_invoke_ls_logs_rm(flint, lam, tmp_path):
    name = unique_name("cli")
    directory = function_dir(tmp_path)
    check_ok(
        run_flint(
            flint.endpoint, "deploy", str(directory), "--name", name, "--runtime", "provided.al2023", "--handler", "x"
        )
    )
    config = lam.get_function_configuration(FunctionName=name)
    assert config["Runtime"] == "provided.al2023"
    assert config["Handler"] == "x"
    data = invoke_ok(lam, name, {"action": "env"}).json
    read = invoke_ok(lam, name, {"action": "read", "path": f"{data['LAMBDA_TASK_ROOT']}/data.txt"}).json
    assert read == {"ok": True, "content": "shipped with the code\n"}

    invoked = run_flint(flint.endpoint, "invoke", name, "--payload", '{"action":"echo","n":1}', "--tail")
    output = check_ok(invoked)
    assert json.loads(extract_json(invoked.stdout)) == {"action": "echo", "n": 1}
    assert "START RequestId: " in output
    assert "REPORT RequestId: " in output

    listed = check_ok(run_flint(flint.endpoint, "ls"))
    assert name in listed

    logs = check_ok(run_flint(flint.endpoint, "logs", name))
    assert "START RequestId: " in logs

    check_ok(run_flint(flint.endpoint, "rm", name))
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName=name)
    assert name not in check_ok(run_flint(flint.endpoint, "ls"))


def extract_json(stdout: str) -> str:
    """The first JSON document in `stdout` (the CLI may print more around it)."""
    decoder = json.JSONDecoder()
    for index, char in enumerate(stdout):
        if char in "{[\"":
            try:
                value, end = decoder.raw_decode(stdout[index:])
            except json.JSONDecodeError:
                continue
            return stdout[index : index + end] if value is not None else "null"
    pytest.fail(f"no JSON in output:\n{stdout}")


def test_deploy_again_updates_code_and_configuration(flint, lam, tmp_path):
    name = unique_name("redeploy")
    directory = function_dir(tmp_path)
    base = ["deploy", str(directory), "--name", name, "--runtime", "provided.al2023", "--handler", "x"]
    check_ok(run_flint(flint.endpoint, *base))
    first = lam.get_function_configuration(FunctionName=name)

    (directory / "data.txt").write_text("second version\n")
    check_ok(run_flint(flint.endpoint, *base, "--env", "KEY_A=1", "--env", "KEY_B=two", "--memory", "256", "--timeout", "9"))
    second = lam.get_function_configuration(FunctionName=name)
    assert second["CodeSha256"] != first["CodeSha256"]
    assert second["Environment"]["Variables"] == {"KEY_A": "1", "KEY_B": "two"}
    assert second["MemorySize"] == 256
    assert second["Timeout"] == 9
    env = invoke_ok(lam, name, {"action": "env"}).json
    assert env["KEY_A"] == "1" and env["KEY_B"] == "two"
    lam.delete_function(FunctionName=name)


def test_deploy_a_zip_file(flint, lam, tmp_path):
    name = unique_name("clizip")
    code = zip_files({"bootstrap": (stripped_binary("echo"), 0o755)})
    archive = tmp_path / "function.zip"
    archive.write_bytes(code)
    check_ok(
        run_flint(flint.endpoint, "deploy", str(archive), "--name", name, "--runtime", "provided.al2023", "--handler", "x")
    )
    assert lam.get_function_configuration(FunctionName=name)["CodeSha256"] == sha256_b64(code)
    lam.delete_function(FunctionName=name)


def test_invoke_payload_from_a_file(flint, lam, make_function, tmp_path):
    name = make_function(zip_files({"bootstrap": (stripped_binary("echo"), 0o755)}), label="clifile")["FunctionName"]
    payload = tmp_path / "event.json"
    payload.write_text('{"from": "file"}')
    invoked = run_flint(flint.endpoint, "invoke", name, "--payload", f"@{payload}")
    check_ok(invoked)
    assert json.loads(extract_json(invoked.stdout)) == {"from": "file"}


def test_invoke_of_a_failing_function_exits_non_zero(flint, make_function):
    name = make_function(zip_files({"bootstrap": (stripped_binary("probe"), 0o755)}), label="clifail")["FunctionName"]
    invoked = run_flint(flint.endpoint, "invoke", name, "--payload", '{"action":"error","message":"cli sees this"}')
    assert invoked.returncode != 0
    assert "cli sees this" in invoked.stdout + invoked.stderr


def test_client_commands_fail_clearly_on_unknown_functions(flint):
    name = unique_name("nothere")
    for args in (["invoke", name], ["rm", name], ["logs", name]):
        completed = run_flint(flint.endpoint, *args)
        assert completed.returncode != 0, args
        text = (completed.stdout + completed.stderr).lower()
        assert "not found" in text or "resourcenotfound" in text, (args, text)


def test_deploy_with_an_invalid_runtime_fails(flint, tmp_path):
    directory = function_dir(tmp_path, "echo")
    completed = run_flint(
        flint.endpoint, "deploy", str(directory), "--name", unique_name("badrt"), "--runtime", "cobol1", "--handler", "x"
    )
    assert completed.returncode != 0
    assert "runtime" in (completed.stdout + completed.stderr).lower()


def test_deploy_of_a_missing_directory_fails(flint, tmp_path):
    completed = run_flint(
        flint.endpoint,
        "deploy",
        str(tmp_path / "missing"),
        "--name",
        unique_name("nodir"),
        "--runtime",
        "provided.al2023",
        "--handler",
        "x",
    )
    assert completed.returncode != 0
    assert completed.stderr.strip()


def test_client_commands_fail_when_no_server_answers(tmp_path):
    completed = run_flint("http://127.0.0.1:9", "ls", timeout=60)
    assert completed.returncode != 0
    assert completed.stderr.strip()
