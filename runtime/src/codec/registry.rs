//! A Confluent-compatible Schema Registry as a [`SchemaSource`]: writer schemas by id, fetched
//! once per id ever (concurrent first requests for one id share one call), and ids of schemas
//! to write with, looked up (or registered, if configured) once per subject and schema.
//!
//! It follows Confluent's REST API (`GET /schemas/ids/{id}`, `POST /subjects/{subject}`,
//! `POST /subjects/{subject}/versions`), so it works with Confluent, Karapace, Redpanda,
//! Apicurio's compatibility API and strata's own local registry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::avro::compat::Level;
use crate::codec::source::{SchemaSource, SourceError, WriterSchema};
use crate::schema::rabin_fingerprint;

/// A schema reference: the named type `name` is the schema of `subject` at `version`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SchemaReference {
    /// The referenced type's full name.
    pub name: String,
    /// The subject it is registered under.
    pub subject: String,
    /// The version of that subject.
    pub version: u32,
}

/// A version of a subject, as the registry answers it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct RegisteredVersion {
    /// The subject.
    pub subject: String,
    /// The version number.
    pub version: u32,
    /// The global schema id.
    pub id: u32,
    /// The schema text, as the registry keeps it.
    pub schema: String,
    /// The types it takes from other subjects.
    #[serde(default)]
    pub references: Vec<SchemaReference>,
}

fn schema_body(schema: &str, references: &[SchemaReference]) -> Value {
    if references.is_empty() {
        json!({ "schema": schema })
    } else {
        json!({ "schema": schema, "references": references })
    }
}

fn parse_level(path: &str, answer: &Value) -> Result<Level, SourceError> {
    let name = answer
        .get("compatibilityLevel")
        .or_else(|| answer.get("compatibility"))
        .and_then(Value::as_str)
        .unwrap_or("");
    name.parse::<Level>().map_err(|_| {
        unexpected(format!("GET {path}"), "an unknown compatibility level", answer, None)
    })
}

/// Why one HTTP exchange failed.
enum Sent {
    /// The request did not get an answer.
    Transport(ureq::Error),
    /// The answer's body is not JSON.
    NotJson { status: u16, source: serde_json::Error },
}

/// An answer that is not what Confluent's API specifies.
fn unexpected(
    request: String,
    what: &'static str,
    answer: &Value,
    source: Option<serde_json::Error>,
) -> SourceError {
    SourceError::UnexpectedAnswer { request, what, answer: answer.to_string(), source }
}

/// The content type of Confluent's REST API.
pub const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// How to reach a registry.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// The base URL, such as `http://localhost:8081`.
    pub url: String,
    /// `user`, `password` for HTTP basic authentication.
    pub basic_auth: Option<(String, String)>,
    /// A bearer token.
    pub bearer_token: Option<String>,
    /// Headers sent with every request.
    pub headers: Vec<(String, String)>,
    /// The timeout of one request.
    pub timeout: Duration,
    /// How often a request that failed for a transient reason (connection, 5xx, 429) is retried.
    pub retries: u32,
    /// The wait before the first retry; it doubles with each one.
    pub backoff: Duration,
    /// Whether [`SchemaSource::id_of`] registers a schema the subject lacks.
    pub auto_register: bool,
}

impl RegistryConfig {
    /// A registry at `url`, without authentication, 10 s timeout, 3 retries, no auto-registration.
    pub fn new(url: impl Into<String>) -> Self {
        RegistryConfig {
            url: url.into().trim_end_matches('/').to_owned(),
            basic_auth: None,
            bearer_token: None,
            headers: Vec::new(),
            timeout: Duration::from_secs(10),
            retries: 3,
            backoff: Duration::from_millis(200),
            auto_register: false,
        }
    }

    /// The registry the environment names, as Confluent's tools read it: `SCHEMA_REGISTRY_URL`,
    /// `SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO` (`user:password`) and `SCHEMA_REGISTRY_BEARER_TOKEN`.
    pub fn from_env() -> Option<Self> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    fn from_vars(var: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let mut config = RegistryConfig::new(var("SCHEMA_REGISTRY_URL").filter(|u| !u.is_empty())?);
        config.basic_auth = var("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO").and_then(|info| {
            info.split_once(':').map(|(user, password)| (user.to_owned(), password.to_owned()))
        });
        config.bearer_token = var("SCHEMA_REGISTRY_BEARER_TOKEN").filter(|t| !t.is_empty());
        Some(config)
    }
}

/// One id's schema, behind its own lock so concurrent first requests make one call.
#[derive(Debug, Default)]
struct Slot(Mutex<Option<Arc<WriterSchema>>>);

