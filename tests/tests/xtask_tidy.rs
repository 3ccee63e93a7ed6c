//! Repository hygiene checked by `cargo test`, as rust-analyzer's tidy tests keep its
//! architecture: every Rust file opens with a `//!` line saying what it is for; the runtime's
//! floors hold (no module names a floor above its own; only `kafka/` names rdkafka or
//! postgres); and no crate has an import loop between its modules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if !name.starts_with('.') && name != "target" {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_rust_file_opens_with_a_module_doc() {
    let mut files = Vec::new();
    for dir in ["macros", "runtime", "registry", "xtask", "tests", "fuzz"] {
        rust_files(&root().join(dir), &mut files);
    }
    assert!(files.len() > 20, "found the sources");
    let undocumented: Vec<String> = files
        .iter()
        .filter(|f| !std::fs::read_to_string(f).unwrap().starts_with("//!"))
        .map(|f| f.strip_prefix(root()).unwrap().display().to_string())
        .collect();
    assert!(undocumented.is_empty(), "files without a leading `//!` line: {undocumented:?}");
}

/// One source file of a crate: its module path (`kafka::replay`; the crate root is empty) and
/// its lines of code, comments and doc examples taken out (a doc link is not an import).
struct Module {
    file: PathBuf,
    path: Vec<String>,
    code: Vec<(usize, String)>,
}

/// Every module of the crate whose sources are in `src`, with `#[cfg(test)]` modules left out
/// (tests may reach anywhere).
fn modules(src: &Path) -> Vec<Module> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    files
        .into_iter()
        .filter(|f| !f.starts_with(src.join("bin")))
        .map(|file| {
            let relative = file.strip_prefix(src).unwrap().with_extension("");
            let mut path: Vec<String> =
                relative.iter().map(|s| s.to_string_lossy().into_owned()).collect();
            if matches!(path.last().map(String::as_str), Some("mod" | "lib" | "main")) {
                path.pop();
            }
            let text = std::fs::read_to_string(&file).unwrap();
            let mut code = Vec::new();
            for (number, line) in text.lines().enumerate() {
                let trimmed = line.trim_start();
                if trimmed.starts_with("#[cfg(test)]") {
                    break; // unit tests sit at the end of their file
                }
                if !trimmed.starts_with("//") {
                    code.push((number + 1, line.to_owned()));
                }
            }
            Module { file, path, code }
        })
        .collect()
}

/// The module paths `crate::a::b::...` a line names (each path's segments up to the first
/// that is not a module name: lower case).
fn crate_paths(line: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let mut path = Vec::new();
        for segment in rest.split("::") {
            let name: String =
                segment.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !name.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
                break;
            }
            let whole = name.len() == segment.len();
            path.push(name);
            if !whole {
                break;
            }
        }
        if !path.is_empty() {
            found.push(path);
        }
    }
    found
}

/// The runtime's floors, lowest first: each module may name only its own floor and those
/// below it. The crate root (`lib.rs`: `strata::Error` over everything), `guide` and
/// `__private_v0` (support for generated code) stand above them all.
const FLOORS: &[(&str, &[&str])] = &[
    ("the ground floor's errors", &["error"]),
    ("the ground floor", &["decode", "encode", "event", "schema", "subject", "types", "wire"]),
    ("the Avro machinery", &["avro"]),
    ("the codec", &["codec", "snapshot"]),
    ("the history", &["history"]),
    ("Kafka and read models", &["kafka"]),
];

fn floor_of(top: &str) -> Option<usize> {
    FLOORS.iter().position(|(_, modules)| modules.contains(&top))
}

/// Every breach of the runtime's walls, as `file:line: what`.
fn wall_breaches(src: &Path) -> Vec<String> {
    let mut breaches = Vec::new();
    for module in modules(src) {
        let Some(top) = module.path.first() else { continue }; // lib.rs
        let Some(own) = floor_of(top) else { continue }; // guide, private
        let file = module.file.strip_prefix(root()).unwrap_or(&module.file).display().to_string();
        let at = |line: usize| format!("{file}:{line}");
        for (line, text) in &module.code {
            for path in crate_paths(text) {
                match floor_of(&path[0]) {
                    Some(named) if named > own => breaches.push(format!(
                        "{}: `{}` ({}) names `crate::{}` ({}), a floor above it",
                        at(*line),
                        module.path.join("::"),
                        FLOORS[own].0,
                        path.join("::"),
                        FLOORS[named].0,
                    )),
                    Some(_) => {}
                    None if path[0] == "__private_v0" || path[0] == "guide" => {
                        breaches.push(format!(
                            "{}: names `crate::{}`, which no module builds on",
                            at(*line),
                            path[0]
                        ))
                    }
                    None => {}
                }
            }
            if top != "kafka" {
                for external in ["rdkafka", "postgres"] {
                    let named = text
                        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                        .any(|word| word == external || word.starts_with(&format!("{external}::")));
                    if named {
                        breaches.push(format!(
                            "{}: `{}` names `{external}`, which only `kafka/` may",
                            at(*line),
                            module.path.join("::")
                        ));
                    }
                }
            }
        }
    }
    breaches
}

