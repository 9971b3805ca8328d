//! A small workload profiled by the real `pyroscope` crate (pprof-rs
//! backend) and pushed to Kiln, so the agent suite can check that Kiln
//! answers with this program's own function names.
//!
//! Environment: `KILN_URL`, `DURATION` (seconds, default 20).

use std::time::{Duration, Instant};

use pyroscope::backend::{pprof_backend, BackendConfig, PprofConfig};
use pyroscope::pyroscope::PyroscopeAgentBuilder;
use sha2::{Digest, Sha256};

/// Keeps one core busy hashing until the deadline.
#[inline(never)]
fn burn_cpu(deadline: Instant) -> [u8; 32] {
    let mut digest = [0u8; 32];
    while Instant::now() < deadline {
        for _ in 0..1000 {
            digest = hash_once(&digest);
        }
    }
    digest
}

#[inline(never)]
fn hash_once(input: &[u8; 32]) -> [u8; 32] {
    Sha256::digest(input).into()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("KILN_URL")?;
    let seconds: u64 = std::env::var("DURATION")
        .unwrap_or_else(|_| "20".into())
        .parse()?;
    let agent = PyroscopeAgentBuilder::new(
        url,
        "kiln.agents.rust",
        100,
        "pyroscope-rs",
        env!("CARGO_PKG_VERSION"),
        pprof_backend(PprofConfig::default(), BackendConfig::default()),
    )
    .basic_auth("kiln-user", "kiln-password")
    .tags(vec![("agent", "pyroscope-rs"), ("env", "ci")])
    .upload_interval(Duration::from_secs(5))
    .build()?;
    let running = agent.start()?;
    let digest = burn_cpu(Instant::now() + Duration::from_secs(seconds));
    let ready = running.stop()?;
    ready.shutdown();
    println!("kiln.agents.rust: done ({:02x})", digest[0]);
    Ok(())
}
