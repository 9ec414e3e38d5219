//! Where things go in the page's charts: the axis of days that the grid and
//! the charts share, its month and day labels, the bars of a span of days,
//! and the round ticks of a value axis. Pure functions of dates and numbers.

use chrono::{Datelike, Duration, NaiveDate};

/// At most this many days, the latest, are drawn (a year and a month).
pub const MAX_DAYS: usize = 400;

/// Where the plots start: the row labels are left of it.
pub const LEFT: f64 = 176.0;
/// The width the days share.
pub const PLOT_WIDTH: f64 = 1092.0;
pub const SVG_WIDTH: f64 = LEFT + PLOT_WIDTH + 12.0;

/// The days drawn, one column each, shared by the grid and the charts.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub first: NaiveDate,
    pub days: usize,
    /// The width of a day's column.
    pub pitch: f64,
    /// Days before `first` that are not drawn.
    pub hidden: usize,
}

/// A label under (or over) the axis of days.
#[derive(Debug, Clone, PartialEq)]
pub struct AxisLabel {
    pub x: f64,
    pub text: String,
    /// A day of the month (dimmed), not a month.
    pub day: bool,
}

impl Axis {
    /// The axis over the days from the earliest of `dates` to the latest,
    /// the last [`MAX_DAYS`] of them when they are more; `None` when there
    /// is no date.
    pub fn over(dates: impl IntoIterator<Item = NaiveDate>) -> Option<Axis> {
        let (min, max) = dates.into_iter().fold(None, |range, d| match range {
            None => Some((d, d)),
            Some((lo, hi)) => Some((d.min(lo), d.max(hi))),
        })?;
        let all = (max - min).num_days() as usize + 1;
        let days = all.min(MAX_DAYS);
        let first = max - Duration::days(days as i64 - 1);
        Some(Axis {
            first,
            days,
            pitch: (PLOT_WIDTH / days as f64).min(26.0),
            hidden: all - days,
        })
    }

    pub fn last(&self) -> NaiveDate {
        self.first + Duration::days(self.days as i64 - 1)
    }

    /// The column of a day, if it is drawn.
    pub fn index(&self, d: NaiveDate) -> Option<usize> {
        let i = (d - self.first).num_days();
        (i >= 0 && (i as usize) < self.days).then_some(i as usize)
    }

    /// The left edge of column `i`.
    pub fn x(&self, i: usize) -> f64 {
        LEFT + i as f64 * self.pitch
    }

    pub fn width(&self) -> f64 {
        self.days as f64 * self.pitch
    }

    /// The width of one day's cell: a hairline apart when they are dense.
    pub fn cell(&self) -> f64 {
        if self.pitch >= 8.0 {
            self.pitch - 2.0
        } else if self.pitch >= 2.5 {
            self.pitch - 0.6
        } else {
            self.pitch
        }
    }

    pub fn dates(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        (0..self.days).map(|i| self.first + Duration::days(i as i64))
    }

    /// Month labels (and the year at the first one and at each January),
    /// and day-of-month labels when the days are wide enough.
    pub fn labels(&self) -> Vec<AxisLabel> {
        let mut out = vec![];
        let mut first = true;
        for (i, d) in self.dates().enumerate() {
            let x = self.x(i);
            if d.day() == 1 || i == 0 {
                // Room for the label before the next month begins?
                let left_in_month = days_in_month(d) - d.day() + 1;
                if (left_in_month as f64) * self.pitch >= 26.0 || d.day() == 1 {
                    let year = first || d.month() == 1;
                    let text = d.format(if year { "%b %Y" } else { "%b" }).to_string();
                    out.push(AxisLabel {
                        x,
                        text,
                        day: false,
                    });
                    first = false;
                }
            } else if self.pitch >= 18.0 && d.day() % 2 == 1
                || self.pitch >= 9.0 && d.weekday().num_days_from_monday() == 0
            {
                let text = d.day().to_string();
                out.push(AxisLabel { x, text, day: true });
            }
        }
        out
    }

    /// Where the line between two months goes: between the last day's cell
    /// and the first's, for each month that starts after the first day.
    pub fn month_lines(&self) -> Vec<f64> {
        self.dates()
            .enumerate()
            .filter(|(i, d)| d.day() == 1 && *i > 0)
            .map(|(i, _)| self.x(i) - (self.pitch - self.cell()) / 2.0)
            .collect()
    }

    /// The left edge and width of a bar over the days `from` to `to`
    /// (clipped to the axis): cells a hairline apart, weeks 2 apart.
    pub fn bar(&self, from: NaiveDate, to: NaiveDate, weekly: bool) -> Option<(f64, f64)> {
        let i = self.index(from.max(self.first))?;
        let j = self.index(to.min(self.last()))?;
        let gap = if weekly {
            2.0
        } else {
            self.pitch - self.cell()
        };
        let w = ((j - i + 1) as f64 * self.pitch - gap).max(1.0);
        Some((self.x(i), w))
    }
}

/// The Monday of a day's week.
pub fn week_of(d: NaiveDate) -> NaiveDate {
    d - Duration::days(d.weekday().num_days_from_monday().into())
}

