"""Redshift's COPY ... FORMAT AS JSON 'jsonpaths' MANIFEST, on PostgreSQL.

What it does, each as the Redshift Database Developer Guide says:
- reads the manifest ("Using a manifest to specify data files"): every entry
  is read; a `mandatory` entry that is missing fails the load; a manifest
  with no entries fails it;
- reads the jsonpaths file ("COPY from JSON format"): one path per column of
  the column list, in order; a different count fails the load;
- maps each JSON object's members by the paths, converting each value to its
  column's type ("Data conversion parameters": TIMEFORMAT 'auto'; strings
  longer than a VARCHAR column in bytes are errors, error code 1204; a
  missing or null value for a NOT NULL column is error 1213);
- rejects a line with an error and records it in `sys_load_error_detail`
  ("SYS_LOAD_ERROR_DETAIL": query_id, session_id = the process id, file
  name, line number, column name and type, error code and message), outside
  the load's transaction, so the rows outlive a rolled-back load;
- fails the load when the errors reach MAXERROR ("COPY parameter reference",
  MAXERROR: "If the load returns the error_count number of errors or greater,
  the load fails"; 0 or 1 both fail at the first error);
- gives the rows nothing about where they came from (COPY has no line-number
  or file-name column).

The rows of one object per line are read line by line; Redshift also reads
an object that spans lines, which the data contract never holds.
"""

import datetime
import json
import re

DOCS = "https://docs.aws.amazon.com/redshift/latest/dg/"

# MAXERROR's upper bound (COPY parameter reference, MAXERROR).
MAX_MAXERROR = 100000


class LoadFailed(Exception):
    """The COPY failed as a statement: Redshift's error text."""


class RowError(Exception):
    def __init__(self, column, column_type, code, message):
        super().__init__(message)
        self.column = column
        self.column_type = column_type
        self.code = code
        self.message = message


def s3_parts(url):
    rest = url[len("s3://"):]
    bucket, _, key = rest.partition("/")
    return bucket, key


def fetch(s3, url):
    bucket, key = s3_parts(url)
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None


def column_types(cur, table):
    """(name, type, length, not null) of each column of `table`."""
    cur.execute(
        """SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                  CASE WHEN a.atttypmod > 4 THEN a.atttypmod - 4 END
           FROM pg_attribute a
           WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped""",
        [table],
    )
    rows = cur.fetchall()
    if not rows:
        raise LoadFailed(f'relation "{table}" does not exist')
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


JSONPATH = re.compile(r"""^\$(?:\['([^']+)'\]|\.([A-Za-z_][A-Za-z0-9_]*))$""")


def member_of(path):
    m = JSONPATH.match(path)
    if not m:
        raise LoadFailed(f"Invalid JSONPath format: {path}")
    return m.group(1) or m.group(2)


INT_RANGES = {
    "smallint": (-(2**15), 2**15 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "bigint": (-(2**63), 2**63 - 1),
}


def parse_timestamp(text):
    """TIMEFORMAT 'auto' for the forms the contract writes: ISO 8601 with
    `T` or a space, optional fraction, `Z` or an offset."""
    try:
        ts = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=datetime.timezone.utc)
    return ts


def convert(value, column, spec):
    ctype, not_null, length = spec
    short = ctype.split("(")[0]
    if value is None:
        if not_null:
            raise RowError(column, short, 1213, "Missing data for not-null field")
        return None
    if short in INT_RANGES:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise RowError(column, short, 1207, f"Invalid digit, Value '{str(value)[:20]}', Pos 0, Type: {short.capitalize()}")
        if isinstance(value, str):
            if not re.fullmatch(r"\s*[+-]?\d+\s*", value):
                raise RowError(column, short, 1207, f"Invalid digit, Value '{value[:20]}', Pos 0, Type: {short.capitalize()}")
            value = int(value)
        lo, hi = INT_RANGES[short]
        if not lo <= value <= hi:
            raise RowError(column, short, 1216, f"Overflow, Value '{value}' out of range for type {short}")
        return value
    if short in ("double precision", "real"):
        if isinstance(value, bool):
            raise RowError(column, short, 1208, "FLOAT data type format error")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise RowError(column, short, 1208, "FLOAT data type format error")
    if short in ("character varying", "character", "text"):
        if isinstance(value, (dict, list)):
            text = json.dumps(value, separators=(",", ":"))
        elif isinstance(value, bool):
            text = "true" if value else "false"
        else:
            text = value if isinstance(value, str) else json.dumps(value)
        if "\x00" in text:
            raise RowError(column, short, 1220, "String contains invalid or unsupported UTF8 codepoints")
        if length is not None and len(text.encode("utf-8")) > length:
            raise RowError(column, short, 1204, "String length exceeds DDL length")
        return text
    if short.startswith("timestamp"):
        ts = parse_timestamp(value) if isinstance(value, str) else None
        if ts is None:
            raise RowError(column, short, 1206, "Invalid timestamp format or value [YYYY-MM-DD HH24:MI:SS]")
        if short == "timestamp without time zone":
            return ts.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return ts
    if short == "date":
        try:
            return datetime.date.fromisoformat(value)
        except (TypeError, ValueError):
            raise RowError(column, short, 1203, "Invalid Date Format - length must be 10 or more")
    if short == "boolean":
        if isinstance(value, bool):
            return value
        raise RowError(column, short, 1210, "BOOLEAN data type format error")
    raise LoadFailed(f"the Data API test server cannot load a {ctype} column")


