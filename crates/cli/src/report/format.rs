//! How the page writes values: counts, durations, times, days, and the
//! colour and words of a status.

use chrono::{NaiveDate, NaiveDateTime};
use maud::{html, Markup};

use super::data::StateRun;

/// 68512 → `68,512`.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let head = match digits.len() % 3 {
        0 => 3.min(digits.len()),
        r => r,
    };
    let mut out = digits[..head].to_owned();
    for group in digits.as_bytes()[head..].chunks(3) {
        out.push(',');
        out.push_str(std::str::from_utf8(group).unwrap_or_default());
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// A duration in ms, for people: `12 ms`, `1.24 s`, `2 min 05 s`.
pub fn duration(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{} ms", ms.round() as i64)
    } else if ms < 60_000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else {
        let s = (ms / 1000.0).round() as i64;
        format!("{} min {:02} s", s / 60, s % 60)
    }
}

/// At most `max` characters, an ellipsis after a cut.
pub fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let cut: String = s.chars().take(max).collect();
        format!("{cut}…")
    }
}

/// A time to the second, `–` when there is none.
pub fn when(t: Option<NaiveDateTime>) -> String {
    t.map_or_else(
        || "–".to_owned(),
        |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

/// A day, `–` when there is none.
pub fn day_text(d: Option<NaiveDate>) -> String {
    d.map_or_else(|| "–".to_owned(), |d| d.to_string())
}

/// How a cell is coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Ok,
    Retried,
    Caught,
    Failed,
    Running,
    NotRun,
}

impl Tone {
    /// Every tone, in the legend's order.
    pub const ALL: [Tone; 6] = [
        Tone::Ok,
        Tone::Retried,
        Tone::Caught,
        Tone::Failed,
        Tone::Running,
        Tone::NotRun,
    ];

    /// Its class in `style.css`.
    pub fn class(self) -> &'static str {
        match self {
            Tone::Ok => "ok",
            Tone::Retried => "re",
            Tone::Caught => "ca",
            Tone::Failed => "fa",
            Tone::Running => "ru",
            Tone::NotRun => "nr",
        }
    }

    pub fn of_state(s: &StateRun) -> Tone {
        match s.status.as_str() {
            "SUCCEEDED" if s.attempts > 1 => Tone::Retried,
            "SUCCEEDED" => Tone::Ok,
            "CAUGHT" => Tone::Caught,
            "FAILED" => Tone::Failed,
            _ => Tone::Running,
        }
    }

    pub fn of_execution(status: &str) -> Tone {
        match status {
            "SUCCEEDED" => Tone::Ok,
            "RUNNING" => Tone::Running,
            _ => Tone::Failed,
        }
    }

    pub fn words(self) -> &'static str {
        match self {
            Tone::Ok => "succeeded",
            Tone::Retried => "succeeded after a retry",
            Tone::Caught => "failed, caught",
            Tone::Failed => "failed",
            Tone::Running => "running",
            Tone::NotRun => "not run",
        }
    }
}

/// A status as a coloured pill.
pub fn pill(status: &str) -> Markup {
    let class = match status {
        "SUCCEEDED" => "ok",
        "RUNNING" => "ru",
        "CAUGHT" => "ca",
        _ => "fa",
    };
    html! { span.pill.(class) { (status) } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_durations_and_times_read_well() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(68512), "68,512");
        assert_eq!(thousands(-1234567), "-1,234,567");
        assert_eq!(duration(12.4), "12 ms");
        assert_eq!(duration(1240.0), "1.24 s");
        assert_eq!(duration(125_000.0), "2 min 05 s");
        assert_eq!(shorten("abcdef", 6), "abcdef");
        assert_eq!(shorten("abcdef", 3), "abc…");
        let day = NaiveDate::from_ymd_opt(2025, 3, 14).unwrap();
        assert_eq!(when(day.and_hms_opt(9, 5, 0)), "2025-03-14 09:05:00");
        assert_eq!((when(None), day_text(None)), ("–".into(), "–".into()));
        assert_eq!(day_text(Some(day)), "2025-03-14");
    }

    #[test]
    fn a_pill_is_coloured_by_its_status_and_escapes_it() {
        assert_eq!(
            pill("SUCCEEDED").into_string(),
            r#"<span class="pill ok">SUCCEEDED</span>"#
        );
        assert_eq!(
            pill("<i>").into_string(),
            r#"<span class="pill fa">&lt;i&gt;</span>"#
        );
    }
}
