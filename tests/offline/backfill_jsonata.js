// Evaluates the JSONata of the backfill state machine (statemachine/backfill.asl.json)
// with the jsonata package at the version Step Functions implements, pinned in
// package.json: the expressions are read from the definition itself, so what is
// tested is what is deployed. Run by validate.sh:
//
//   NODE_PATH=<tools>/node/node_modules node tests/offline/backfill_jsonata.js statemachine/backfill.asl.json
//
// A JSONata state's fields are templates: a string "{% expr %}" is the value of
// expr with $states bound (input, context), any other string is itself, and
// objects and arrays are evaluated member by member, as Step Functions does.
"use strict";

const assert = require("node:assert/strict");
const fs = require("node:fs");
const jsonata = require("jsonata");

const JSONATA_VERSION = "2.0.6";
const MAX_DAYS = 3000;
const DAY_MS = 86400000;
const MAX_PAYLOAD = 256 * 1024;

const version = require("jsonata/package.json").version;
assert.equal(version, JSONATA_VERSION, "the jsonata that Step Functions implements");

const definition = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));

// Every JSONata state, nested ones included.
function jsonataStates(machine, inherited) {
    const language = machine.QueryLanguage || inherited || "JSONPath";
    const found = [];
    for (const [name, state] of Object.entries(machine.States)) {
        if ((state.QueryLanguage || language) === "JSONata") {
            found.push([name, state]);
        }
        for (const nested of [state.ItemProcessor, state.Iterator, ...(state.Branches || [])]) {
            if (nested) {
                found.push(...jsonataStates(nested, language));
            }
        }
    }
    return found;
}

const states = jsonataStates(definition);
assert.deepEqual(
    states.map(([name]) => name),
    [definition.StartAt],
    "one JSONata state, the first: it reads the range",
);
const [readRangeName, readRange] = states[0];
assert.equal(readRange.Type, "Pass", readRangeName);
assert.deepEqual(
    Object.keys(readRange).sort(),
    ["Comment", "Next", "Output", "QueryLanguage", "Type"],
    `${readRangeName}: its fields`,
);

const EXPRESSION = /^\{%([\s\S]*)%\}$/;
const compiled = new Map();

async function evaluate(template, bindings) {
    if (typeof template === "string") {
        const m = EXPRESSION.exec(template);
        if (!m) {
            return template;
        }
        if (!compiled.has(template)) {
            compiled.set(template, jsonata(m[1]));
        }
        const value = await compiled.get(template).evaluate(undefined, bindings);
        assert.notEqual(value, undefined, "an expression that yields nothing is an error in Step Functions");
        return value;
    }
    if (Array.isArray(template)) {
        return Promise.all(template.map((t) => evaluate(t, bindings)));
    }
    if (template !== null && typeof template === "object") {
        const out = {};
        for (const [k, v] of Object.entries(template)) {
            out[k] = await evaluate(v, bindings);
        }
        return out;
    }
    return template;
}

// The state's output for an execution input, as a plain JSON value.
async function readRangeOf(input) {
    const states = {
        input,
        context: {
            Execution: { Id: "arn:aws:states:us-east-1:123456789012:execution:ovom-backfill:test", Input: input },
            State: { Name: readRangeName },
        },
    };
    const out = await evaluate(readRange.Output, { states });
    const text = JSON.stringify(out);
    assert.ok(text.length < MAX_PAYLOAD, `output of ${text.length} bytes is over Step Functions' payload quota`);
    return JSON.parse(text);
}

const iso = (ms) => new Date(ms).toISOString().slice(0, 10);
const plus = (date, days) => iso(Date.parse(`${date}T00:00:00Z`) + days * DAY_MS);

let passed = 0;

