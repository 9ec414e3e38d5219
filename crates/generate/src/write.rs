//! Formatting the records as the contract's JSON Lines and cutting them into
//! day folders and part files.

use crate::calendar::{Calendar, SECONDS_PER_DAY};
use crate::json::{
    push_i64, push_json_string, push_tenths, push_timestamp, push_u64, push_u64_padded,
};
use crate::model::{dirty, Address, Patient, Test, ACTIVE, ALCO, CARDIO, NO_UPDATE, SMOKE};
use crate::world::{World, CITIES, FEMALE_FIRST, HOUSE_NAMES, LAST, MALE_FIRST, STREETS};
use crate::{GenerateError, Progress, Sink, Summary};

/// How a malformed line is broken.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mutation {
    None,
    /// Cut at this fraction of the line, in thousandths (250..750).
    Truncate(u32),
    /// The field with this index has a value of the wrong type.
    WrongType(usize),
    /// The field with this index is left out.
    Missing(usize),
}

/// The fields of a test line, in the contract's order.
pub(crate) const TEST_FIELDS: [&str; 17] = [
    "test_id",
    "patient_id",
    "doc_id",
    "doc_name",
    "clinic",
    "lab_id",
    "lab_name",
    "city",
    "ts",
    "ap_hi",
    "ap_lo",
    "cholesterol",
    "gluc",
    "smoke",
    "alco",
    "active",
    "cardio",
];

/// Writes one JSON object field by field, applying a mutation.
struct Fields<'a> {
    out: &'a mut Vec<u8>,
    mutation: Mutation,
    index: usize,
    first: bool,
}

impl<'a> Fields<'a> {
    fn new(out: &'a mut Vec<u8>, mutation: Mutation) -> Self {
        out.push(b'{');
        Fields {
            out,
            mutation,
            index: 0,
            first: true,
        }
    }

    /// The next field: `write(out, wrong_type)` writes its value.
    #[inline]
    fn field(&mut self, name: &str, write: impl FnOnce(&mut Vec<u8>, bool)) {
        let i = self.index;
        debug_assert_eq!(name, TEST_FIELDS[i]);
        self.index += 1;
        if self.mutation == Mutation::Missing(i) {
            return;
        }
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
        write(self.out, self.mutation == Mutation::WrongType(i));
    }

    fn int(&mut self, name: &str, v: i64) {
        self.field(name, |o, wrong| {
            if wrong {
                o.push(b'"');
                push_i64(o, v);
                o.push(b'"');
            } else {
                push_i64(o, v);
            }
        });
    }

    fn flag(&mut self, name: &str, v: bool) {
        self.field(name, |o, wrong| match (wrong, v) {
            (false, v) => o.push(if v { b'1' } else { b'0' }),
            (true, true) => o.extend_from_slice(b"true"),
            (true, false) => o.extend_from_slice(b"false"),
        });
    }

    fn text(&mut self, name: &str, json: &[u8]) {
        self.field(name, |o, wrong| {
            o.extend_from_slice(if wrong { b"null" } else { json })
        });
    }

    fn end(self) {
        self.out.extend_from_slice(b"}\n");
    }
}

fn push_test(
    out: &mut Vec<u8>,
    t: &Test,
    number: u64,
    world: &World,
    cal: &Calendar,
    mutation: Mutation,
) {
    let doctor = &world.doctors[usize::from(t.doctor)];
    let lab = &world.labs[usize::from(t.lab)];
    let mut f = Fields::new(out, mutation);
    f.field("test_id", |o, wrong| {
        if wrong {
            push_u64(o, number);
        } else {
            o.extend_from_slice(b"\"bt-");
            push_u64_padded(o, number, 8);
            o.push(b'"');
        }
    });
    f.int("patient_id", i64::from(t.patient));
    f.int("doc_id", doctor.id as i64);
    f.text("doc_name", &doctor.name_json);
    f.text("clinic", &doctor.clinic_json);
    f.int("lab_id", lab.id as i64);
    f.text("lab_name", &lab.name_json);
    f.text("city", &lab.city_json);
    f.field("ts", |o, wrong| {
        if wrong {
            push_i64(o, cal.epoch + i64::from(t.ts));
        } else {
            push_timestamp(
                o,
                &cal.dates[(t.ts / SECONDS_PER_DAY) as usize],
                t.ts % SECONDS_PER_DAY,
            );
        }
    });
    f.int("ap_hi", i64::from(t.ap_hi));
    f.int("ap_lo", i64::from(t.ap_lo));
    f.int("cholesterol", i64::from(t.chol));
    f.int("gluc", i64::from(t.gluc));
    f.flag("smoke", t.flags & SMOKE != 0);
    f.flag("alco", t.flags & ALCO != 0);
    f.flag("active", t.flags & ACTIVE != 0);
    f.flag("cardio", t.flags & CARDIO != 0);
    f.end();
}

