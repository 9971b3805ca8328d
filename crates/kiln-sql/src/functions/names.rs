//! Reducing a function name to its package or module, per language.
//!
//! Rules (applied in order; `None` when no rule applies):
//!
//! 1. A pprof-rs location prefix `file:line - ` is removed
//!    (`":0 - rustlegacy::fib"` → `"rustlegacy::fib"`).
//! 2. `module(name, file)` with a file that says more than the name:
//!    * `…/node_modules/@scope/pkg/…` → `@scope/pkg`, `…/node_modules/pkg/…` → `pkg`;
//!    * `node:zlib` → `node:zlib`, `node:internal/…` → `node:internal`;
//!    * `…/site-packages/pkg/…` (or `dist-packages`) → `pkg`;
//!    * other `.py`, `.js`, `.mjs`, `.cjs`, `.ts` files → the file's stem
//!      (`/app/handlers.py` → `handlers`).
//! 3. Rust (`::` in the name): the crate, i.e. the first path segment, with
//!    a leading `<`/`&` of trait-impl names dropped
//!    (`<tokio::runtime::X as core::Future>::poll` → `tokio`).
//! 4. Go: the package is the import path up to the first `.` after the
//!    last `/`, and its last element must start with a lowercase letter
//!    (`crypto/sha256.(*digest).Write` → `crypto/sha256`,
//!    `github.com/a/b/c.F` → `github.com/a/b/c`). `Socket.connect` (JS)
//!    and `[vdso]` are not Go. The module of a package whose first element
//!    is a domain is its first three elements (`github.com/a/b`; two for
//!    `gopkg.in`), otherwise (standard library, `main`) its first element
//!    (`crypto`, `runtime`, `main`).
//! 5. Python and JavaScript names alone (`burn`, `Socket.connect`) carry no
//!    module: pass the frame's `file` (from the `frames` table).

/// The name without a pprof-rs `file:line - ` prefix.
fn strip_location(name: &str) -> &str {
    match name.split_once(" - ") {
        Some((loc, rest)) if loc.contains(':') && !loc.contains(' ') => rest,
        _ => name,
    }
}

/// The Go import path of a Go function name (the linker's `%2e` escape of
/// dots in the last path element undone).
pub fn go_package(name: &str) -> Option<String> {
    let name = strip_location(name);
    if name.contains("::") || name.contains(' ') {
        return None;
    }
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let dot = last_slash + name[last_slash..].find('.')?;
    let package = &name[..dot];
    let last = &package[last_slash..];
    let first_char = last.chars().next()?;
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '~' | '%');
    (first_char.is_ascii_lowercase()
        && package
            .split('/')
            .all(|e| !e.is_empty() && e.chars().all(valid)))
    .then(|| package.replace("%2e", "."))
}

/// The module of a Go import path (rule 4).
fn go_module(package: &str) -> &str {
    let elements: Vec<&str> = package.split('/').collect();
    let keep = if elements[0].contains('.') {
        if elements[0] == "gopkg.in" { 2 } else { 3 }
    } else {
        1
    };
    let keep = keep.min(elements.len());
    let len: usize = elements[..keep].iter().map(|e| e.len()).sum::<usize>() + keep - 1;
    &package[..len]
}

/// The Rust crate of a `::` path (rule 3).
fn rust_crate(name: &str) -> Option<&str> {
    let trimmed = name.trim_start_matches(['<', '&']);
    let trimmed = trimmed.strip_prefix("dyn ").unwrap_or(trimmed);
    let end = trimmed.find("::")?;
    let krate = &trimmed[..end];
    (!krate.is_empty() && krate.chars().all(|c| c.is_alphanumeric() || c == '_')).then_some(krate)
}

