//! Generates the asset table: every file under `assets/` becomes an entry
//! `(path, content type, ETag, include_bytes!(…))`, so adding a file to the UI
//! needs no Rust change and nothing can be forgotten in a hand-kept list.

use std::collections::hash_map::DefaultHasher;
use std::fmt::Write as _;
use std::hash::Hasher;
use std::path::{Path, PathBuf};
use std::{env, fs};

fn main() {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("assets");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    collect(&root, &mut files);
    files.sort();
    let mut table = String::from("&[\n");
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
        let rel = file
            .strip_prefix(&root)
            .unwrap()
            .to_str()
            .expect("asset paths are UTF-8")
            .replace('\\', "/");
        let bytes = fs::read(file).unwrap();
        let mut hasher = DefaultHasher::new();
        hasher.write(&bytes);
        let etag = format!("\"{:016x}-{:x}\"", hasher.finish(), bytes.len());
        writeln!(
            table,
            "    Asset {{ path: {rel:?}, content_type: {ct:?}, etag: {etag:?}, body: include_bytes!({abs:?}) }},",
            ct = content_type(&rel),
            abs = file.display().to_string(),
        )
        .unwrap();
    }
    table.push_str("]\n");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("assets.rs");
    fs::write(out, table).unwrap();
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            println!("cargo:rerun-if-changed={}", path.display());
            collect(&path, files);
        } else {
            files.push(path);
        }
    }
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "json" => "application/json",
        "ico" => "image/x-icon",
        other => panic!("assets/{path}: no content type known for .{other}; add it to build.rs"),
    }
}
