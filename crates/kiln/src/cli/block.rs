//! `kiln block …`: create blocks from profile files and inspect a data
//! directory, without a running server.

use anyhow::{Context, bail};
use kiln_ingest::push::{decode_push, new_profile_id, series_labels};
use kiln_meta::{EmbeddedConfig, EmbeddedMetastore, Metastore};
use kiln_model::limits::NormalizeLimits;
use kiln_model::{Label, Labels, NormalizedProfile, ProfileType, pprof, text};
use kiln_store::{StoreConfig, open_store};
use prost::Message;
use std::path::PathBuf;
use std::sync::Arc;
use ulid::Ulid;

#[derive(Debug, clap::Subcommand)]
pub enum BlockCommand {
    /// Write one level-0 block from profile files and register it.
    Import(ImportArgs),
    /// List a tenant's registered blocks.
    List(ListArgs),
    /// Remove blocks from the index (e.g. a block whose files are damaged,
    /// which fails every query touching it). Their folders become orphans
    /// that the compactor's garbage collection deletes after
    /// `compactor.gc_grace`; copy a folder away first to keep it.
    Delete(DeleteArgs),
}

/// What an input file holds.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum InputFormat {
    /// A pprof profile, gzipped or not.
    Pprof,
    /// A `push.v1.PushRequest` protobuf, gzipped or not.
    PushRequest,
    /// Folded text (`a;b;c 12` lines), gzipped or not; CPU samples at 100 Hz.
    Folded,
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Data directory of the filesystem store.
    #[arg(long, default_value = "./data")]
    data_dir: PathBuf,
    #[arg(long, default_value = "anonymous")]
    tenant: String,
    /// `service_name` of pprof and folded inputs.
    #[arg(long, default_value = "kiln-import")]
    service: String,
    #[arg(long, value_enum, default_value = "pprof")]
    format: InputFormat,
    /// Profile files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[arg(long, default_value = "./data")]
    data_dir: PathBuf,
    #[arg(long, default_value = "anonymous")]
    tenant: String,
}

#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    #[arg(long, default_value = "./data")]
    data_dir: PathBuf,
    #[arg(long, default_value = "anonymous")]
    tenant: String,
    /// Ids of the blocks (as `kiln block list` prints them).
    #[arg(required = true, value_parser = parse_block_id)]
    ids: Vec<Ulid>,
}

fn parse_block_id(text: &str) -> Result<Ulid, String> {
    Ulid::from_string(text).map_err(|e| format!("{text:?} is not a block id (a ULID): {e}"))
}

pub async fn run(command: BlockCommand) -> anyhow::Result<()> {
    match command {
        BlockCommand::Import(args) => import(args).await,
        BlockCommand::List(args) => list(args).await,
        BlockCommand::Delete(args) => delete(args).await,
    }
}

async fn open(
    data_dir: PathBuf,
) -> anyhow::Result<(Arc<dyn object_store::ObjectStore>, EmbeddedMetastore)> {
    let store = open_store(&StoreConfig::Filesystem { root: data_dir })?;
    let metastore = EmbeddedMetastore::open(store.clone(), EmbeddedConfig::default()).await?;
    Ok((store, metastore))
}

async fn import(args: ImportArgs) -> anyhow::Result<()> {
    let limits = NormalizeLimits::default();
    let mut profiles = Vec::new();
    for file in &args.files {
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let decoded = decode_file(&bytes, args.format, &args.service, &limits)
            .with_context(|| format!("decoding {}", file.display()))?;
        profiles.extend(decoded);
    }
    if profiles.is_empty() {
        bail!("the input files hold no samples");
    }
    let (store, metastore) = open(args.data_dir).await?;
    let block = kiln_block::BlockEncoder::new(args.tenant, 0).encode(&profiles)?;
    block.upload(store.as_ref()).await?;
    let meta = block.meta.clone();
    metastore.register(block.meta).await?;
    println!("{}", serde_json::to_string_pretty(&meta)?);
    Ok(())
}

fn decode_file(
    bytes: &[u8],
    format: InputFormat,
    service: &str,
    limits: &NormalizeLimits,
) -> anyhow::Result<Vec<NormalizedProfile>> {
    let base = Labels::new([Label::new("service_name", service)]);
    Ok(match format {
        InputFormat::Pprof => {
            let profile = pprof::decode(bytes, limits)?;
            pprof::normalise(
                &profile,
                &with_profile_name(base, &profile),
                &new_profile_id(),
                limits,
            )?
        }
        InputFormat::PushRequest => {
            let raw = pprof::decompress_if_gzip(bytes, usize::MAX)?;
            let request = kiln_proto::push::v1::PushRequest::decode(raw.as_ref())?;
            for series in &request.series {
                series_labels(&series.labels)?;
            }
            decode_push(&request, limits, 0)?.profiles
        }
        InputFormat::Folded => {
            let raw = pprof::decompress_if_gzip(bytes, usize::MAX)?;
            let mut stacks = text::parse_folded(std::str::from_utf8(&raw)?)?;
            for (_, v) in &mut stacks {
                *v *= 10_000_000;
            }
            let pt = ProfileType::parse("process_cpu:cpu:nanoseconds:cpu:nanoseconds")?;
            let (labels, pt) = pprof::build_series_labels(&base, &pt, limits)?;
            let now = kiln_model::clock::Clock::now_ns(&kiln_model::clock::SystemClock);
            vec![text::profile_from_stacks(
                &stacks,
                &labels,
                &pt,
                now,
                0,
                10_000_000,
                &new_profile_id(),
                limits,
            )]
        }
    })
}

/// pprof files carry no profile name: guess it from the sample types, as
/// `profilecli upload` does (`process_cpu`, `memory`, else `unknown`).
fn with_profile_name(mut labels: Labels, profile: &kiln_proto::google::v1::Profile) -> Labels {
    let types: Vec<&str> = profile
        .sample_type
        .iter()
        .filter_map(|st| {
            profile
                .string_table
                .get(st.r#type as usize)
                .map(String::as_str)
        })
        .collect();
    let name = if types.iter().any(|t| *t == "cpu" || *t == "samples") {
        "process_cpu"
    } else if types
        .iter()
        .any(|t| t.starts_with("alloc_") || t.starts_with("inuse_"))
    {
        "memory"
    } else {
        "unknown"
    };
    labels.set("__name__", name);
    labels
}

async fn list(args: ListArgs) -> anyhow::Result<()> {
    let (_, metastore) = open(args.data_dir).await?;
    for meta in metastore
        .list_blocks(&args.tenant, i64::MIN, i64::MAX)
        .await?
    {
        println!(
            "{}  level={} profiles={} samples={} bytes={} services={:?}",
            meta.id,
            meta.level,
            meta.summary.profiles,
            meta.summary.samples,
            meta.total_bytes(),
            meta.summary.services
        );
    }
    Ok(())
}

/// Removes the blocks from the index only if every one of them is
/// registered: a mistyped id changes nothing.
async fn delete(args: DeleteArgs) -> anyhow::Result<()> {
    let (_, metastore) = open(args.data_dir).await?;
    for id in &args.ids {
        if metastore.get_block(&args.tenant, *id).await?.is_none() {
            bail!(
                "block {id} is not registered for tenant {:?} (see `kiln block list --tenant {}`); nothing was removed",
                args.tenant,
                args.tenant
            );
        }
    }
    for id in metastore.delete(&args.tenant, &args.ids).await? {
        println!(
            "removed {id} from the index; its folder tenants/{}/blocks/{id}/ is deleted by garbage collection after compactor.gc_grace",
            args.tenant
        );
    }
    Ok(())
}