/// A Schema Registry client with the caches strata needs.
#[derive(Debug)]
pub struct Registry {
    config: RegistryConfig,
    agent: ureq::Agent,
    schemas: Mutex<HashMap<u32, Arc<Slot>>>,
    ids: Mutex<HashMap<(String, u64), u32>>,
}

impl Registry {
    /// A client for the registry `config` describes; nothing is requested until needed.
    pub fn new(config: RegistryConfig) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(config.timeout))
            .http_status_as_error(false)
            .build()
            .new_agent();
        Registry { config, agent, schemas: Mutex::default(), ids: Mutex::default() }
    }

    /// The configuration.
    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// Sends one request, retrying transient failures with exponential backoff, and returns the
    /// status and the parsed JSON body.
    fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), SourceError> {
        let url = format!("{}{path}", self.config.url);
        let mut wait = self.config.backoff;
        let mut attempt = 0;
        loop {
            let result = self.send(method, &url, body);
            let transient = match &result {
                Err(_) => true,
                Ok((status, _)) => *status >= 500 || *status == 429,
            };
            if !transient || attempt >= self.config.retries {
                let request = format!("{method} {url}");
                return result.map_err(|e| match e {
                    Sent::Transport(source) => SourceError::Unreachable { request, source },
                    Sent::NotJson { status, source } => {
                        SourceError::NotJson { request, status, source }
                    }
                });
            }
            attempt += 1;
            std::thread::sleep(wait);
            wait = wait.saturating_mul(2);
        }
    }

    fn send(&self, method: &str, url: &str, body: Option<&Value>) -> Result<(u16, Value), Sent> {
        let mut request =
            ureq::http::Request::builder().method(method).uri(url).header("Accept", CONTENT_TYPE);
        if let Some((user, password)) = &self.config.basic_auth {
            request = request.header(
                "Authorization",
                format!("Basic {}", base64(&format!("{user}:{password}"))),
            );
        }
        if let Some(token) = &self.config.bearer_token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        for (name, value) in &self.config.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let response = match body {
            Some(body) => {
                let request = request
                    .header("Content-Type", CONTENT_TYPE)
                    .body(body.to_string())
                    .map_err(|e| Sent::Transport(e.into()))?;
                self.agent.run(request)
            }
            None => self.agent.run(request.body(()).map_err(|e| Sent::Transport(e.into()))?),
        }
        .map_err(Sent::Transport)?;
        let status = response.status().as_u16();
        let text = response.into_body().read_to_string().map_err(Sent::Transport)?;
        let json = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).map_err(|source| Sent::NotJson { status, source })?
        };
        Ok((status, json))
    }

    /// An error answer: status, Confluent's error code and message.
    fn refusal(method: &str, path: &str, status: u16, body: &Value) -> SourceError {
        SourceError::Refused {
            request: format!("{method} {path}"),
            status,
            code: body.get("error_code").and_then(Value::as_i64).unwrap_or(i64::from(status)),
            message: body.get("message").and_then(Value::as_str).unwrap_or("").to_owned(),
        }
    }

    /// Sends a request and returns the body of a 200, or the refusal.
    fn expect_ok(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, SourceError> {
        let (status, answer) = self.request(method, path, body)?;
        if status == 200 { Ok(answer) } else { Err(Self::refusal(method, path, status, &answer)) }
    }

    /// The id of the newest version of `subject` whose schema (references resolved) has the
    /// parsing canonical form fingerprint `wanted`.
    fn find_by_fingerprint(&self, subject: &str, wanted: u64) -> Result<Option<u32>, SourceError> {
        for version in self.versions(subject)?.into_iter().rev() {
            let registered = self.version(subject, version)?;
            let text = self.resolve(&registered.schema, &registered.references)?;
            if WriterSchema::new(registered.id, text)?.fingerprint == wanted {
                return Ok(Some(registered.id));
            }
        }
        Ok(None)
    }

    /// The live versions of `subject`, oldest first; empty when the subject does not exist.
    pub fn versions(&self, subject: &str) -> Result<Vec<u32>, SourceError> {
        let path = format!("/subjects/{}/versions", encode_segment(subject));
        let (status, answer) = self.request("GET", &path, None)?;
        match status {
            200 => serde_json::from_value(answer.clone()).map_err(|e| {
                unexpected(format!("GET {path}"), "not a list of versions", &answer, Some(e))
            }),
            404 => Ok(Vec::new()),
            _ => Err(Self::refusal("GET", &path, status, &answer)),
        }
    }

    /// Version `version` of `subject`.
    pub fn version(&self, subject: &str, version: u32) -> Result<RegisteredVersion, SourceError> {
        let path = format!("/subjects/{}/versions/{version}", encode_segment(subject));
        let answer = self.expect_ok("GET", &path, None)?;
        serde_json::from_value(answer.clone()).map_err(|e| {
            unexpected(format!("GET {path}"), "not a registered version", &answer, Some(e))
        })
    }

    /// The texts of the schemas `references` name, transitively, each once.
    fn referenced_texts(
        &self,
        references: &[SchemaReference],
        out: &mut Vec<String>,
        seen: &mut Vec<(String, u32)>,
    ) -> Result<(), SourceError> {
        for reference in references {
            let key = (reference.subject.clone(), reference.version);
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
            let version = self.version(&reference.subject, reference.version)?;
            self.referenced_texts(&version.references, out, seen)?;
            out.push(version.schema);
        }
        Ok(())
    }

    /// A registered schema made self-contained: referenced types defined inline.
    pub fn resolve(
        &self,
        schema: &str,
        references: &[SchemaReference],
    ) -> Result<String, SourceError> {
        if references.is_empty() {
            return Ok(schema.to_owned());
        }
        let mut texts = Vec::new();
        self.referenced_texts(references, &mut texts, &mut Vec::new())?;
        crate::avro::references::inline(schema, &texts).map_err(SourceError::References)
    }

    /// The compatibility level that governs `subject`: its own, else the global one.
    pub fn level(&self, subject: &str) -> Result<Level, SourceError> {
        let level = match self.subject_level(subject)? {
            Some(level) => level,
            None => {
                let answer = self.expect_ok("GET", "/config", None)?;
                parse_level("/config", &answer)?
            }
        };
        Ok(level)
    }

    /// The subject's own compatibility level, if it has one.
    pub fn subject_level(&self, subject: &str) -> Result<Option<Level>, SourceError> {
        let path = format!("/config/{}", encode_segment(subject));
        let (status, answer) = self.request("GET", &path, None)?;
        match status {
            200 => parse_level(&path, &answer).map(Some),
            404 => Ok(None),
            _ => Err(Self::refusal("GET", &path, status, &answer)),
        }
    }

    /// Sets the subject's own level, or with `None` removes it (the global one applies).
    pub fn set_level(&self, subject: &str, level: Option<Level>) -> Result<(), SourceError> {
        let path = format!("/config/{}", encode_segment(subject));
        match level {
            Some(level) => {
                self.expect_ok("PUT", &path, Some(&json!({"compatibility": level.as_str()})))?;
            }
            None => {
                self.expect_ok("DELETE", &path, None)?;
            }
        }
        Ok(())
    }

    /// Asks the registry whether `schema` may be registered under `subject`: against the
    /// latest version, or (`all`) against the versions the subject's level picks. Returns the
    /// verdict and the registry's messages.
    pub fn test_compatibility(
        &self,
        subject: &str,
        schema: &str,
        references: &[SchemaReference],
        all: bool,
    ) -> Result<(bool, Vec<String>), SourceError> {
        let versions = if all { "versions" } else { "versions/latest" };
        let path =
            format!("/compatibility/subjects/{}/{versions}?verbose=true", encode_segment(subject));
        let answer = self.expect_ok("POST", &path, Some(&schema_body(schema, references)))?;
        let compatible = answer.get("is_compatible").and_then(Value::as_bool).ok_or_else(|| {
            unexpected(format!("POST {path}"), "no `is_compatible`", &answer, None)
        })?;
        let messages = answer
            .get("messages")
            .and_then(Value::as_array)
            .map(|m| m.iter().map(|m| m.as_str().map_or(m.to_string(), str::to_owned)).collect())
            .unwrap_or_default();
        Ok((compatible, messages))
    }

    /// Registers `schema` under `subject` (the same schema again: its id, no new version).
    pub fn register(
        &self,
        subject: &str,
        schema: &str,
        references: &[SchemaReference],
    ) -> Result<u32, SourceError> {
        let path = format!("/subjects/{}/versions", encode_segment(subject));
        let answer = self.expect_ok("POST", &path, Some(&schema_body(schema, references)))?;
        answer
            .get("id")
            .and_then(Value::as_u64)
            .and_then(|id| u32::try_from(id).ok())
            .ok_or_else(|| unexpected(format!("POST {path}"), "no schema id", &answer, None))
    }

    /// The version of `subject` holding `schema`, if registered.
    pub fn lookup(
        &self,
        subject: &str,
        schema: &str,
        references: &[SchemaReference],
    ) -> Result<Option<RegisteredVersion>, SourceError> {
        let path = format!("/subjects/{}", encode_segment(subject));
        let (status, answer) =
            self.request("POST", &path, Some(&schema_body(schema, references)))?;
        match status {
            200 => serde_json::from_value(answer.clone()).map(Some).map_err(|e| {
                unexpected(format!("POST {path}"), "not a registered version", &answer, Some(e))
            }),
            404 => Ok(None),
            _ => Err(Self::refusal("POST", &path, status, &answer)),
        }
    }

    /// Whether the registry supports schema references (Confluent 5.5 and later, and registries
    /// that follow it, answer `GET /schemas/types`).
    pub fn supports_references(&self) -> Result<bool, SourceError> {
        let (status, _) = self.request("GET", "/schemas/types", None)?;
        Ok(status == 200)
    }
}

