//! `deploy/kubernetes`: the manifests an operator applies, read the way
//! Kubernetes and Kiln will read them, without a cluster.
//!
//! * every file is valid YAML, every document a named object in the `kiln`
//!   namespace, and `kustomization.yaml` lists exactly the other files;
//! * each Deployment's `kiln.toml` (from the ConfigMap it mounts), its
//!   environment (literal values and the Secrets it references) and its
//!   flags load with Kiln's real config loader into an S3 + PostgreSQL
//!   configuration running exactly the role the Deployment is named after;
//!   the flags are ones `kiln server --help` lists;
//! * Services, PodDisruptionBudgets, the HorizontalPodAutoscaler and the
//!   queriers' NetworkPolicy select the pods they are meant for, `querier.peers_dns` names the headless
//!   querier Service, probes and scrape annotations point at Kiln's port,
//!   and every container has CPU and memory requests within its limits;
//! * the real `kiln` binary, started once per Deployment with exactly its
//!   flags, its `kiln.toml` and its environment — only the S3 endpoint, the
//!   database URL, the listen address and the querier DNS name pointed at
//!   loopback through `KILN_*` variables, as an operator would for MinIO —
//!   becomes ready in every role, on moto's S3 and a real PostgreSQL, and
//!   a push to the ingester is answered through the frontend.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kiln_meta_postgres::test_server::TestPostgres;
use kiln_server::config::{MetastoreBackend, Role, StorageBackend};
use kiln_server::{ConfigSources, KilnConfig};
use kiln_store::emulators::{Emulator, EmulatorKind, unique_prefix};
use yaml_rust2::{Yaml, YamlLoader};

use crate::fixtures::{PprofBuilder, push_request};
use crate::harness::{kiln_bin, workspace_root};
use crate::query::{CPU, TREE_A, minutes_ago, now_ms, selection};
use crate::server::{PUSH_PATH, full, post, try_get};
use prost::Message;

const NAMESPACE: &str = "kiln";

/// One parsed document and the file it came from.
struct Object {
    file: String,
    doc: Yaml,
}

impl Object {
    fn kind(&self) -> &str {
        self.doc["kind"].as_str().unwrap_or("")
    }

    fn name(&self) -> &str {
        self.doc["metadata"]["name"].as_str().unwrap_or("")
    }

    fn describe(&self) -> String {
        format!("{} {} ({})", self.kind(), self.name(), self.file)
    }
}

fn manifest_dir() -> PathBuf {
    workspace_root().join("deploy/kubernetes")
}

fn yaml_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(manifest_dir())
        .expect("deploy/kubernetes exists")
        .map(|entry| entry.expect("readable directory").path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no manifests in deploy/kubernetes");
    files
}

/// Every document of every manifest; panics naming the file that does not
/// parse.
fn objects() -> Vec<Object> {
    let mut objects = Vec::new();
    for path in yaml_files() {
        let text = std::fs::read_to_string(&path).expect("readable manifest");
        let docs = YamlLoader::load_from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()));
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        for doc in docs {
            objects.push(Object {
                file: file.clone(),
                doc,
            });
        }
    }
    objects
}

fn of_kind<'a>(objects: &'a [Object], kind: &str) -> Vec<&'a Object> {
    objects.iter().filter(|o| o.kind() == kind).collect()
}

fn named<'a>(objects: &'a [Object], kind: &str, name: &str) -> &'a Object {
    objects
        .iter()
        .find(|o| o.kind() == kind && o.name() == name)
        .unwrap_or_else(|| panic!("no {kind} named {name} in deploy/kubernetes"))
}

fn string(value: &Yaml, what: &str) -> String {
    match value {
        Yaml::String(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        other => panic!("{what}: expected a string, got {other:?}"),
    }
}

fn list<'a>(value: &'a Yaml, what: &str) -> &'a [Yaml] {
    value
        .as_vec()
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("{what}: expected a list, got {value:?}"))
}

