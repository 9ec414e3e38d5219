#!/usr/bin/env python3
"""Parse every SQL file as Redshift sees it, with sqlglot's Redshift dialect.

The text Redshift runs is rendered by the program itself
(crates/core/src/sql.rs: overrides, the contract's columns, a table's
`-- redshift-design:` line, the dimension-mode macros), into the folder
OVOM_REDSHIFT_SQL names: `models/<layer>/<name>.sql` for each model and
`loads/<dimension>_<mode>.sql` for each dimension load. tests/infra.rs
writes it and runs this check (through validate.sh) on it. The
adapter's own statements (crates/aws/src/redshift/: the COPY, its temporary
table, the staging and quarantine inserts, the load-error query, the pending
tables a transaction's batch moves rows from) are checked
too, as the adapter renders them for a sample day; a test of that crate
keeps ADAPTER_STATEMENTS below equal to what it renders.

`:name` placeholders are replaced by typed literals first (booleans as TRUE /
FALSE and NULL as NULL, as the adapter writes them). A statement fails when
sqlglot cannot parse it, or parses it only into an opaque exp.Command. Also
checked: every override starts with a one-line `--` comment saying why it
differs and replaces a shared file; no table's DDL is overridden (its
Redshift design is a line of the shared DDL), so the two cannot drift; every
COPY names its columns, an s3:// manifest and an IAM role.

Prints one line per file and exits non-zero when any check fails.

    python tests/offline/sqlglot_check.py
"""

from __future__ import annotations

import os
import pathlib
import re
import sys

import sqlglot
from sqlglot import exp

# The version requirements.txt pins: another release may parse differently.
SQLGLOT_VERSION = "30.30.0"

ROOT = pathlib.Path(__file__).resolve().parents[2]
SQL = ROOT / "sql"
OVERRIDES = SQL / "overrides" / "redshift"

# Statements sqlglot cannot parse although Redshift runs them: file (or
# adapter statement label) -> reason. Empty: every statement parses. (COPY,
# the likeliest candidate, parses into exp.Copy; sqlglot pairs its bare
# options loosely, so check_copy() checks its structure instead.)
ALLOW_LIST: dict[str, str] = {}

# A typed literal for every parameter name the SQL uses.
LITERALS = {
    "logical_date": "'2025-03-14'",
    "through": "'2025-03-14'",
    "run_id": "'exec-2025-03-14'",
    "source": "'log_data'",
    "files": "'2'",
    "lines_read": "'120'",
    "all_days": "FALSE",
    "window_from": "'2025-03-07'",
    "wait_days": "7",
    "execution_id": "'exec-2025-03-14'",
    "state_machine": "'pipeline'",
    "input": "'{}'",
    "output": "'{}'",
    "status": "'SUCCEEDED'",
    "started_at": "'2025-03-14 06:00:00'",
    "finished_at": "'2025-03-14 06:01:00'",
    "failed_state": "'LoadFact'",
    "error": "'WarehouseBusy'",
    "cause": "'statement still running'",
    "seq": "'1'",
    "path": "'LoadDimensions/0/LoadDimDoctor'",
    "state_name": "'LoadDimDoctor'",
    "state_type": "'Task'",
    "attempts": "'1'",
    "duration_ms": "'12'",
    "parent_execution_id": "'backfill-20250101-20251231-1'",
    "data_root": "'/srv/ovom/data'",
    "redrive_count": "'1'",
    "now": "'2025-03-14 06:02:00'",
    "from_date": "'2025-01-01'",
    "to_date": "'2025-12-31'",
    "limit": "'20'",
    # Erasure (sql/erasure/) and the suppression at stage.
    "erasure_id": "'erasure-2025-03-15-1'",
    "erased_at": "'2025-03-15 09:00:00'",
    "patient_id": "'1042'",
    "patient_hash": "'9f2c4e1a'",
    "place": "'rejects'",
    "pattern": "'%1042%'",
    "rows_erased": "'3'",
    "line_no": "'2'",
    "suppressed": "'1'",
    # The adapter's own statements.
    "copy_pid": "'1073'",
    "copy_file": "'s3://ovom-data/export/manifests/log_data/2025-03-14/run-1/00000.json'",
    "source_file": "'log_data/2025/03/14/part-00000.json'",
    "copy_query_id": "'4242'",
}
NUMBERED = {
    "line": "'2'",
    "error": "'field `ap_hi`: expected an integer'",
    "raw": "'{\"test_id\": \"bt-00000001\"}'",
}