impl SchemaSource for Registry {
    fn schema(&self, id: u32) -> Result<Arc<WriterSchema>, SourceError> {
        let slot =
            self.schemas.lock().unwrap_or_else(|e| e.into_inner()).entry(id).or_default().clone();
        let mut schema = slot.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(schema) = &*schema {
            return Ok(schema.clone());
        }
        let path = format!("/schemas/ids/{id}");
        let (status, body) = self.request("GET", &path, None)?;
        match status {
            200 => {}
            404 => return Err(SourceError::UnknownId(id)),
            _ => return Err(Self::refusal("GET", &path, status, &body)),
        }
        if let Some(kind) = body.get("schemaType").and_then(Value::as_str).filter(|k| *k != "AVRO")
        {
            return Err(SourceError::NotAvro { id, kind: kind.to_owned() });
        }
        let text = body
            .get("schema")
            .and_then(Value::as_str)
            .ok_or_else(|| unexpected(format!("GET {path}"), "no `schema`", &body, None))?;
        let references: Vec<SchemaReference> = match body.get("references") {
            Some(refs) if !refs.is_null() => serde_json::from_value(refs.clone()).map_err(|e| {
                unexpected(format!("GET {path}"), "unreadable `references`", refs, Some(e))
            })?,
            _ => Vec::new(),
        };
        let resolved = self.resolve(text, &references)?;
        let text = resolved.as_str();
        let fetched = Arc::new(WriterSchema::new(id, text)?);
        *schema = Some(fetched.clone());
        Ok(fetched)
    }

