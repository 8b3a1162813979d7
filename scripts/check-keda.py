#!/usr/bin/env python3
"""Structural check of KEDA objects in rendered manifests, since kubernetes-validate has no
schema for KEDA's CRDs (it only warns that it cannot find one).

Usage: check-keda.py RENDERED.yaml [--split-out OTHERS.yaml]

Every keda.sh object must be a ScaledObject whose spec has only fields KEDA's
ScaledObject CRD (v2.x) defines, with the right types; its scaleTargetRef must name a
Deployment of the same render; each trigger must be a nats-jetstream trigger with the
scaler's required metadata, reading the stream the ConfigMap configures (default CUSTODIAN)
and a durable consumer the target role really uses (read from services/<role>/src/lib.rs);
every consumer of the role must have a trigger, so a queue added to a role is not left unscaled.
With --split-out the other objects are written to OTHERS.yaml for kubernetes-validate.
"""
import pathlib
import re
import sys

import yaml

SPEC_FIELDS = {
    "scaleTargetRef": dict, "pollingInterval": int, "cooldownPeriod": int,
    "initialCooldownPeriod": int, "idleReplicaCount": int, "minReplicaCount": int,
    "maxReplicaCount": int, "advanced": dict, "fallback": dict, "triggers": list,
}
TARGET_FIELDS = {"apiVersion": str, "kind": str, "name": str, "envSourceContainerName": str}
ADVANCED_FIELDS = {"horizontalPodAutoscalerConfig", "restoreToOriginalReplicaCount", "scalingModifiers"}
HPA_CONFIG_FIELDS = {"behavior", "name"}
TRIGGER_FIELDS = {"type", "metadata", "name", "authenticationRef", "metricType", "useCachedMetrics"}
NATS_REQUIRED = {"natsServerMonitoringEndpoint", "account", "stream", "consumer"}
NATS_OPTIONAL = {"lagThreshold", "activationLagThreshold", "useHttps"}

ROOT = pathlib.Path(__file__).resolve().parent.parent


def consumers_of(role):
    """The durable consumer names the role's code subscribes with."""
    source = ROOT / "services" / role / "src" / "lib.rs"
    if not source.exists():
        return set()
    text = source.read_text()
    # Spelled out (`ConsumerSpec { name: "..." }`, or `name: "...".into()` in a spec built from
    # another), or through the media workers' shared settings (`jobs_args.consumer("...")`),
    # whose name a spec that overrides it does not use.
    named = re.findall(r'name:\s*"([^"]+)"(?:\.into\(\))?,\s*\n\s*topic:', text) + re.findall(
        r'ConsumerSpec\s*\{\s*name:\s*"([^"]+)"', text
    )
    shared = re.findall(r'(?<!\.\.)self\.jobs_args\.consumer\(\s*"([^"]+)"\s*\)', text)
    return set(named) | set(shared)


