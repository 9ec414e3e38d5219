//! The simulation: patients with a baseline, and their blood tests.

use crate::calendar::{Calendar, SECONDS_PER_DAY};
use crate::rng::{Rng, Tag};
use crate::world::{
    World, CITIES, FEMALE_FIRST, HOUSE_NAMES, LAST, MALE_FIRST, POSTCODE_LETTERS, STREETS,
};
use crate::Options;

/// `Patient::update` of a patient with no update record.
pub(crate) const NO_UPDATE: u32 = u32::MAX;

/// Relative activity of a weekday, Monday first: clinics are quieter at the
/// weekend.
const REGISTRATION_WEEKDAY: [f64; 7] = [1.0, 1.0, 1.0, 1.0, 0.9, 0.3, 0.1];
const TEST_WEEKDAY: [f64; 7] = [1.0, 1.0, 1.0, 1.0, 0.95, 0.4, 0.12];

/// One line of an address, in parts; written out by `write::push_address`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Address {
    /// 0 = no flat number.
    pub flat: u8,
    /// 0 = none, else index + 1 into `HOUSE_NAMES`.
    pub house_name: u8,
    pub number: u16,
    pub street: u8,
    pub city: u8,
    pub outward: u8,
    pub inward_digit: u8,
    pub inward_letters: [u8; 2],
}

pub(crate) struct Patient {
    /// Seconds since the year's first midnight.
    pub registered: u32,
    /// When the registration record was written: `registered`, or later for
    /// a record delivered late (`Options::late_patient_rate`).
    pub record_at: u32,
    /// Seconds since the year's first midnight, or `NO_UPDATE`.
    pub update: u32,
    pub female: bool,
    pub age: u8,
    pub height: u16,
    pub weight_tenths: u16,
    pub update_weight_tenths: u16,
    pub first: u16,
    pub last: u16,
    pub address: Address,
    pub update_address: Address,
    // The baseline that tests repeat with small variation.
    sys: f32,
    dia: f32,
    chol: u8,
    gluc: u8,
    smoke: bool,
    alco: bool,
    active: bool,
    cardio: bool,
    doctor: u8,
    lab: u8,
    /// Relative number of tests per day of the patient's year.
    activity: f32,
}

/// Dirty kinds of a test, as stored in `Test::dirty`.
pub(crate) mod dirty {
    pub const CLEAN: u8 = 0;
    pub const IMPLAUSIBLE_PRESSURE: u8 = 1;
    pub const SYSTOLIC_BELOW_DIASTOLIC: u8 = 2;
    pub const DUPLICATE: u8 = 3;
    pub const UNKNOWN_PATIENT: u8 = 4;
}

pub(crate) const SMOKE: u8 = 1;
pub(crate) const ALCO: u8 = 2;
pub(crate) const ACTIVE: u8 = 4;
pub(crate) const CARDIO: u8 = 8;

/// One blood test, compact.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Test {
    /// Seconds since the year's first midnight.
    pub ts: u32,
    /// Generation index: the tie-break of tests at the same second.
    pub index: u32,
    pub patient: u32,
    pub ap_hi: i16,
    pub ap_lo: i16,
    pub doctor: u8,
    pub lab: u8,
    pub chol: u8,
    pub gluc: u8,
    /// `SMOKE | ALCO | ACTIVE | CARDIO`.
    pub flags: u8,
    /// One of `dirty::*`.
    pub dirty: u8,
    /// Whether the line is replaced by a malformed one.
    pub malformed: bool,
    /// Random bits choosing how a malformed line is broken.
    pub selector: u32,
}

/// A day from `draw`, redrawn (a few times at most) by the weekday's
/// activity.
fn pick_day(
    rng: &mut Rng,
    cal: &Calendar,
    weights: &[f64; 7],
    mut draw: impl FnMut(&mut Rng) -> u32,
) -> u32 {
    let mut day = draw(rng);
    for _ in 0..7 {
        if rng.chance(weights[cal.weekday(day) as usize]) {
            break;
        }
        day = draw(rng);
    }
    day
}

