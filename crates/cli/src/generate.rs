//! `ovom generate`: the simulated EHR export into a folder, with a progress bar
//! on a terminal.

use std::path::Path;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use ovom_generate::{DirSink, Options, Progress, Sink, Summary};

pub fn into_dir(dir: &Path, opts: &Options) -> Result<Summary> {
    opts.validate()?;
    // Two data sets in one folder would be loaded as one.
    if let Some(source) = ["patient_data", "log_data"]
        .into_iter()
        .find(|s| dir.join(s).exists())
    {
        anyhow::bail!(
            "{} already holds a data set ({source}/): generate into an empty folder, or remove it first",
            dir.display()
        );
    }
    with_progress(opts, &mut DirSink::new(dir))
        .with_context(|| format!("generating into {}", dir.display()))
}

/// Generate into `sink`, with a progress bar on a terminal.
fn with_progress(
    opts: &Options,
    sink: &mut dyn Sink,
) -> Result<Summary, ovom_generate::GenerateError> {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} lines ({per_sec}, {eta})")
            .expect("progress template")
            .progress_chars("=> "),
    );
    bar.set_message("generating");
    let summary = ovom_generate::generate(opts, sink, &mut |p: Progress| {
        bar.set_length(p.total);
        bar.set_position(p.done);
    });
    bar.finish_and_clear();
    summary
}

/// Upload the data set under an S3 data root (`s3://BUCKET/PREFIX`), as the
/// production pipeline reads it. Credentials and region come from the usual
/// AWS environment; `AWS_ENDPOINT_URL` points at an S3-compatible endpoint
/// (which is then addressed path-style).
pub fn into_s3(url: &str, opts: &Options) -> Result<Summary> {
    use ovom_aws::s3::{DataRoot, S3Store};
    use ovom_core::ports::ObjectStore;

    opts.validate()?;
    let root = DataRoot::parse(url)?;
    let runtime = ovom_aws::tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let custom_endpoint = std::env::var_os("AWS_ENDPOINT_URL").is_some()
        || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
    let client = runtime.block_on(async {
        let shared =
            ovom_aws::aws_config::load_defaults(ovom_aws::aws_config::BehaviorVersion::latest())
                .await;
        let config = ovom_aws::aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(custom_endpoint)
            .build();
        ovom_aws::aws_sdk_s3::Client::from_conf(config)
    });
    let store = S3Store::new(client, root, runtime.handle().clone());

    /// Each generated file is one object; a failed upload stops the run.
    struct Upload<'a>(&'a S3Store);
    impl Sink for Upload<'_> {
        fn write_file(&mut self, relative_path: &str, contents: &[u8]) -> std::io::Result<()> {
            self.0
                .put(relative_path, contents)
                .map_err(std::io::Error::other)
        }
    }
    with_progress(opts, &mut Upload(&store)).with_context(|| format!("uploading to {url}"))
}