# Key and version column of each dimension, as crates/core/src/sql.rs has them.
# The adapter's statements for a sample day (log_data, 2025-03-14, run-1,
# bucket ovom-data, prefix export, role ovom-copy, MAXERROR 100). Kept equal
# to what crates/aws/src/redshift/ renders by a test there.
ADAPTER_STATEMENTS = {
    "copy: log_data temporary table": """
CREATE TEMP TABLE ovom_copy_log_data (test_id VARCHAR(64) NOT NULL, patient_id BIGINT NOT NULL, doc_id BIGINT NOT NULL, doc_name VARCHAR(256) NOT NULL, clinic VARCHAR(256) NOT NULL, lab_id BIGINT NOT NULL, lab_name VARCHAR(256) NOT NULL, city VARCHAR(256) NOT NULL, ts TIMESTAMPTZ NOT NULL, ap_hi INTEGER NOT NULL, ap_lo INTEGER NOT NULL, cholesterol INTEGER NOT NULL, gluc INTEGER NOT NULL, smoke INTEGER NOT NULL, alco INTEGER NOT NULL, active INTEGER NOT NULL, cardio INTEGER NOT NULL, line_no BIGINT NOT NULL)
""",
    "copy: log_data COPY": """
COPY ovom_copy_log_data (test_id, patient_id, doc_id, doc_name, clinic, lab_id, lab_name, city, ts, ap_hi, ap_lo, cholesterol, gluc, smoke, alco, active, cardio, line_no)
FROM 's3://ovom-data/export/manifests/log_data/2025-03-14/run-1/00000.manifest'
IAM_ROLE 'arn:aws:iam::123456789012:role/ovom-copy'
FORMAT AS JSON 's3://ovom-data/export/manifests/log_data/2025-03-14/run-1/jsonpaths.json'
MANIFEST
TIMEFORMAT 'auto'
MAXERROR 100
COMPUPDATE OFF
STATUPDATE OFF
""",
    "copy: log_data staging insert": """
INSERT INTO ovom_pending_staging_bloodtest (logical_date, source_file, line_no, test_id, patient_id, doc_id, doc_name, clinic, lab_id, lab_name, city, ts, ap_hi, ap_lo, cholesterol, gluc, smoke, alco, active, cardio, run_id)
SELECT CAST(:logical_date AS DATE), :source_file, line_no, test_id, patient_id, doc_id, doc_name, clinic, lab_id, lab_name, city, ts AT TIME ZONE 'UTC', ap_hi, ap_lo, cholesterol, gluc, smoke, alco, active, cardio, :run_id
FROM ovom_copy_log_data
""",
    "copy: log_data rows loaded": """
SELECT COUNT(*) FROM ovom_copy_log_data
""",
    "copy: log_data emptied": """
DELETE FROM ovom_copy_log_data
""",
    "copy: patient_data temporary table": """
CREATE TEMP TABLE ovom_copy_patient_data (patient_id BIGINT NOT NULL, first_name VARCHAR(256) NOT NULL, last_name VARCHAR(256) NOT NULL, sex VARCHAR(1) NOT NULL, age INTEGER NOT NULL, height INTEGER NOT NULL, weight DOUBLE PRECISION NOT NULL, address VARCHAR(1024) NOT NULL, registered_at TIMESTAMPTZ NOT NULL, line_no BIGINT NOT NULL)
""",
    "copy: patient_data COPY": """
COPY ovom_copy_patient_data (patient_id, first_name, last_name, sex, age, height, weight, address, registered_at, line_no)
FROM 's3://ovom-data/export/manifests/patient_data/2025-03-14/run-1/00000.manifest'
IAM_ROLE 'arn:aws:iam::123456789012:role/ovom-copy'
FORMAT AS JSON 's3://ovom-data/export/manifests/patient_data/2025-03-14/run-1/jsonpaths.json'
MANIFEST
TIMEFORMAT 'auto'
MAXERROR 100
COMPUPDATE OFF
STATUPDATE OFF
""",
    "copy: patient_data staging insert": """
INSERT INTO ovom_pending_staging_patient (logical_date, source_file, line_no, patient_id, first_name, last_name, sex, age, height, weight, address, registered_at, run_id)
SELECT CAST(:logical_date AS DATE), :source_file, line_no, patient_id, first_name, last_name, sex, age, height, weight, address, registered_at AT TIME ZONE 'UTC', :run_id
FROM ovom_copy_patient_data
""",
    "copy: load errors": """
SELECT line_number, TRIM(column_name) AS column_name, TRIM(error_message) AS error_message
FROM sys_load_error_detail
WHERE session_id = CAST(:copy_pid AS INTEGER) AND TRIM(file_name) = LEFT(:copy_file, 256)
ORDER BY line_number
""",
    "copy: quarantine insert": """
INSERT INTO ovom_pending_quarantine (logical_date, source, source_file, line_no, error, "raw", run_id)
VALUES (CAST(:logical_date AS DATE), :source, :source_file, CAST(:line_0 AS BIGINT), :error_0, :raw_0, :run_id),
(CAST(:logical_date AS DATE), :source, :source_file, CAST(:line_1 AS BIGINT), :error_1, :raw_1, :run_id)
""",
    "transaction: staging_bloodtest pending rows": """
CREATE TEMP TABLE ovom_pending_staging_bloodtest (LIKE staging_bloodtest)
""",
    "transaction: staging_bloodtest rows moved": """
INSERT INTO staging_bloodtest SELECT * FROM ovom_pending_staging_bloodtest
""",
    "transaction: staging_patient pending rows": """
CREATE TEMP TABLE ovom_pending_staging_patient (LIKE staging_patient)
""",
    "transaction: staging_patient rows moved": """
INSERT INTO staging_patient SELECT * FROM ovom_pending_staging_patient
""",
    "transaction: quarantine pending rows": """
CREATE TEMP TABLE ovom_pending_quarantine (LIKE quarantine)
""",
    "transaction: quarantine rows moved": """
INSERT INTO quarantine SELECT * FROM ovom_pending_quarantine
""",
    "transaction: stage_audit pending rows": """
CREATE TEMP TABLE ovom_pending_stage_audit (LIKE stage_audit)
""",
    "transaction: stage_audit rows moved": """
INSERT INTO stage_audit SELECT * FROM ovom_pending_stage_audit
""",
}


