//! Helpers shared by the integration tests: sample Avro data for any schema, and the bridge to
//! the independent Python implementations installed by `scripts/setup-python.sh`.

#![allow(dead_code)] // Each test binary uses its own part of the helpers.

pub mod broker;
pub mod faults;
pub mod kafka;
pub mod postgres;
pub mod process;
pub mod registry;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use apache_avro::Schema;
use apache_avro::schema::Name;
use apache_avro::types::Value;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_owned()
}

/// A small deterministic generator (SplitMix64), so failures reproduce.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The named types a schema defines, so references can be followed.
pub fn named_types(schema: &Schema) -> HashMap<Name, Schema> {
    fn walk(schema: &Schema, out: &mut HashMap<Name, Schema>) {
        match schema {
            Schema::Record(r) if out.insert(r.name.clone(), schema.clone()).is_none() => {
                for field in &r.fields {
                    walk(&field.schema, out);
                }
            }
            Schema::Enum(e) => {
                out.insert(e.name.clone(), schema.clone());
            }
            Schema::Fixed(f) => {
                out.insert(f.name.clone(), schema.clone());
            }
            Schema::Array(a) => walk(&a.items, out),
            Schema::Map(m) => walk(&m.types, out),
            Schema::Union(u) => u.variants().iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = HashMap::new();
    walk(schema, &mut out);
    out
}

/// A value of `schema` chosen by `rng`; nesting stops growing past a few levels.
pub fn sample(
    schema: &Schema,
    names: &HashMap<Name, Schema>,
    rng: &mut Rng,
    depth: usize,
) -> Value {
    let text = |rng: &mut Rng| format!("text-{}", rng.next() % 1000);
    match schema {
        Schema::Null => Value::Null,
        Schema::Boolean => Value::Boolean(rng.next().is_multiple_of(2)),
        Schema::Int => Value::Int((rng.next() % 2000) as i32 - 1000),
        Schema::Long => Value::Long((rng.next() % 2_000_000) as i64 - 1_000_000),
        Schema::Float => Value::Float((rng.next() % 1000) as f32 / 8.0),
        Schema::Double => Value::Double((rng.next() % 100_000) as f64 / 16.0),
        Schema::Bytes => Value::Bytes((0..rng.below(5)).map(|_| rng.next() as u8).collect()),
        Schema::String => Value::String(text(rng)),
        Schema::Uuid(_) => Value::Uuid(uuid::Uuid::from_u128(u128::from(rng.next()))),
        Schema::Date => Value::Date((rng.next() % 40_000) as i32),
        Schema::TimestampMillis => Value::TimestampMillis((rng.next() % (1 << 41)) as i64),
        Schema::TimestampMicros => Value::TimestampMicros((rng.next() % (1 << 51)) as i64),
        Schema::Decimal(_) => {
            let unscaled = (rng.next() % 1_000_000) as i64 - 500_000;
            let bytes = strata::Decimal::<18, 2>::from_unscaled(i128::from(unscaled))
                .expect("fits")
                .to_be_bytes_minimal();
            Value::Decimal(apache_avro::Decimal::from(bytes))
        }
        Schema::Fixed(f) => Value::Fixed(f.size, (0..f.size).map(|_| rng.next() as u8).collect()),
        Schema::Enum(e) => {
            let i = rng.below(e.symbols.len());
            Value::Enum(i as u32, e.symbols[i].clone())
        }
        Schema::Array(a) => {
            let n = if depth > 3 { 0 } else { rng.below(3) };
            Value::Array((0..n).map(|_| sample(&a.items, names, rng, depth + 1)).collect())
        }
        Schema::Map(m) => {
            let n = if depth > 3 { 0 } else { rng.below(3) };
            Value::Map(
                (0..n).map(|_| (text(rng), sample(&m.types, names, rng, depth + 1))).collect(),
            )
        }
        Schema::Union(u) => {
            let i = rng.below(u.variants().len());
            Value::Union(i as u32, Box::new(sample(&u.variants()[i], names, rng, depth + 1)))
        }
        Schema::Record(r) => Value::Record(
            r.fields
                .iter()
                .map(|f| (f.name.clone(), sample(&f.schema, names, rng, depth + 1)))
                .collect(),
        ),
        Schema::Ref { name } => {
            let target =
                names.get(name).unwrap_or_else(|| panic!("reference to undefined `{name}`"));
            sample(target, names, rng, depth)
        }
        other => panic!("the sample generator does not cover {other:?}"),
    }
}

/// Samples of a top-level union schema, `per_branch` values for each branch, so every event
/// type of a topic is covered.
pub fn samples_per_branch(schema: &Schema, per_branch: usize, seed: u64) -> Vec<Value> {
    let names = named_types(schema);
    let Schema::Union(union) = schema else { panic!("a topic schema is a union") };
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    for (i, branch) in union.variants().iter().enumerate() {
        for _ in 0..per_branch {
            out.push(Value::Union(i as u32, Box::new(sample(branch, &names, &mut rng, 0))));
        }
    }
    out
}

/// The Python interpreter of the virtual environment holding fastavro and confluent-kafka:
/// `STRATA_PYTHON`, else `.venv/bin/python` in the workspace.
pub fn python() -> PathBuf {
    if let Some(python) = std::env::var_os("STRATA_PYTHON") {
        return PathBuf::from(python);
    }
    let venv = root().join(".venv/bin/python");
    assert!(
        venv.exists(),
        "no Python environment with fastavro at `{}`\nhint: run `scripts/setup-python.sh` (the README's test command does)",
        venv.display()
    );
    venv
}

/// Runs `command` with `stdin` written to it (from a thread, so a large input cannot
/// deadlock against its output), returning its standard output; a failure fails the test with
/// its standard error.
fn run_with_stdin(mut command: Command, what: &str, stdin: &str) -> String {
    use std::io::Write;
    let mut child = command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let mut input = child.stdin.take().expect("stdin is piped");
    let stdin = stdin.to_owned();
    let writer = std::thread::spawn(move || input.write_all(stdin.as_bytes()));
    let output = child.wait_with_output().unwrap_or_else(|e| panic!("{what} did not finish: {e}"));
    writer
        .join()
        .expect("the writer thread ends")
        .unwrap_or_else(|e| panic!("{what} did not read its input: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{what} failed:\n{}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Runs `tests/python/<script>` with `args` and `stdin`, returning its standard output; a
/// failing script fails the test with its standard error.
pub fn run_python(script: &str, args: &[&str], stdin: &str) -> String {
    let mut command = Command::new(python());
    command.arg(root().join("tests/python").join(script)).args(args);
    run_with_stdin(command, &format!("`{script}`"), stdin)
}

/// `value` in Avro binary with `schema`, written by apache-avro.
pub fn write_datum(schema: &Schema, value: Value) -> apache_avro::AvroResult<Vec<u8>> {
    apache_avro::writer::datum::GenericDatumWriter::builder(schema)
        .build()?
        .write_value_to_vec(value)
}

/// A datum written with `writer`, read by apache-avro resolving it into `reader`.
pub fn read_datum(
    writer: &Schema,
    reader: &Schema,
    bytes: &[u8],
) -> apache_avro::AvroResult<Value> {
    apache_avro::reader::datum::GenericDatumReader::builder(writer)
        .reader_schema(reader)
        .build()?
        .read_value(&mut &bytes[..])
}

/// Rewrites a writer schema with the reader's aliases, as Avro Java's `Schema.applyAliases`
/// does before resolving: a writer type or field named by one of the reader's aliases takes
/// the reader's name. apache-avro 0.22 ignores aliases when resolving, so tests apply them
/// with this first; fastavro applies them itself.
pub fn apply_aliases(writer: &serde_json::Value, reader: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value as J;

    #[derive(Default)]
    struct Renames {
        /// Writer full name -> reader full name.
        types: HashMap<String, String>,
        /// Reader full name -> (writer field name -> reader field name).
        fields: HashMap<String, HashMap<String, String>>,
    }

    fn full_name(name: &str, namespace: Option<&str>) -> String {
        match namespace {
            Some(ns) if !name.contains('.') && !ns.is_empty() => format!("{ns}.{name}"),
            _ => name.to_owned(),
        }
    }

    fn namespace_of(
        object: &serde_json::Map<String, J>,
        enclosing: Option<&str>,
    ) -> Option<String> {
        let name = object.get("name").and_then(J::as_str).unwrap_or_default();
        if let Some((ns, _)) = name.rsplit_once('.') {
            return Some(ns.to_owned());
        }
        object
            .get("namespace")
            .and_then(J::as_str)
            .map(str::to_owned)
            .or(enclosing.map(str::to_owned))
    }

    fn collect(schema: &J, enclosing: Option<&str>, out: &mut Renames) {
        match schema {
            J::Array(branches) => branches.iter().for_each(|b| collect(b, enclosing, out)),
            J::Object(o) => {
                let ns = namespace_of(o, enclosing);
                if let Some(name) = o.get("name").and_then(J::as_str) {
                    let full = full_name(name, ns.as_deref());
                    for alias in o.get("aliases").and_then(J::as_array).into_iter().flatten() {
                        let alias = full_name(alias.as_str().unwrap_or_default(), ns.as_deref());
                        out.types.insert(alias, full.clone());
                    }
                    if let Some(fields) = o.get("fields").and_then(J::as_array) {
                        let mut map = HashMap::new();
                        for field in fields {
                            let name = field["name"].as_str().unwrap_or_default().to_owned();
                            for alias in
                                field.get("aliases").and_then(J::as_array).into_iter().flatten()
                            {
                                map.insert(
                                    alias.as_str().unwrap_or_default().to_owned(),
                                    name.clone(),
                                );
                            }
                            collect(&field["type"], ns.as_deref(), out);
                        }
                        out.fields.insert(full, map);
                    }
                }
                for key in ["items", "values", "type"] {
                    if let Some(inner) = o.get(key).filter(|v| !v.is_string()) {
                        collect(inner, ns.as_deref(), out);
                    }
                }
            }
            _ => {}
        }
    }

    fn rewrite(schema: &J, enclosing: Option<&str>, renames: &Renames) -> J {
        match schema {
            J::String(name) => {
                let full = full_name(name, enclosing);
                J::String(renames.types.get(&full).cloned().unwrap_or_else(|| name.clone()))
            }
            J::Array(branches) => {
                J::Array(branches.iter().map(|b| rewrite(b, enclosing, renames)).collect())
            }
            J::Object(o) => {
                let ns = namespace_of(o, enclosing);
                let mut out = o.clone();
                let mut own = None;
                if let Some(name) = o.get("name").and_then(J::as_str) {
                    let full = full_name(name, ns.as_deref());
                    let target = renames.types.get(&full).cloned().unwrap_or(full);
                    out.insert("name".into(), J::String(target.clone()));
                    out.remove("namespace");
                    own = Some(target);
                }
                if let Some(fields) = o.get("fields").and_then(J::as_array) {
                    let field_renames = own.as_ref().and_then(|n| renames.fields.get(n));
                    let fields = fields
                        .iter()
                        .map(|field| {
                            let mut field = field.clone();
                            let name = field["name"].as_str().unwrap_or_default().to_owned();
                            if let Some(new) = field_renames.and_then(|m| m.get(&name)) {
                                field["name"] = J::String(new.clone());
                            }
                            field["type"] = rewrite(&field["type"], ns.as_deref(), renames);
                            field
                        })
                        .collect();
                    out.insert("fields".into(), J::Array(fields));
                }
                for key in ["items", "values"] {
                    if let Some(inner) = o.get(key) {
                        out.insert(key.into(), rewrite(inner, ns.as_deref(), renames));
                    }
                }
                J::Object(out)
            }
            other => other.clone(),
        }
    }

    let mut renames = Renames::default();
    collect(reader, None, &mut renames);
    rewrite(writer, None, &renames)
}

/// The class path of Debian's Avro Java (`libavro-java`) and what it needs.
fn java_classpath() -> String {
    let jars = [
        "avro",
        "jackson-core-asl",
        "jackson-mapper-asl",
        "paranamer",
        "slf4j-api",
        "commons-compress",
        "snappy-java",
        "xz",
    ];
    jars.iter().map(|j| format!("/usr/share/java/{j}.jar")).collect::<Vec<_>>().join(":")
}

/// The command running `tests/java/<class>.java` against Avro Java, compiled once per process;
/// missing Java or Avro Java fails with the fix.
pub fn java(class: &str) -> Command {
    use std::sync::Mutex;
    static COMPILED: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let dir = std::env::temp_dir().join(format!("strata-java-{}", std::process::id()));
    let mut compiled = COMPILED.lock().unwrap_or_else(|e| e.into_inner());
    if !compiled.iter().any(|c| c == class) {
        std::fs::create_dir_all(&dir).unwrap();
        assert!(
            Path::new("/usr/share/java/avro.jar").exists(),
            "Avro Java is not installed\nhint: run `scripts/setup-java.sh` (the README's test command does)"
        );
        let status = Command::new("javac")
            .args(["-nowarn", "-cp", &java_classpath(), "-d"])
            .arg(&dir)
            .arg(root().join(format!("tests/java/{class}.java")))
            .status()
            .expect("javac runs\nhint: run `scripts/setup-java.sh`");
        assert!(status.success(), "{class}.java compiles");
        compiled.push(class.to_owned());
    }
    let mut command = Command::new("java");
    command.arg("-cp").arg(format!("{}:{}", dir.display(), java_classpath())).arg(class);
    command
}

/// Runs `tests/java/AvroReference.java` (Avro Java) on `stdin`, returning its standard output.
pub fn run_java(stdin: &str) -> String {
    run_with_stdin(java("AvroReference"), "`AvroReference` (Avro Java)", stdin)
}