/// A time of day in clinic hours, in seconds since midnight.
fn clinic_time(rng: &mut Rng, weekday: u32) -> u32 {
    let (open, close) = match weekday {
        5 => (8 * 3600, 13 * 3600),
        6 => (9 * 3600, 12 * 3600),
        _ => (7 * 3600 + 30 * 60, 18 * 3600 + 30 * 60),
    };
    rng.range(open, close - 1) as u32
}

fn registration(seed: u64, index: u64, cal: &Calendar) -> u32 {
    let mut rng = Rng::stream(seed, Tag::Registration, index);
    let days = cal.days();
    // The minimum of three uniforms: most registrations early in the year.
    let day = pick_day(&mut rng, cal, &REGISTRATION_WEEKDAY, |r| {
        let u = r.f64().min(r.f64()).min(r.f64());
        ((u * f64::from(days)) as u32).min(days - 1)
    });
    day * SECONDS_PER_DAY + clinic_time(&mut rng, cal.weekday(day))
}

fn cholesterol(rng: &mut Rng, age: u8) -> u8 {
    let a = f64::from(age) - 53.0;
    let p3 = 0.11 + 0.006 * a;
    let p2 = 0.14 + 0.002 * a;
    let u = rng.f64();
    if u < p3 {
        3
    } else if u < p3 + p2 {
        2
    } else {
        1
    }
}

fn glucose(rng: &mut Rng, chol: u8) -> u8 {
    let (p1, p2) = match chol {
        1 => (0.92, 0.04),
        2 => (0.70, 0.20),
        _ => (0.58, 0.10),
    };
    let u = rng.f64();
    if u < p1 {
        1
    } else if u < p1 + p2 {
        2
    } else {
        3
    }
}

fn smoke_p(female: bool) -> f64 {
    if female {
        0.018
    } else {
        0.22
    }
}

fn alco_p(female: bool) -> f64 {
    if female {
        0.025
    } else {
        0.105
    }
}

fn random_address(rng: &mut Rng, city: usize) -> Address {
    let c = &CITIES[city];
    let flat = if rng.chance(0.2) {
        rng.range(1, 40) as u8
    } else {
        0
    };
    let house_name = if flat == 0 && rng.chance(0.01) {
        rng.index(HOUSE_NAMES.len()) as u8 + 1
    } else {
        0
    };
    // House numbers: mostly small.
    let number = (1.0 + 240.0 * rng.f64() * rng.f64()) as u16;
    Address {
        flat,
        house_name,
        number,
        street: rng.index(STREETS.len()) as u8,
        city: city as u8,
        outward: rng.index(c.outward.len()) as u8,
        inward_digit: rng.below(10) as u8,
        inward_letters: [
            POSTCODE_LETTERS[rng.index(POSTCODE_LETTERS.len())],
            POSTCODE_LETTERS[rng.index(POSTCODE_LETTERS.len())],
        ],
    }
}

