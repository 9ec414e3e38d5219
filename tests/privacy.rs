//! No patient's name or address reaches the logs or the command's output,
//! at any log level, in text or JSON, whether the run succeeds or fails.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use crate::support::*;

/// Every first name, last name, full name and address of the patient files.
struct Identities {
    /// Names of at least 4 characters, matched as whole words.
    names: BTreeSet<String>,
    /// "first last" and addresses, matched anywhere.
    phrases: BTreeSet<String>,
}

fn identities(root: &Path) -> Identities {
    let mut ids = Identities {
        names: BTreeSet::new(),
        phrases: BTreeSet::new(),
    };
    let mut stack = vec![root.join("patient_data")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            if entry.path().is_dir() {
                stack.push(entry.path());
                continue;
            }
            let text = std::fs::read_to_string(entry.path()).unwrap();
            for line in text.lines() {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                    continue;
                };
                let field = |k: &str| v[k].as_str().map(str::to_owned);
                let (first, last) = (field("first_name"), field("last_name"));
                for name in [&first, &last].into_iter().flatten() {
                    if name.chars().count() >= 4 {
                        ids.names.insert(name.clone());
                    }
                }
                if let (Some(f), Some(l)) = (&first, &last) {
                    ids.phrases.insert(format!("{f} {l}"));
                }
                if let Some(a) = field("address") {
                    ids.phrases.insert(a);
                }
            }
        }
    }
    ids
}

/// Whether `word` occurs in `text` with no letter or digit either side.
fn has_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

fn leaks(log: &str, ids: &Identities) -> Vec<String> {
    let mut found: Vec<String> = ids
        .phrases
        .iter()
        .filter(|p| log.contains(p.as_str()))
        .cloned()
        .collect();
    found.extend(ids.names.iter().filter(|n| has_word(log, n)).cloned());
    found
}

/// Run `ovom` with debug logs; its stderr and stdout together.
fn logged(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ovom"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    (out.status.success(), text)
}

#[test]
fn patient_names_and_addresses_never_reach_the_logs() {
    let all = tempfile::tempdir().unwrap();
    ovom::generate::into_dir(
        all.path(),
        &ovom_generate::Options {
            patients: 2000,
            tests: 4000,
            dirty_rate: 0.05,
            malformed_rate: 0.02,
            ..Default::default()
        },
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    copy_days(all.path(), &data, "2025-01-01", "2025-01-15");
    // A patient record broken so that its name sits where a code belongs:
    // the error of a strict run must not quote it.
    let first_day = std::fs::read_dir(data.join("patient_data/2025/01/01"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let mut text = std::fs::read_to_string(&first_day).unwrap();
    text.push_str(
        &serde_json::json!({
            "patient_id": 90001, "first_name": "Philippa", "last_name": "Wetherspoon-Quayle",
            "sex": "Philippa Wetherspoon-Quayle", "age": 41, "height": 170, "weight": 61.5,
            "address": "12 Larkspur Crescent, Brightwater, BW1 2AB",
            "registered_at": "2025-01-01T12:00:00Z"
        })
        .to_string(),
    );
    text.push('\n');
    std::fs::write(&first_day, text).unwrap();
    let ids = identities(&data);
    assert!(
        ids.names.len() > 50 && ids.phrases.len() > 100,
        "{} names, {} phrases",
        ids.names.len(),
        ids.phrases.len()
    );
    assert!(ids.phrases.contains("Philippa Wetherspoon-Quayle"));

    let runs: [(&[&str], bool); 6] = [
        (&["--log", "debug", "run"], true),
        (&["--log", "debug", "--log-json", "run"], true),
        (
            &["--log", "debug", "run", "--dim-mode", "truncate-insert"],
            true,
        ),
        (&["--log", "debug", "run", "--strict"], false),
        (&["--log", "debug", "--log-json", "redrive"], false),
        (&["--log", "debug", "status", "--limit", "100"], true),
    ];
    for (args, ok) in runs {
        let (succeeded, log) = logged(dir.path(), args);
        assert_eq!(succeeded, ok, "{args:?}:\n{log}");
        // The logs are there, and say what ran.
        assert!(log.len() > 200, "{args:?}: {log}");
        assert!(log.contains("2025-01-0"), "{args:?} names no day:\n{log}");
        assert!(
            log.contains("StagePatients") || log.contains("LoadFact"),
            "{args:?} names no state:\n{log}"
        );
        let found = leaks(&log, &ids);
        assert!(found.is_empty(), "{args:?} logged patient data: {found:?}");
    }
    // The strict run failed on the broken record, naming its file, line and
    // field: the reason was there to leak.
    let (_, status) = logged(dir.path(), &["status"]);
    assert!(status.contains("MalformedInput"), "{status}");
    assert!(status.contains("patient_data/2025/01/01"), "{status}");
    assert!(
        status.contains("field `sex`: not a valid value (not shown: patient data)"),
        "{status}"
    );
}
