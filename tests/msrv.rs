//! The declared `rust-version` is true: no dependency the libraries build with (normal
//! dependencies, all features, on this platform, at the versions of `Cargo.lock`) declares a
//! higher one, and an edition-2024 dependency means at least 1.85. What this cannot check
//! here is a build with that toolchain itself (CI has no network but apt and crates.io); the
//! dependencies' own declarations are what decide it.

use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::process::Command;

/// `1.89` and `1.89.0` alike: three numbers.
fn version(v: &str) -> [u64; 3] {
    let mut parts = v.split('.').map(|n| n.parse().unwrap_or(0));
    [0; 3].map(|_| parts.next().unwrap_or(0))
}

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().expect(program);
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

#[test]
fn the_declared_rust_version_covers_every_dependency() {
    let host = run("rustc", &["-vV"])
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .expect("rustc's host");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let meta: Value = serde_json::from_str(&run(
        &cargo,
        &[
            "metadata",
            "--format-version",
            "1",
            "--all-features",
            "--locked",
            "--filter-platform",
            &host,
            "--manifest-path",
            concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
        ],
    ))
    .expect("cargo metadata's JSON");

    let packages: HashMap<&str, &Value> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p))
        .collect();
    let nodes: HashMap<&str, &Value> = meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n))
        .collect();
    let members: Vec<&str> = meta["workspace_members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    let declared: HashSet<String> = members
        .iter()
        .map(|m| {
            packages[m]["rust_version"]
                .as_str()
                .expect("rust-version set")
                .to_owned()
        })
        .collect();
    assert_eq!(
        declared.len(),
        1,
        "one rust-version for the workspace: {declared:?}"
    );
    let ours = declared.into_iter().next().unwrap();

    // Every package reachable through normal (not dev, not build-only) dependencies.
    let mut seen = HashSet::new();
    let mut stack = members.clone();
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        for dep in nodes[id]["deps"].as_array().unwrap() {
            let normal = dep["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kind"].is_null());
            if normal {
                stack.push(dep["pkg"].as_str().unwrap());
            }
        }
    }
    let mut needs: Vec<([u64; 3], String)> = seen
        .iter()
        .filter(|id| !members.contains(id))
        .filter_map(|id| {
            let p = packages[id];
            let name = format!("{} {}", p["name"].as_str()?, p["version"].as_str()?);
            let min = match (p["rust_version"].as_str(), p["edition"].as_str()) {
                (Some(v), _) => v.to_owned(),
                (None, Some("2024")) => "1.85".to_owned(),
                _ => return None,
            };
            Some((version(&min), format!("{name} needs {min}")))
        })
        .collect();
    needs.sort();
    let (highest, who) = needs.last().expect("dependencies with a rust-version");
    assert!(
        version(&ours) >= *highest,
        "rust-version = {ours} is too low: {who} (and {} more)",
        needs.iter().filter(|(v, _)| v > &version(&ours)).count() - 1
    );
    assert!(
        version(&ours) == *highest,
        "rust-version = {ours} is higher than any dependency needs ({who}): lower it"
    );
}
