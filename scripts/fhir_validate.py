#!/usr/bin/env python3
"""Validates a directory of FHIR R4 NDJSON files, independently of the Rust exporter.

Usage: fhir_validate.py [--resolve-references] DIR

Every line of every DIR/*.ndjson must be one JSON resource whose resourceType is the
file's name (Patient.ndjson holds Patients). Each is parsed with the fhir.resources
model for its type (fhir.resources 6.4.0, FHIR 4.0.1; install it with
scripts/fhir-validator-setup.sh and run this with target/fhir-validator/bin/python).
That checks structure, cardinality, unknown elements and primitive formats (ids, dates,
decimals...). On top, rules of R4 that the library leaves out:

- required value sets for the codes an export uses (Patient.gender, the statuses of
  Encounter, Observation and Immunization, Patient.link.type, the `use` of identifiers,
  names and addresses);
- a dateTime with a time of day carries a time zone;
- an extension has a url, and a value or nested extensions but not both (ext-1);
- a relative reference is `Type/id` with a valid id;
- resource ids are unique within a type;
- with --resolve-references, every relative reference to a type that has a file in DIR
  names a resource in that file.

Prints every error as FILE:LINE: message, then one summary line per file, then a final
JSON line of resource counts per type: {"Patient": 400, ...}.
Exit status: 0 when everything is valid, 1 when any error was found, 2 on a usage or
installation problem.
"""

import importlib
import json
import re
import sys
from pathlib import Path

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2

ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
DATETIME_WITH_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T")
ZONE = re.compile(r"(Z|[+-]\d{2}:\d{2})$")
RELATIVE_REFERENCE = re.compile(r"^([A-Z][A-Za-z]+)/([^/]+)$")

# Element paths (without list indices) bound to a required value set in FHIR R4.
REQUIRED_CODES = {
    "Patient.gender": {"male", "female", "other", "unknown"},
    "RelatedPerson.gender": {"male", "female", "other", "unknown"},
    "Patient.link.type": {"replaced-by", "replaces", "refer", "seealso"},
    "Encounter.status": {
        "planned", "arrived", "triaged", "in-progress", "onleave", "finished",
        "cancelled", "entered-in-error", "unknown",
    },
    "Observation.status": {
        "registered", "preliminary", "final", "amended", "corrected", "cancelled",
        "entered-in-error", "unknown",
    },
    "Immunization.status": {"completed", "entered-in-error", "not-done"},
}
# Element names bound to a required value set wherever they appear.
REQUIRED_CODES_ANYWHERE = {
    "identifier.use": {"usual", "official", "temp", "secondary", "old"},
    "name.use": {"usual", "official", "temp", "nickname", "anonymous", "old", "maiden"},
    "address.use": {"home", "work", "temp", "old", "billing"},
}


