//! Time the generator: `timing [SCALE] [OUT_DIR]`.
//!
//! SCALE multiplies the default 7,000 patients and 70,000 tests (default 1).
//! Without OUT_DIR the files are only counted in memory; with it they are
//! written there.

use std::time::Instant;

use ovom_generate::{generate, DirSink, Options, Sink};

struct Count {
    files: u64,
    bytes: u64,
}

impl Sink for Count {
    fn write_file(&mut self, _path: &str, contents: &[u8]) -> std::io::Result<()> {
        self.files += 1;
        self.bytes += contents.len() as u64;
        Ok(())
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let scale: u32 = args
        .next()
        .map(|s| s.parse().expect("SCALE is a whole number"))
        .unwrap_or(1);
    let out = args.next();
    let d = Options::default();
    let opts = Options {
        patients: d.patients * scale,
        tests: d.tests * scale,
        ..d
    };
    let mut calls = 0u32;
    let started = Instant::now();
    let (summary, where_) = match &out {
        Some(dir) => (
            generate(&opts, &mut DirSink::new(dir), &mut |_| calls += 1).expect("generate"),
            dir.clone(),
        ),
        None => {
            let mut count = Count { files: 0, bytes: 0 };
            let s = generate(&opts, &mut count, &mut |_| calls += 1).expect("generate");
            let note = format!(
                "memory ({} files, {} MB)",
                count.files,
                count.bytes / 1_000_000
            );
            (s, note)
        }
    };
    let elapsed = started.elapsed();
    println!(
        "{} patients, {} tests into {where_}: {} ms, {} progress calls\n{summary:#?}",
        opts.patients,
        opts.tests,
        elapsed.as_millis(),
        calls
    );
}
