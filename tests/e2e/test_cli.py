"""The command table: help, version, usage errors, and the message when no
platform is running."""
from conftest import SKIFF_BIN, free_port, run

COMMANDS = ["up", "apply", "get", "describe", "delete", "token", "run", "features", "drift",
            "runs", "models", "submit", "logs", "artifacts", "stop", "retry", "datagen", "validate",
            "train", "evaluate", "register", "serve", "demo", "version", "help"]


def test_help_lists_every_command():
    r = run("help")
    assert r.returncode == 0
    for c in COMMANDS:
        assert f"\n  {c} " in r.stdout, c
    assert "Examples:" in r.stdout


def test_help_command_and_dash_dash_help_agree():
    for c in COMMANDS:
        a, b = run("help", c), run(c, "--help")
        assert a.returncode == 0 and b.returncode == 0, c
        assert a.stdout == b.stdout and a.stdout.startswith("Usage: skiff " + c), c
        assert "Example" in a.stdout, f"'{c} --help' has no examples"


def test_version():
    r = run("version")
    assert r.returncode == 0
    assert r.stdout.startswith("skiff ") and r.stdout.strip().split()[1][0].isdigit()


def test_usage_errors_exit_2():
    assert run().returncode == 2
    r = run("frobnicate")
    assert r.returncode == 2 and "unknown command 'frobnicate'" in r.stderr
    r = run("get")
    assert r.returncode == 2 and "skiff get --help" in r.stderr
    r = run("get", "nosuchkind")
    assert r.returncode == 2 and "unknown resource type 'nosuchkind'" in r.stderr
    r = run("apply")
    assert r.returncode == 2
    r = run("get", "wf", "-o", "xml")
    assert r.returncode == 2 and "unknown output format" in r.stderr


def test_no_platform_says_how_to_start_one(tmp_path):
    port = free_port()
    r = run("get", "workflows", env={"SKIFF_URL": f"http://127.0.0.1:{port}",
                                      "SKIFF_HOME": str(tmp_path)})
    assert r.returncode == 1
    assert "skiff up" in r.stderr and str(port) in r.stderr


def test_apply_missing_file_is_bad_input(tmp_path):
    r = run("apply", "-f", str(tmp_path / "nope.yaml"), env={"SKIFF_HOME": str(tmp_path)})
    assert r.returncode == 2 and "nope.yaml" in r.stderr