def row_of(line, members, columns, types):
    try:
        obj = json.loads(line)
    except (ValueError, UnicodeDecodeError) as e:
        raise RowError("", "", 1224, f"Invalid JSON: {str(e)[:200]}")
    if not isinstance(obj, dict):
        raise RowError("", "", 1224, "Invalid JSONPath format: the record is not a JSON object")
    return [convert(obj.get(m), c, types[c]) for m, c in zip(members, columns)]


def run_copy(parts, *, s3, cur, record_errors, query_id, pid, stop, reject=None):
    """Run one COPY in the cursor's connection (its transaction); return the
    number of rows loaded. `record_errors(rows)` writes load errors outside
    that transaction."""
    if parts["maxerror"] > MAX_MAXERROR:
        raise LoadFailed(f"MAXERROR argument {parts['maxerror']} is out of range: the maximum is {MAX_MAXERROR}")
    types = column_types(cur, parts["table"])
    for c in parts["columns"]:
        if c not in types:
            raise LoadFailed(f'column "{c}" of relation "{parts["table"]}" does not exist')
    raw = fetch(s3, parts["manifest"])
    if raw is None:
        raise LoadFailed(f"Problem reading manifest file - S3ServiceException:The specified key does not exist.,Status 404 {parts['manifest']}")
    try:
        entries = json.loads(raw)["entries"]
    except (ValueError, KeyError, TypeError):
        raise LoadFailed(f"Manifest file is not in correct json format {parts['manifest']}")
    if not entries:
        raise LoadFailed(f"The manifest file {parts['manifest']} has no entries: there is nothing to load")
    paths_raw = fetch(s3, parts["jsonpaths"])
    if paths_raw is None:
        raise LoadFailed(f"JSONPath file not found {parts['jsonpaths']}")
    paths = json.loads(paths_raw)["jsonpaths"]
    if len(paths) != len(parts["columns"]):
        raise LoadFailed(
            f"Number of jsonpaths and the number of columns should match. JSONPath size: {len(paths)}, Number of columns in table or column list: {len(parts['columns'])}"
        )
    members = [member_of(p) for p in paths]
    threshold = max(parts["maxerror"], 1)
    rows, errors = [], []
    started = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    for entry in entries:
        url = entry["url"]
        data = fetch(s3, url)
        if data is None:
            if entry.get("mandatory", False):
                raise LoadFailed(f"Manifest file refers to a mandatory file that does not exist: {url}")
            continue
        for number, line in enumerate(data.split(b"\n"), start=1):
            if stop():
                raise LoadFailed("Query (%d) cancelled on user's request" % query_id)
            if not line.strip(b" \t\r"):
                continue
            try:
                if reject is not None and reject in line:
                    raise RowError("ts", "timestamptz", 1206, "Invalid timestamp format or value [YYYY-MM-DD HH24:MI:SS] (injected)")
                rows.append(row_of(line, members, parts["columns"], types))
            except RowError as e:
                errors.append({
                    "query_id": query_id, "session_id": pid, "start_time": started,
                    "file_name": url[:256], "line_number": number,
                    "column_name": e.column[:127], "column_type": e.column_type[:10],
                    "error_code": e.code, "error_message": e.message[:512],
                })
                if len(errors) >= threshold:
                    record_errors(errors)
                    raise LoadFailed(
                        f"Load into table '{parts['table']}' failed. Check 'sys_load_error_detail' system table for details."
                    )
    record_errors(errors)
    if rows:
        names = ", ".join(parts["columns"])
        with cur.copy(f"COPY {parts['table']} ({names}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row(r)
    return len(rows)