def check(docs):
    errors = []
    deployments = {d["metadata"]["name"] for d in docs if d.get("kind") == "Deployment"}
    stream = "CUSTODIAN"
    for d in docs:
        if d.get("kind") == "ConfigMap" and d["metadata"]["name"] == "custodian-config":
            stream = d.get("data", {}).get("CUSTODIAN_NATS_STREAM", stream)
    checked = 0
    for d in docs:
        if not str(d.get("apiVersion", "")).startswith("keda.sh/"):
            continue
        name = f'{d.get("kind")}/{d.get("metadata", {}).get("name")}'
        err = lambda msg: errors.append(f"{name}: {msg}")
        if d["apiVersion"] != "keda.sh/v1alpha1" or d.get("kind") != "ScaledObject":
            err(f'no check for {d["apiVersion"]} {d.get("kind")}')
            continue
        if set(d) - {"apiVersion", "kind", "metadata", "spec"}:
            err(f"unknown top-level fields {sorted(set(d) - {'apiVersion', 'kind', 'metadata', 'spec'})}")
        spec = d.get("spec") or {}
        for key, value in spec.items():
            if key not in SPEC_FIELDS:
                err(f"unknown field spec.{key}")
            elif not isinstance(value, SPEC_FIELDS[key]) or isinstance(value, bool):
                err(f"spec.{key} must be {SPEC_FIELDS[key].__name__}")
        target = spec.get("scaleTargetRef", {})
        for key, value in target.items():
            if key not in TARGET_FIELDS or not isinstance(value, TARGET_FIELDS[key]):
                err(f"bad field spec.scaleTargetRef.{key}")
        if target.get("kind", "Deployment") != "Deployment" or target.get("name") not in deployments:
            err(f"scaleTargetRef {target} is not a Deployment of this render")
        low, high = spec.get("minReplicaCount", 0), spec.get("maxReplicaCount", 100)
        if isinstance(low, int) and isinstance(high, int) and not 0 <= low <= high:
            err(f"replicas {low}..{high}")
        advanced = spec.get("advanced", {})
        if set(advanced) - ADVANCED_FIELDS:
            err(f"unknown fields in spec.advanced: {sorted(set(advanced) - ADVANCED_FIELDS)}")
        hpa = advanced.get("horizontalPodAutoscalerConfig", {})
        if set(hpa) - HPA_CONFIG_FIELDS:
            err(f"unknown fields in horizontalPodAutoscalerConfig: {sorted(set(hpa) - HPA_CONFIG_FIELDS)}")
        triggers = spec.get("triggers") or []
        if not triggers:
            err("no triggers")
        role = str(target.get("name", "")).removeprefix("custodian-")
        expected = consumers_of(role)
        scaled = {(t.get("metadata") or {}).get("consumer") for t in triggers}
        if expected - scaled:
            err(f"role {role} also consumes as {sorted(expected - scaled)}, with no trigger")
        for i, trigger in enumerate(triggers):
            if set(trigger) - TRIGGER_FIELDS:
                err(f"trigger {i}: unknown fields {sorted(set(trigger) - TRIGGER_FIELDS)}")
            if trigger.get("type") != "nats-jetstream":
                err(f"trigger {i}: type {trigger.get('type')!r}, only nats-jetstream is checked")
                continue
            meta = trigger.get("metadata") or {}
            if NATS_REQUIRED - set(meta):
                err(f"trigger {i}: missing metadata {sorted(NATS_REQUIRED - set(meta))}")
            if set(meta) - NATS_REQUIRED - NATS_OPTIONAL:
                err(f"trigger {i}: unknown metadata {sorted(set(meta) - NATS_REQUIRED - NATS_OPTIONAL)}")
            for key, value in meta.items():
                if not isinstance(value, str):
                    err(f"trigger {i}: metadata.{key} must be a string (KEDA metadata is map[string]string)")
            for key in ("lagThreshold", "activationLagThreshold"):
                if key in meta and not str(meta[key]).isdigit():
                    err(f"trigger {i}: {key} {meta[key]!r} is not a whole number")
            if "://" in str(meta.get("natsServerMonitoringEndpoint", "")):
                err(f"trigger {i}: natsServerMonitoringEndpoint takes host:port, no scheme (useHttps sets it)")
            if meta.get("stream") != stream:
                err(f"trigger {i}: stream {meta.get('stream')!r}, but the roles use {stream!r}")
            if meta.get("consumer") not in expected:
                err(f"trigger {i}: consumer {meta.get('consumer')!r}, but role {role} consumes as {sorted(expected)}")
        checked += 1
    return errors, checked


def main():
    args = sys.argv[1:]
    split_out = None
    if "--split-out" in args:
        at = args.index("--split-out")
        split_out = args[at + 1]
        del args[at:at + 2]
    (path,) = args
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    errors, checked = check(docs)
    for e in errors:
        print(f"check-keda.py: {path}: {e}", file=sys.stderr)
    if split_out:
        others = [d for d in docs if not str(d.get("apiVersion", "")).startswith("keda.sh/")]
        with open(split_out, "w") as f:
            yaml.safe_dump_all(others, f, sort_keys=False)
    print(f"check-keda.py: {path}: {checked} KEDA objects checked", file=sys.stderr)
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
