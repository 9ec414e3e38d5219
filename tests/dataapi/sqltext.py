"""SQL text as the Data API test server handles it: named parameters,
Redshift-only syntax that PostgreSQL lacks, and the COPY statement.

Every translation is an entry of TRANSLATIONS with the Redshift page that
makes it faithful; everything else runs on PostgreSQL as written, so SQL that
PostgreSQL rejects fails the test that sent it.
"""

import re

# ---------------------------------------------------------------------------
# Named parameters
# ---------------------------------------------------------------------------


def scan(sql):
    """Yield (kind, start, end) for each region of `sql`: 'code', 'quoted'
    (a string literal or a quoted identifier) or 'comment'."""
    i, n, start = 0, len(sql), 0
    while i < n:
        c = sql[i]
        if c in ("'", '"'):
            if start < i:
                yield ("code", start, i)
            j = i + 1
            while j < n:
                if sql[j] == c:
                    if j + 1 < n and sql[j + 1] == c:
                        j += 2
                        continue
                    break
                j += 1
            yield ("quoted", i, min(j + 1, n))
            i = start = min(j + 1, n)
        elif sql.startswith("--", i):
            if start < i:
                yield ("code", start, i)
            j = sql.find("\n", i)
            j = n if j < 0 else j
            yield ("comment", i, j)
            i = start = j
        elif sql.startswith("/*", i):
            if start < i:
                yield ("code", start, i)
            j = sql.find("*/", i + 2)
            j = n if j < 0 else j + 2
            yield ("comment", i, j)
            i = start = j
        else:
            i += 1
    if start < n:
        yield ("code", start, n)


KIND_WORDS = 4


def kind(sql):
    """A statement's kind for the server's tally: its first words of code
    (comments dropped, spaces collapsed), e.g. `DELETE FROM fact_bloodtest
    WHERE`. Values are parameters, so the words name no data."""
    code = " ".join(sql[a:b] for k, a, b in scan(sql) if k != "comment")
    return " ".join(code.split()[:KIND_WORDS])


PLACEHOLDER = re.compile(r"(?<![:\w]):([A-Za-z_][A-Za-z0-9_]*)")


def placeholders(sql):
    """The names of the `:name` placeholders in code (not in literals,
    identifiers or comments, and not PostgreSQL's `::` casts)."""
    names = []
    for kind, a, b in scan(sql):
        if kind == "code":
            names += PLACEHOLDER.findall(sql[a:b])
    return names


def to_positional(sql, names):
    """Rewrite `:name` placeholders as PostgreSQL's `$n`, numbered by
    `names` (a list of distinct names)."""
    index = {name: i + 1 for i, name in enumerate(names)}
    out = []
    for kind, a, b in scan(sql):
        part = sql[a:b]
        if kind == "code":
            part = PLACEHOLDER.sub(lambda m: f"${index[m.group(1)]}", part)
        out.append(part)
    return "".join(out)


# ---------------------------------------------------------------------------
# Redshift-only syntax
# ---------------------------------------------------------------------------

DOCS = "https://docs.aws.amazon.com/redshift/latest/dg/"

# (pattern, replacement, the Redshift page that says what it means). Applied
# to code only, never inside literals.
TRANSLATIONS = [
    # Table attributes that only place and order rows on the slices; they
    # change no result (CREATE TABLE, "DISTSTYLE", "DISTKEY", "SORTKEY",
    # "ENCODE").
    (r"\bDISTSTYLE\s+(ALL|EVEN|KEY|AUTO)\b", "", DOCS + "r_CREATE_TABLE_NEW.html"),
    (r"\bDISTKEY\s*\(\s*\w+\s*\)", "", DOCS + "r_CREATE_TABLE_NEW.html"),
    (r"\b(COMPOUND\s+|INTERLEAVED\s+)?SORTKEY\s*(\(\s*[\w\s,]*\)|AUTO\b)", "", DOCS + "r_CREATE_TABLE_NEW.html"),
    (r"\bENCODE\s+\w+", "", DOCS + "c_Compression_encodings.html"),
    # GETDATE() is the current UTC date and time, without a time zone, to
    # the second (GETDATE function).
    (r"\bGETDATE\s*\(\s*\)", "date_trunc('second', LOCALTIMESTAMP)", DOCS + "r_GETDATE.html"),
    # DATE_PART takes its date part as a bare word (DATE_PART function,
    # "Dateparts for date or timestamp functions").
    (r"\bDATE_PART\s*\(\s*([A-Za-z]+)\s*,", r"DATE_PART('\1',", DOCS + "r_DATE_PART_function.html"),
    # DATEADD(day, n, d) is d plus n days, as a TIMESTAMP when d is a DATE
    # (DATEADD function, "Return type"). The forms the warehouse sends: an
    # integer, or a parameter cast to one, added to a column.
    (
        r"\bDATEADD\s*\(\s*day\s*,\s*(CAST\s*\(\s*[:$]?\w+\s+AS\s+INTEGER\s*\)|-?\d+)\s*,\s*([A-Za-z_][\w.]*)\s*\)",
        r"(CAST(\2 AS TIMESTAMP) + (\1) * INTERVAL '1 day')",
        DOCS + "r_DATEADD_function.html",
    ),
]