/// The module of a source file (rule 2), when it identifies one.
fn file_module(file: &str) -> Option<String> {
    if let Some(rest) = file.strip_prefix("node:") {
        let first = rest.split('/').next().unwrap_or(rest);
        return Some(format!("node:{first}"));
    }
    if let Some(i) = file.rfind("node_modules/") {
        let mut parts = file[i + "node_modules/".len()..].split('/');
        let first = parts.next()?;
        return Some(if first.starts_with('@') {
            format!("{first}/{}", parts.next()?)
        } else {
            first.to_string()
        });
    }
    for dir in ["site-packages/", "dist-packages/"] {
        if let Some(i) = file.rfind(dir) {
            let rest = &file[i + dir.len()..];
            let first = rest.split('/').next()?;
            return Some(first.trim_end_matches(".py").to_string());
        }
    }
    let base = file.rsplit('/').next()?;
    for ext in [".py", ".js", ".mjs", ".cjs", ".ts"] {
        if let Some(stem) = base.strip_suffix(ext) {
            return (!stem.is_empty()).then(|| stem.to_string());
        }
    }
    None
}

/// The module of a function (rules 1–5), optionally helped by its file.
pub fn module(name: &str, file: Option<&str>) -> Option<String> {
    if let Some(m) = file.and_then(file_module) {
        return Some(m);
    }
    let name = strip_location(name);
    if name.contains("::") {
        return rust_crate(name).map(str::to_string);
    }
    go_package(name).map(|p| go_module(&p).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_names() {
        assert_eq!(
            go_package("crypto/sha256.(*digest).Write").as_deref(),
            Some("crypto/sha256")
        );
        assert_eq!(go_package("main.burnCPU").as_deref(), Some("main"));
        assert_eq!(
            go_package("runtime.gcBgMarkWorker.func2").as_deref(),
            Some("runtime")
        );
        assert_eq!(
            go_package("github.com/grafana/pyroscope-go/godeltaprof.(*Profiler).Profile")
                .as_deref(),
            Some("github.com/grafana/pyroscope-go/godeltaprof")
        );
        assert_eq!(go_package("[vdso]"), None);
        assert_eq!(go_package("Socket.connect"), None);
        assert_eq!(go_package("burn"), None);
        assert_eq!(go_package(":0 - rustlegacy::fib"), None);
        assert_eq!(
            module("crypto/sha256.Sum256", None).as_deref(),
            Some("crypto")
        );
        assert_eq!(
            module("github.com/grafana/pyroscope-go/godeltaprof.(*P).F", None).as_deref(),
            Some("github.com/grafana/pyroscope-go")
        );
        // The linker escapes dots of the last path element as %2e.
        assert_eq!(
            module("gopkg.in/yaml%2ev3.Unmarshal", None).as_deref(),
            Some("gopkg.in/yaml.v3")
        );
        assert_eq!(
            go_package("gopkg.in/yaml%2ev3.(*decoder).unmarshal").as_deref(),
            Some("gopkg.in/yaml.v3")
        );
    }

    #[test]
    fn rust_names() {
        assert_eq!(
            module(":0 - rustlegacy::fib", None).as_deref(),
            Some("rustlegacy")
        );
        assert_eq!(
            module(":0 - std::rt::lang_start::{{closure}}", None).as_deref(),
            Some("std")
        );
        assert_eq!(
            module("<tokio::runtime::Foo as core::future::Future>::poll", None).as_deref(),
            Some("tokio")
        );
        assert_eq!(
            module("libc-start.c:360 - __libc_start_main_impl", None),
            None
        );
    }

    #[test]
    fn python_and_js_need_the_file() {
        assert_eq!(module("burn", None), None);
        assert_eq!(
            module("burn", Some("/tmp/clientprobe/py/agent_a.py")).as_deref(),
            Some("agent_a")
        );
        assert_eq!(
            module(
                "get",
                Some("/usr/lib/python3/site-packages/requests/api.py")
            )
            .as_deref(),
            Some("requests")
        );
        assert_eq!(
            module("Socket.connect", Some("node:net")).as_deref(),
            Some("node:net")
        );
        assert_eq!(
            module("x", Some("node:internal/deps/undici/undici")).as_deref(),
            Some("node:internal")
        );
        assert_eq!(
            module(
                "(anonymous:L#55:C#26)",
                Some("/tmp/n/node_modules/@pyroscope/nodejs/dist/cjs/index.js")
            )
            .as_deref(),
            Some("@pyroscope/nodejs")
        );
        // A Go file says nothing more than the name.
        assert_eq!(
            module("runtime.main", Some("/usr/lib/go-1.19/src/runtime/proc.go")).as_deref(),
            Some("runtime")
        );
    }
}