fn patient(seed: u64, id: u32, registered: u32, cal: &Calendar, world: &World) -> Patient {
    let mut rng = Rng::stream(seed, Tag::Patient, u64::from(id));
    let days = cal.days();
    let female = rng.chance(0.65);
    let age: u8 = if rng.chance(0.004) {
        rng.range(29, 38) as u8
    } else {
        loop {
            let a = (55.0 + 9.0 * rng.normal()).round();
            if (39.0..=64.0).contains(&a) {
                break a as u8;
            }
        }
    };
    let height: u16 = loop {
        let h = if female {
            161.4 + 6.6 * rng.normal()
        } else {
            170.0 + 7.2 * rng.normal()
        };
        let h = h.round();
        if (140.0..=200.0).contains(&h) {
            break h as u16;
        }
    };
    let z = rng.normal();
    let bmi = if female { 27.9 } else { 26.7 } + 4.6 * z + 0.7 * (z * z - 1.0);
    let bmi = bmi.clamp(16.5, 55.0);
    let m = f64::from(height) / 100.0;
    let weight = (bmi * m * m).clamp(40.0, 180.0);
    let weight_tenths = (weight * 10.0).round() as u16;
    let chol = cholesterol(&mut rng, age);
    let gluc = glucose(&mut rng, chol);
    let smoke = rng.chance(smoke_p(female));
    let alco = rng.chance(alco_p(female));
    let active = rng.chance(0.8);
    let risk = 0.07 * (f64::from(age) - 53.0)
        + match chol {
            1 => 0.0,
            2 => 0.4,
            _ => 0.85,
        }
        + if gluc > 1 { 0.25 } else { 0.0 }
        + 0.05 * (bmi - 27.0)
        - if active { 0.12 } else { 0.0 }
        + rng.normal();
    let cardio = risk > 0.15;
    let sys = 116.0
        + 0.35 * (f64::from(age) - 53.0)
        + 0.7 * (bmi - 27.0)
        + if cardio { 15.0 } else { 0.0 }
        + 9.0 * rng.normal();
    let dia = 77.0 + 0.45 * (sys - 120.0) + 5.0 * rng.normal();
    let clinic = rng.pick_cumulative(&world.clinic_weights);
    let members = &world.clinics[clinic].doctors;
    let doctor = members[rng.index(members.len())];
    let city = world.clinics[clinic].city;
    let labs = &world.labs_by_city[city];
    let lab = labs[rng.index(labs.len())];
    let home = if rng.chance(0.92) {
        city
    } else {
        rng.index(CITIES.len())
    };
    let first = if female {
        rng.index(FEMALE_FIRST.len())
    } else {
        rng.index(MALE_FIRST.len())
    } as u16;
    let last = rng.index(LAST.len()) as u16;
    let address = random_address(&mut rng, home);
    let u = rng.f64();
    let activity = (0.2 + 2.5 * u * u * u) as f32;
    // About one patient in ten is updated later: a new weight, sometimes a
    // new address.
    let reg_day = registered / SECONDS_PER_DAY;
    let wants_update = rng.chance(0.1);
    let mut update = NO_UPDATE;
    let mut update_weight_tenths = weight_tenths;
    let mut update_address = address;
    let moves = rng.chance(0.3);
    let new_address = random_address(&mut rng, home);
    let weight_change = 20.0 * rng.normal();
    if wants_update && reg_day + 1 < days {
        let day = pick_day(&mut rng, cal, &REGISTRATION_WEEKDAY, |r| {
            reg_day + 1 + r.below(u64::from(days - reg_day - 1)) as u32
        });
        update = day * SECONDS_PER_DAY + clinic_time(&mut rng, cal.weekday(day));
        update_weight_tenths = (f64::from(weight_tenths) + weight_change)
            .round()
            .clamp(400.0, 1800.0) as u16;
        if moves {
            update_address = new_address;
        }
    }
    Patient {
        registered,
        record_at: registered,
        update,
        female,
        age,
        height,
        weight_tenths,
        update_weight_tenths,
        first,
        last,
        address,
        update_address,
        sys: sys as f32,
        dia: dia as f32,
        chol,
        gluc,
        smoke,
        alco,
        active,
        cardio,
        doctor: doctor as u8,
        lab: lab as u8,
        activity,
    }
}

/// Every patient, `patients[i]` having id `i + 1`; ids follow the order of
/// registration.
pub(crate) fn patients(opts: &Options, cal: &Calendar, world: &World) -> Vec<Patient> {
    let n = opts.patients;
    let mut registered: Vec<(u32, u32)> = (0..n)
        .map(|i| (registration(opts.seed, u64::from(i), cal), i))
        .collect();
    registered.sort_unstable();
    registered
        .iter()
        .enumerate()
        .map(|(i, &(at, _))| {
            let mut p = patient(opts.seed, i as u32 + 1, at, cal, world);
            p.record_at = late_record(opts, i as u32 + 1, &p, cal);
            p
        })
        .collect()
}