/// A test's line as delivered, malformed or not, appended to `out`.
fn push_test_line(
    out: &mut Vec<u8>,
    t: &Test,
    number: u64,
    world: &World,
    cal: &Calendar,
    mutation: Mutation,
) {
    match mutation {
        Mutation::Truncate(thousandths) => {
            let start = out.len();
            push_test(out, t, number, world, cal, Mutation::None);
            let len = out.len() - start - 1;
            let mut cut = start + len * thousandths as usize / 1000;
            // On a character boundary: the file stays UTF-8.
            while out[cut] & 0xC0 == 0x80 {
                cut -= 1;
            }
            out.truncate(cut);
            out.push(b'\n');
        }
        m => push_test(out, t, number, world, cal, m),
    }
}

fn push_address(out: &mut Vec<u8>, scratch: &mut String, a: &Address) {
    use std::fmt::Write;
    scratch.clear();
    if a.flat > 0 {
        let _ = write!(scratch, "Flat {}, ", a.flat);
    }
    let street = STREETS[usize::from(a.street)];
    if a.house_name > 0 {
        let _ = write!(
            scratch,
            "\"{}\", {street}",
            HOUSE_NAMES[usize::from(a.house_name - 1)]
        );
    } else {
        let _ = write!(scratch, "{} {street}", a.number);
    }
    let city = &CITIES[usize::from(a.city)];
    let _ = write!(
        scratch,
        ", {}, {} {}{}{}",
        city.name,
        city.outward[usize::from(a.outward)],
        a.inward_digit,
        char::from(a.inward_letters[0]),
        char::from(a.inward_letters[1])
    );
    push_json_string(out, scratch);
}

fn push_patient(
    out: &mut Vec<u8>,
    scratch: &mut String,
    id: u32,
    p: &Patient,
    update: bool,
    cal: &Calendar,
) {
    let (at, weight, address) = if update {
        (p.update, p.update_weight_tenths, &p.update_address)
    } else {
        (p.record_at, p.weight_tenths, &p.address)
    };
    out.extend_from_slice(b"{\"patient_id\":");
    push_u64(out, u64::from(id));
    out.extend_from_slice(b",\"first_name\":");
    let first = if p.female { FEMALE_FIRST } else { MALE_FIRST };
    push_json_string(out, first[usize::from(p.first)]);
    out.extend_from_slice(b",\"last_name\":");
    push_json_string(out, LAST[usize::from(p.last)]);
    out.extend_from_slice(if p.female {
        b",\"sex\":\"F\",\"age\":"
    } else {
        b",\"sex\":\"M\",\"age\":"
    });
    push_u64(out, u64::from(p.age));
    out.extend_from_slice(b",\"height\":");
    push_u64(out, u64::from(p.height));
    out.extend_from_slice(b",\"weight\":");
    push_tenths(out, u32::from(weight));
    out.extend_from_slice(b",\"address\":");
    push_address(out, scratch, address);
    out.extend_from_slice(b",\"registered_at\":");
    push_timestamp(
        out,
        &cal.dates[(at / SECONDS_PER_DAY) as usize],
        at % SECONDS_PER_DAY,
    );
    out.extend_from_slice(b"}\n");
}

/// The sink, the progress callback and the running totals.
struct Out<'a> {
    sink: &'a mut dyn Sink,
    progress: &'a mut dyn FnMut(Progress),
    done: u64,
    total: u64,
    next_report: u64,
    step: u64,
}

impl Out<'_> {
    fn file(&mut self, path: String, contents: &[u8], lines: u64) -> Result<(), GenerateError> {
        self.sink
            .write_file(&path, contents)
            .map_err(|source| GenerateError::Io { path, source })?;
        self.done += lines;
        if self.done >= self.next_report && self.done < self.total {
            (self.progress)(Progress {
                done: self.done,
                total: self.total,
            });
            self.next_report = self.done + self.step;
        }
        Ok(())
    }
}

fn part_path(source: &str, cal: &Calendar, day: u32, part: usize) -> String {
    format!("{source}/{}/part-{part:05}.json", cal.folder(day))
}

