//! Embeds every file under the repository's `sql/` folder into the library, so
//! the tasks run exactly the SQL that is reviewed in the repository and never
//! SQL that arrives with their input.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn collect(dir: &Path, base: &Path, out: &mut Vec<(String, PathBuf)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(&path, base, out);
        } else if path.extension().is_some_and(|x| x == "sql") {
            let rel = path
                .strip_prefix(base)
                .expect("under sql/")
                .with_extension("")
                .to_string_lossy()
                .replace('\\', "/");
            out.push((rel, path));
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let sql_dir = manifest
        .join("../../sql")
        .canonicalize()
        .expect("sql/ folder");
    println!("cargo:rerun-if-changed={}", sql_dir.display());
    let mut files = Vec::new();
    collect(&sql_dir, &sql_dir, &mut files);
    let mut code = String::from("/// (name, text) of every SQL file, sorted by name.\npub static FILES: &[(&str, &str)] = &[\n");
    for (name, path) in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        writeln!(
            code,
            "    ({name:?}, include_str!({:?})),",
            path.display().to_string()
        )
        .unwrap();
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("sql_files.rs");
    std::fs::write(out, code).unwrap();
}
