"""Validates a compose file against the Compose Specification's JSON schema.

usage: validate_compose.py COMPOSE_FILE

The schema is compose/config/compose_spec.json from the docker-compose wheel on
PyPI (fetched with `pip download --no-deps docker-compose==1.29.2` into
$DRIFTWATCH_COMPOSE_SCHEMA_DIR, default target/compose-schema).
Exit 0 when valid; 1 with every error listed otherwise.
"""
import glob
import json
import os
import subprocess
import sys
import zipfile

import jsonschema
import yaml


def schema():
    d = os.environ.get("DRIFTWATCH_COMPOSE_SCHEMA_DIR", "target/compose-schema")
    wheels = glob.glob(os.path.join(d, "docker_compose-*.whl"))
    if not wheels:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "docker-compose==1.29.2", "-d", d],
            check=True,
        )
        wheels = glob.glob(os.path.join(d, "docker_compose-*.whl"))
    with zipfile.ZipFile(wheels[0]) as z:
        return json.loads(z.read("compose/config/compose_spec.json"))


def main():
    doc = yaml.safe_load(open(sys.argv[1]))
    validator = jsonschema.Draft7Validator(schema())
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    for e in errors:
        print(f"{sys.argv[1]}: {'/'.join(map(str, e.path))}: {e.message}")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