def placeholders(stmt: str) -> list[tuple[int, int]]:
    """The (start, end) of each `:name` outside strings and comments; a `::`
    cast is not one. The rule of crates/core/src/sql.rs::to_positional."""
    out = []
    state = "code"
    quote = ""
    i = 0
    n = len(stmt)
    while i < n:
        c = stmt[i]
        if state == "code":
            if c in "'\"":
                state, quote = "quote", c
            elif c == "-" and stmt[i + 1 : i + 2] == "-":
                state = "line"
            elif c == "/" and stmt[i + 1 : i + 2] == "*":
                state = "block"
            elif c == ":":
                prev_colon = i > 0 and stmt[i - 1] == ":"
                nxt = stmt[i + 1 : i + 2]
                if not prev_colon and (nxt == "_" or ("a" <= nxt <= "z")):
                    end = i + 1
                    while end < n and (stmt[end].isascii() and (stmt[end].isalnum() or stmt[end] == "_")):
                        end += 1
                    out.append((i, end))
                    i = end
                    continue
        elif state == "quote" and c == quote:
            state = "code"
        elif state == "line" and c == "\n":
            state = "code"
        elif state == "block" and c == "*" and stmt[i + 1 : i + 2] == "/":
            state = "code"
            i += 1
        i += 1
    return out


def literal_for(name: str) -> str:
    if name in LITERALS:
        return LITERALS[name]
    m = re.fullmatch(r"(line|error|raw)_(\d+)", name)
    if m:
        return NUMBERED[m.group(1)]
    raise KeyError(f"no literal for parameter :{name}: add one to LITERALS")


def substitute(sql: str) -> str:
    out, last = [], 0
    for start, end in placeholders(sql):
        out.append(sql[last:start])
        out.append(literal_for(sql[start + 1 : end]))
        last = end
    out.append(sql[last:])
    return "".join(out)


def check_copy(stmt: exp.Copy) -> list[str]:
    problems = []
    table = stmt.this
    if not isinstance(table, exp.Schema) or not table.expressions:
        problems.append("COPY without an explicit column list")
    files = stmt.args.get("files") or []
    if len(files) != 1 or not files[0].name.startswith("s3://") or not files[0].name.endswith(".manifest"):
        problems.append("COPY not FROM one s3:// manifest")
    credentials = stmt.args.get("credentials")
    if credentials is None or credentials.args.get("iam_role") is None:
        problems.append("COPY without IAM_ROLE")
    text = stmt.sql("redshift")
    for option in ("FORMAT AS JSON", "MANIFEST", "MAXERROR"):
        if option not in text:
            problems.append(f"COPY without {option}")
    return problems


