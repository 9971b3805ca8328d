use std::collections::BTreeSet;
use std::io::Write;

use super::*;

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config.example.toml")
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn file_with(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file
}

fn leaf_keys(table: &Table, prefix: &str, out: &mut BTreeSet<String>) {
    for (key, value) in table {
        let path = layers::join(prefix, key);
        match value {
            Value::Table(t) => leaf_keys(t, &path, out),
            _ => {
                out.insert(path);
            }
        }
    }
}

#[test]
fn example_file_equals_defaults() {
    let config = KilnConfig::from_sources(ConfigSources {
        file: Some(example_path()),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(config, KilnConfig::default());
}

#[test]
fn example_file_documents_every_key() {
    let text = std::fs::read_to_string(example_path()).unwrap();
    let mut documented = BTreeSet::new();
    leaf_keys(&text.parse::<Table>().unwrap(), "", &mut documented);
    let mut known = BTreeSet::new();
    leaf_keys(&defaults_table(), "", &mut known);
    assert_eq!(
        documented, known,
        "config.example.toml keys differ from the defaults"
    );

    // Every `key = value` line has a comment right above it.
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let is_key = !line.starts_with('#') && !line.starts_with('[') && line.contains(" = ");
        if is_key {
            assert!(
                i > 0 && lines[i - 1].starts_with('#'),
                "config.example.toml line {}: {line:?} has no comment above it",
                i + 1
            );
        }
    }
}

#[test]
fn defaults_match_the_spec() {
    let c = KilnConfig::default();
    assert_eq!(c.server.listen.to_string(), "0.0.0.0:4040");
    assert_eq!(c.storage.data_dir, PathBuf::from("./data"));
    assert_eq!(c.target, Target::all());
    assert!(!c.auth.multitenancy_enabled);
    assert_eq!(c.ingester.flush_interval, Duration::from_secs(1));
    assert_eq!(c.limits.max_profile_size_bytes, 4_194_304);
    assert_eq!(c.limits.max_label_names_per_series, 30);
    assert_eq!(c.limits.reject_older_than, Duration::from_secs(3600));
    assert_eq!(c.limits.max_query_lookback, Duration::from_secs(7 * 86400));
    assert_eq!(c.retention.period, Duration::ZERO);
    assert_eq!(c.limits.ingestion_body_limit_bytes(), Some(256 << 20));
}

#[test]
fn file_overlays_defaults() {
    let file = file_with(
        r#"
        target = "ingester, querier"
        [ingester]
        flush_interval = "250ms"
        [limits]
        reject_newer_than = "0s"
        ingestion_rate_mb = 10
        "#,
    );
    let c = KilnConfig::from_sources(ConfigSources {
        file: Some(file.path().to_path_buf()),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(c.ingester.flush_interval, Duration::from_millis(250));
    assert_eq!(c.limits.reject_newer_than, Duration::ZERO);
    assert_eq!(c.limits.ingestion_rate_mb, 10.0);
    assert!(c.target.runs(Role::Querier) && !c.target.runs(Role::Compactor));
    // Untouched keys keep their defaults.
    assert_eq!(c.ingester.max_wait, Duration::from_secs(10));
    assert_eq!(c.limits.reject_older_than, Duration::from_secs(3600));
}

#[test]
fn env_overlays_file_and_flags_overlay_env() {
    let file = file_with("[ingester]\nflush_interval = \"5s\"\nmax_wait = \"3s\"\n");
    let c = KilnConfig::from_sources(ConfigSources {
        file: Some(file.path().to_path_buf()),
        env: env(&[
            ("KILN_INGESTER__FLUSH_INTERVAL", "200ms"),
            ("KILN_INGESTER__MAX_BUFFER_BYTES", "1024"),
            ("KILN_LIMITS__REJECT_OLDER_THAN", "0s"),
            ("KILN_LIMITS__INGESTION_RATE_MB", "8"),
            ("KILN_AUTH__MULTITENANCY_ENABLED", "true"),
            ("KILN_TARGET", "querier"),
            ("KILN_SERVER__LISTEN", "127.0.0.1:9000"),
            ("KILN_STORAGE__DATA_DIR", "/var/lib/kiln"),
            // Not config: no `__` and not a top-level key.
            ("KILN_LOG", "debug"),
            ("PATH", "/usr/bin"),
        ]),
        flags: vec![("server.listen".into(), "127.0.0.1:9001".into())],
    })
    .unwrap();
    assert_eq!(c.ingester.flush_interval, Duration::from_millis(200));
    assert_eq!(
        c.ingester.max_wait,
        Duration::from_secs(3),
        "file value kept"
    );
    assert_eq!(c.ingester.max_buffer_bytes, 1024);
    assert_eq!(c.limits.reject_older_than, Duration::ZERO);
    assert_eq!(c.limits.ingestion_rate_mb, 8.0);
    assert!(c.auth.multitenancy_enabled);
    assert_eq!(c.target.roles(), &[Role::Querier]);
    assert_eq!(
        c.server.listen.to_string(),
        "127.0.0.1:9001",
        "flag beats env"
    );
    assert_eq!(c.storage.data_dir, PathBuf::from("/var/lib/kiln"));
}

#[test]
fn errors_name_the_key_and_origin() {
    let load = |vars: &[(&str, &str)]| {
        KilnConfig::from_sources(ConfigSources {
            env: env(vars),
            ..Default::default()
        })
        .unwrap_err()
        .to_string()
    };
    let err = load(&[("KILN_INGESTER__FLUSH_INTERVALL", "1s")]);
    assert!(err.contains("ingester.flush_intervall"), "{err}");
    assert!(err.contains("KILN_INGESTER__FLUSH_INTERVALL"), "{err}");

    let err = load(&[("KILN_INGESTER__FLUSH_INTERVAL", "soon")]);
    assert!(err.contains("ingester.flush_interval"), "{err}");
    assert!(err.contains("KILN_INGESTER__FLUSH_INTERVAL"), "{err}");

    let err = load(&[("KILN_LIMITS__MAX_SERIES_PER_TENANT", "many")]);
    assert!(err.contains("not an integer"), "{err}");

    let err = load(&[("KILN_AUTH__MULTITENANCY_ENABLED", "yes please")]);
    assert!(err.contains("boolean"), "{err}");

    let err = load(&[("KILN_TARGET", "ingester,frontend")]);
    assert!(err.contains("unknown role \"frontend\""), "{err}");

    let err = load(&[("KILN_INGESTER__FLUSH_INTERVAL", "0s")]);
    assert!(err.contains("must be greater than 0s"), "{err}");

    let err = KilnConfig::from_toml_str("[ingester]\nflush_intervall = \"1s\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("flush_intervall"), "{err}");

    let err = KilnConfig::from_toml_str("[storage]\nbackend = \"ftp\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("storage.backend"), "{err}");

    let missing = KilnConfig::from_sources(ConfigSources {
        file: Some(PathBuf::from("/nonexistent/kiln.toml")),
        ..Default::default()
    });
    assert!(matches!(missing, Err(ConfigError::Read { .. })));
}

#[test]
fn tenant_overrides_resolve_over_final_limits() {
    let file = file_with(
        r#"
        [limits]
        max_series_per_tenant = 100
        [overrides.team-a]
        max_series_per_tenant = 20000
        reject_older_than = "0s"
        [overrides."team.b"]
        ingestion_rate_mb = 1.5
        "#,
    );
    let c = KilnConfig::from_sources(ConfigSources {
        file: Some(file.path().to_path_buf()),
        env: env(&[
            // A global change reaches tenants that don't override the key …
            ("KILN_LIMITS__MAX_LABEL_NAMES_PER_SERIES", "40"),
            // … but not one that does.
            ("KILN_LIMITS__MAX_SERIES_PER_TENANT", "200"),
            // A tenant can be overridden from the environment too.
            ("KILN_OVERRIDES__team-c__MAX_LABEL_VALUE_LENGTH", "10"),
        ]),
        flags: vec![],
    })
    .unwrap();

    let a = c.limits_for("team-a");
    assert_eq!(a.max_series_per_tenant, 20000);
    assert_eq!(a.reject_older_than, Duration::ZERO);
    assert_eq!(a.max_label_names_per_series, 40);
    assert_eq!(a.ingestion_rate_mb, 4.0);

    let b = c.limits_for("team.b");
    assert_eq!(b.ingestion_rate_mb, 1.5);
    assert_eq!(b.max_series_per_tenant, 200);

    let tc = c.limits_for("team-c");
    assert_eq!(tc.max_label_value_length, 10);
    assert_eq!(tc.max_series_per_tenant, 200);

    let other = c.limits_for("someone-else");
    assert_eq!(other, &c.limits);
    assert_eq!(other.max_series_per_tenant, 200);
    assert_eq!(other.max_label_names_per_series, 40);
}

#[test]
fn bad_overrides_are_rejected() {
    let err = KilnConfig::from_toml_str("[overrides.team-a]\nmax_seriez = 1\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("overrides.team-a"), "{err}");
    assert!(err.contains("max_seriez"), "{err}");

    let err = KilnConfig::from_toml_str("[overrides.\"a/b\"]\nmax_series_per_tenant = 1\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("tenant ID"), "{err}");

    let err = KilnConfig::from_toml_str("[overrides.t]\nreject_older_than = \"later\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("overrides.t.reject_older_than"), "{err}");

    let err = KilnConfig::from_sources(ConfigSources {
        env: env(&[("KILN_OVERRIDES__t__LISTEN", "x")]),
        ..Default::default()
    })
    .unwrap_err();
    assert!(matches!(err, ConfigError::UnknownKey { .. }), "{err}");

    let err = KilnConfig::from_toml_str(
        "[overrides.t]\nmax_flamegraph_nodes_default = 10\nmax_flamegraph_nodes_max = 5\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("overrides.t.max_flamegraph_nodes_default"),
        "{err}"
    );
}

#[test]
fn compactor_section_and_per_tenant_retention() {
    let c = KilnConfig::from_toml_str(
        r#"
        [retention]
        period = "7d"
        [compactor]
        level_windows = ["5m", "1h"]
        deletion_grace = "1m"
        [overrides.keep]
        retention_period = "0s"
        [overrides.short]
        retention_period = "1d"
        [overrides.other]
        max_series_per_tenant = 1
        "#,
    )
    .unwrap();
    let day = Duration::from_secs(24 * 3600);
    assert_eq!(c.retention_for("anyone"), 7 * day);
    assert_eq!(c.retention_for("other"), 7 * day, "inherit by default");
    assert_eq!(c.retention_for("keep"), Duration::ZERO);
    assert_eq!(c.retention_for("short"), day);
    assert_eq!(
        c.compactor.level_windows,
        LevelWindows(vec![Duration::from_secs(300), Duration::from_secs(3600)])
    );
    assert_eq!(c.compactor.deletion_grace, Duration::from_secs(60));
    assert_eq!(
        KilnConfig::default().compactor.level_windows.to_string(),
        "10m,2h,1day"
    );

    // Environment variables reach both, as strings.
    let c = KilnConfig::from_sources(ConfigSources {
        env: env(&[
            ("KILN_COMPACTOR__LEVEL_WINDOWS", "1m,10m"),
            ("KILN_OVERRIDES__t__RETENTION_PERIOD", "2h"),
        ]),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(c.compactor.level_windows.0.len(), 2);
    assert_eq!(c.retention_for("t"), Duration::from_secs(7200));

    // Windows must nest; durations must parse.
    for bad in [
        "[compactor]\nlevel_windows = \"10m,15m\"\n",
        "[compactor]\nlevel_windows = \"10m,5m\"\n",
        "[compactor]\ninterval = \"0s\"\n",
        "[compactor]\nlevel_windows = \"soon\"\n",
        "[overrides.t]\nretention_period = \"later\"\n",
    ] {
        let err = KilnConfig::from_toml_str(bad).unwrap_err().to_string();
        assert!(
            err.contains("compactor.") || err.contains("retention_period"),
            "{err}"
        );
    }
}

#[test]
fn object_storage_backends_are_configured_by_file_and_env() {
    let text = "[storage]\nbackend = \"s3\"\n[storage.s3]\nbucket = \"profiles\"\nprefix = \"kiln/prod\"\n";
    let c = KilnConfig::from_toml_str(text).unwrap();
    assert_eq!(c.storage.backend, StorageBackend::S3);
    assert_eq!(c.storage.s3.bucket, "profiles");
    assert_eq!(c.storage.s3.prefix, "kiln/prod");
    assert!(c.storage.s3.path_style, "object_store's default");

    let c = KilnConfig::from_sources(ConfigSources {
        env: env(&[
            ("KILN_STORAGE__BACKEND", "azure"),
            ("KILN_STORAGE__AZURE__CONTAINER", "blocks"),
            (
                "KILN_STORAGE__AZURE__ENDPOINT",
                "http://127.0.0.1:10000/devstoreaccount1",
            ),
            ("KILN_STORAGE__AZURE__ALLOW_HTTP", "true"),
        ]),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(c.storage.backend, StorageBackend::Azure);
    assert_eq!(c.storage.azure.container, "blocks");
    assert!(c.storage.azure.allow_http);

    let c = KilnConfig::from_sources(ConfigSources {
        env: env(&[
            ("KILN_STORAGE__BACKEND", "gcs"),
            ("KILN_STORAGE__GCS__BUCKET", "b"),
        ]),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(c.storage.backend, StorageBackend::Gcs);
    assert_eq!(c.storage.gcs.bucket, "b");
}

#[test]
fn bad_object_storage_settings_name_the_key() {
    let load = |pairs: &[(&str, &str)]| {
        KilnConfig::from_sources(ConfigSources {
            env: env(pairs),
            ..Default::default()
        })
        .unwrap_err()
        .to_string()
    };
    for (backend, key) in [
        ("s3", "storage.s3.bucket"),
        ("azure", "storage.azure.container"),
        ("gcs", "storage.gcs.bucket"),
    ] {
        let err = load(&[("KILN_STORAGE__BACKEND", backend)]);
        assert!(err.contains(key), "{err}");
        assert!(err.contains("is required"), "{err}");
        assert!(err.contains("KILN_STORAGE__BACKEND"), "{err}");
    }

    let err = load(&[
        ("KILN_STORAGE__BACKEND", "s3"),
        ("KILN_STORAGE__S3__BUCKET", "b"),
        ("KILN_STORAGE__S3__ENDPOINT", "http://127.0.0.1:9000"),
    ]);
    assert!(err.contains("storage.s3.endpoint"), "{err}");
    assert!(err.contains("allow_http"), "{err}");

    let err = load(&[
        ("KILN_STORAGE__BACKEND", "gcs"),
        ("KILN_STORAGE__GCS__BUCKET", "b"),
        ("KILN_STORAGE__GCS__ENDPOINT", "storage.example"),
    ]);
    assert!(err.contains("storage.gcs.endpoint"), "{err}");

    let err = load(&[("KILN_STORAGE__S3__BUCKKET", "b")]);
    assert!(err.contains("storage.s3.buckket"), "{err}");

    let err = KilnConfig::from_toml_str("[storage.s3]\nsecret_access_key = \"x\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("secret_access_key"), "{err}");
}