    fn id_of(&self, subject: &str, schema: &str) -> Result<u32, SourceError> {
        let parsed = WriterSchema::new(0, schema)?;
        let key = (subject.to_owned(), rabin_fingerprint(&parsed.parsed));
        let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&id) = ids.get(&key) {
            return Ok(id);
        }
        let body = json!({"schema": schema});
        let lookup = format!("/subjects/{}", encode_segment(subject));
        let (status, answer) = self.request("POST", &lookup, Some(&body))?;
        let id = match status {
            200 => answer.get("id").and_then(Value::as_u64),
            // Registered in another shape (the topic union by references to its records, say):
            // the newest version whose resolved schema has this layout.
            404 if let Some(id) = self.find_by_fingerprint(subject, key.1)? => Some(u64::from(id)),
            404 if self.config.auto_register => {
                let register = format!("{lookup}/versions");
                let (status, answer) = self.request("POST", &register, Some(&body))?;
                if status != 200 {
                    return Err(Self::refusal("POST", &register, status, &answer));
                }
                answer.get("id").and_then(Value::as_u64)
            }
            404 => return Err(SourceError::NotRegistered { subject: subject.to_owned() }),
            _ => return Err(Self::refusal("POST", &lookup, status, &answer)),
        };
        let id = id
            .and_then(|id| u32::try_from(id).ok())
            .ok_or_else(|| unexpected(format!("POST {lookup}"), "no schema id", &answer, None))?;
        ids.insert(key, id);
        Ok(id)
    }
}

/// A URL path segment with everything but unreserved characters percent-encoded.
fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Standard base64 with padding, for the basic authentication header.
fn base64(text: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("user:pass", "dXNlcjpwYXNz"),
        ] {
            assert_eq!(base64(plain), encoded);
        }
    }

    #[test]
    fn subjects_are_percent_encoded_in_paths() {
        assert_eq!(encode_segment("bank.accounts-value"), "bank.accounts-value");
        assert_eq!(encode_segment("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn the_environment_names_the_registry_as_confluent_tools_read_it() {
        let vars = |name: &str| match name {
            "SCHEMA_REGISTRY_URL" => Some("http://registry:8081/".to_owned()),
            "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO" => Some("ada:s3cret:x".to_owned()),
            _ => None,
        };
        let config = RegistryConfig::from_vars(vars).expect("a URL is set");
        assert_eq!(config.url, "http://registry:8081");
        assert_eq!(config.basic_auth, Some(("ada".into(), "s3cret:x".into())));
        assert_eq!(config.bearer_token, None);
        assert!(RegistryConfig::from_vars(|_| None).is_none());
    }
}
