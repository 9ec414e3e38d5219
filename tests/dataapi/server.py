#!/usr/bin/env python3
"""The Amazon Redshift Data API, for tests, on a real PostgreSQL server.

Test-only, as moto is for S3: it speaks the Data API's JSON protocol
(`X-Amz-Target: RedshiftData.<Operation>`, `application/x-amz-json-1.1`) to
the unchanged `aws-sdk-redshiftdata` client through its endpoint setting, and
runs every statement on PostgreSQL. Each operation behaves as the Data API
reference says (https://docs.aws.amazon.com/redshift-data/latest/APIReference/):

- ExecuteStatement (API_ExecuteStatement.html): one SQL statement, named
  parameters (`:name`, string values; a value cannot be empty, and a
  parameter the SQL does not use, or a placeholder without a parameter, is a
  ValidationException); SessionKeepAliveSeconds opens a session and returns
  its SessionId; SessionId runs in that session (and then takes no database
  or workgroup). Returns at once; the statement runs in the background.
- Sessions ("Using the Amazon Redshift Data API", session reuse): one
  database connection each, one statement at a time (a second one while a
  statement runs is refused), kept for SessionKeepAliveSeconds after its last
  statement ends; a session that expires is closed and its open transaction
  rolled back, as a closed connection's is.
- BatchExecuteStatement (API_BatchExecuteStatement.html): up to 40
  statements, run in order as one transaction, rolled back whole when one
  fails; sub-statement ids `<id>:<n>`.
- DescribeStatement (API_DescribeStatement.html): Status SUBMITTED, STARTED,
  FINISHED, FAILED or ABORTED; Error as Redshift words it (`ERROR: ...`);
  HasResultSet, ResultRows, RedshiftQueryId, RedshiftPid (the backend process
  id, which the SYS views call session_id), SessionId, SubStatements.
- GetStatementResult (API_GetStatementResult.html): ColumnMetadata with
  Redshift's type names, Records of typed Fields (longValue, doubleValue,
  booleanValue, stringValue, isNull), TotalNumRows, and pages with NextToken
  (the service pages by size; this server by --page-rows rows, so paging is
  exercised on small results).
- CancelStatement (API_CancelStatement.html): cancels a running statement;
  its status becomes ABORTED.

RedshiftQueryId is the id STL views use; `sys_load_error_detail.query_id` is
another number ("SYS monitoring views": the SYS views' query ids differ from
the STL views'), so a match of the two fails here as it would on Redshift.

COPY runs in copyjson.py; Redshift-only syntax is translated, and SQL that
Redshift refuses is refused, in sqltext.py.

Faults for tests: POST /ovom-test/faults with a JSON list of
{"operation": "ExecuteStatement", "error": "ThrottlingException",
 "sql_contains": "...", "times": 1} (answer that error instead), or
{"drop_session": true, "sql_contains": "...", "times": 1} (the session's
connection dies when such a statement arrives: its transaction rolls back,
the statement fails, later calls find the session closed), or
{"copy_rejects": "text", "times": 1} (the next COPY rejects each line that
holds the text, as a line Redshift cannot convert). GET
/ovom-test/stats gives the calls per operation, statements, COPYs, the
time statements spent in PostgreSQL, and the statements by kind (their first
words).
"""

import argparse
import base64
import datetime
import decimal
import json
import re
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import psycopg
from botocore.config import Config

import copyjson
import sqltext

MAX_BATCH = 40
NAME = re.compile(r"^[0-9a-zA-Z_]+$")
SYS_QUERY_ID_OFFSET = 7_000_000

