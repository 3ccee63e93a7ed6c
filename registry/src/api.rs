//! Confluent's REST API v1 over the [`Store`]: routes, request parsing and response bodies.
//!
//! Query flags are read as Java reads them (`true` in any case is true, anything else false),
//! since Confluent clients send `normalize=False` and `verbose=True` as well as `true`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::store::{
    self, Deleted, Mode, Reference, SchemaEntry, SchemaRequest, State as Registry, Store,
    VersionSpec,
};
use strata::avro::compat::Level;

/// The content type of every answer.
pub const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

type Reply = Result<Response, ApiError>;

/// The routes of the API over `store`.
pub fn router(store: Arc<Store>) -> Router {
    Router::new()
        .route("/", get(|| async { ok(json!({})) }))
        .route("/subjects", get(list_subjects))
        .route("/subjects/{subject}", post(lookup).delete(delete_subject))
        .route("/subjects/{subject}/versions", get(list_versions).post(register))
        .route("/subjects/{subject}/versions/{version}", get(get_version).delete(delete_version))
        .route("/subjects/{subject}/versions/{version}/schema", get(get_version_schema))
        .route("/subjects/{subject}/versions/{version}/referencedby", get(referenced_by))
        .route("/schemas", get(list_schemas))
        .route("/schemas/types", get(|| async { ok(json!([store::AVRO])) }))
        // Contexts are not supported: everything is in the default context, `.`.
        .route("/contexts", get(|| async { ok(json!(["."])) }))
        .route("/schemas/ids/{id}", get(schema_by_id))
        .route("/schemas/ids/{id}/schema", get(schema_text_by_id))
        .route("/schemas/ids/{id}/subjects", get(subjects_by_id))
        .route("/schemas/ids/{id}/versions", get(versions_by_id))
        .route("/compatibility/subjects/{subject}/versions", post(compatibility_all))
        .route("/compatibility/subjects/{subject}/versions/{version}", post(compatibility_one))
        .route(
            "/config",
            get(get_global::<Level>).put(put_global::<Level>).delete(delete_global::<Level>),
        )
        .route(
            "/config/{subject}",
            get(get_subject::<Level>)
                .put(put_subject::<Level>)
                .delete(delete_subject_setting::<Level>),
        )
        .route("/mode", get(get_global::<Mode>).put(put_global::<Mode>))
        .route(
            "/mode/{subject}",
            get(get_subject::<Mode>)
                .put(put_subject::<Mode>)
                .delete(delete_subject_setting::<Mode>),
        )
        .fallback(|| async { ApiError::not_found() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .with_state(store)
}

/// A JSON answer with Confluent's content type.
pub fn json_response(status: StatusCode, body: &Value) -> Response {
    (status, [(header::CONTENT_TYPE, CONTENT_TYPE)], body.to_string()).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error_code": self.code, "message": self.message });
        let mut response = json_response(self.status, &body);
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Basic realm=\"strata-registry\""),
            );
        }
        response
    }
}

fn ok(body: Value) -> Response {
    json_response(StatusCode::OK, &body)
}

fn flag(params: &HashMap<String, String>, name: &str) -> bool {
    params.get(name).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

fn deleted(params: &HashMap<String, String>) -> Deleted {
    if flag(params, "deleted") { Deleted::Include } else { Deleted::Hide }
}

/// Confluent's list paging: `offset`, and `limit` (-1: all).
fn page<T: serde::Serialize>(items: Vec<T>, params: &HashMap<String, String>) -> Value {
    let offset = params.get("offset").and_then(|o| o.parse::<usize>().ok()).unwrap_or(0);
    let limit = params.get("limit").and_then(|l| l.parse::<i64>().ok()).unwrap_or(-1);
    let items = items.into_iter().skip(offset);
    if limit >= 0 {
        json!(items.take(limit as usize).collect::<Vec<_>>())
    } else {
        json!(items.collect::<Vec<_>>())
    }
}

/// Path parameters, a malformed path refused as the API's error.
struct ApiPath<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(p)) => Ok(ApiPath(p)),
            Err(e) => Err(ApiError::bad_request(format!("bad path: {e}"))),
        }
    }
}

