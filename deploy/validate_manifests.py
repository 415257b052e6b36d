#!/usr/bin/env python3
"""Test: the deploy/ manifests have the structure the rollout relies on.

Checks, without a cluster: every document has apiVersion/kind/metadata.name;
the DaemonSet's selector matches its pod labels; every volumeMount names a
declared volume; the ConfigMap and Secret it mounts exist in the same
namespace; the config volume holds config.toml; the host path is
/etc/cri-mirror; the sync script renames temp files (atomic writes) and
copies the secrets before the config; the ConfigMap's config.toml passes
`cri-mirror check-config` once its named files exist (given the binary).
  validate_manifests.py MANIFEST [CRI_MIRROR_BINARY]
"""
import os
import subprocess
import sys
import tempfile

import yaml


def fail(message):
    print(f"validate_manifests: {message}", file=sys.stderr)
    sys.exit(1)


def main():
    path = sys.argv[1]
    docs = [d for d in yaml.safe_load_all(open(path)) if d is not None]
    by_kind = {}
    for i, d in enumerate(docs):
        for key in ("apiVersion", "kind", "metadata"):
            if key not in d:
                fail(f"document {i}: no {key}")
        if "name" not in d["metadata"]:
            fail(f"document {i} ({d['kind']}): metadata.name missing")
        by_kind.setdefault(d["kind"], []).append(d)
    for kind in ("Namespace", "ConfigMap", "Secret", "DaemonSet"):
        if kind not in by_kind:
            fail(f"no {kind}")
    ds = by_kind["DaemonSet"][0]
    ns = ds["metadata"]["namespace"]
    if ds["apiVersion"] != "apps/v1":
        fail("DaemonSet apiVersion must be apps/v1")
    spec = ds["spec"]
    selector = spec["selector"]["matchLabels"]
    labels = spec["template"]["metadata"]["labels"]
    if any(labels.get(k) != v for k, v in selector.items()):
        fail(f"selector {selector} does not match pod labels {labels}")
    pod = spec["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    container = pod["containers"][0]
    for m in container["volumeMounts"]:
        if m["name"] not in volumes:
            fail(f"volumeMount {m['name']} has no volume")
    configmaps = {c["metadata"]["name"]: c for c in by_kind["ConfigMap"]
                  if c["metadata"].get("namespace") == ns}
    secrets = {s["metadata"]["name"]: s for s in by_kind["Secret"]
               if s["metadata"].get("namespace") == ns}
    config_text = None
    for v in volumes.values():
        if "configMap" in v:
            cm = configmaps.get(v["configMap"]["name"])
            if cm is None:
                fail(f"ConfigMap {v['configMap']['name']} not in namespace {ns}")
            config_text = cm["data"].get("config.toml")
        if "secret" in v and v["secret"]["secretName"] not in secrets:
            fail(f"Secret {v['secret']['secretName']} not in namespace {ns}")
        if "hostPath" in v and v["hostPath"]["path"] != "/etc/cri-mirror":
            fail(f"hostPath {v['hostPath']['path']} is not /etc/cri-mirror")
    if config_text is None:
        fail("the ConfigMap volume has no config.toml")
    script = "\n".join(container.get("args", []))
    if "mv -f" not in script or ".tmp" not in script:
        fail("the sync script does not write temp files and rename them")
    if script.find("/files/") > script.find("/config/config.toml"):
        fail("the sync script must copy CA files and secrets before the config")
    if len(sys.argv) > 2:
        check_config(sys.argv[2], config_text, secrets)
    print("manifests OK")


def check_config(binary, config_text, secrets):
    """check-config on the ConfigMap's config, with its files made to exist."""
    with tempfile.TemporaryDirectory() as root:
        etc = os.path.join(root, "etc", "cri-mirror")
        text = config_text.replace("/etc/cri-mirror", etc)
        for s in secrets.values():
            for key in s.get("stringData", {}):
                sub, _, name = key.partition("--")
                os.makedirs(os.path.join(etc, sub), exist_ok=True)
                target = os.path.join(etc, sub, name)
                with open(target, "w") as f:
                    f.write("x\n")
                os.chmod(target, 0o600)
        config = os.path.join(root, "config.toml")
        with open(config, "w") as f:
            f.write(text)
        result = subprocess.run([binary, "check-config", "--config", config],
                                capture_output=True, text=True)
        if result.returncode != 0:
            fail(f"check-config on the ConfigMap's config.toml:\n{result.stdout}{result.stderr}")


if __name__ == "__main__":
    main()
