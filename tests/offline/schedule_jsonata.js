// Evaluates the daily state machine's one JSONata state (LogicalDateFromSchedule
// in statemachine/pipeline.asl.json) with the jsonata package Step Functions
// implements (pinned in package.json), on the same scheduled times as the
// interpreter's own tests (crates/asl/src/jsonata.rs): both must give the day
// before. Run by validate.sh:
//
//   NODE_PATH=<tools>/node/node_modules node tests/offline/schedule_jsonata.js statemachine/pipeline.asl.json
"use strict";

const assert = require("node:assert/strict");
const fs = require("node:fs");
const jsonata = require("jsonata");

const definition = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const state = definition.States.LogicalDateFromSchedule;
assert.equal(state.QueryLanguage, "JSONata");

async function output(template, states) {
    if (typeof template === "string") {
        const m = template.match(/^\{%([\s\S]*)%\}$/);
        return m ? jsonata(m[1]).evaluate({}, { states }) : template;
    }
    if (Array.isArray(template)) {
        return Promise.all(template.map((t) => output(t, states)));
    }
    if (template && typeof template === "object") {
        const out = {};
        for (const [k, v] of Object.entries(template)) {
            out[k] = await output(v, states);
        }
        return out;
    }
    return template;
}

(async () => {
    const cases = [
        ["2025-03-01T02:00:00Z", "2025-02-28"],
        ["2024-03-01T00:00:00Z", "2024-02-29"],
        ["2026-01-01T00:15:00Z", "2025-12-31"],
        ["2025-06-15T23:59:59Z", "2025-06-14"],
        ["2025-06-15T01:00:00+02:00", "2025-06-13"],
        ["2025-03-15T02:00:00Z", "2025-03-14"],
    ];
    for (const [t, day] of cases) {
        const out = await output(state.Output, { input: { scheduled_time: t }, context: {} });
        assert.deepEqual(
            out,
            { logical_date: day, scheduled_time: t, dim_mode: "merge", strict: false },
            t,
        );
    }
    console.log(`  schedule JSONata (jsonata ${require("jsonata/package.json").version}): ${cases.length} scheduled times as expected`);
})().catch((e) => {
    console.error(e);
    process.exit(1);
});