pub fn days_in_month(d: NaiveDate) -> u32 {
    let (y, m) = if d.month() == 12 {
        (d.year() + 1, 1)
    } else {
        (d.year(), d.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1)
        .and_then(|n| n.pred_opt())
        .map_or(31, |l| l.day())
}

/// A round step and top for an axis from 0 to `max`, about five ticks.
pub fn nice_ticks(max: f64) -> (f64, f64) {
    if max <= 0.0 {
        return (1.0, 1.0);
    }
    let raw = max / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude)
        .max(1.0);
    (step, (max / step).ceil() * step)
}

/// The ticks of a value axis from 0 to `top` by `step`, drawn from `y0 +
/// height` (0) up to `y0` (`top`): each tick's value and y.
pub fn value_ticks(y0: f64, height: f64, step: f64, top: f64) -> Vec<(f64, f64)> {
    let mut out = vec![];
    let mut v = 0.0;
    while v <= top + 1e-9 {
        out.push((v, y0 + height - v / top * height));
        v += step;
    }
    out
}

/// A coordinate for SVG: at most two decimals, no trailing zeros.
pub fn num(x: f64) -> String {
    let s = format!("{x:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-0" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(nice_ticks(0.0), (1.0, 1.0));
        assert_eq!(nice_ticks(7.0), (2.0, 8.0));
        assert_eq!(nice_ticks(212.0), (50.0, 250.0));
        let ticks = value_ticks(12.0, 150.0, 50.0, 250.0);
        let values: Vec<f64> = ticks.iter().map(|t| t.0).collect();
        assert_eq!(values, [0.0, 50.0, 100.0, 150.0, 200.0, 250.0]);
        assert_eq!((ticks[0].1, ticks[5].1), (162.0, 12.0));
    }

    #[test]
    fn coordinates_are_short() {
        assert_eq!(num(176.0), "176");
        assert_eq!(num(2.987_654), "2.99");
        assert_eq!(num(0.5), "0.5");
        assert_eq!(num(-0.001), "0");
    }

    #[test]
    fn the_axis_spans_the_days_and_keeps_the_latest() {
        let axis = Axis::over([d("2025-03-05"), d("2025-03-01"), d("2025-03-03")]).unwrap();
        assert_eq!(
            (axis.first, axis.days, axis.hidden),
            (d("2025-03-01"), 5, 0)
        );
        assert_eq!(axis.pitch, 26.0);
        assert_eq!(axis.cell(), 24.0);
        assert_eq!(axis.last(), d("2025-03-05"));
        assert_eq!(axis.index(d("2025-03-03")), Some(2));
        assert_eq!(axis.index(d("2025-02-28")), None);
        assert_eq!(axis.index(d("2025-03-06")), None);
        assert_eq!(axis.x(2), LEFT + 52.0);
        assert_eq!(Axis::over([]), None);

        // Two years: the last MAX_DAYS days are drawn, thin.
        let long = Axis::over([d("2024-01-01"), d("2025-12-31")]).unwrap();
        assert_eq!(long.days, MAX_DAYS);
        assert_eq!(long.hidden, 731 - MAX_DAYS);
        assert_eq!(long.last(), d("2025-12-31"));
        assert!((long.width() - PLOT_WIDTH).abs() < 1e-9);
        assert!(long.cell() < long.pitch);
    }

    #[test]
    fn months_are_labelled_with_the_year_at_the_first_and_at_january() {
        let axis = Axis::over([d("2024-11-20"), d("2025-02-10")]).unwrap();
        let labels = axis.labels();
        let months: Vec<&str> = labels
            .iter()
            .filter(|l| !l.day)
            .map(|l| l.text.as_str())
            .collect();
        assert_eq!(months, ["Nov 2024", "Dec", "Jan 2025", "Feb"]);
        // A line before each month but the first.
        let first_of_dec = axis.index(d("2024-12-01")).unwrap();
        let lines = axis.month_lines();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[0],
            axis.x(first_of_dec) - (axis.pitch - axis.cell()) / 2.0
        );
        // Wide days get their day of the month, every other one.
        let wide = Axis::over([d("2025-03-01"), d("2025-03-10")]).unwrap();
        let labels = wide.labels();
        let days: Vec<&str> = labels
            .iter()
            .filter(|l| l.day)
            .map(|l| l.text.as_str())
            .collect();
        assert_eq!(days, ["3", "5", "7", "9", "10"]);
        // A first day too near its month's end for the month's name has
        // none: the year goes with the next month.
        let late = Axis::over([d("2025-01-31"), d("2025-12-31")]).unwrap();
        let first = &late.labels()[0];
        assert_eq!((first.text.as_str(), first.x), ("Feb 2025", late.x(1)));
    }

    #[test]
    fn a_bar_covers_its_days_clipped_to_the_axis() {
        let axis = Axis::over([d("2025-03-01"), d("2025-03-05")]).unwrap();
        let gap = axis.pitch - axis.cell();
        assert_eq!(
            axis.bar(d("2025-03-02"), d("2025-03-02"), false),
            Some((axis.x(1), axis.pitch - gap))
        );
        // The week of Monday 24 February, clipped to 1 and 2 March.
        assert_eq!(week_of(d("2025-03-02")), d("2025-02-24"));
        assert_eq!(
            axis.bar(d("2025-02-24"), d("2025-03-02"), true),
            Some((axis.x(0), 2.0 * axis.pitch - 2.0))
        );
        assert_eq!(axis.bar(d("2025-02-01"), d("2025-02-07"), true), None);
        assert_eq!(days_in_month(d("2024-02-10")), 29);
        assert_eq!(days_in_month(d("2025-12-31")), 31);
    }
}
