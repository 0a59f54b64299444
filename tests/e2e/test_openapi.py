"""docs/openapi.yaml matches what the binary actually routes, and is a
well-formed OpenAPI 3.0 document covering docs/api.md."""
import re

import pytest
import yaml

from conftest import REPO, run_cli

OPENAPI = REPO / "docs" / "openapi.yaml"
API_MD = REPO / "docs" / "api.md"
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


@pytest.fixture(scope="module")
def spec():
    doc = yaml.safe_load(OPENAPI.read_text())
    assert isinstance(doc, dict)
    return doc


@pytest.fixture(scope="module")
def routes():
    p = run_cli("routes")
    out = []
    for ln in p.stdout.splitlines():
        if not ln.strip():
            continue
        parts = ln.split()
        assert len(parts) == 2, f"`onair routes` line is not 'METHOD PATTERN': {ln!r}"
        method, pattern = parts
        assert re.fullmatch(r"[A-Z]+|\*", method), ln
        assert pattern.startswith("/"), ln
        out.append((method, pattern))
    assert out, "`onair routes` printed nothing"
    return out


def test_routes_include_the_control_plane(routes):
    have = set(routes)
    for r in [("GET", "/healthz"), ("POST", "/v1/access_token/{api_key}"),
              ("POST", "/v1/live-streams"), ("GET", "/v1/live-streams"),
              ("GET", "/v1/live-streams/{id}"), ("PUT", "/v1/live-streams/{id}"),
              ("DELETE", "/v1/live-streams/{id}"), ("POST", "/v1/live-streams/{id}/start"),
              ("POST", "/v1/live-streams/{id}/stop")]:
        assert r in have, r
    assert len(have) == len(routes), "duplicate routes"


def test_every_route_is_documented(routes, spec):
    paths = spec["paths"]
    missing = []
    for method, pattern in routes:
        if pattern not in paths:
            missing.append(f"{method} {pattern} (path)")
            continue
        if method == "*":
            continue
        if method.lower() not in paths[pattern]:
            missing.append(f"{method} {pattern} (method)")
    assert not missing, "routes missing from docs/openapi.yaml: " + ", ".join(missing)


def test_every_documented_operation_is_routed(routes, spec):
    have = {(m, p) for m, p in routes}
    wild = {p for m, p in routes if m == "*"}
    extra = []
    for path, item in spec["paths"].items():
        for m in item:
            if m in METHODS and (m.upper(), path) not in have and path not in wild:
                extra.append(f"{m.upper()} {path}")
    assert not extra, "documented but not routed: " + ", ".join(extra)


def test_api_md_endpoints_are_in_openapi(spec):
    text = API_MD.read_text()
    found = set(re.findall(r"`(GET|POST|PUT|DELETE|PATCH) (/[^`\s?]+)", text))
    assert len(found) >= 10, found
    for method, path in found:
        assert path in spec["paths"], f"{method} {path} from api.md not in openapi.yaml"
        assert method.lower() in spec["paths"][path], f"{method} {path}"


def test_openapi_structure(spec):
    assert spec["openapi"] == "3.0.3"
    assert spec["info"]["title"] and spec["info"]["version"]
    schemes = spec["components"]["securitySchemes"]
    assert any(s.get("type") == "http" and s.get("scheme") == "bearer" for s in schemes.values())
    for name in ("Stream", "Error", "StreamParamsInput"):
        assert name in spec["components"]["schemas"], name
    op_ids = set()
    for path, item in spec["paths"].items():
        names = re.findall(r"{([^}]+)}", path)
        path_params = {p.get("name") for p in _resolve_all(spec, item.get("parameters", []))
                       if p.get("in") == "path"}
        for m, op in item.items():
            if m not in METHODS:
                continue
            assert op.get("responses"), f"{m} {path} has no responses"
            assert op.get("operationId") and op["operationId"] not in op_ids, f"{m} {path}"
            op_ids.add(op["operationId"])
            params = path_params | {p.get("name") for p in
                                    _resolve_all(spec, op.get("parameters", []))
                                    if p.get("in") == "path"}
            assert set(names) == params, f"{m} {path}: path params {names} vs declared {params}"
            if path.startswith("/v1/") and not path.startswith("/v1/access_token"):
                assert "401" in op["responses"], f"{m} {path} lacks 401"
                assert op.get("security", spec.get("security")), f"{m} {path} not secured"


def _resolve(spec, obj):
    while isinstance(obj, dict) and "$ref" in obj:
        ref = obj["$ref"]
        assert ref.startswith("#/"), ref
        node = spec
        for part in ref[2:].split("/"):
            assert part in node, f"unresolved $ref {ref}"
            node = node[part]
        obj = node
    return obj


def _resolve_all(spec, items):
    return [_resolve(spec, x) for x in items]


def test_all_refs_resolve(spec):
    def walk(node):
        if isinstance(node, dict):
            if "$ref" in node:
                _resolve(spec, node)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(spec)


def test_request_schema_lists_every_documented_field(spec):
    props = spec["components"]["schemas"]["StreamParamsInput"]["properties"]
    for f in ("name", "input_format", "output_format", "framerate", "stream_timeout", "mode",
              "qualities", "callback_url", "playback_domain", "allowed_referer_domains", "dvr"):
        assert f in props, f
    dvr = _resolve(spec, props["dvr"])["properties"]
    for f in ("enabled", "destination", "stream_source", "resolution", "format",
              "max_file_duration"):
        assert f in dvr, f
    assert dvr["max_file_duration"]["maximum"] == 21600
    assert props["stream_timeout"]["minimum"] == 10 and props["stream_timeout"]["maximum"] == 86400
