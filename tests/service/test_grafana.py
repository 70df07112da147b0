"""The Grafana dashboard in deploy/grafana asks only for what the service
serves: every metric family its PromQL names is on a real service's
/metrics, with every label the queries match, group or print by, and every
per-camera query follows the dashboard's `camera` variable. And only
Prometheus may scrape it (the Kubernetes manifest's NetworkPolicy).

There is no Prometheus or Grafana here: the expressions are read with a few
regular expressions, which cover the forms the dashboard uses and reject
the one they would misread (`sum (...) by (...)`). Run by meson test
service/live, or by hand as test_service_live.py says.
"""
import json
import re
from pathlib import Path

from test_deploy import manifest
from test_service_live import (broker, cameras, metric, services,  # noqa: F401
                               wait_for, workdir, write_config)

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "latestframe.json"
DATASOURCE = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
CAMERA_QUERY = "label_values(latestframe_camera_up, camera)"
CAMERA_MATCHER = ("camera", "=~", "$camera")
# Labels Prometheus itself adds to every scraped series: not on /metrics.
TARGET_LABELS = {"instance", "job"}
# Grafana's own variables, which the dashboard does not define.
GRAFANA_VARIABLES = {"__rate_interval", "__interval", "__range"}

FAMILY = re.compile(r"\blatestframe_[a-z_]+")
SELECTOR = re.compile(r"\b(latestframe_[a-z_]+)\s*(?:\{([^}]*)\})?")
MATCHER = re.compile(r'\s*([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')
GROUPING = re.compile(r"\b(by|without|on|ignoring)\s*\(([^)]*)\)")
LEGEND_LABEL = re.compile(r"\{\{\s*(\w+)\s*\}\}")
SAMPLE = re.compile(r"^(\w+)(?:\{(.*)\})?\s+\S+$")
SAMPLE_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def dashboard():
    return json.loads(DASHBOARD.read_text())


def variables(board):
    return {v["name"]: v for v in board["templating"]["list"]}


def targets(board):
    """(panel title, target) for every query of every panel."""
    return [(panel["title"], target)
            for panel in board["panels"] for target in panel.get("targets", [])]


def matchers(body):
    """The label matchers of a selector's braces: [(label, op, value)].
    Fails on anything it cannot read, so that nothing is skipped."""
    found, at = [], 0
    while at < len(body):
        match = MATCHER.match(body, at)
        assert match, f"cannot read the matchers {body!r} from {body[at:]!r}"
        found.append(match.groups())
        at = match.end()
    return found


def argument_after(expr, at):
    """The parenthesised argument that starts at expr[at] ('('), without
    its parentheses."""
    assert expr[at] == "(", expr[at:]
    depth = 0
    for end in range(at, len(expr)):
        depth += {"(": 1, ")": -1}.get(expr[end], 0)
        if depth == 0:
            return expr[at + 1:end]
    raise AssertionError(f"unbalanced: {expr!r}")


def label_uses(expr):
    """What `expr` asks of the exposition: [(family, label, value or
    None, why)]. A matcher binds its label to its selector's family; an
    aggregation's by/without to the families of its argument; on/ignoring
    (vector matching) to every family of the expression."""
    families = set(FAMILY.findall(expr))
    uses = []
    for selector in SELECTOR.finditer(expr):
        family, body = selector.groups()
        for label, op, value in matchers(body or ""):
            # A value to find on the scrape: an equality that is no variable.
            wanted = value if op == "=" and "$" not in value else None
            uses.append((family, label, wanted, f'{label}{op}"{value}"'))
    for grouping in GROUPING.finditer(expr):
        keyword, labels = grouping.groups()
        rest = expr[grouping.end():].lstrip()
        if keyword in ("by", "without"):
            # The form `sum (x) by (l)` would bind l to the families of
            # whatever follows: written `sum by (l) (x)` in the dashboard.
            assert rest.startswith("("), (
                f"{expr!r}: write `{keyword} (...)` before the aggregation's argument")
            scope = set(FAMILY.findall(argument_after(rest, 0)))
        else:
            scope = families
        for label in filter(None, (l.strip() for l in labels.split(","))):
            uses += [(family, label, None, f"{keyword} ({labels})") for family in scope]
    return uses


def exposition(text):
    """{family: {label: {values}}} of a Prometheus text exposition: every
    family with a HELP or TYPE line or a sample, the labels of its
    samples."""
    families = {}
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            families.setdefault(line.split()[2], {})
        elif line and not line.startswith("#"):
            sample = SAMPLE.match(line)
            assert sample, f"not a sample: {line!r}"
            name, body = sample.groups()
            labels = families.setdefault(name, {})
            for label, value in SAMPLE_LABEL.findall(body or ""):
                labels.setdefault(label, set()).add(value)
    return families