def parse(label: str, sql: str) -> tuple[int, list[str]]:
    """Statements parsed, and problems."""
    try:
        text = substitute(sql)
    except KeyError as e:
        return 0, [str(e)]
    try:
        trees = [t for t in sqlglot.parse(text, read="redshift") if t is not None]
    except sqlglot.errors.ParseError as e:
        if label in ALLOW_LIST:
            return 0, []
        return 0, [f"does not parse: {str(e).splitlines()[0]}"]
    problems = []
    for tree in trees:
        opaque = [n for n in tree.walk() if isinstance(n, exp.Command)]
        if opaque and label not in ALLOW_LIST:
            problems.append(f"opaque statement: {opaque[0].sql('redshift')[:80]!r}")
        for copy in tree.find_all(exp.Copy):
            problems.extend(check_copy(copy))
    return len(trees), problems


def check_override(name: str, text: str) -> list[str]:
    problems = []
    first = text.splitlines()[0] if text else ""
    if not first.lower().startswith("-- redshift"):
        problems.append("does not start with a `-- Redshift: why` comment line")
    if not (SQL / f"{name}.sql").exists():
        problems.append("overrides no shared file")
    elif name.startswith("schema/"):
        problems.append("a table has one DDL: state its Redshift design in a `-- redshift-design:` line")
    return problems


def main() -> int:
    if sqlglot.__version__ != SQLGLOT_VERSION:
        print(f"sqlglot {sqlglot.__version__} is installed; requirements.txt pins {SQLGLOT_VERSION}")
        return 1
    failures = 0

    def report(label: str, count: int, problems: list[str], note: str = "") -> None:
        nonlocal failures
        if problems:
            failures += 1
            print(f"FAIL {label}: {'; '.join(problems)}")
        else:
            allowed = f" (allow-listed: {ALLOW_LIST[label]})" if label in ALLOW_LIST else ""
            print(f"ok   {label}: {count} statement{'s' if count != 1 else ''}{note}{allowed}")

    rendered_dir = os.environ.get("OVOM_REDSHIFT_SQL")
    if not rendered_dir:
        print("OVOM_REDSHIFT_SQL is not set: it names the folder of SQL rendered for Redshift, which tests/infra.rs writes")
        return 1
    rendered = pathlib.Path(rendered_dir)
    models = rendered / "models"
    names = sorted(str(p.relative_to(models).with_suffix("")) for p in models.rglob("*.sql"))
    shared = sorted(
        str(p.relative_to(SQL).with_suffix(""))
        for p in SQL.rglob("*.sql")
        if (SQL / "overrides") not in p.parents and not p.relative_to(SQL).parts[0] == "macros"
    )
    if names != shared:
        failures += 1
        print(f"FAIL the rendered models are not the repository's: {sorted(set(names) ^ set(shared))}")
    for name in names:
        text = (models / f"{name}.sql").read_text(encoding="utf-8")
        count, problems = parse(f"sql/{name}.sql", text)
        override = OVERRIDES / f"{name}.sql"
        if override.exists():
            problems += check_override(name, override.read_text(encoding="utf-8"))
        report(f"sql/{name}.sql", count, problems, " (redshift override)" if override.exists() else "")

    for override in sorted(OVERRIDES.rglob("*.sql")):
        name = str(override.relative_to(OVERRIDES).with_suffix(""))
        if name not in names:
            report(f"sql/overrides/redshift/{name}.sql", 0, ["overrides no shared file"])

    loads = sorted((rendered / "loads").glob("*.sql"))
    if not loads:
        failures += 1
        print("FAIL no dimension load was rendered")
    for load in loads:
        label = f"{load.stem} load (macros/dimension_<mode>.sql)"
        count, problems = parse(label, load.read_text(encoding="utf-8"))
        report(label, count, problems)

    for label, sql in ADAPTER_STATEMENTS.items():
        count, problems = parse(label, sql)
        report(f"adapter {label}", count, problems)

    unused = sorted(set(ALLOW_LIST) - set(names) - set(ADAPTER_STATEMENTS))
    for label in unused:
        failures += 1
        print(f"FAIL allow-list entry {label!r} names nothing")

    print(f"sqlglot {sqlglot.__version__}, dialect redshift: {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
