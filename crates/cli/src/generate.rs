//! `ovom generate`: the simulated EHR export into a folder, with a progress bar
//! on a terminal.

use std::path::Path;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use ovom_generate::{DirSink, Options, Progress, Summary};

pub fn into_dir(dir: &Path, opts: &Options) -> Result<Summary> {
    opts.validate()?;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} lines ({per_sec}, {eta})")
            .expect("progress template")
            .progress_chars("=> "),
    );
    bar.set_message("generating");
    let mut sink = DirSink::new(dir);
    let summary = ovom_generate::generate(opts, &mut sink, &mut |p: Progress| {
        bar.set_length(p.total);
        bar.set_position(p.done);
    })
    .with_context(|| format!("generating into {}", dir.display()))?;
    bar.finish_and_clear();
    Ok(summary)
}
