"""Unpacks Kubernetes JSON schemas for kubeconform from the kubernetes-validate wheel.

The wheel (PyPI) ships, per Kubernetes version, one strict JSON schema per kind
(`deployment-apps-v1.json`, ...) whose `$ref`s point at `/api/_definitions.json` under a
`https://kubernetes.io/...` `$id`. kubeconform would try to fetch that URL; here every
`$id` is dropped and the refs made relative, so the schemas resolve from the folder.

usage: python3 k8s-schemas.py WHEEL OUT_DIR VERSION...   (e.g. v1.29.0 v1.37.0)
"""
import json
import os
import sys
import zipfile

REF_PREFIX = "/api/_definitions.json#"


def relocate(node):
    if isinstance(node, dict):
        node.pop("$id", None)
        return {k: (v.replace(REF_PREFIX, "_definitions.json#", 1) if k == "$ref" and isinstance(v, str) else relocate(v))
                for k, v in node.items()}
    if isinstance(node, list):
        return [relocate(item) for item in node]
    return node


def main(wheel, out, versions):
    with zipfile.ZipFile(wheel) as archive:
        for version in versions:
            prefix = f"kubernetes_validate/kubernetes-json-schema/{version}-local-strict/"
            names = [name for name in archive.namelist() if name.startswith(prefix) and name.endswith(".json")]
            if not names:
                sys.exit(f"k8s-schemas: {wheel} has no schemas for {version}")
            target = os.path.join(out, f"{version}-standalone-strict")
            os.makedirs(target, exist_ok=True)
            for name in names:
                schema = relocate(json.loads(archive.read(name)))
                with open(os.path.join(target, name[len(prefix):]), "w") as file:
                    json.dump(schema, file)


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