/// The first import loop between the modules of the crate in `src`, as the modules around it.
/// An edge is a module naming another (`crate::a::b`, resolved to the longest module path
/// that exists); a module naming its own ancestor or descendant is no edge (a folder's
/// `mod.rs` declares and re-exports its children, which use what it defines).
fn import_loop(src: &Path) -> Option<Vec<String>> {
    let modules = modules(src);
    let known: BTreeSet<Vec<String>> = modules.iter().map(|m| m.path.clone()).collect();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for module in &modules {
        let out = edges.entry(module.path.clone()).or_default();
        for (_, text) in &module.code {
            let mut named = crate_paths(text);
            // `super::x` from a file names its parent folder's module `x` (or the parent).
            if let Some(at) = text.find("super::") {
                let parent = &module.path[..module.path.len().saturating_sub(1)];
                let mut path = parent.to_vec();
                path.extend(
                    crate_paths(&format!("crate::{}", &text[at + "super::".len()..]))
                        .into_iter()
                        .next()
                        .unwrap_or_default(),
                );
                named.push(path);
            }
            for path in named {
                let target = (0..=path.len())
                    .rev()
                    .map(|n| path[..n].to_vec())
                    .find(|candidate| known.contains(candidate))
                    .unwrap_or_default();
                let nested = target.starts_with(&module.path) || module.path.starts_with(&target);
                if !nested {
                    out.insert(target);
                }
            }
        }
    }
    // Depth-first search for a back edge.
    fn visit(
        node: &Vec<String>,
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        stack: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
    ) -> Option<Vec<String>> {
        if let Some(start) = stack.iter().position(|n| n == node) {
            let mut cycle: Vec<String> = stack[start..].iter().map(|p| p.join("::")).collect();
            cycle.push(node.join("::"));
            return Some(cycle);
        }
        if !done.insert(node.clone()) {
            return None;
        }
        stack.push(node.clone());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        if let Some(cycle) = visit(node, &edges, &mut Vec::new(), &mut done) {
            return Some(cycle);
        }
    }
    None
}

#[test]
fn no_runtime_module_names_a_floor_above_its_own() {
    let src = root().join("runtime/src");
    let mut placed = BTreeSet::new();
    for module in modules(&src) {
        if let Some(top) = module.path.first() {
            placed.insert(top.clone());
        }
    }
    let unplaced: Vec<_> = placed
        .iter()
        .filter(|top| floor_of(top).is_none() && !["guide", "private"].contains(&top.as_str()))
        .collect();
    assert!(unplaced.is_empty(), "modules on no floor (add them to FLOORS): {unplaced:?}");
    let breaches = wall_breaches(&src);
    assert!(breaches.is_empty(), "the runtime's walls are broken:\n{}", breaches.join("\n"));
}

#[test]
fn no_crate_has_an_import_loop() {
    for krate in ["runtime", "registry", "xtask", "macros"] {
        let src = root().join(krate).join("src");
        assert!(modules(&src).len() > 3, "found `{krate}`'s modules");
        if let Some(cycle) = import_loop(&src) {
            panic!("`{krate}` has an import loop: {}", cycle.join(" -> "));
        }
    }
}

/// A scratch crate of `files` (name, text), removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str, files: &[(&str, &str)]) -> Self {
        let dir = std::env::temp_dir().join(format!("strata-tidy-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (file, text) in files {
            let path = dir.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn the_checks_catch_a_breach_and_a_loop() {
    assert_eq!(crate_paths("use crate::kafka::record::Position;"), [["kafka", "record"]]);
    assert_eq!(crate_paths("x: crate::codec::SourceError,"), [["codec"]]);
    assert_eq!(
        crate_paths("crate::schema::rabin_fingerprint(&crate::x::Y)"),
        [vec!["schema", "rabin_fingerprint"], vec!["x"]]
    );
    assert!(crate_paths("use mycrate::x;").is_empty());

    let breach = Scratch::new(
        "breach",
        &[
            ("lib.rs", "//! root\npub mod event;\npub mod kafka;\n"),
            (
                "event.rs",
                "//! ground\n/// [`crate::kafka::Doc`] is a link, not an import.\npub fn f(_: crate::kafka::record::Position) {}\n",
            ),
            ("kafka/mod.rs", "//! kafka\npub mod record;\nuse rdkafka::Message;\n"),
            ("kafka/record.rs", "//! record\npub struct Position(crate::event::E);\n"),
            ("subject.rs", "//! ground\nfn g(c: &postgres::Client) {}\n"),
        ],
    );
    let breaches = wall_breaches(&breach.0);
    assert_eq!(breaches.len(), 2, "{breaches:#?}");
    assert!(
        breaches[0].contains("event.rs:3: `event` (the ground floor) names `crate::kafka::record`")
    );
    assert!(breaches[1].contains("`subject` names `postgres`, which only `kafka/` may"));

    let looped = Scratch::new(
        "loop",
        &[
            ("lib.rs", "//! root\nmod a;\nmod b;\nmod c;\n"),
            ("a.rs", "//! a\nuse crate::b::B;\n"),
            ("b.rs", "//! b\npub struct B(crate::c::C);\n"),
            ("c.rs", "//! c\npub struct C;\nfn f() -> crate::a::A { todo!() }\n"),
        ],
    );
    assert_eq!(import_loop(&looped.0).unwrap(), ["a", "b", "c", "a"]);
}

#[test]
fn reliability_md_names_only_tests_that_exist() {
    let text = std::fs::read_to_string(root().join("RELIABILITY.md")).unwrap();
    let mut named = 0;
    let mut missing = Vec::new();
    for quoted in text.split('`').skip(1).step_by(2) {
        let Some((file, test)) = quoted.split_once("::") else { continue };
        if file.contains(' ') || !(file.starts_with("test_") || file.starts_with("xtask_")) {
            continue;
        }
        named += 1;
        let source = std::fs::read_to_string(root().join(format!("tests/tests/{file}.rs")))
            .unwrap_or_default();
        // Test names can be long enough for rustfmt to break the line after them.
        if !source.contains(&format!("fn {test}()")) {
            missing.push(quoted.to_owned());
        }
    }
    assert!(named > 30, "the matrix names its tests ({named} found)");
    assert!(missing.is_empty(), "RELIABILITY.md names tests that do not exist: {missing:#?}");
}