/// When a patient's registration record is written: late (1 to 10 days after
/// it registered, at the same time of day) for a share of the patients with
/// no update whose late day is still in the year, else when it registered.
/// Its own random stream, so a rate of 0 leaves every other value as it was.
fn late_record(opts: &Options, id: u32, p: &Patient, cal: &Calendar) -> u32 {
    if opts.late_patient_rate <= 0.0 || p.update != NO_UPDATE {
        return p.registered;
    }
    let mut rng = Rng::stream(opts.seed, Tag::LatePatient, u64::from(id));
    if !rng.chance(opts.late_patient_rate) {
        return p.registered;
    }
    let delay = 1 + rng.below(10) as u32;
    let day = p.registered / SECONDS_PER_DAY + delay;
    if day >= cal.days() {
        return p.registered;
    }
    p.registered + delay * SECONDS_PER_DAY
}

/// Round a reading as the record shows it: mostly to the nearest 10 mmHg.
fn reading(x: f64, to_ten: bool) -> f64 {
    if to_ten {
        (x / 10.0).round() * 10.0
    } else {
        x.round()
    }
}

fn test(
    opts: &Options,
    index: u32,
    patient_id: u32,
    p: &Patient,
    cal: &Calendar,
    world: &World,
) -> Test {
    let mut rng = Rng::stream(opts.seed, Tag::Test, u64::from(index));
    let days = cal.days();
    let reg_day = p.registered / SECONDS_PER_DAY;
    // Half of the tests cluster in the weeks after registration (the earlier
    // of two uniform draws over the days left), the rest spread evenly.
    let left = days - reg_day;
    let day = pick_day(&mut rng, cal, &TEST_WEEKDAY, |r| {
        let (a, b, c) = (r.f64(), r.f64(), r.f64());
        let u = if c < 0.5 { a.min(b) } else { a };
        reg_day + ((u * f64::from(left)) as u32).min(left - 1)
    });
    let after_registration = (p.registered % SECONDS_PER_DAY) + rng.range(300, 3 * 3600) as u32;
    let clinic_hours = clinic_time(&mut rng, cal.weekday(day));
    let second = if day == reg_day {
        after_registration.min(SECONDS_PER_DAY - 1)
    } else {
        clinic_hours
    };

    let usual = usize::from(p.doctor);
    let clinic = world.doctors[usual].clinic;
    let doctor = if rng.chance(0.85) {
        usual
    } else if rng.chance(0.6) {
        let members = &world.clinics[clinic].doctors;
        members[rng.index(members.len())]
    } else {
        rng.index(world.doctors.len())
    };
    let usual_lab = usize::from(p.lab);
    let lab = if rng.chance(0.85) {
        usual_lab
    } else if rng.chance(0.7) {
        let labs = &world.labs_by_city[world.labs[usual_lab].city];
        labs[rng.index(labs.len())]
    } else {
        rng.index(world.labs.len())
    };

    let sys = f64::from(p.sys);
    let hi = sys + 7.0 * rng.normal();
    let lo = f64::from(p.dia) + 0.4 * (hi - sys) + 4.0 * rng.normal();
    let to_ten = rng.chance(0.85);
    // A normal reading is often written down as the textbook 120/80.
    let textbook = rng.chance(0.35);
    let (hi, lo) = if textbook && (hi - 120.0).abs() <= 12.0 && (lo - 80.0).abs() <= 8.0 {
        (120.0, 80.0)
    } else {
        (hi, lo)
    };
    let hi = reading(hi, to_ten).clamp(85.0, 220.0) as i16;
    let lo = (reading(lo, to_ten).clamp(45.0, 130.0) as i16).min(hi - 20);

    let chol_redraw = cholesterol(&mut rng, p.age);
    let chol = if rng.chance(0.92) {
        p.chol
    } else {
        chol_redraw
    };
    let gluc_redraw = glucose(&mut rng, p.chol);
    let gluc = if rng.chance(0.94) {
        p.gluc
    } else {
        gluc_redraw
    };
    let mut flag = |base: bool, keep: f64, p1: f64| {
        if rng.chance(keep) {
            base
        } else {
            rng.chance(p1)
        }
    };
    let smoke = flag(p.smoke, 0.97, smoke_p(p.female));
    let alco = flag(p.alco, 0.97, alco_p(p.female));
    let active = flag(p.active, 0.92, 0.8);
    let cardio = flag(p.cardio, 0.98, 0.5);
    let flags = (u8::from(smoke) * SMOKE)
        | (u8::from(alco) * ALCO)
        | (u8::from(active) * ACTIVE)
        | (u8::from(cardio) * CARDIO);

    // Dirt and damage: always the same draws, so the rates change only the
    // records they hit.
    let u = rng.f64();
    let how = rng.next_u64();
    let malformed = rng.chance(opts.malformed_rate);
    let selector = rng.next_u64() as u32;
    let mut t = Test {
        ts: day * SECONDS_PER_DAY + second,
        index,
        patient: patient_id,
        ap_hi: hi,
        ap_lo: lo,
        doctor: doctor as u8,
        lab: lab as u8,
        chol,
        gluc,
        flags,
        dirty: dirty::CLEAN,
        malformed,
        selector,
    };
    if u < opts.dirty_rate {
        t.dirty = 1 + ((u / opts.dirty_rate * 4.0) as u8).min(3);
        match t.dirty {
            dirty::IMPLAUSIBLE_PRESSURE => {
                let (h, l) = (hi, lo);
                (t.ap_hi, t.ap_lo) = match how % 6 {
                    0 => (-h, l),
                    1 => (h, -l),
                    2 => (h * 10, l),
                    3 => (h, l * 10),
                    4 => (h / 10, l),
                    _ => (h, l / 10),
                };
            }
            dirty::SYSTOLIC_BELOW_DIASTOLIC => {
                // Transposed: diastolic written as systolic.
                t.ap_hi = lo.max(60);
                t.ap_lo = hi.min(200);
            }
            dirty::UNKNOWN_PATIENT => {
                let spread = u64::from((opts.patients / 20).max(10));
                t.patient = opts.patients + 1 + (how % spread) as u32;
            }
            _ => {}
        }
    }
    // Both copies of a duplicate are the same valid line.
    if t.dirty == dirty::DUPLICATE {
        t.malformed = false;
    }
    t
}