/// The query string's parameters, a malformed one refused as the API's error.
struct ApiQuery(HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for ApiQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<HashMap<String, String>>::from_request_parts(parts, state).await {
            Ok(Query(q)) => Ok(ApiQuery(q)),
            Err(e) => Err(ApiError::bad_request(format!("bad query string: {e}"))),
        }
    }
}

/// A request body of an accepted content type, within the size limit; [`ApiBody::json`]
/// parses it. Refusals are the API's errors (415, 413, 400, 422).
struct ApiBody(Bytes);

impl<S: Send + Sync> FromRequest<S> for ApiBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        if let Some(content_type) = request.headers().get(header::CONTENT_TYPE) {
            let value = content_type.to_str().unwrap_or("");
            let mime = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            let accepted = [
                "application/vnd.schemaregistry.v1+json",
                "application/vnd.schemaregistry+json",
                "application/json",
                "application/octet-stream",
                "",
            ];
            if !accepted.contains(&mime.as_str()) {
                return Err(ApiError::unsupported_media_type(value));
            }
        }
        let bytes = Bytes::from_request(request, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError {
                    status: StatusCode::PAYLOAD_TOO_LARGE,
                    code: 413,
                    message: e.body_text(),
                }
            } else {
                ApiError::bad_request(format!("cannot read the request body: {e}"))
            }
        })?;
        Ok(ApiBody(bytes))
    }
}

impl ApiBody {
    /// The body as `T`: 400 when it is not JSON, 422 when it is JSON of another shape.
    fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, ApiError> {
        serde_json::from_slice(&self.0).map_err(|e| {
            if e.is_data() {
                ApiError::unprocessable(format!("Unrecognizable request body: {e}"))
            } else {
                ApiError::bad_request(format!("The request body is not valid JSON: {e}"))
            }
        })
    }
}

/// Runs blocking work (parsing, checks, fsync) off the async workers.
async fn blocking<T: Send + 'static, E: Into<ApiError> + Send + 'static>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(Into::into),
        Err(e) => Err(ApiError::store(format!("the request's worker failed: {e}"))),
    }
}

fn schema_json(subject: &str, version: u32, id: u32, entry: &SchemaEntry) -> Value {
    let mut body = json!({ "subject": subject, "version": version, "id": id });
    add_schema(&mut body, entry);
    body
}

/// Adds `schemaType` (omitted for AVRO, as Confluent does), `references` (when any) and
/// `schema`.
fn add_schema(body: &mut Value, entry: &SchemaEntry) {
    let object = body.as_object_mut().expect("bodies are objects");
    if entry.schema_type != store::AVRO {
        object.insert("schemaType".into(), entry.schema_type.clone().into());
    }
    if !entry.references.is_empty() {
        object.insert("references".into(), references_json(&entry.references));
    }
    object.insert("schema".into(), entry.schema.clone().into());
}

fn references_json(references: &[Reference]) -> Value {
    serde_json::to_value(references).expect("references serialize")
}

async fn list_subjects(State(store): State<Arc<Store>>, ApiQuery(q): ApiQuery) -> Reply {
    let prefix = q.get("subjectPrefix").map_or("", String::as_str);
    let state = store.read();
    let mut subjects = state.subjects(deleted(&q), prefix);
    if flag(&q, "deletedOnly") {
        let live = state.subjects(Deleted::Hide, prefix);
        subjects = state.subjects(Deleted::Include, prefix);
        subjects.retain(|s| !live.contains(s));
    }
    Ok(ok(page(subjects, &q)))
}