/// Write every file, in sorted path order: `log_data/` then `patient_data/`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_all(
    patients: &[Patient],
    tests: &[Test],
    day_starts: &[usize],
    cal: &Calendar,
    world: &World,
    part_lines: usize,
    sink: &mut dyn Sink,
    progress: &mut dyn FnMut(Progress),
) -> Result<Summary, GenerateError> {
    let mut summary = Summary::default();
    let updates = patients.iter().filter(|p| p.update != NO_UPDATE).count() as u64;
    let duplicates = tests.iter().filter(|t| t.dirty == dirty::DUPLICATE).count() as u64;
    summary.patient_updates = updates;
    summary.late_patient_records = patients
        .iter()
        .filter(|p| p.record_at != p.registered)
        .count() as u64;
    summary.patient_records = patients.len() as u64 + updates;
    summary.test_lines = tests.len() as u64 + duplicates;
    summary.dirty_duplicates = duplicates;
    let total = summary.patient_records + summary.test_lines;
    let mut out = Out {
        sink,
        progress,
        done: 0,
        total,
        next_report: 0,
        step: (total / 200).max(1),
    };
    (out.progress)(Progress { done: 0, total });

    let mut buf: Vec<u8> = Vec::with_capacity(part_lines.min(1 << 16) * 320);
    let mut again: Vec<u8> = Vec::new();
    let mut again_ends: Vec<usize> = Vec::new();
    let mut malformed_seen = 0u64;
    for day in 0..cal.days() {
        let day_tests = &tests[day_starts[day as usize]..day_starts[day as usize + 1]];
        if day_tests.is_empty() {
            continue;
        }
        summary.days_with_tests += 1;
        let first_number = day_starts[day as usize] as u64 + 1;
        again.clear();
        again_ends.clear();
        let chunks = day_tests.len().div_ceil(part_lines);
        let mut part = 0;
        for (c, chunk) in day_tests.chunks(part_lines).enumerate() {
            buf.clear();
            for (i, t) in chunk.iter().enumerate() {
                let number = first_number + (c * part_lines + i) as u64;
                let mutation = if t.malformed {
                    malformed_seen += 1;
                    match malformed_seen % 3 {
                        1 => Mutation::Truncate(250 + t.selector % 500),
                        2 => Mutation::WrongType((t.selector % 17) as usize),
                        _ => Mutation::Missing((t.selector % 17) as usize),
                    }
                } else {
                    Mutation::None
                };
                let start = buf.len();
                push_test_line(&mut buf, t, number, world, cal, mutation);
                match (mutation, t.dirty) {
                    (Mutation::None, dirty::IMPLAUSIBLE_PRESSURE) => {
                        summary.dirty_implausible_pressure += 1
                    }
                    (Mutation::None, dirty::SYSTOLIC_BELOW_DIASTOLIC) => {
                        summary.dirty_systolic_below_diastolic += 1
                    }
                    (Mutation::None, dirty::UNKNOWN_PATIENT) => summary.dirty_unknown_patient += 1,
                    (Mutation::None, dirty::DUPLICATE) => {
                        again.extend_from_slice(&buf[start..]);
                        again_ends.push(again.len());
                    }
                    (Mutation::None, _) => {}
                    _ => summary.malformed_lines += 1,
                }
            }
            let mut lines = chunk.len();
            // The re-deliveries follow the day's regular lines: in its last
            // part when the day has several, else in a part of their own.
            if c + 1 == chunks && chunks > 1 {
                let room = (part_lines - lines).min(again_ends.len());
                if room > 0 {
                    buf.extend_from_slice(&again[..again_ends[room - 1]]);
                    again.drain(..again_ends[room - 1]);
                    let cut = again_ends[room - 1];
                    again_ends.drain(..room);
                    again_ends.iter_mut().for_each(|e| *e -= cut);
                    lines += room;
                }
            }
            out.file(part_path("log_data", cal, day, part), &buf, lines as u64)?;
            summary.test_files += 1;
            part += 1;
        }
        let mut from = 0;
        for ends in again_ends.chunks(part_lines) {
            let to = ends[ends.len() - 1];
            out.file(
                part_path("log_data", cal, day, part),
                &again[from..to],
                ends.len() as u64,
            )?;
            summary.test_files += 1;
            part += 1;
            from = to;
        }
    }

    // Patient records: registrations and updates, by time then id.
    let mut events: Vec<(u32, u32, bool)> = Vec::with_capacity(summary.patient_records as usize);
    for (i, p) in patients.iter().enumerate() {
        events.push((p.record_at, i as u32, false));
        if p.update != NO_UPDATE {
            events.push((p.update, i as u32, true));
        }
    }
    events.sort_unstable();
    let mut scratch = String::with_capacity(128);
    let mut start = 0;
    while start < events.len() {
        let day = events[start].0 / SECONDS_PER_DAY;
        let end = start + events[start..].partition_point(|e| e.0 / SECONDS_PER_DAY == day);
        for (part, chunk) in events[start..end].chunks(part_lines).enumerate() {
            buf.clear();
            for &(_, i, update) in chunk {
                push_patient(
                    &mut buf,
                    &mut scratch,
                    i + 1,
                    &patients[i as usize],
                    update,
                    cal,
                );
            }
            out.file(
                part_path("patient_data", cal, day, part),
                &buf,
                chunk.len() as u64,
            )?;
            summary.patient_files += 1;
        }
        start = end;
    }
    (out.progress)(Progress {
        done: out.done,
        total,
    });
    Ok(summary)
}