/// Every test, in delivery order: by day, then time, then generation index.
/// Also returns, per day, the range of `tests` taken on that day.
pub(crate) fn tests(
    opts: &Options,
    patients: &[Patient],
    cal: &Calendar,
    world: &World,
) -> (Vec<Test>, Vec<usize>) {
    let n = opts.tests as usize;
    let days = cal.days();
    let mut out = Vec::with_capacity(n);
    if n > 0 {
        // Systematic sampling over each patient's activity times the days left
        // in the year after registration: every patient's expected share, with
        // exactly `tests` in all.
        let mut cumulative = Vec::with_capacity(patients.len());
        let mut total = 0.0f64;
        for p in patients {
            let left = days - p.registered / SECONDS_PER_DAY;
            total += f64::from(p.activity) * f64::from(left);
            cumulative.push(total);
        }
        let step = total / n as f64;
        let offset = Rng::stream(opts.seed, Tag::Allocation, 0).f64();
        let mut i = 0usize;
        for k in 0..n {
            let at = (k as f64 + offset) * step;
            while i + 1 < patients.len() && at >= cumulative[i] {
                i += 1;
            }
            out.push(test(opts, k as u32, i as u32 + 1, &patients[i], cal, world));
        }
    }
    // Counting sort by day, then each day by time and index.
    let mut starts = vec![0usize; days as usize + 1];
    for t in &out {
        starts[(t.ts / SECONDS_PER_DAY) as usize + 1] += 1;
    }
    for d in 0..days as usize {
        starts[d + 1] += starts[d];
    }
    let mut sorted = out.clone();
    let mut next = starts.clone();
    for t in out {
        let d = (t.ts / SECONDS_PER_DAY) as usize;
        sorted[next[d]] = t;
        next[d] += 1;
    }
    for d in 0..days as usize {
        sorted[starts[d]..starts[d + 1]]
            .sort_unstable_by_key(|t| (u64::from(t.ts) << 32) | u64::from(t.index));
    }
    (sorted, starts)
}
