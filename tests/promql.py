"""Prometheus's API as the suites ask it: on the monitoring server, over SSH (it answers on loopback only)."""

import json
import time
import urllib.parse

import yaml

from govmail.build import layout

PROMETHEUS = f"http://127.0.0.1:{layout.MONITOR_PORTS['prometheus']}"


def api(host, path: str) -> dict:
    """Prometheus's API, asked on the host (it answers on loopback only)."""
    script = ("import sys, urllib.request; "
              f"print(urllib.request.urlopen('{PROMETHEUS}/api/v1/' + sys.argv[1], timeout=10).read().decode())")
    answer = json.loads(host.check_output(f"python3 -c {json.dumps(script)} {json.dumps(path)}"))
    assert answer["status"] == "success", answer
    return answer["data"]


def query(host, expr: str) -> list[dict]:
    return api(host, "query?query=" + urllib.parse.quote(expr))["result"]


def settled(host, expr: str, want, wait: float = 120, ask=query) -> list[dict]:
    """The query's result once `want(result)` holds (Prometheus scrapes every 15 s), or the last one."""
    deadline = time.monotonic() + wait
    while True:
        result = ask(host, expr)
        if want(result) or time.monotonic() > deadline:
            return result
        time.sleep(5)


def unit_names(result: list[dict]) -> set[str]:
    """Each unit once: after a province switch restarted Prometheus, the old name's series of the same unit
    still answer for 5 minutes (no staleness marker for what a restart dropped)."""
    return {r["metric"]["name"] for r in result}


def series(metric: str, **labels) -> str:
    """A series as promtool's input names it."""
    return metric + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else "")


def run_rule_tests(monitor, tests: dict) -> None:
    """promtool's rule tests (`tests`: its test file, rule_files ["rules.yml"]), on the monitor, of the rules as
    deployed (their Vietnamese texts are checked by the alert mails of the drills, so left out here)."""
    rules = yaml.safe_load(monitor.file(layout.PROMETHEUS_RULES).content_string)
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    workdir = monitor.check_output("mktemp -d")
    try:
        for name, data in (("rules.yml", rules), ("tests.yml", tests)):
            monitor.run(f"cat > {workdir}/{name} <<'EOF'\n{yaml.safe_dump(data, allow_unicode=True)}EOF")
        run = monitor.run(f"cd {workdir} && promtool test rules tests.yml")
        assert run.rc == 0 and "SUCCESS" in run.stdout, run.stdout + run.stderr
    finally:
        monitor.run(f"rm -rf {workdir}")