_COMPILED = [(re.compile(p, re.IGNORECASE), r) for p, r, _ in TRANSLATIONS]


def translate(sql):
    out = []
    for kind, a, b in scan(sql):
        part = sql[a:b]
        if kind == "code":
            for pattern, replacement in _COMPILED:
                part = pattern.sub(replacement, part)
        out.append(part)
    return "".join(out)


# Where Redshift refuses what PostgreSQL accepts, the server refuses it too.
# (pattern, Redshift's error, the page).
REFUSALS = [
    # Redshift has no ON CONFLICT, RETURNING or LATERAL in the forms
    # PostgreSQL knows (INSERT; "Unsupported PostgreSQL features").
    (r"\bON\s+CONFLICT\b", 'syntax error at or near "ON"', DOCS + "c_unsupported-postgresql-features.html"),
    (r"\bRETURNING\b", 'syntax error at or near "RETURNING"', DOCS + "c_unsupported-postgresql-features.html"),
    (r"\bLATERAL\b", 'syntax error at or near "LATERAL"', DOCS + "c_unsupported-postgresql-features.html"),
    # ILIKE ANY, arrays and JSONB operators are PostgreSQL's alone.
    (r"\bJSONB\b", 'type "jsonb" does not exist', DOCS + "c_unsupported-postgresql-datatypes.html"),
    (r"\bSERIAL\b", 'type "serial" does not exist', DOCS + "c_unsupported-postgresql-datatypes.html"),
    (r"\bARRAY\s*\[", 'syntax error at or near "["', DOCS + "c_unsupported-postgresql-datatypes.html"),
    # Redshift's TRUNCATE commits the open transaction; the pipeline must
    # never rely on rolling it back, so the server refuses it in a
    # transaction instead of emulating the commit (TRUNCATE).
]

_REFUSALS = [(re.compile(p, re.IGNORECASE), e) for p, e, _ in REFUSALS]


def refusal(sql):
    """Redshift's error for SQL that PostgreSQL would run but Redshift
    refuses, if any."""
    for kind, a, b in scan(sql):
        if kind == "code":
            for pattern, error in _REFUSALS:
                if pattern.search(sql[a:b]):
                    return error
    return None


def is_truncate(sql):
    code = "".join(sql[a:b] for k, a, b in scan(sql) if k == "code")
    return re.match(r"\s*TRUNCATE\b", code, re.IGNORECASE) is not None


# ---------------------------------------------------------------------------
# COPY
# ---------------------------------------------------------------------------

# The one form of COPY the server implements (COPY, "Data source parameters",
# "Data format parameters", "Data conversion parameters", "Data load
# operations"): JSON from a manifest, with a jsonpaths file. Any other COPY
# fails as unsupported, so a change to the adapter's COPY shows here.
COPY = re.compile(
    r"""^\s*COPY\s+(?P<table>[A-Za-z_][A-Za-z0-9_]*)
        \s*\((?P<columns>[A-Za-z0-9_,\s]+)\)
        \s+FROM\s+'(?P<manifest>s3://[^']+)'
        \s+IAM_ROLE\s+'(?P<role>arn:aws:iam::\d{12}:role/[^']+)'
        \s+FORMAT\s+(AS\s+)?JSON\s+'(?P<jsonpaths>s3://[^']+)'
        \s+MANIFEST
        (?P<options>(\s+(TIMEFORMAT\s+'auto'|MAXERROR\s+(AS\s+)?\d+|COMPUPDATE\s+OFF|STATUPDATE\s+OFF))*)
        \s*;?\s*$""",
    re.IGNORECASE | re.VERBOSE,
)


def parse_copy(sql):
    """The parts of a COPY statement, or None when `sql` is not a COPY; a
    COPY in another form raises ValueError with Redshift's kind of message."""
    if not re.match(r"\s*COPY\b", sql, re.IGNORECASE):
        return None
    m = COPY.match(sql)
    if not m:
        raise ValueError("the Data API test server implements COPY only as FROM a manifest with FORMAT AS JSON 'jsonpaths' and MANIFEST")
    options = m.group("options") or ""
    maxerror = re.search(r"MAXERROR\s+(?:AS\s+)?(\d+)", options, re.IGNORECASE)
    return {
        "table": m.group("table").lower(),
        "columns": [c.strip().lower() for c in m.group("columns").split(",")],
        "manifest": m.group("manifest"),
        "jsonpaths": m.group("jsonpaths"),
        "maxerror": int(maxerror.group(1)) if maxerror else 0,
        "timeformat_auto": re.search(r"TIMEFORMAT\s+'auto'", options, re.IGNORECASE) is not None,
    }