def problems(board, scraped, camera_id):
    """Everything the dashboard asks that the scrape `scraped`
    (exposition()) does not have, as readable lines; [] when none."""
    found = []

    def on_scrape(family, label, value, where):
        if family not in scraped:
            found.append(f"{where}: no family {family} on /metrics")
        elif label is None or label in TARGET_LABELS:
            pass
        elif label not in scraped[family]:
            found.append(f"{where}: {family} has no label {label} "
                         f"(it has {sorted(scraped[family])})")
        elif value is not None and value not in scraped[family][label]:
            found.append(f'{where}: {family} has no {label}="{value}" '
                         f"(it has {sorted(scraped[family][label])})")

    for title, target in targets(board):
        expr = target["expr"]
        where = f"{title!r}: {expr}"
        for family in set(FAMILY.findall(expr)):
            on_scrape(family, None, None, where)
        for family, label, value, why in label_uses(expr):
            on_scrape(family, label, value, f"{where}: {why}")
        for label in LEGEND_LABEL.findall(target.get("legendFormat", "")):
            for family in set(FAMILY.findall(expr)):
                on_scrape(family, label, None, f"{where}: legend {{{{{label}}}}}")
        # A per-camera family follows the camera picker wherever it is named.
        for selector in SELECTOR.finditer(expr):
            family, body = selector.groups()
            if "camera" in scraped.get(family, {}) and \
                    CAMERA_MATCHER not in matchers(body or ""):
                found.append(f'{where}: {family} without camera=~"$camera"')
    query = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)",
                         variables(board)["camera"]["definition"])
    family, label = query.groups()
    on_scrape(family, label, camera_id, "the camera variable")
    return found


# The dashboard loads, takes its Prometheus from the DS_PROMETHEUS
# variable, and every panel has a title and queries it; every query names
# a latestframe family (so that the live test below checks something) and
# only variables the dashboard defines.
def test_dashboard_is_well_formed():
    board = dashboard()
    assert board["schemaVersion"] >= 36
    defined = variables(board)
    source = defined["DS_PROMETHEUS"]
    assert (source["type"], source["query"]) == ("datasource", "prometheus")
    camera = defined["camera"]
    assert camera["type"] == "query" and camera["datasource"] == DATASOURCE
    # A string, which every Grafana since 9 reads (10 turns it into its object).
    assert camera["definition"] == CAMERA_QUERY == camera["query"]
    assert camera["multi"] and camera["includeAll"]

    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids)), ids
    for panel in board["panels"]:
        title = panel.get("title", "")
        assert title.strip(), f"panel {panel['id']} has no title"
        assert panel.get("datasource") == DATASOURCE, title
        assert panel.get("targets"), f"{title!r} has no query"
        refs = [target["refId"] for target in panel["targets"]]
        assert len(refs) == len(set(refs)), (title, refs)
        for target in panel["targets"]:
            expr = target.get("expr", "")
            assert target.get("datasource", DATASOURCE) == DATASOURCE, title
            assert FAMILY.search(expr), f"{title!r}: {expr!r} names no latestframe family"
            used = set(re.findall(r"\$\{?(\w+)", expr)) - GRAFANA_VARIABLES
            assert used <= set(defined), (title, used - set(defined))
    # Every query follows the camera picker, directly or through the
    # processes that run a picked camera.
    for title, target in targets(board):
        assert '$camera' in target["expr"], (title, target["expr"])


# A service with one test camera: once the camera streams, every family the
# dashboard names is on its /metrics, with every label and label value the
# queries use, and every per-camera family is filtered by $camera.
def test_dashboard_asks_only_for_what_metrics_has(broker, cameras, services,  # noqa: F811
                                                  workdir):
    server, = cameras(1)
    config = workdir / "cameras.yaml"
    write_config(config, broker.port, [("door", server.url)])
    service = services(config)
    wait_for(lambda: metric(service.metrics(), "latestframe_camera_up",
                            camera="door") == 1, 60,
             lambda: f"camera door up on /metrics; log: {service.log[-10:]}")
    scraped = exposition(service.metrics())
    assert problems(dashboard(), scraped, "door") == []


# The NetworkPolicy in front of the dashboard's source: it selects the
# StatefulSet's pods and admits one peer, Prometheus' pods in any namespace,
# as one entry (namespaceSelector and podSelector as two entries would
# admit every pod of every namespace), to the container's metrics port only.
def test_only_prometheus_reaches_metrics():
    kinds = manifest()
    policy = kinds["NetworkPolicy"]["spec"]
    pod = kinds["StatefulSet"]["spec"]["template"]
    assert policy["podSelector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert policy["policyTypes"] == ["Ingress"]
    rule, = policy["ingress"]
    peer, = rule["from"]
    assert peer == {"namespaceSelector": {},
                    "podSelector": {"matchLabels": {"app": "prometheus"}}}
    container, = pod["spec"]["containers"]
    exposed, = container["ports"]
    allowed, = rule["ports"]
    assert allowed.get("protocol", "TCP") == "TCP"
    assert allowed["port"] in (exposed["name"], exposed["containerPort"])