/// A string → string mapping (labels, selectors, `stringData`).
fn string_map(value: &Yaml, what: &str) -> BTreeMap<String, String> {
    let hash = value
        .as_hash()
        .unwrap_or_else(|| panic!("{what}: expected a mapping, got {value:?}"));
    hash.iter()
        .map(|(k, v)| (string(k, what), string(v, what)))
        .collect()
}

/// The one container of a Deployment's pod template.
fn container(deployment: &Object) -> &Yaml {
    let containers = list(
        &deployment.doc["spec"]["template"]["spec"]["containers"],
        &deployment.describe(),
    );
    assert_eq!(
        containers.len(),
        1,
        "{}: one container",
        deployment.describe()
    );
    &containers[0]
}

fn pod_labels(deployment: &Object) -> BTreeMap<String, String> {
    string_map(
        &deployment.doc["spec"]["template"]["metadata"]["labels"],
        &deployment.describe(),
    )
}

/// The Deployments whose pod labels contain every pair of `selector`.
fn selected<'a>(objects: &'a [Object], selector: &BTreeMap<String, String>) -> Vec<&'a str> {
    of_kind(objects, "Deployment")
        .into_iter()
        .filter(|d| {
            let labels = pod_labels(d);
            selector.iter().all(|(k, v)| labels.get(k) == Some(v))
        })
        .map(Object::name)
        .collect()
}

/// The role a Deployment runs, from its name `kiln-<role>`.
fn role_of(deployment: &Object) -> Role {
    let name = deployment.name();
    let role = name
        .strip_prefix("kiln-")
        .unwrap_or_else(|| panic!("Deployment {name} is not named kiln-<role>"));
    Role::ALL
        .into_iter()
        .find(|r| r.as_str() == role)
        .unwrap_or_else(|| panic!("Deployment {name}: {role:?} is not a Kiln role"))
}

/// `containerPort` of the container port named `http`.
fn http_port(deployment: &Object) -> i64 {
    list(&container(deployment)["ports"], &deployment.describe())
        .iter()
        .find(|p| p["name"].as_str() == Some("http"))
        .and_then(|p| p["containerPort"].as_i64())
        .unwrap_or_else(|| panic!("{}: no container port named http", deployment.describe()))
}

/// What a Deployment's container gets: `kiln.toml` from the ConfigMap it
/// mounts, its environment, and its `kiln server` flags.
struct Launch {
    config_text: String,
    env: Vec<(String, String)>,
    /// `(flag name, value)` as written, e.g. `("target", "querier")`.
    flags: Vec<(String, String)>,
}