/// `GET /schemas`: every version of every subject (`subjectPrefix`, `deleted`,
/// `latestOnly`, `offset`, `limit`), as `GET /subjects/{s}/versions/{v}` answers each.
async fn list_schemas(State(store): State<Arc<Store>>, ApiQuery(q): ApiQuery) -> Reply {
    let prefix = q.get("subjectPrefix").map_or("", String::as_str);
    let (deleted, latest_only) = (deleted(&q), flag(&q, "latestOnly"));
    let state = store.read();
    let mut schemas = Vec::new();
    for subject in state.subjects(deleted, prefix) {
        let mut versions = state.versions(subject, deleted)?;
        if latest_only {
            versions.drain(..versions.len() - 1);
        }
        for version in versions {
            let (_, entry) = state.version(subject, VersionSpec::Number(version), deleted)?;
            let schema = state.schema(entry.id).expect("versions name stored schemas");
            schemas.push(schema_json(subject, version, entry.id, schema));
        }
    }
    Ok(ok(page(schemas, &q)))
}

async fn list_versions(
    State(store): State<Arc<Store>>,
    ApiPath(subject): ApiPath<String>,
    ApiQuery(q): ApiQuery,
) -> Reply {
    let state = store.read();
    let versions = if flag(&q, "deletedOnly") {
        let live = state.versions(&subject, Deleted::Hide).unwrap_or_default();
        let mut all = state.versions(&subject, Deleted::Include)?;
        all.retain(|v| !live.contains(v));
        all
    } else {
        state.versions(&subject, deleted(&q))?
    };
    Ok(ok(page(versions, &q)))
}

async fn get_version(
    State(store): State<Arc<Store>>,
    ApiPath((subject, version)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery,
) -> Reply {
    let state = store.read();
    let (version, entry) = state.version(&subject, VersionSpec::parse(&version)?, deleted(&q))?;
    let schema = state.schema(entry.id).ok_or_else(|| ApiError::schema_id_not_found(entry.id))?;
    let mut body = schema_json(&subject, version, entry.id, schema);
    // Confluent's Schema entity says so of a soft-deleted version (read with `deleted=true`).
    if entry.deleted {
        body["deleted"] = json!(true);
    }
    Ok(ok(body))
}

async fn get_version_schema(
    State(store): State<Arc<Store>>,
    ApiPath((subject, version)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery,
) -> Reply {
    let state = store.read();
    let (_, entry) = state.version(&subject, VersionSpec::parse(&version)?, deleted(&q))?;
    let schema = state.schema(entry.id).ok_or_else(|| ApiError::schema_id_not_found(entry.id))?;
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, CONTENT_TYPE)], schema.schema.clone())
        .into_response())
}

