//! The simulated year: its days, their weekdays and their names.

use chrono::{Datelike, NaiveDate};

pub(crate) const SECONDS_PER_DAY: u32 = 86_400;

pub(crate) struct Calendar {
    /// `YYYY-MM-DD` of each day of the year.
    pub dates: Vec<[u8; 10]>,
    /// Unix seconds of the year's first midnight (UTC).
    pub epoch: i64,
    /// Weekday of January 1st, 0 = Monday.
    first_weekday: u32,
}

impl Calendar {
    pub(crate) fn new(year: i32) -> Calendar {
        let first = NaiveDate::from_ymd_opt(year, 1, 1).expect("a validated year");
        let mut dates = Vec::with_capacity(366);
        let mut day = first;
        while day.year() == year {
            let mut date = [0u8; 10];
            let text = day.format("%Y-%m-%d").to_string();
            date.copy_from_slice(text.as_bytes());
            dates.push(date);
            day = day.succ_opt().expect("a day after a validated year's day");
        }
        let epoch = first
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
            .timestamp();
        Calendar {
            dates,
            epoch,
            first_weekday: first.weekday().num_days_from_monday(),
        }
    }

    pub(crate) fn days(&self) -> u32 {
        self.dates.len() as u32
    }

    /// 0 = Monday ... 6 = Sunday.
    pub(crate) fn weekday(&self, day: u32) -> u32 {
        (self.first_weekday + day) % 7
    }

    /// `YYYY/MM/DD`, the day's folder.
    pub(crate) fn folder(&self, day: u32) -> String {
        let d = &self.dates[day as usize];
        let mut s = String::with_capacity(10);
        for (i, &b) in d.iter().enumerate() {
            s.push(if i == 4 || i == 7 { '/' } else { char::from(b) });
        }
        s
    }
}