fn launch(objects: &[Object], deployment: &Object) -> Launch {
    let what = deployment.describe();
    let container = container(deployment);
    let args: Vec<String> = list(&container["args"], &what)
        .iter()
        .map(|a| string(a, &what))
        .collect();
    let command: Vec<String> = list(&container["command"], &what)
        .iter()
        .map(|a| string(a, &what))
        .collect();
    assert_eq!(command, ["kiln"], "{what}: runs the kiln binary");
    assert_eq!(args.first().map(String::as_str), Some("server"), "{what}");
    let mut flags = Vec::new();
    let mut rest = args[1..].iter();
    while let Some(arg) = rest.next() {
        let flag = arg
            .strip_prefix("--")
            .unwrap_or_else(|| panic!("{what}: {arg:?} is not a flag"));
        let (name, value) = match flag.split_once('=') {
            Some((name, value)) => (name.to_string(), value.to_string()),
            None => (
                flag.to_string(),
                rest.next()
                    .unwrap_or_else(|| panic!("{what}: --{flag} has no value"))
                    .clone(),
            ),
        };
        flags.push((name, value));
    }

    // --config must be the kiln.toml of a mounted ConfigMap.
    let config_path = flags
        .iter()
        .find(|(name, _)| name == "config")
        .map(|(_, value)| value.clone())
        .unwrap_or_else(|| panic!("{what}: no --config"));
    let (dir, file) = config_path
        .rsplit_once('/')
        .unwrap_or_else(|| panic!("{what}: --config={config_path} is not an absolute path"));
    let mount = list(&container["volumeMounts"], &what)
        .iter()
        .find(|m| m["mountPath"].as_str() == Some(dir))
        .unwrap_or_else(|| panic!("{what}: nothing is mounted at {dir}"));
    let volume_name = string(&mount["name"], &what);
    let volume = list(
        &deployment.doc["spec"]["template"]["spec"]["volumes"],
        &what,
    )
    .iter()
    .find(|v| v["name"].as_str() == Some(volume_name.as_str()))
    .unwrap_or_else(|| panic!("{what}: no volume {volume_name}"));
    let config_map = string(&volume["configMap"]["name"], &what);
    let config_text = string(
        &named(objects, "ConfigMap", &config_map).doc["data"][file],
        &format!("ConfigMap {config_map} key {file}"),
    );

    // Environment: literal values, then every Secret of envFrom.
    let mut env = Vec::new();
    if let Some(vars) = container["env"].as_vec() {
        for var in vars {
            env.push((string(&var["name"], &what), string(&var["value"], &what)));
        }
    }
    for source in list(&container["envFrom"], &what) {
        let secret = string(&source["secretRef"]["name"], &what);
        let data = string_map(
            &named(objects, "Secret", &secret).doc["stringData"],
            &format!("Secret {secret}"),
        );
        env.extend(data);
    }
    Launch {
        config_text,
        env,
        flags,
    }
}

/// The flags `kiln server --help` of the built binary lists.
fn server_flags() -> BTreeSet<String> {
    let output = Command::new(kiln_bin())
        .args(["server", "--help"])
        .output()
        .expect("running kiln server --help");
    assert!(output.status.success(), "kiln server --help failed");
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .filter_map(|word| word.strip_prefix("--"))
        .map(|flag| {
            flag.trim_end_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-')
                .to_string()
        })
        .collect()
}

/// The dotted config key each `kiln server` flag sets (`--config` names the
/// file instead).
fn flag_key(flag: &str) -> Option<&'static str> {
    match flag {
        "config" => None,
        "target" => Some("target"),
        "listen" => Some("server.listen"),
        "data-dir" => Some("storage.data_dir"),
        other => panic!("--{other}: add its config key to deploy_manifests.rs"),
    }
}

/// Parses a CPU quantity ("500m", "2") into millicores.
fn millicores(quantity: &str) -> u64 {
    match quantity.strip_suffix('m') {
        Some(m) => m.parse().expect("millicores"),
        None => (quantity.parse::<f64>().expect("cores") * 1000.0) as u64,
    }
}

/// Parses a memory quantity ("512Mi", "2Gi") into bytes.
fn bytes(quantity: &str) -> u64 {
    for (suffix, unit) in [("Ki", 1u64 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30)] {
        if let Some(n) = quantity.strip_suffix(suffix) {
            return n.parse::<u64>().expect("memory quantity") * unit;
        }
    }
    quantity.parse().expect("memory in bytes")
}