async fn referenced_by(
    State(store): State<Arc<Store>>,
    ApiPath((subject, version)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery,
) -> Reply {
    let state = store.read();
    let (version, _) = state.version(&subject, VersionSpec::parse(&version)?, Deleted::Include)?;
    Ok(ok(page(state.referenced_by(&subject, version), &q)))
}

async fn register(
    State(store): State<Arc<Store>>,
    ApiPath(subject): ApiPath<String>,
    ApiQuery(q): ApiQuery,
    b: ApiBody,
) -> Reply {
    check_subject(&subject)?;
    let request: SchemaRequest = b.json()?;
    let normalize = flag(&q, "normalize");
    let registered = blocking(move || {
        let candidate = store.candidate(&request, normalize)?;
        store.register(&subject, candidate, &request)
    })
    .await?;
    Ok(ok(json!({ "id": registered.id })))
}

async fn lookup(
    State(store): State<Arc<Store>>,
    ApiPath(subject): ApiPath<String>,
    ApiQuery(q): ApiQuery,
    b: ApiBody,
) -> Reply {
    let request: SchemaRequest = b.json()?;
    let (normalize, deleted) = (flag(&q, "normalize"), deleted(&q));
    blocking(move || {
        store.read().versions(&subject, deleted)?;
        let candidate = store.candidate(&request, normalize)?;
        let state = store.read();
        let (version, id) = store
            .find(&state, &subject, &candidate, deleted)
            .ok_or_else(ApiError::schema_not_found)?;
        let schema = state.schema(id).expect("versions name stored schemas");
        Ok::<_, ApiError>(ok(schema_json(&subject, version, id, schema)))
    })
    .await
}

async fn delete_subject(
    State(store): State<Arc<Store>>,
    ApiPath(subject): ApiPath<String>,
    ApiQuery(q): ApiQuery,
) -> Reply {
    let permanent = flag(&q, "permanent");
    let versions = blocking(move || store.delete_subject(&subject, permanent)).await?;
    Ok(ok(json!(versions)))
}

async fn delete_version(
    State(store): State<Arc<Store>>,
    ApiPath((subject, version)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery,
) -> Reply {
    let spec = VersionSpec::parse(&version)?;
    let permanent = flag(&q, "permanent");
    let version = blocking(move || store.delete_version(&subject, spec, permanent)).await?;
    Ok(ok(json!(version)))
}

fn parse_id(text: &str) -> Result<u32, ApiError> {
    text.parse::<u32>().map_err(|_| ApiError::schema_not_found())
}

async fn schema_by_id(
    State(store): State<Arc<Store>>,
    ApiPath(p): ApiPath<String>,
    ApiQuery(q): ApiQuery,
) -> Reply {
    let id = parse_id(&p)?;
    let state = store.read();
    let entry = state.schema_by_id(id)?;
    // Confluent's `subject` picks the context to look in (`getSchemaKeyUsingContexts`): an
    // unqualified subject, or one of the default context, that does not hold the id falls back
    // to the id in the default context, where every schema here lives; a subject qualified
    // with another context (`:.ctx:subject`) names a context this registry does not have.
    if let Some(subject) = q.get("subject")
        && let Some(context) = subject.strip_prefix(":.").and_then(|rest| rest.split(':').next())
        && !context.is_empty()
    {
        return Err(ApiError::schema_id_not_found(id));
    }
    let mut body = json!({});
    add_schema(&mut body, entry);
    Ok(ok(body))
}

async fn schema_text_by_id(State(store): State<Arc<Store>>, ApiPath(p): ApiPath<String>) -> Reply {
    let id = parse_id(&p)?;
    let state = store.read();
    let entry = state.schema_by_id(id)?;
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, CONTENT_TYPE)], entry.schema.clone())
        .into_response())
}

async fn subjects_by_id(
    State(store): State<Arc<Store>>,
    ApiPath(p): ApiPath<String>,
    ApiQuery(q): ApiQuery,
) -> Reply {
    let id = parse_id(&p)?;
    let state = store.read();
    state.schema_by_id(id)?;
    let mut subjects: Vec<&str> =
        state.versions_of_id(id, deleted(&q)).into_iter().map(|(s, _)| s).collect();
    subjects.dedup();
    Ok(ok(page(subjects, &q)))
}

async fn versions_by_id(
    State(store): State<Arc<Store>>,
    ApiPath(p): ApiPath<String>,
    ApiQuery(q): ApiQuery,
) -> Reply {
    let id = parse_id(&p)?;
    let state = store.read();
    state.schema_by_id(id)?;
    let versions: Vec<Value> = state
        .versions_of_id(id, deleted(&q))
        .into_iter()
        .map(|(subject, version)| json!({ "subject": subject, "version": version }))
        .collect();
    Ok(ok(page(versions, &q)))
}

async fn compatibility_all(
    State(store): State<Arc<Store>>,
    ApiPath(subject): ApiPath<String>,
    ApiQuery(q): ApiQuery,
    b: ApiBody,
) -> Reply {
    compatibility(store, subject, None, q, b.json()?).await
}

