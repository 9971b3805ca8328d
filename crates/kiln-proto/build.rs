//! Generates prost/tonic types and protojson (pbjson) serde impls from `proto/`.
//!
//! protoc comes from `protoc-bin-vendored` so a fresh machine needs no system
//! install; set `PROTOC` to override.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "google/v1/profile.proto",
    "types/v1/types.proto",
    "push/v1/push.proto",
    "querier/v1/querier.proto",
    "opentelemetry/proto/common/v1/common.proto",
    "opentelemetry/proto/resource/v1/resource.proto",
    "opentelemetry/proto/profiles/v1development/profiles.proto",
    "opentelemetry/proto/collector/profiles/v1development/profiles_service.proto",
];

const PACKAGES: &[&str] = &[
    ".google.v1",
    ".types.v1",
    ".push.v1",
    ".querier.v1",
    ".opentelemetry.proto.common.v1",
    ".opentelemetry.proto.resource.v1",
    ".opentelemetry.proto.profiles.v1development",
    ".opentelemetry.proto.collector.profiles.v1development",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var_os("PROTOC").is_none() {
        let protoc = protoc_bin_vendored::protoc_bin_path()?;
        // SAFETY: build scripts are single-threaded.
        #[allow(unsafe_code)]
        unsafe {
            std::env::set_var("PROTOC", protoc)
        };
    }
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let descriptor_path = out_dir.join("kiln_descriptor.bin");
    let files: Vec<PathBuf> = PROTOS.iter().map(|p| root.join(p)).collect();

    tonic_prost_build::configure()
        .build_transport(false)
        .file_descriptor_set_path(&descriptor_path)
        .compile_protos(&files, std::slice::from_ref(&root))?;

    let descriptors = std::fs::read(&descriptor_path)?;
    pbjson_build::Builder::new()
        .register_descriptors(&descriptors)?
        .ignore_unknown_fields()
        .build(PACKAGES)?;

    println!("cargo:rerun-if-changed={}", root.display());
    println!("cargo:rerun-if-env-changed=PROTOC");
    Ok(())
}