#[test]
fn every_manifest_is_a_named_object_listed_by_kustomization() {
    let objects = objects();
    let mut files = BTreeSet::new();
    for object in &objects {
        files.insert(object.file.clone());
        assert!(
            object.doc["apiVersion"].as_str().is_some() && !object.kind().is_empty(),
            "{}: apiVersion and kind",
            object.file
        );
        if object.kind() == "Kustomization" {
            continue;
        }
        assert!(!object.name().is_empty(), "{}: metadata.name", object.file);
        if object.kind() != "Namespace" {
            assert_eq!(
                object.doc["metadata"]["namespace"].as_str(),
                Some(NAMESPACE),
                "{}",
                object.describe()
            );
        }
    }
    let kustomization = &of_kind(&objects, "Kustomization")[0].doc;
    assert_eq!(kustomization["namespace"].as_str(), Some(NAMESPACE));
    let listed: BTreeSet<String> = list(&kustomization["resources"], "kustomization resources")
        .iter()
        .map(|r| string(r, "resource"))
        .collect();
    files.remove("kustomization.yaml");
    assert_eq!(
        listed, files,
        "kustomization.yaml must list every other manifest"
    );
    named(&objects, "Namespace", NAMESPACE);
    // The four roles of a microservices install.
    let deployments: BTreeSet<&str> = of_kind(&objects, "Deployment")
        .into_iter()
        .map(Object::name)
        .collect();
    assert_eq!(
        deployments,
        BTreeSet::from([
            "kiln-compactor",
            "kiln-ingester",
            "kiln-querier",
            "kiln-query-frontend"
        ])
    );
}

#[test]
fn each_deployment_loads_an_s3_postgres_config_for_its_role() {
    let objects = objects();
    let known_flags = server_flags();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut worker_secrets = Vec::new();
    for deployment in of_kind(&objects, "Deployment") {
        let what = deployment.describe();
        let launch = launch(&objects, deployment);
        let file = dir.path().join(format!("{}.toml", deployment.name()));
        std::fs::write(&file, &launch.config_text).expect("writing kiln.toml");
        let mut flags = Vec::new();
        for (name, value) in &launch.flags {
            assert!(
                known_flags.contains(name),
                "{what}: kiln server has no --{name} (it has {known_flags:?})"
            );
            if let Some(key) = flag_key(name) {
                flags.push((key.to_string(), value.clone()));
            }
        }
        let config = KilnConfig::from_sources(ConfigSources {
            file: Some(file),
            env: launch.env.clone(),
            flags,
        })
        .unwrap_or_else(|e| panic!("{what}: Kiln refuses its configuration: {e}"));

        assert_eq!(
            config.target.roles(),
            [role_of(deployment)],
            "{what}: --target"
        );
        assert_eq!(config.storage.backend, StorageBackend::S3, "{what}");
        assert!(!config.storage.s3.bucket.is_empty(), "{what}: bucket");
        assert_eq!(
            config.metastore.backend,
            MetastoreBackend::Postgres,
            "{what}"
        );
        assert!(
            config.metastore.postgres_url.starts_with("postgres://"),
            "{what}: postgres_url from the kiln-postgres Secret"
        );
        assert!(
            launch
                .env
                .iter()
                .any(|(name, _)| name == "AWS_SECRET_ACCESS_KEY"),
            "{what}: S3 credentials from the kiln-s3 Secret"
        );
        assert_eq!(
            i64::from(config.server.listen.port()),
            http_port(deployment),
            "{what}: server.listen is the container's http port"
        );
        if matches!(role_of(deployment), Role::Querier | Role::QueryFrontend) {
            worker_secrets.push((what.clone(), config.querier.worker_secret()));
        }
    }
    // Frontends and queriers share one worker secret.
    assert_eq!(worker_secrets.len(), 2, "{worker_secrets:?}");
    assert!(
        worker_secrets[0].1.is_some() && worker_secrets[0].1 == worker_secrets[1].1,
        "query-frontend and querier need the same querier.worker_secret: {worker_secrets:?}"
    );
}