async fn compatibility_one(
    State(store): State<Arc<Store>>,
    ApiPath((subject, version)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery,
    b: ApiBody,
) -> Reply {
    let spec = VersionSpec::parse(&version)?;
    compatibility(store, subject, Some(spec), q, b.json()?).await
}

/// `POST /compatibility/...`: against one version (`latest` of a subject without versions is
/// compatible, as Confluent answers), or against the versions the subject's level picks.
async fn compatibility(
    store: Arc<Store>,
    subject: String,
    spec: Option<VersionSpec>,
    q: HashMap<String, String>,
    request: SchemaRequest,
) -> Reply {
    let (verbose, normalize) = (flag(&q, "verbose"), flag(&q, "normalize"));
    let messages = blocking(move || {
        // The schema first: an invalid one is 42201 whatever the subject holds.
        let candidate = store.candidate(&request, normalize)?;
        let against = match spec {
            None => None,
            Some(spec) => {
                let state = store.read();
                match state.version(&subject, spec, Deleted::Hide) {
                    Ok((version, _)) => Some(version),
                    Err(_) if spec == VersionSpec::Latest => return Ok(Vec::new()),
                    Err(e) => return Err(e),
                }
            }
        };
        let state = store.read();
        store.compatibility(&state, &subject, &candidate, against, state.level(&subject))
    })
    .await?;
    let mut body = json!({ "is_compatible": messages.is_empty() });
    if verbose {
        body["messages"] = json!(messages);
    }
    Ok(ok(body))
}

/// Confluent takes the level as `compatibility` or `compatibilityLevel`.
/// A setting kept globally and per subject: the compatibility level (`/config`) or the mode
/// (`/mode`). One set of handlers serves both.
trait Setting: Copy + Send + Sync + 'static {
    /// The key of a `GET` answer and of a `DELETE` answer.
    const GET_KEY: &'static str;
    /// The key of a `PUT` body and answer.
    const PUT_KEY: &'static str;
    /// The global value when none is set.
    const DEFAULT: Self;
    fn from_body(body: &Value) -> Result<Self, ApiError>;
    fn name(self) -> &'static str;
    fn global(state: &Registry) -> Self;
    fn of_subject(state: &Registry, subject: &str) -> Option<Self>;
    fn not_configured(subject: &str) -> ApiError;
    /// The answer to deleting a setting the subject does not have.
    fn nothing_to_delete(subject: &str) -> ApiError {
        Self::not_configured(subject)
    }
    /// Sets (or removes) it; returns the previous value.
    fn write(
        store: &Store,
        subject: Option<&str>,
        value: Option<Self>,
        force: bool,
    ) -> Result<Option<Self>, ApiError>;
}

impl Setting for Level {
    const GET_KEY: &'static str = "compatibilityLevel";
    const PUT_KEY: &'static str = "compatibility";
    const DEFAULT: Self = Level::Backward;

    /// Confluent takes the level as `compatibility` or `compatibilityLevel`.
    fn from_body(body: &Value) -> Result<Self, ApiError> {
        let given = [Self::PUT_KEY, Self::GET_KEY]
            .iter()
            .find_map(|key| body.get(key).filter(|v| !v.is_null()))
            .map_or(Ok(""), |v| v.as_str().ok_or(()))
            .map_err(|()| ApiError::unprocessable("`compatibility` must be a string"))?;
        given.parse::<Level>().map_err(|_| ApiError::invalid_compatibility(given))
    }

    fn name(self) -> &'static str {
        self.as_str()
    }

    fn global(state: &Registry) -> Self {
        state.global_level()
    }

    fn of_subject(state: &Registry, subject: &str) -> Option<Self> {
        state.subject_level(subject)
    }

    fn not_configured(subject: &str) -> ApiError {
        ApiError::compatibility_not_configured(subject)
    }

    /// Confluent's `DELETE /config/{subject}` of a subject without a level of its own: 40401
    /// (`ConfigResource` throws `subjectNotFoundException`), not the 40408 of a `GET`.
    fn nothing_to_delete(subject: &str) -> ApiError {
        ApiError::subject_not_found(subject)
    }

    fn write(
        store: &Store,
        subject: Option<&str>,
        value: Option<Self>,
        _force: bool,
    ) -> Result<Option<Self>, ApiError> {
        Ok(store.set_level(subject, value)?)
    }
}

impl Setting for Mode {
    const GET_KEY: &'static str = "mode";
    const PUT_KEY: &'static str = "mode";
    const DEFAULT: Self = Mode::ReadWrite;