// The days a list of chunks covers, each chunk checked: consecutive days,
// none longer than `size`, only the last shorter.
function daysOf(chunks, size, name) {
    const days = [];
    chunks.forEach(({ from, through }, i) => {
        const n = (Date.parse(`${through}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / DAY_MS + 1;
        assert.ok(n >= 1 && n <= size, `${name}: chunk ${i} (${from} … ${through}) has ${n} days`);
        if (i < chunks.length - 1) {
            assert.equal(n, size, `${name}: chunk ${i} is short but not the last`);
        }
        for (let k = 0; k < n; k += 1) {
            days.push(plus(from, k));
        }
    });
    return days;
}

async function loads(input, dates, range = {}) {
    const out = await readRangeOf(input);
    const name = JSON.stringify(input);
    assert.equal(out.problem, null, `${name}: ${out.problem}`);
    const size = out.range.days_per_execution;
    assert.deepEqual(daysOf(out.chunks, size, name), dates, name);
    assert.deepEqual(
        out.range,
        {
            from: input.from,
            to: input.to,
            days: dates.length,
            days_per_execution: 31,
            executions: Math.ceil(dates.length / size),
            dim_mode: "merge",
            strict: false,
            rerun_later_days: true,
            ...range,
        },
        name,
    );
    passed += 1;
    return out;
}

async function refuses(input, problem) {
    const out = await readRangeOf(input);
    const name = JSON.stringify(input);
    assert.equal(typeof out.problem, "string", `${name} should be refused`);
    assert.match(out.problem, problem, name);
    assert.deepEqual(out.chunks, [], `${name}: nothing to load`);
    passed += 1;
}

function consecutive(dates, from, count) {
    assert.equal(dates.length, count);
    dates.forEach((d, i) => assert.equal(d, plus(from, i)));
}

(async () => {
    // Three days; one day (still a list); a month's and a year's boundary.
    await loads({ from: "2025-03-14", to: "2025-03-16" }, ["2025-03-14", "2025-03-15", "2025-03-16"]);
    await loads({ from: "2025-03-14", to: "2025-03-14" }, ["2025-03-14"]);
    await loads({ from: "2025-01-30", to: "2025-02-02" }, ["2025-01-30", "2025-01-31", "2025-02-01", "2025-02-02"]);
    await loads({ from: "2025-04-29", to: "2025-05-01" }, ["2025-04-29", "2025-04-30", "2025-05-01"]);
    await loads({ from: "2024-12-30", to: "2025-01-02" }, ["2024-12-30", "2024-12-31", "2025-01-01", "2025-01-02"]);

    // February of a leap year and of a common year.
    await loads({ from: "2024-02-27", to: "2024-03-01" }, ["2024-02-27", "2024-02-28", "2024-02-29", "2024-03-01"]);
    await loads({ from: "2025-02-27", to: "2025-03-01" }, ["2025-02-27", "2025-02-28", "2025-03-01"]);
    await loads({ from: "2000-02-28", to: "2000-03-01" }, ["2000-02-28", "2000-02-29", "2000-03-01"]);
    await loads({ from: "2100-02-28", to: "2100-03-01" }, ["2100-02-28", "2100-03-01"]);

    // Whole years: 365 and 366 days, in order, each once.
    for (const [year, count] of [[2025, 365], [2024, 366]]) {
        const out = await readRangeOf({ from: `${year}-01-01`, to: `${year}-12-31` });
        assert.equal(out.problem, null);
        const days = daysOf(out.chunks, 31, String(year));
        consecutive(days, `${year}-01-01`, count);
        assert.equal(days[count - 1], `${year}-12-31`);
        assert.equal(new Set(days).size, count);
        assert.equal(out.range.days, count);
        // A dozen executions: eleven of 31 days, the last of the rest.
        assert.equal(out.chunks.length, 12);
        assert.equal(out.range.executions, 12);
        assert.deepEqual(out.chunks[0], { from: `${year}-01-01`, through: `${year}-01-31` });
        assert.deepEqual(out.chunks[1], { from: `${year}-02-01`, through: year === 2024 ? "2024-03-02" : "2025-03-03" });
        assert.deepEqual(out.chunks[11], { from: plus(`${year}-01-01`, 341), through: `${year}-12-31` });
        passed += 1;
    }

    // The chunk size: day by day, a week, one chunk for the whole range; and
    // append, one day at a time by default.
    const week = await loads({ from: "2025-03-01", to: "2025-03-10", days_per_execution: 7 },
        ["2025-03-01", "2025-03-02", "2025-03-03", "2025-03-04", "2025-03-05", "2025-03-06", "2025-03-07", "2025-03-08", "2025-03-09", "2025-03-10"],
        { days_per_execution: 7, executions: 2 });
    assert.deepEqual(week.chunks, [{ from: "2025-03-01", through: "2025-03-07" }, { from: "2025-03-08", through: "2025-03-10" }]);
    const daily = await loads({ from: "2025-03-14", to: "2025-03-16", days_per_execution: 1 },
        ["2025-03-14", "2025-03-15", "2025-03-16"], { days_per_execution: 1, executions: 3 });
    assert.deepEqual(daily.chunks.map((c) => c.from), daily.chunks.map((c) => c.through));
    const whole = await loads({ from: "2025-01-01", to: "2025-12-31", days_per_execution: 3000 },
        daysOf([{ from: "2025-01-01", through: "2025-12-31" }], 3000, "year"), { days_per_execution: 3000, executions: 1 });
    assert.deepEqual(whole.chunks, [{ from: "2025-01-01", through: "2025-12-31" }]);
    await loads({ from: "2025-03-14", to: "2025-03-15", dim_mode: "append" }, ["2025-03-14", "2025-03-15"],
        { dim_mode: "append", days_per_execution: 1, executions: 2 });
    await refuses({ from: "2025-03-14", to: "2025-03-15", days_per_execution: 0 }, /^days_per_execution must be a whole number from 1 to 3000, not 0$/);
    await refuses({ from: "2025-03-14", to: "2025-03-15", days_per_execution: 1.5 }, /^days_per_execution must be a whole number/);
    await refuses({ from: "2025-03-14", to: "2025-03-15", days_per_execution: "7" }, /^days_per_execution must be a whole number from 1 to 3000, not 7$/);
    await refuses({ from: "2025-03-14", to: "2025-03-15", days_per_execution: 3001 }, /^days_per_execution must be a whole number/);
    await refuses({ from: "2025-03-14", to: "2025-03-15", dim_mode: "append", days_per_execution: 7 }, /^append keeps the first version of each key, so it loads one day per execution: days_per_execution must be 1, not 7$/);

    // The longest range loads; one day more is refused.
    const last = plus("2015-01-01", MAX_DAYS - 1);
    const longest = await readRangeOf({ from: "2015-01-01", to: last, days_per_execution: 1 });
    assert.equal(longest.problem, null);
    consecutive(daysOf(longest.chunks, 1, "longest"), "2015-01-01", MAX_DAYS);
    passed += 1;
    await refuses({ from: "2015-01-01", to: plus(last, 1) }, new RegExp(`has ${MAX_DAYS + 1} days; a backfill loads at most ${MAX_DAYS}`));

    // The options, and the parent's id that a nested start adds.
    await loads(
        { from: "2025-03-14", to: "2025-03-15", dim_mode: "append", strict: true },
        ["2025-03-14", "2025-03-15"],
        { dim_mode: "append", strict: true, days_per_execution: 1, executions: 2 },
    );
    await loads(
        { from: "2025-03-14", to: "2025-03-14", dim_mode: "truncate-insert", strict: false },
        ["2025-03-14"],
        { dim_mode: "truncate-insert" },
    );
    await loads(
        { from: "2025-03-14", to: "2025-03-16", rerun_later_days: false },
        ["2025-03-14", "2025-03-15", "2025-03-16"],
        { rerun_later_days: false },
    );
    await loads(
        { from: "2025-03-14", to: "2025-03-14", AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID: "arn:aws:states:us-east-1:123456789012:execution:x:y" },
        ["2025-03-14"],
    );

    // Refused: the range backwards, dates that are not days, bad options.
    await refuses({ from: "2025-12-31", to: "2025-01-01" }, /^from \(2025-12-31\) is after to \(2025-01-01\)$/);
    await refuses({ from: "2025-03-15", to: "2025-03-14" }, /is after/);
    await refuses({ from: "2025-02-29", to: "2025-03-14" }, /^from must be a date YYYY-MM-DD, not 2025-02-29$/);
    await refuses({ from: "2025-01-01", to: "2025-04-31" }, /^to must be a date YYYY-MM-DD, not 2025-04-31$/);
    await refuses({ from: "2025-13-01", to: "2025-12-31" }, /^from must be a date/);
    await refuses({ from: "2025-01-00", to: "2025-01-31" }, /^from must be a date/);
    await refuses({ from: "2025-3-14", to: "2025-03-15" }, /^from must be a date/);
    await refuses({ from: "2025-03-14T00:00:00Z", to: "2025-03-15" }, /^from must be a date/);
    await refuses({ from: 20250314, to: "2025-03-15" }, /^from must be a date YYYY-MM-DD, not 20250314$/);
    await refuses({ to: "2025-03-15" }, /^from must be a date YYYY-MM-DD, not missing$/);
    await refuses({ from: "2025-03-14" }, /^to must be a date YYYY-MM-DD, not missing$/);
    await refuses({}, /^from must be a date/);
    await refuses({ from: "2025-03-14", to: "2025-03-15", dim_mode: "upsert" }, /^dim_mode must be one of merge, append, truncate-insert, not upsert$/);
    await refuses({ from: "2025-03-14", to: "2025-03-15", dim_mode: null }, /^dim_mode must be one of/);
    await refuses({ from: "2025-03-14", to: "2025-03-15", strict: "yes" }, /^strict must be true or false, not yes$/);
    await refuses({ from: "2025-03-14", to: "2025-03-15", rerun_later_days: "no" }, /^rerun_later_days must be true or false, not no$/);
    await refuses({ from: "2025-03-14", to: "2025-03-15", form: "2025-03-01" }, /^unknown input field\(s\): form;/);
    await refuses({ logical_date: "2025-03-14" }, /^unknown input field\(s\): logical_date;/);

    console.log(`  backfill JSONata (jsonata ${version}): ${passed} inputs as expected`);
})().catch((e) => {
    console.error(e);
    process.exit(1);
});
