"""`cnnlab explain` as a user runs it: loopback by default, a zoo model by name, bad input one line."""

import uvicorn


def test_explain_serves_a_zoo_model_on_loopback_by_default(cli, monkeypatch):
    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.update(app=app, **options))
    code, _, _ = cli("explain", "simplecnn", "--port", "0")
    assert code in (0, None) and served["host"] == "127.0.0.1" and served["port"] == 0
    paths = {route.path for route in served["app"].routes}
    assert {"/", "/model", "/images", "/images/{key}/unit", "/filters"} <= paths


def test_a_missing_run_and_a_bad_port_are_one_line(cli):
    code, out, err = cli("explain", "runs/missing")
    assert code == 2 and "error: runs/missing: no such run or checkpoint" in out + err
    code, out, err = cli("explain", "simplecnn", "--port", "70000")
    assert code == 2 and "--port must be between 0" in out + err
    code, out, err = cli("explain", "no_such_model")
    assert code == 2 and "error:" in out + err and "Traceback" not in out + err