#[test]
fn services_budgets_and_autoscaler_select_their_role() {
    let objects = objects();
    let expectations = [
        ("Service", "kiln-ingest", "kiln-ingester"),
        ("Service", "kiln-query", "kiln-query-frontend"),
        ("Service", "kiln-querier", "kiln-querier"),
        ("PodDisruptionBudget", "kiln-ingester", "kiln-ingester"),
        (
            "PodDisruptionBudget",
            "kiln-query-frontend",
            "kiln-query-frontend",
        ),
        ("PodDisruptionBudget", "kiln-querier", "kiln-querier"),
    ];
    for (kind, name, deployment) in expectations {
        let object = named(&objects, kind, name);
        let selector = match kind {
            "Service" => &object.doc["spec"]["selector"],
            _ => &object.doc["spec"]["selector"]["matchLabels"],
        };
        let selector = string_map(selector, &object.describe());
        assert_eq!(
            selected(&objects, &selector),
            [deployment],
            "{} selects",
            object.describe()
        );
    }
    for deployment in of_kind(&objects, "Deployment") {
        let selector = string_map(
            &deployment.doc["spec"]["selector"]["matchLabels"],
            &deployment.describe(),
        );
        assert_eq!(selected(&objects, &selector), [deployment.name()]);
    }
    for service in of_kind(&objects, "Service") {
        let target = string(
            &list(&service.doc["spec"]["ports"], &service.describe())[0]["targetPort"],
            "targetPort",
        );
        assert_eq!(target, "http", "{}", service.describe());
    }

    // querier.peers_dns names the headless querier Service and its port.
    let headless = named(&objects, "Service", "kiln-querier");
    assert_eq!(
        headless.doc["spec"]["clusterIP"].as_str(),
        Some("None"),
        "the querier Service must be headless: its DNS name lists the pods"
    );
    let port = list(&headless.doc["spec"]["ports"], "ports")[0]["port"]
        .as_i64()
        .expect("port");
    let frontend = named(&objects, "Deployment", "kiln-query-frontend");
    let launch = launch(&objects, frontend);
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("kiln.toml");
    std::fs::write(&file, &launch.config_text).expect("writing kiln.toml");
    let config = KilnConfig::from_sources(ConfigSources {
        file: Some(file),
        env: launch.env,
        flags: Vec::new(),
    })
    .expect("kiln.toml loads");
    // Through serde, so that this file compiles against any KilnConfig.
    let config = serde_json::to_value(&config).expect("config serializes");
    assert_eq!(
        config["querier"]["peers_dns"],
        format!("kiln-querier.{NAMESPACE}.svc.cluster.local:{port}").as_str()
    );
    let querier = named(&objects, "Deployment", "kiln-querier");
    assert_eq!(http_port(querier), port, "headless port = querier port");

    // Only frontends (and Prometheus) may reach the queriers' worker.
    let policy = named(&objects, "NetworkPolicy", "kiln-querier");
    let what = policy.describe();
    let pods = string_map(&policy.doc["spec"]["podSelector"]["matchLabels"], &what);
    assert_eq!(selected(&objects, &pods), ["kiln-querier"], "{what}");
    let from_frontends = list(&policy.doc["spec"]["ingress"], &what)
        .iter()
        .flat_map(|rule| list(&rule["from"], &what))
        .filter(|peer| !peer["podSelector"].is_badvalue())
        .map(|peer| {
            selected(
                &objects,
                &string_map(&peer["podSelector"]["matchLabels"], &what),
            )
        })
        .collect::<Vec<_>>();
    assert_eq!(from_frontends, [["kiln-query-frontend"]], "{what}");

    let hpa = named(&objects, "HorizontalPodAutoscaler", "kiln-querier");
    let target = &hpa.doc["spec"]["scaleTargetRef"];
    assert_eq!(target["kind"].as_str(), Some("Deployment"));
    assert_eq!(target["name"].as_str(), Some("kiln-querier"));
    let min = hpa.doc["spec"]["minReplicas"]
        .as_i64()
        .expect("minReplicas");
    let max = hpa.doc["spec"]["maxReplicas"]
        .as_i64()
        .expect("maxReplicas");
    assert!(min >= 1 && min <= max, "HPA {min}..{max}");
    assert_eq!(querier.doc["spec"]["replicas"].as_i64(), Some(min));
}