    fn from_body(body: &Value) -> Result<Self, ApiError> {
        let given = match body.get("mode") {
            None | Some(Value::Null) => "",
            Some(Value::String(mode)) => mode,
            Some(_) => return Err(ApiError::unprocessable("`mode` must be a string")),
        };
        Mode::parse(given).ok_or_else(|| ApiError::invalid_mode(given))
    }

    fn name(self) -> &'static str {
        self.as_str()
    }

    fn global(state: &Registry) -> Self {
        state.global_mode()
    }

    fn of_subject(state: &Registry, subject: &str) -> Option<Self> {
        state.subject_mode(subject)
    }

    fn not_configured(subject: &str) -> ApiError {
        ApiError::mode_not_configured(subject)
    }

    fn write(
        store: &Store,
        subject: Option<&str>,
        value: Option<Self>,
        force: bool,
    ) -> Result<Option<Self>, ApiError> {
        Ok(store.set_mode(subject, value, force)?)
    }
}

impl ApiBody {
    /// The body, which must be a JSON object.
    fn object(&self) -> Result<Value, ApiError> {
        let value: Value = self.json()?;
        if !value.is_object() {
            return Err(ApiError::unprocessable(format!(
                "the body must be a JSON object, not {value}"
            )));
        }
        Ok(value)
    }
}

async fn get_global<S: Setting>(State(store): State<Arc<Store>>) -> Reply {
    Ok(ok(json!({ S::GET_KEY: S::global(&store.read()).name() })))
}

async fn put_global<S: Setting>(
    State(store): State<Arc<Store>>,
    ApiQuery(q): ApiQuery,
    b: ApiBody,
) -> Reply {
    let value = S::from_body(&b.object()?)?;
    let force = flag(&q, "force");
    blocking(move || S::write(&store, None, Some(value), force)).await?;
    Ok(ok(json!({ S::PUT_KEY: value.name() })))
}

async fn delete_global<S: Setting>(State(store): State<Arc<Store>>) -> Reply {
    let previous = blocking(move || S::write(&store, None, None, false)).await?;
    Ok(ok(json!({ S::GET_KEY: previous.unwrap_or(S::DEFAULT).name() })))
}

async fn get_subject<S: Setting>(
    State(store): State<Arc<Store>>,
    ApiPath(subject): ApiPath<String>,
    ApiQuery(q): ApiQuery,
) -> Reply {
    let state = store.read();
    let value = match S::of_subject(&state, &subject) {
        Some(value) => value,
        None if flag(&q, "defaultToGlobal") => S::global(&state),
        None => return Err(S::not_configured(&subject)),
    };
    Ok(ok(json!({ S::GET_KEY: value.name() })))
}

async fn put_subject<S: Setting>(
    State(store): State<Arc<Store>>,
    ApiPath(subject): ApiPath<String>,
    ApiQuery(q): ApiQuery,
    b: ApiBody,
) -> Reply {
    check_subject(&subject)?;
    let value = S::from_body(&b.object()?)?;
    let force = flag(&q, "force");
    blocking(move || S::write(&store, Some(&subject), Some(value), force)).await?;
    Ok(ok(json!({ S::PUT_KEY: value.name() })))
}

async fn delete_subject_setting<S: Setting>(
    State(store): State<Arc<Store>>,
    ApiPath(subject): ApiPath<String>,
) -> Reply {
    if S::of_subject(&store.read(), &subject).is_none() {
        return Err(S::nothing_to_delete(&subject));
    }
    let previous = blocking(move || S::write(&store, Some(&subject), None, false)).await?;
    Ok(ok(json!({ S::GET_KEY: previous.unwrap_or(S::DEFAULT).name() })))
}

/// Subject names: non-empty, no control characters (Confluent's `QualifiedSubject` rule).
fn check_subject(subject: &str) -> Result<(), ApiError> {
    if subject.is_empty() || subject.chars().any(char::is_control) {
        return Err(ApiError::invalid_subject(subject));
    }
    Ok(())
}