SYS_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS ovom_sys;
CREATE TABLE IF NOT EXISTS ovom_sys.sys_load_error_detail (
    user_id integer, query_id bigint, transaction_id bigint, session_id integer,
    database_name character(64), table_id integer, start_time timestamp,
    file_name character(256), line_number bigint, column_name character(127),
    column_type character(10), column_length character(10), position integer,
    error_code integer, error_message character(512)
);
"""


class ApiError(Exception):
    def __init__(self, code, message, status=400):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def now():
    return time.time()


class Statement:
    def __init__(self, sql, params, session_id, database, workgroup):
        self.id = str(uuid.uuid4())
        self.sql = sql
        self.params = params
        self.session_id = session_id
        self.database = database
        self.workgroup = workgroup
        self.status = "SUBMITTED"
        self.error = None
        self.created = now()
        self.updated = self.created
        self.columns = None
        self.rows = []
        self.rowcount = -1
        self.query_id = 0
        self.pid = 0
        self.subs = []
        self.cancelled = False
        self.done = threading.Event()


class Session:
    def __init__(self, conn, keep_alive):
        self.id = str(uuid.uuid4())
        self.conn = conn
        self.keep_alive = keep_alive
        self.last_used = now()
        self.busy = None
        self.closed = False
        self.pid = conn.info.backend_pid
        self.lock = threading.Lock()


class Server:
    def __init__(self, args):
        self.dsn = args.dsn
        self.database = args.database
        self.page_rows = args.page_rows
        self.statements = {}
        self.sessions = {}
        self.lock = threading.Lock()
        self.query_ids = 1000
        self.faults = []
        self.stats = {"calls": {}, "statements": 0, "copies": 0, "server_ms": 0.0, "batches": 0, "faults": 0, "kinds": {}}
        self.s3 = boto3.client(
            "s3",
            endpoint_url=args.s3_endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(s3={"addressing_style": "path"}),
        )
        with self.connect() as conn:
            conn.execute(SYS_SCHEMA)
            conn.execute(f'ALTER DATABASE "{self.database}" SET search_path = public, ovom_sys')
        threading.Thread(target=self.reap, daemon=True).start()

    # -- plumbing ----------------------------------------------------------

    def connect(self):
        conn = psycopg.connect(self.dsn, autocommit=True, cursor_factory=psycopg.RawCursor)
        conn.execute("SET TimeZone = 'UTC'")
        conn.execute("SET search_path = public, ovom_sys")
        return conn

    def next_query_id(self):
        with self.lock:
            self.query_ids += 1
            return self.query_ids

    def count(self, operation):
        with self.lock:
            self.stats["calls"][operation] = self.stats["calls"].get(operation, 0) + 1

    def fault(self, operation, sql=None, drop=False, kind=None):
        with self.lock:
            for f in self.faults:
                if f.get("times", 1) <= 0 or bool(f.get("drop_session")) != drop:
                    continue
                if kind is not None:
                    if kind not in f:
                        continue
                elif "copy_rejects" in f or (not drop and f.get("operation") != operation):
                    continue
                needle = f.get("sql_contains")
                if needle and (sql is None or needle not in sql):
                    continue
                f["times"] = f.get("times", 1) - 1
                self.stats["faults"] += 1
                return f
        return None

    def reap(self):
        while True:
            time.sleep(0.2)
            with self.lock:
                expired = [
                    s for s in self.sessions.values()
                    if not s.closed and s.busy is None and now() - s.last_used > s.keep_alive
                ]
            for s in expired:
                self.close_session(s)

    def close_session(self, s):
        with s.lock:
            if s.closed:
                return
            s.closed = True
            try:
                s.conn.close()  # an open transaction rolls back
            except Exception:
                pass

    # -- operations --------------------------------------------------------

    def parameters(self, sql, given):
        names = list(dict.fromkeys(sqltext.placeholders(sql)))
        values = {}
        for p in given or []:
            name, value = p.get("name"), p.get("value")
            if not name or not NAME.match(name):
                raise ApiError("ValidationException", f"Invalid parameter name: {name!r}")
            if value is None or value == "":
                raise ApiError("ValidationException", f"Parameter value of {name} must not be null or empty")
            if name in values:
                raise ApiError("ValidationException", f"Duplicate parameter name: {name}")
            values[name] = value
        for n in names:
            if n not in values:
                raise ApiError("ValidationException", f"Parameter {n} is missing a value")
        for n in values:
            if n not in names:
                raise ApiError("ValidationException", f"Parameter {n} is not used in the SQL")
        return names, values

    def target(self, req):
        has_target = any(req.get(k) for k in ("Database", "WorkgroupName", "ClusterIdentifier", "DbUser", "SecretArn"))
        if req.get("SessionId"):
            if has_target:
                raise ApiError("ValidationException", "SessionId cannot be specified together with Database, WorkgroupName, ClusterIdentifier, DbUser or SecretArn")
            with self.lock:
                s = self.sessions.get(req["SessionId"])
            if s is None:
                raise ApiError("ValidationException", f"Session {req['SessionId']} is not found")
            if s.closed:
                raise ApiError("ValidationException", f"Session {s.id} is not available: it has ended")
            if s.busy is not None:
                raise ApiError("ValidationException", f"Session {s.id} is busy running statement {s.busy}")
            return s, None, req.get("WorkgroupName")
        if not req.get("Database"):
            raise ApiError("ValidationException", "Database is required")
        if not (req.get("WorkgroupName") or (req.get("ClusterIdentifier"))):
            raise ApiError("ValidationException", "Either WorkgroupName or ClusterIdentifier is required")
        if req["Database"] != self.database:
            raise ApiError("ValidationException", f'FATAL: database "{req["Database"]}" does not exist')
        return None, req["Database"], req.get("WorkgroupName")

    def submit(self, req, sqls, batch):
        session, database, workgroup = self.target(req)
        keep_alive = req.get("SessionKeepAliveSeconds")
        if session is None and keep_alive is not None:
            if not 0 <= int(keep_alive) <= 86400:
                raise ApiError("ValidationException", "SessionKeepAliveSeconds must be between 0 and 86400")
            session = Session(self.connect(), int(keep_alive))
            with self.lock:
                self.sessions[session.id] = session
        text = "\n;\n".join(sqls) if batch else sqls[0]
        names, values = self.parameters(text, req.get("Parameters"))
        st = Statement(sqls if batch else sqls[0], values, session.id if session else None, database, workgroup)
        if session is not None:
            dropped = self.fault(None, text, drop=True)
            if dropped:
                self.close_session(session)
                st.status, st.error = "FAILED", "FATAL: terminating connection due to administrator command"
                st.updated = now()
                st.done.set()
                with self.lock:
                    self.statements[st.id] = st
                return st
            session.busy = st.id
        with self.lock:
            self.statements[st.id] = st
        threading.Thread(target=self.run, args=(st, session, batch), daemon=True).start()
        return st

    def run(self, st, session, batch):
        conn = session.conn if session else None
        own = False
        try:
            if conn is None:
                conn = self.connect()
                own = True
            st.pid = conn.info.backend_pid
            st.status = "STARTED"
            started = time.monotonic()
            if batch:
                self.run_batch(st, conn)
            else:
                self.run_one(st, conn, st.sql)
            with self.lock:
                self.stats["server_ms"] += (time.monotonic() - started) * 1000
            st.status = "ABORTED" if st.cancelled else "FINISHED"
        except (psycopg.Error, copyjson.LoadFailed, ApiError) as e:
            st.status = "ABORTED" if st.cancelled else "FAILED"
            st.error = redshift_error(e)
        except Exception as e:  # a bug of this server: say so, loudly
            st.status = "FAILED"
            st.error = f"ERROR: Data API test server error: {e!r}"
            print(f"dataapi: {e!r}", file=sys.stderr)
        finally:
            st.updated = now()
            if session:
                session.busy = None
                session.last_used = now()
            if own and conn is not None:
                conn.close()
            st.done.set()

    def run_one(self, st, conn, sql, values=None):
        values = st.params if values is None else values
        st.query_id = self.next_query_id()
        with self.lock:
            self.stats["statements"] += 1
            kind = sqltext.kind(sql)
            self.stats["kinds"][kind] = self.stats["kinds"].get(kind, 0) + 1
        refused = sqltext.refusal(sql)
        if refused:
            raise copyjson.LoadFailed(refused)
        if sqltext.is_truncate(sql) and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            raise copyjson.LoadFailed("TRUNCATE commits the open transaction on Redshift; the pipeline must not send it in one")
        parts = sqltext.parse_copy(sql) if sql.lstrip()[:4].upper() == "COPY" else None
        with conn.cursor() as cur:
            if parts is not None:
                with self.lock:
                    self.stats["copies"] += 1
                injected = self.fault("COPY", sql, kind="copy_rejects")
                st.rowcount = copyjson.run_copy(
                    parts, s3=self.s3, cur=cur, record_errors=self.record_errors,
                    query_id=st.query_id + SYS_QUERY_ID_OFFSET, pid=st.pid,
                    stop=lambda: st.cancelled,
                    reject=injected["copy_rejects"].encode() if injected else None,
                )
                st.columns = None
                return
            names = list(dict.fromkeys(sqltext.placeholders(sql)))
            text = sqltext.to_positional(sqltext.translate(sql), names)
            cur.execute(text, [values[n] for n in names])
            st.rowcount = cur.rowcount
            if cur.description is not None:
                st.columns = [column_metadata(conn, d) for d in cur.description]
                st.rows = cur.fetchall()
                st.rowcount = len(st.rows)

    def run_batch(self, st, conn):
        conn.execute("BEGIN")
        try:
            for n, sql in enumerate(st.sql, start=1):
                sub = Statement(sql, None, st.session_id, st.database, st.workgroup)
                sub.id = f"{st.id}:{n}"
                sub.pid = st.pid
                sub.status = "STARTED"
                st.subs.append(sub)
                own = {k: v for k, v in st.params.items() if k in sqltext.placeholders(sql)}
                try:
                    self.run_one(sub, conn, sql, own)
                    sub.status = "FINISHED"
                except Exception as e:
                    sub.status = "FAILED"
                    sub.error = redshift_error(e)
                    raise
                finally:
                    sub.updated = now()
            conn.execute("COMMIT")
        except Exception:
            conn.execute("ROLLBACK")
            for sub in st.subs:
                if sub.status == "FINISHED":
                    sub.status = "ABORTED"
            raise

    def record_errors(self, rows):
        if not rows:
            return
        with self.connect() as conn, conn.cursor() as cur:
            for r in rows:
                cur.execute(
                    """INSERT INTO ovom_sys.sys_load_error_detail (user_id, query_id, transaction_id, session_id,
                       database_name, table_id, start_time, file_name, line_number, column_name, column_type,
                       column_length, position, error_code, error_message)
                       VALUES (100, $1, 0, $2, $3, 0, $4, $5, $6, $7, $8, '', 0, $9, $10)""",
                    [r["query_id"], r["session_id"], self.database, r["start_time"], r["file_name"],
                     r["line_number"], r["column_name"], r["column_type"], r["error_code"], r["error_message"]],
                )

    def describe(self, sid):
        base, _, sub = sid.partition(":")
        with self.lock:
            st = self.statements.get(base)
        if st is None:
            raise ApiError("ResourceNotFoundException", f"Query does not exist: {sid}")
        if sub:
            n = int(sub)
            if not 1 <= n <= len(st.subs):
                raise ApiError("ResourceNotFoundException", f"Query does not exist: {sid}")
            return st.subs[n - 1]
        return st

    def describe_json(self, st):
        out = {
            "Id": st.id,
            "Status": st.status,
            "CreatedAt": st.created,
            "UpdatedAt": st.updated,
            "Duration": int((st.updated - st.created) * 1e9) if st.status in ("FINISHED", "FAILED", "ABORTED") else -1,
            "HasResultSet": st.columns is not None,
            "ResultRows": st.rowcount,
            "ResultSize": 0,
            "RedshiftQueryId": st.query_id,
            "RedshiftPid": st.pid,
            "QueryString": st.sql if isinstance(st.sql, str) else None,
            "QueryParameters": [{"name": k, "value": v} for k, v in (st.params or {}).items()],
        }
        if st.database:
            out["Database"] = st.database
        if st.workgroup:
            out["WorkgroupName"] = st.workgroup
        if st.session_id:
            out["SessionId"] = st.session_id
        if st.error:
            out["Error"] = st.error
        if st.subs:
            out["SubStatements"] = [
                {"Id": s.id, "Status": s.status, "Error": s.error, "HasResultSet": s.columns is not None,
                 "ResultRows": s.rowcount, "RedshiftQueryId": s.query_id, "QueryString": s.sql,
                 "CreatedAt": s.created, "UpdatedAt": s.updated, "Duration": 0}
                for s in st.subs
            ]
            out["QueryString"] = None
        return {k: v for k, v in out.items() if v is not None}

    def result(self, req):
        st = self.describe(req["Id"])
        if st.status != "FINISHED":
            raise ApiError("ValidationException", f"Query {req['Id']} has status {st.status}: results are available only once it has FINISHED")
        if st.columns is None:
            raise ApiError("ValidationException", "Query does not have result. Please check query status with DescribeStatement.")
        start = 0
        if req.get("NextToken"):
            try:
                start = int(base64.b64decode(req["NextToken"]).decode())
            except Exception:
                raise ApiError("ValidationException", "Invalid NextToken")
        page = st.rows[start:start + self.page_rows]
        out = {
            "ColumnMetadata": st.columns,
            "Records": [[field(v, c) for v, c in zip(row, st.columns)] for row in page],
            "TotalNumRows": len(st.rows),
        }
        if start + self.page_rows < len(st.rows):
            out["NextToken"] = base64.b64encode(str(start + self.page_rows).encode()).decode()
        return out

    def cancel(self, req):
        st = self.describe(req["Id"])
        if st.status in ("FINISHED", "FAILED", "ABORTED"):
            raise ApiError("ValidationException", f"Could not cancel a query that is already in {st.status} state with ID: {st.id}")
        st.cancelled = True
        with self.lock:
            session = self.sessions.get(st.session_id) if st.session_id else None
        conn = session.conn if session else None
        if conn is not None:
            try:
                conn.cancel()
            except Exception:
                pass
        return {"Status": True}

    def handle(self, operation, req):
        self.count(operation)
        injected = self.fault(operation, req.get("Sql") or "\n".join(req.get("Sqls") or []))
        if injected:
            raise ApiError(injected["error"], f"injected {injected['error']}", injected.get("status", 400))
        if operation == "ExecuteStatement":
            if not req.get("Sql"):
                raise ApiError("ValidationException", "Sql is required")
            st = self.submit(req, [req["Sql"]], batch=False)
            return self.submit_json(st)
        if operation == "BatchExecuteStatement":
            sqls = req.get("Sqls") or []
            if not 1 <= len(sqls) <= MAX_BATCH:
                raise ApiError("ValidationException", f"Sqls must hold 1 to {MAX_BATCH} statements")
            with self.lock:
                self.stats["batches"] += 1
            st = self.submit(req, sqls, batch=True)
            return self.submit_json(st)
        if operation == "DescribeStatement":
            return self.describe_json(self.describe(req.get("Id", "")))
        if operation == "GetStatementResult":
            return self.result(req)
        if operation == "CancelStatement":
            return self.cancel(req)
        raise ApiError("UnknownOperationException", f"the Data API test server does not implement {operation}")

    def submit_json(self, st):
        out = {"Id": st.id, "CreatedAt": st.created}
        if st.database:
            out["Database"] = st.database
        if st.workgroup:
            out["WorkgroupName"] = st.workgroup
        if st.session_id:
            out["SessionId"] = st.session_id
        return out


# Redshift's type names in ColumnMetadata (Data API "ColumnMetadata" typeName;
# Redshift's names are PostgreSQL's internal ones: int4, int8, varchar ...).
def column_metadata(conn, d):
    info = psycopg.postgres.types.get(d.type_code)
    name = info.name if info else "unknown"
    return {
        "name": d.name, "label": d.name, "typeName": name,
        "nullable": 1, "isSigned": name in ("int2", "int4", "int8", "float4", "float8", "numeric"),
        "length": d.internal_size or 0, "precision": d.precision or 0, "scale": d.scale or 0,
        "isCaseSensitive": name in ("varchar", "text", "bpchar"), "isCurrency": False,
        "schemaName": "", "tableName": "",
    }


def field(v, column):
    t = column["typeName"]
    if v is None:
        return {"isNull": True}
    if t in ("int2", "int4", "int8"):
        return {"longValue": int(v)}
    if t in ("float4", "float8"):
        return {"doubleValue": float(v)}
    if t == "bool":
        return {"booleanValue": bool(v)}
    if isinstance(v, datetime.datetime):
        text = v.strftime("%Y-%m-%d %H:%M:%S")
        if v.microsecond:
            text += (".%06d" % v.microsecond).rstrip("0")
        if v.tzinfo is not None:
            text += "+00"
        return {"stringValue": text}
    if isinstance(v, (datetime.date, decimal.Decimal)):
        return {"stringValue": str(v)}
    return {"stringValue": str(v)}


def redshift_error(e):
    if isinstance(e, psycopg.Error):
        diag = getattr(e, "diag", None)
        message = diag.message_primary if diag is not None and diag.message_primary else str(e).strip()
        return f"ERROR: {message}"
    if isinstance(e, ApiError):
        return f"ERROR: {e.message}"
    return f"ERROR: {e}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ovom-dataapi-test"

    def log_message(self, *args):
        pass

    def reply(self, status, body, content_type="application/x-amz-json-1.1"):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        return json.loads(raw or b"{}")

    def do_GET(self):
        api = self.server.api
        if self.path == "/ovom-test/stats":
            with api.lock:
                self.reply(200, api.stats, "application/json")
        else:
            self.reply(404, {"message": "not found"}, "application/json")

    def do_POST(self):
        api = self.server.api
        if self.path == "/ovom-test/faults":
            faults = self.body()
            with api.lock:
                api.faults = faults
            self.reply(200, {"faults": len(faults)}, "application/json")
            return
        if self.path == "/ovom-test/reset-stats":
            with api.lock:
                api.stats = {"calls": {}, "statements": 0, "copies": 0, "server_ms": 0.0, "batches": 0, "faults": 0, "kinds": {}}
            self.reply(200, {}, "application/json")
            return
        target = self.headers.get("X-Amz-Target", "")
        if not target.startswith("RedshiftData."):
            self.reply(400, {"__type": "UnknownOperationException", "message": f"unknown target {target!r}"})
            return
        try:
            self.reply(200, api.handle(target.split(".", 1)[1], self.body()))
        except ApiError as e:
            self.reply(e.status, {"__type": e.code, "message": e.message})


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dsn", required=True, help="libpq connection string of the PostgreSQL server")
    p.add_argument("--database", default="dev")
    p.add_argument("--s3-endpoint", required=True)
    p.add_argument("--page-rows", type=int, default=500)
    args = p.parse_args()
    httpd = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    httpd.daemon_threads = True
    httpd.api = Server(args)
    print(f"dataapi: listening on 127.0.0.1:{args.port}", flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