def leaves(value, path, bare):
    """Yields (path with indices, path without indices, value) for every primitive."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield from leaves(child, f"{path}.{key}", f"{bare}.{key}")
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from leaves(child, f"{path}[{i}]", bare)
    else:
        yield path, bare, value


def extensions(value, path):
    """Yields (path, extension) for every extension and modifierExtension, nested too."""
    if isinstance(value, dict):
        for key, child in value.items():
            if key in ("extension", "modifierExtension") and isinstance(child, list):
                for i, ext in enumerate(child):
                    yield f"{path}.{key}[{i}]", ext
            yield from extensions(child, f"{path}.{key}")
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from extensions(child, f"{path}[{i}]")


def extra_checks(resource, rtype):
    """R4 rules fhir.resources does not enforce; yields (message, reference or None)."""
    for path, ext in extensions(resource, rtype):
        if not isinstance(ext, dict):
            continue
        if not isinstance(ext.get("url"), str) or not ext["url"]:
            yield f"{path}: an extension needs a url", None
        has_value = any(k.startswith("value") for k in ext)
        if has_value == bool(ext.get("extension")):
            yield f"{path}: an extension has either a value or extensions, not both (ext-1)", None
    for path, bare, value in leaves(resource, rtype, rtype):
        allowed = REQUIRED_CODES.get(bare)
        if allowed is None:
            tail = ".".join(bare.split(".")[-2:])
            allowed = REQUIRED_CODES_ANYWHERE.get(tail)
        if allowed is not None and value not in allowed:
            yield f"{path}: {value!r} is not in the required value set {sorted(allowed)}", None
        if isinstance(value, str) and DATETIME_WITH_TIME.match(value) and not ZONE.search(value):
            yield f"{path}: {value!r} has a time of day but no time zone", None
        if bare.endswith(".reference") and isinstance(value, str):
            if value.startswith(("http://", "https://", "urn:", "#")):
                continue
            m = RELATIVE_REFERENCE.match(value)
            if not m or not ID.match(m.group(2)):
                yield f"{path}: {value!r} is not a reference of the form Type/id", None
            else:
                yield None, (path, m.group(1), m.group(2))


def model_class(rtype):
    module = importlib.import_module(f"fhir.resources.{rtype.lower()}")
    return getattr(module, rtype)


def validate_file(path, ids, references, errors):
    """Validates one file; returns its resource count. Appends to `errors`."""
    rtype = path.stem
    try:
        cls = model_class(rtype)
    except (ImportError, AttributeError):
        errors.append(f"{path.name}:0: {rtype!r} is not a FHIR R4 resource type")
        return 0
    seen = ids.setdefault(rtype, set())
    count = 0
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            where = f"{path.name}:{lineno}"
            if not line.strip():
                errors.append(f"{where}: empty line")
                continue
            count += 1
            try:
                resource = json.loads(line)
            except json.JSONDecodeError as e:
                errors.append(f"{where}: not JSON: {e}")
                continue
            if not isinstance(resource, dict):
                errors.append(f"{where}: not a JSON object")
                continue
            if resource.get("resourceType") != rtype:
                errors.append(
                    f"{where}: resourceType {resource.get('resourceType')!r} in {path.name}"
                )
                continue
            try:
                cls.parse_obj(resource)
            except Exception as e:  # pydantic.ValidationError, or anything the model raises
                details = e.errors() if hasattr(e, "errors") else [{"loc": (), "msg": str(e)}]
                for d in details:
                    loc = ".".join(str(x) for x in d.get("loc", ())) or rtype
                    errors.append(f"{where}: {loc}: {d.get('msg')}")
            rid = resource.get("id")
            if rid is not None:
                if rid in seen:
                    errors.append(f"{where}: duplicate {rtype} id {rid!r}")
                seen.add(rid)
            for message, reference in extra_checks(resource, rtype):
                if message is not None:
                    errors.append(f"{where}: {message}")
                else:
                    references.append((where, *reference))
    return count


def main(argv):
    args = argv[1:]
    resolve = "--resolve-references" in args
    args = [a for a in args if a != "--resolve-references"]
    if len(args) != 1 or args[0].startswith("-"):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return EXIT_USAGE
    directory = Path(args[0])
    try:
        import fhir.resources
    except ImportError:
        print("fhir.resources is not installed: run scripts/fhir-validator-setup.sh "
              "and use target/fhir-validator/bin/python", file=sys.stderr)
        return EXIT_USAGE
    if fhir.resources.__fhir_version__ != "4.0.1":
        print(f"fhir.resources {fhir.resources.__version__} is FHIR "
              f"{fhir.resources.__fhir_version__}, not R4 (4.0.1)", file=sys.stderr)
        return EXIT_USAGE
    files = sorted(directory.glob("*.ndjson"))
    if not files:
        print(f"no *.ndjson files in {directory}", file=sys.stderr)
        return EXIT_USAGE

    ids, references, counts, errors = {}, [], {}, []
    for path in files:
        counts[path.stem] = validate_file(path, ids, references, errors)
    if resolve:
        for where, path, rtype, rid in references:
            if rtype in ids and rid not in ids[rtype]:
                errors.append(f"{where}: {path}: {rtype}/{rid} is not in {rtype}.ndjson")

    for e in errors:
        print(e)
    for path in files:
        n_errors = sum(1 for e in errors if e.startswith(f"{path.name}:"))
        print(f"{path.name}: {counts[path.stem]} resources, {n_errors} errors")
    print(json.dumps(counts, sort_keys=True))
    return EXIT_INVALID if errors else EXIT_OK


if __name__ == "__main__":
    sys.exit(main(sys.argv))