#[test]
fn pods_are_probed_scraped_and_sized() {
    let objects = objects();
    let expected_replicas = [
        ("kiln-ingester", 2),
        ("kiln-query-frontend", 2),
        ("kiln-querier", 3),
        ("kiln-compactor", 1),
    ];
    for (name, replicas) in expected_replicas {
        let deployment = named(&objects, "Deployment", name);
        let what = deployment.describe();
        assert_eq!(
            deployment.doc["spec"]["replicas"].as_i64(),
            Some(replicas),
            "{what}"
        );
        let container = container(deployment);
        let port = http_port(deployment);

        let probe = &container["readinessProbe"]["httpGet"];
        assert_eq!(probe["path"].as_str(), Some("/ready"), "{what}");
        assert_eq!(probe["port"].as_str(), Some("http"), "{what}");

        let annotations = string_map(
            &deployment.doc["spec"]["template"]["metadata"]["annotations"],
            &what,
        );
        assert_eq!(annotations["prometheus.io/scrape"], "true", "{what}");
        assert_eq!(annotations["prometheus.io/path"], "/metrics", "{what}");
        assert_eq!(
            annotations["prometheus.io/port"],
            port.to_string(),
            "{what}"
        );

        let resources = &container["resources"];
        let cpu = |section: &str| millicores(&string(&resources[section]["cpu"], &what));
        let memory = |section: &str| bytes(&string(&resources[section]["memory"], &what));
        assert!(
            cpu("requests") > 0 && cpu("requests") <= cpu("limits"),
            "{what}: cpu"
        );
        assert!(
            memory("requests") > 0 && memory("requests") <= memory("limits"),
            "{what}: memory"
        );
    }
}

#[test]
fn quantity_parsing() {
    assert_eq!(millicores("500m"), 500);
    assert_eq!(millicores("2"), 2000);
    assert_eq!(bytes("512Mi"), 512 << 20);
    assert_eq!(bytes("3Gi"), 3 << 30);
    assert!(manifest_dir().is_dir());
}

/// One `kiln` process started the way a Deployment starts it.
struct RoleProcess {
    name: String,
    addr: SocketAddr,
    child: Child,
    logs: Arc<Mutex<Vec<u8>>>,
}

impl RoleProcess {
    /// Runs `kiln <args> --listen <loopback>` with `env` (and no inherited
    /// `KILN_*` variable).
    fn start(name: &str, args: &[String], env: &[(String, String)]) -> RoleProcess {
        let addr = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port");
        let mut command = Command::new(kiln_bin());
        command
            .args(args)
            .arg(format!("--listen={addr}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (var, _) in std::env::vars() {
            if var.starts_with("KILN_") || var.starts_with("AWS_") {
                command.env_remove(var);
            }
        }
        command.envs(env.iter().cloned()).env("NO_COLOR", "1");
        let mut child = command.spawn().expect("starting kiln");
        let logs = Arc::new(Mutex::new(Vec::new()));
        crate::server::capture(child.stderr.take().expect("piped stderr"), logs.clone());
        RoleProcess {
            name: name.to_string(),
            addr,
            child,
            logs,
        }
    }

    fn logs(&self) -> String {
        String::from_utf8_lossy(&self.logs.lock().unwrap()).into_owned()
    }

    /// Waits for `GET /ready` to answer 200 from this process (the
    /// harness's check); panics with its logs if it exits or stays unready.
    async fn wait_ready(&mut self) {
        let ready = crate::server::wait_ready(
            &mut self.child,
            self.addr,
            &self.logs,
            0,
            crate::server::Answer::Ready,
        )
        .await;
        if let Err(why) = ready {
            tokio::time::sleep(Duration::from_millis(100)).await;
            panic!("{} not ready ({why}):\n{}", self.name, self.logs());
        }
    }
}

impl Drop for RoleProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- {} stderr ----\n{}", self.name, self.logs());
        }
    }
}

#[tokio::test]
async fn each_deployment_starts_ready_on_s3_and_postgres() {
    let objects = objects();
    let emulator = tokio::task::spawn_blocking(|| Emulator::shared(EmulatorKind::S3))
        .await
        .expect("starting moto");
    let postgres = tokio::task::spawn_blocking(TestPostgres::shared)
        .await
        .expect("starting PostgreSQL");
    let database = postgres.fresh_database().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let prefix = unique_prefix("deploy");
    // What an operator changes to run the manifests on MinIO and their own
    // database: endpoint, plain HTTP, bucket, credentials, URL.
    let site: Vec<(String, String)> = emulator
        .server_env(&prefix)
        .into_iter()
        .filter(|(name, _)| name != "KILN_STORAGE__BACKEND")
        .chain([("KILN_METASTORE__POSTGRES_URL".to_string(), database)])
        .collect();

    // Queriers first: the frontend is ready only once it finds one.
    let order = [
        "kiln-querier",
        "kiln-ingester",
        "kiln-compactor",
        "kiln-query-frontend",
    ];
    let mut running: Vec<RoleProcess> = Vec::new();
    let mut querier_addr: Option<SocketAddr> = None;
    for name in order {
        let deployment = named(&objects, "Deployment", name);
        let launch = launch(&objects, deployment);
        let file = dir.path().join(format!("{name}.toml"));
        std::fs::write(&file, &launch.config_text).expect("writing kiln.toml");
        let mut args = vec!["server".to_string()];
        for (flag, value) in &launch.flags {
            let value = if flag == "config" {
                file.display().to_string()
            } else {
                value.clone()
            };
            args.push(format!("--{flag}={value}"));
        }
        let mut env = launch.env.clone();
        env.extend(site.iter().cloned());
        if let Some(addr) = querier_addr {
            // In place of the headless Service's name (an IP literal
            // resolves to itself through the same lookup).
            env.push((
                "KILN_QUERIER__PEERS_DNS".to_string(),
                format!("127.0.0.1:{}", addr.port()),
            ));
        }
        let mut process = RoleProcess::start(name, &args, &env);
        process.wait_ready().await;
        if name == "kiln-querier" {
            querier_addr = Some(process.addr);
        }
        running.push(process);
    }
    for process in &running {
        let metrics = try_get(&format!("http://{}/metrics", process.addr))
            .await
            .expect("/metrics answers");
        assert_eq!(metrics.status, 200, "{} /metrics", process.name);
    }

    // Wired as the manifests say: a push to the ingester is answered by the
    // frontend (ready only once it found the querier through peers_dns;
    // whether a one-block query is spread over queriers is the fleet
    // test's subject, tests/e2e/fleet.rs).
    let url = |name: &str, path: &str| {
        let process = running.iter().find(|p| p.name == name).expect("started");
        format!("http://{}{path}", process.addr)
    };
    let tenant = ("x-scope-orgid", "team-a");
    let mut pprof = PprofBuilder::cpu().time(minutes_ago(2) * 1_000_000);
    for (stack, value) in TREE_A {
        pprof = pprof.sample(stack, &[*value]);
    }
    let push = push_request(
        &[("__name__", "process_cpu"), ("service_name", "checkout")],
        pprof.encode(),
    );
    let reply = post(
        &url("kiln-ingester", PUSH_PATH),
        &[("content-type", "application/proto"), tenant],
        full(push.encode_to_vec()),
    )
    .await;
    assert_eq!(reply.status, 200, "push to the ingester: {reply:?}");
    let query = selection(
        CPU,
        r#"{service_name="checkout"}"#,
        minutes_ago(10),
        now_ms(),
    );
    let reply = post(
        &url(
            "kiln-query-frontend",
            "/querier.v1.QuerierService/SelectMergeStacktraces",
        ),
        &[("content-type", "application/json"), tenant],
        full(query.to_string()),
    )
    .await;
    assert_eq!(reply.status, 200, "query through the frontend: {reply:?}");
    assert_eq!(reply.json()["flamegraph"]["total"], "52");
}
