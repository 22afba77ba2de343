//! The portal's routes: each reads the session, asks the API, and renders a page.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{any, get, post};
use axum::Router;
use maud::Markup;

use crate::api::{Api, Problems, Refusal};
use crate::pages::{self, Detail, Draft};
use crate::session::{same_origin, sign_out_cookie, Session};
use crate::{time, PortalConfig};

#[derive(Clone)]
struct Portal {
    api: Api,
    secure_cookie: bool,
}

/// The portal's routes, answering through `api`, the public API's router.
pub fn router(api: Router, config: &PortalConfig) -> Router {
    let portal = Portal {
        api: Api::new(api),
        secure_cookie: config.secure_cookie,
    };
    Router::new()
        .route("/portal", get(home))
        .route("/portal/", get(home))
        .route("/portal/sign-in", post(sign_in))
        .route("/portal/sign-out", post(sign_out))
        .route("/portal/webhooks", get(list).post(register))
        .route("/portal/webhooks/{id}", get(show))
        .route("/portal/webhooks/{id}/secret", post(show_secret))
        .route("/portal/webhooks/{id}/test", post(test))
        .route("/portal/webhooks/{id}/replay", post(replay))
        .route("/portal/webhooks/{id}/replay.json", get(replay_json))
        .route(
            "/portal/webhooks/{id}/delete",
            get(confirm_delete).post(delete),
        )
        .route("/portal/assets/portal.css", get(css))
        .route("/portal/assets/portal.js", get(js))
        .route("/portal/assets/favicon.svg", get(favicon))
        // Unknown portal pages get the portal's page; other paths stay the API's.
        .route("/portal/{*rest}", any(not_found))
        .layer(middleware::from_fn(security_headers))
        .layer(DefaultBodyLimit::max(64 * 1024))
        .with_state(portal)
}

/// Only this origin may load anything, frame the pages, or receive their forms.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn security_headers(mut request: Request, next: Next) -> Response {
    // Over HTTP/2 the host is in the URI, not in a header; the origin check reads the header.
    if !request.headers().contains_key(header::HOST) {
        let authority = request.uri().authority().map(|a| a.as_str().to_owned());
        if let Some(value) = authority.and_then(|a| HeaderValue::from_str(&a).ok()) {
            request.headers_mut().insert(header::HOST, value);
        }
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        ("content-security-policy", CSP),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        // `no-referrer` would make browsers send `Origin: null` with the forms.
        ("referrer-policy", "same-origin"),
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-resource-policy", "same-origin"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    // Pages hold account data (and, on request, a secret): never cached.
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

fn page(status: StatusCode, markup: Markup) -> Response {
    (status, markup).into_response()
}

/// A redirect after a form post: the browser then loads the page with GET.
fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// Renders what the API refused, as a page of its own.
fn refused(portal: &Portal, session: Option<&Session>, refusal: &Refusal, back: &str) -> Response {
    let text = refusal.message();
    match refusal.status {
        StatusCode::UNAUTHORIZED => {
            // The key is no longer known: sign out.
            let mut response = page(refusal.status, pages::sign_in(Some(&text)));
            response
                .headers_mut()
                .insert(header::SET_COOKIE, sign_out_cookie(portal.secure_cookie));
            response
        }
        StatusCode::FORBIDDEN => page(
            refusal.status,
            pages::message("No webhooks on this plan", session, &text, back),
        ),
        StatusCode::NOT_FOUND => page(
            refusal.status,
            pages::message("Not found", session, &text, "/portal/webhooks"),
        ),
        StatusCode::TOO_MANY_REQUESTS => {
            let mut response = page(
                refusal.status,
                pages::message("Too many requests", session, &text, back),
            );
            if let Some(wait) = &refusal.retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, wait.clone());
            }
            response
        }
        status => page(
            status,
            pages::message("Something went wrong", session, &text, back),
        ),
    }
}

/// Why a request gets no page of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Turned {
    /// Not signed in: to the sign-in page.
    SignIn,
    /// No such page (a webhook id that is not a positive number).
    NotFound,
    /// A form without this session's token, or sent from another origin.
    Forged,
}

impl IntoResponse for Turned {
    fn into_response(self) -> Response {
        match self {
            Turned::SignIn => see_other("/portal"),
            Turned::NotFound => not_found_page(),
            Turned::Forged => page(
                StatusCode::FORBIDDEN,
                pages::message(
                    "Form refused",
                    None,
                    "This form was not sent from a page of the portal. Reload the page and try again.",
                    "/portal/webhooks",
                ),
            ),
        }
    }
}

/// The session of a page request.
fn signed_in(headers: &HeaderMap) -> Result<Session, Turned> {
    Session::from_headers(headers).ok_or(Turned::SignIn)
}

/// The session of a form post, which must carry the session's token and come from this
/// origin.
fn form_session(headers: &HeaderMap, form: &Form) -> Result<Session, Turned> {
    let session = signed_in(headers)?;
    if same_origin(headers) && session.accepts(form.get("csrf")) {
        Ok(session)
    } else {
        Err(Turned::Forged)
    }
}

/// The fields of a form body (the last of a repeated name wins).
struct Form(HashMap<String, String>);

impl Form {
    fn parse(body: &Bytes) -> Form {
        Form(form_urlencoded::parse(body).into_owned().collect())
    }

    fn get(&self, name: &str) -> &str {
        self.0.get(name).map(String::as_str).unwrap_or_default()
    }
}

/// A webhook id from the path; anything but a positive number is no page.
fn webhook_id(text: &str) -> Result<i64, Turned> {
    match text.parse::<i64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(Turned::NotFound),
    }
}

fn not_found_page() -> Response {
    page(
        StatusCode::NOT_FOUND,
        pages::message(
            "Not found",
            None,
            "There is no such page.",
            "/portal/webhooks",
        ),
    )
}

async fn not_found() -> Response {
    not_found_page()
}

async fn home(headers: HeaderMap) -> Response {
    match Session::from_headers(&headers) {
        Some(_) => see_other("/portal/webhooks"),
        None => page(StatusCode::OK, pages::sign_in(None)),
    }
}

async fn sign_in(State(portal): State<Portal>, headers: HeaderMap, body: Bytes) -> Response {
    let form = Form::parse(&body);
    if !same_origin(&headers) {
        return page(
            StatusCode::FORBIDDEN,
            pages::sign_in(Some("Sign in from the portal's own page.")),
        );
    }
    let key = form.get("user_key").trim();
    if key.is_empty() {
        return page(
            StatusCode::BAD_REQUEST,
            pages::sign_in(Some("Enter the user-key of your account.")),
        );
    }
    // The key is good if the API lists its webhooks: unknown keys get 401, keys on plans
    // without webhooks 403, each with the API's message.
    match portal.api.webhooks(key).await {
        Ok(_) => {
            let session = Session::new(key.to_owned());
            let mut response = see_other("/portal/webhooks");
            response
                .headers_mut()
                .insert(header::SET_COOKIE, session.cookie(portal.secure_cookie));
            response
        }
        Err(refusal) => {
            let mut response = page(refusal.status, pages::sign_in(Some(&refusal.message())));
            if let Some(wait) = &refusal.retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, wait.clone());
            }
            response
        }
    }
}

async fn sign_out(
    State(portal): State<Portal>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Turned> {
    let form = Form::parse(&body);
    form_session(&headers, &form)?;
    let mut response = see_other("/portal");
    response
        .headers_mut()
        .insert(header::SET_COOKIE, sign_out_cookie(portal.secure_cookie));
    Ok(response)
}

async fn list(
    State(portal): State<Portal>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Turned> {
    let session = signed_in(&headers)?;
    let mut notices = Vec::new();
    if let Some(id) = query.get("deleted").and_then(|id| id.parse::<i64>().ok()) {
        notices.push(format!("Webhook {id} was deleted."));
    }
    Ok(list_page(&portal, &session, notices, Draft::default(), StatusCode::OK).await)
}

async fn list_page(
    portal: &Portal,
    session: &Session,
    notices: Vec<String>,
    draft: Draft,
    status: StatusCode,
) -> Response {
    let key = session.key();
    let found = (
        portal.api.webhooks(key).await,
        portal.api.all_stats(key).await,
    );
    match found {
        (Ok(webhooks), Ok(stats)) => page(
            status,
            pages::list(session, &webhooks, &stats, &notices, &draft),
        ),
        (Err(refusal), _) | (_, Err(refusal)) => {
            refused(portal, Some(session), &refusal, "/portal/webhooks")
        }
    }
}

async fn register(
    State(portal): State<Portal>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Turned> {
    let form = Form::parse(&body);
    let session = form_session(&headers, &form)?;
    let fields = [
        ("url", form.get("url")),
        ("category", form.get("category")),
        ("secret", form.get("secret")),
    ];
    Ok(match portal.api.register(session.key(), &fields).await {
        Ok(webhook) => see_other(&format!("/portal/webhooks/{}?registered", webhook.id)),
        Err(refusal) if refusal.correctable() => {
            // The API's messages next to the fields; the secret is not sent back.
            let draft = Draft {
                url: form.get("url").to_owned(),
                category: form.get("category").to_owned(),
                errors: refusal.errors.clone(),
            };
            list_page(&portal, &session, Vec::new(), draft, refusal.status).await
        }
        Err(refusal) => refused(&portal, Some(&session), &refusal, "/portal/webhooks"),
    })
}

/// How a webhook's page is asked for, besides its id.
#[derive(Default)]
struct View {
    notices: Vec<String>,
    replay_errors: Problems,
    replay_input: (String, String),
    tested: Option<crate::api::TestOutcome>,
    show_secret: bool,
    status: Option<StatusCode>,
    /// The cursor the log's page starts before; the newest attempts without one.
    before: Option<String>,
}

/// Attempts per page of a webhook's delivery log.
const LOG_PAGE: usize = 50;

async fn detail(portal: &Portal, session: &Session, id: i64, view: View) -> Response {
    let key = session.key();
    let api = &portal.api;
    let back = page_of(id);
    let webhook = match api.webhook(key, id).await {
        Ok(webhook) => webhook,
        Err(refusal) => return refused(portal, Some(session), &refusal, "/portal/webhooks"),
    };
    let (stats, log, replay) = (
        api.stats(key, id).await,
        api.deliveries(key, id, LOG_PAGE, view.before.as_deref())
            .await,
        api.replay_status(key, id).await,
    );
    let (stats, log, replay) = match (stats, log, replay) {
        (Ok(stats), Ok(log), Ok(replay)) => (stats, log, replay),
        (Err(refusal), _, _) | (_, Err(refusal), _) | (_, _, Err(refusal)) => {
            return refused(portal, Some(session), &refusal, &back)
        }
    };
    let detail = Detail {
        webhook: &webhook,
        stats: &stats,
        log: &log,
        replay: replay.as_ref(),
        notices: view.notices,
        replay_errors: view.replay_errors,
        replay_input: view.replay_input,
        tested: view.tested.as_ref(),
        show_secret: view.show_secret,
        // A full page may have older attempts behind it.
        older: (log.len() == LOG_PAGE)
            .then(|| log.last().map(|a| a.cursor.clone()))
            .flatten(),
        paged: view.before.is_some(),
    };
    page(
        view.status.unwrap_or(StatusCode::OK),
        pages::webhook(session, &detail),
    )
}

async fn show(
    State(portal): State<Portal>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Turned> {
    let (session, id) = (signed_in(&headers)?, webhook_id(&id)?);
    let mut notices = Vec::new();
    if query.contains_key("registered") {
        notices.push(format!(
            "Webhook {id} is registered: changes of its category are delivered from now on."
        ));
    }
    if query.contains_key("replaying") {
        notices.push("The replay started.".to_owned());
    }
    let view = View {
        notices,
        before: query.get("before").cloned(),
        ..View::default()
    };
    Ok(detail(&portal, &session, id, view).await)
}

/// The address of a webhook's page.
fn page_of(id: i64) -> String {
    format!("/portal/webhooks/{id}")
}

/// The session and webhook id of a form post to a webhook's page.
fn posted(headers: &HeaderMap, id: &str, form: &Form) -> Result<(Session, i64), Turned> {
    let id = webhook_id(id)?;
    Ok((form_session(headers, form)?, id))
}

async fn show_secret(
    State(portal): State<Portal>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, Turned> {
    let form = Form::parse(&body);
    let (session, id) = posted(&headers, &id, &form)?;
    let view = View {
        show_secret: true,
        ..View::default()
    };
    Ok(detail(&portal, &session, id, view).await)
}

async fn test(
    State(portal): State<Portal>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, Turned> {
    let form = Form::parse(&body);
    let (session, id) = posted(&headers, &id, &form)?;
    Ok(match portal.api.test(session.key(), id).await {
        Ok(outcome) => {
            let view = View {
                tested: Some(outcome),
                ..View::default()
            };
            detail(&portal, &session, id, view).await
        }
        Err(refusal) => refused(&portal, Some(&session), &refusal, &page_of(id)),
    })
}

async fn replay(
    State(portal): State<Portal>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, Turned> {
    let form = Form::parse(&body);
    let (session, id) = posted(&headers, &id, &form)?;
    let (since, until) = (form.get("since").trim(), form.get("until").trim());
    let since_api = time::from_form(since);
    let until_api = (!until.is_empty()).then(|| time::from_form(until));
    // An empty `since` goes as JSON null, which the API reports as required.
    let started = portal
        .api
        .replay(
            session.key(),
            id,
            (!since.is_empty()).then_some(since_api.as_str()),
            until_api.as_deref(),
        )
        .await;
    Ok(match started {
        Ok(()) => see_other(&format!("/portal/webhooks/{id}?replaying#replay")),
        Err(refusal) if refusal.correctable() => {
            let view = View {
                replay_errors: refusal.errors.clone(),
                replay_input: (since.to_owned(), until.to_owned()),
                status: Some(refusal.status),
                ..View::default()
            };
            detail(&portal, &session, id, view).await
        }
        Err(refusal) => refused(&portal, Some(&session), &refusal, &page_of(id)),
    })
}

/// The newest replay's progress for the page's script: the API's numbers and the sentence
/// the page shows.
async fn replay_json(
    State(portal): State<Portal>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let (session, id) = match (Session::from_headers(&headers), webhook_id(&id)) {
        (Some(session), Ok(id)) => (session, id),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    match portal.api.replay_status(session.key(), id).await {
        Ok(Some(status)) => {
            let body = serde_json::json!({
                "state": status.state,
                "records": status.records,
                "read": status.read,
                "text": pages::replay_text(&status),
            });
            axum::Json(body).into_response()
        }
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(refusal) => (refusal.status, refusal.message()).into_response(),
    }
}

async fn confirm_delete(
    State(portal): State<Portal>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Turned> {
    let (session, id) = (signed_in(&headers)?, webhook_id(&id)?);
    Ok(match portal.api.webhook(session.key(), id).await {
        Ok(webhook) => page(StatusCode::OK, pages::confirm_delete(&session, &webhook)),
        Err(refusal) => refused(&portal, Some(&session), &refusal, "/portal/webhooks"),
    })
}

async fn delete(
    State(portal): State<Portal>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, Turned> {
    let form = Form::parse(&body);
    let (session, id) = posted(&headers, &id, &form)?;
    Ok(match portal.api.delete(session.key(), id).await {
        Ok(webhook) => see_other(&format!("/portal/webhooks?deleted={}", webhook.id)),
        Err(refusal) => refused(&portal, Some(&session), &refusal, &page_of(id)),
    })
}

const PORTAL_CSS: &str = include_str!("../assets/portal.css");
const PORTAL_JS: &str = include_str!("../assets/portal.js");
const FAVICON: &str = include_str!("../assets/favicon.svg");

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", PORTAL_CSS)
}

async fn js() -> Response {
    asset("text/javascript; charset=utf-8", PORTAL_JS)
}

async fn favicon() -> Response {
    asset("image/svg+xml", FAVICON)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    const WEBHOOK: &str =
        r#"{"id":1,"url":"https://example.com/h","category":1,"last_failed_at":null,"secret":"s"}"#;

    /// A stand-in for the API: records each request; answers the first of `answers` whose
    /// method and path match, else 200 with `[]`.
    fn fake_api(
        answers: &[(&'static str, &'static str, StatusCode, &'static str)],
    ) -> (Router, Arc<Mutex<Vec<String>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let answers = answers.to_vec();
        let log = seen.clone();
        let router = Router::new().fallback(any(move |request: Request<Body>| {
            let (log, answers) = (log.clone(), answers.clone());
            async move {
                let key = request
                    .headers()
                    .get("user-key")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                let (method, path) = (
                    request.method().to_string(),
                    request.uri().path().to_owned(),
                );
                log.lock()
                    .expect("log")
                    .push(format!("{method} {} {key}", request.uri()));
                let (status, body) = answers
                    .iter()
                    .find(|(m, p, _, _)| *m == method && *p == path)
                    .map(|(_, _, status, body)| (*status, *body))
                    .unwrap_or((StatusCode::OK, "[]"));
                let mut response = (status, body).into_response();
                if status == StatusCode::TOO_MANY_REQUESTS {
                    response
                        .headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from_static("3"));
                }
                response
            }
        }));
        (router, seen)
    }

    fn portal(api: Router) -> Router {
        router(api, &PortalConfig::default())
    }

    fn signed_in_as(key: &str) -> (String, String) {
        let session = Session::new(key.into());
        let cookie = session.cookie(true);
        let pair = cookie
            .to_str()
            .expect("text")
            .split(';')
            .next()
            .expect("pair");
        (pair.to_owned(), session.csrf())
    }

    async fn send(app: &Router, request: Request<Body>) -> (StatusCode, HeaderMap, String) {
        let response = app.clone().oneshot(request).await.expect("answers");
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 20).await.expect("body");
        (
            parts.status,
            parts.headers,
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }

    fn post(path: &str, cookie: &str, form: &str) -> Request<Body> {
        Request::post(path)
            .header(header::COOKIE, cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::HOST, "portal.test")
            .header("origin", "https://portal.test")
            .body(Body::from(form.to_owned()))
            .expect("request")
    }

    #[tokio::test]
    async fn pages_without_a_session_lead_to_the_sign_in_page() {
        let (api, seen) = fake_api(&[]);
        let app = portal(api);
        for path in [
            "/portal/webhooks",
            "/portal/webhooks/1",
            "/portal/webhooks/1/delete",
        ] {
            let request = Request::get(path).body(Body::empty()).expect("request");
            let (status, headers, _) = send(&app, request).await;
            assert_eq!(status, StatusCode::SEE_OTHER, "{path}");
            assert_eq!(headers[header::LOCATION], "/portal", "{path}");
        }
        let (status, headers, body) = send(
            &app,
            Request::get("/portal")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("user-key"), "{body}");
        assert!(headers["content-security-policy"]
            .to_str()
            .expect("csp")
            .contains("default-src 'none'"));
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");
        assert!(
            seen.lock().expect("log").is_empty(),
            "the API was not asked"
        );
    }

    #[tokio::test]
    async fn forms_without_the_token_or_from_elsewhere_change_nothing() {
        let (api, seen) = fake_api(&[("DELETE", "/webhooks/1", StatusCode::OK, WEBHOOK)]);
        let app = portal(api);
        let (cookie, csrf) = signed_in_as("key-alice");
        let (other_cookie, other_csrf) = signed_in_as("key-bob");
        let forged = [
            post("/portal/webhooks/1/delete", &cookie, ""),
            post("/portal/webhooks/1/delete", &cookie, "csrf=guess"),
            post(
                "/portal/webhooks/1/delete",
                &cookie,
                &format!("csrf={other_csrf}"),
            ),
            post(
                "/portal/webhooks",
                &other_cookie,
                &format!("csrf={csrf}&url=x"),
            ),
            {
                let mut request = post("/portal/webhooks/1/test", &cookie, &format!("csrf={csrf}"));
                request
                    .headers_mut()
                    .insert("origin", HeaderValue::from_static("https://evil.example"));
                request
            },
            {
                let mut request = post("/portal/sign-out", &cookie, &format!("csrf={csrf}"));
                request
                    .headers_mut()
                    .insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
                request
            },
        ];
        for request in forged {
            let path = request.uri().to_string();
            let (status, _, body) = send(&app, request).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
            assert!(
                body.contains("not sent from a page of the portal"),
                "{path}: {body}"
            );
        }
        assert!(
            seen.lock().expect("log").is_empty(),
            "nothing reached the API"
        );

        // The same delete with the session's token goes to the API with the session's key.
        let (status, headers, _) = send(
            &app,
            post(
                "/portal/webhooks/1/delete",
                &cookie,
                &format!("csrf={csrf}"),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert!(headers[header::LOCATION]
            .to_str()
            .expect("to")
            .starts_with("/portal/webhooks?deleted="));
        assert_eq!(*seen.lock().expect("log"), ["DELETE /webhooks/1 key-alice"]);
    }

    #[tokio::test]
    async fn ids_that_are_not_positive_numbers_reach_no_api_path() {
        let (api, seen) = fake_api(&[]);
        let app = portal(api);
        let (cookie, _) = signed_in_as("key-alice");
        for path in [
            "/portal/webhooks/0",
            "/portal/webhooks/-1",
            "/portal/webhooks/1%2F..%2Fstats",
            "/portal/webhooks/x",
        ] {
            let request = Request::get(path)
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .expect("request");
            let (status, headers, _) = send(&app, request).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
            assert!(headers.contains_key("content-security-policy"), "{path}");
        }
        assert!(seen.lock().expect("log").is_empty());
    }

    #[tokio::test]
    async fn unknown_portal_pages_get_a_page_and_other_paths_are_left_alone() {
        let (api, _) = fake_api(&[]);
        let app = portal(api);
        let get = |path: &str| Request::get(path).body(Body::empty()).expect("request");
        let (status, _, body) = send(&app, get("/portal/nope/deeper")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains("There is no such page."), "{body}");
        let (status, _, body) = send(&app, get("/webhooks/nope")).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::NOT_FOUND, ""),
            "not the portal's"
        );
    }

    #[tokio::test]
    async fn a_full_page_of_the_log_links_to_the_older_attempts() {
        let attempt = |n: usize| {
            format!(
                r#"{{"delivery_id":"msg_{n}","at":"2026-12-03T10:00:00.000Z","attempt":1,"kind":"change","status":200,"error":null,"latency_ms":3,"entity_id":7,"cursor":"{n:040x}"}}"#
            )
        };
        let full = format!(
            "[{}]",
            (1..=LOG_PAGE).map(attempt).collect::<Vec<_>>().join(",")
        );
        let full: &'static str = Box::leak(full.into_boxed_str());
        let stats = r#"{"webhook_id":1,"delivered":0,"failed":0,"success_rate":null,"hours":[]}"#;
        let no_replay = r#"{"errors":[{"field":"replay","message":"no replay"}]}"#;
        let (api, seen) = fake_api(&[
            ("GET", "/webhooks/1", StatusCode::OK, WEBHOOK),
            ("GET", "/webhooks/1/stats", StatusCode::OK, stats),
            ("GET", "/webhooks/1/deliveries", StatusCode::OK, full),
            (
                "GET",
                "/webhooks/1/replay",
                StatusCode::NOT_FOUND,
                no_replay,
            ),
        ]);
        let app = portal(api);
        let (cookie, _) = signed_in_as("k1");
        let get = |path: &str| {
            Request::get(path)
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .expect("request")
        };
        let (status, _, body) = send(&app, get("/portal/webhooks/1")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let last = format!("{LOG_PAGE:040x}");
        assert!(
            body.contains(&format!("/portal/webhooks/1?before={last}#log")),
            "{body}"
        );
        assert!(!body.contains("Newest attempts"), "{body}");

        let (status, _, body) = send(&app, get(&format!("/portal/webhooks/1?before={last}"))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains("Newest attempts"), "{body}");
        assert!(body.contains("older attempts, newest first"), "{body}");
        let asked = seen.lock().expect("log").clone();
        assert!(
            asked.contains(&format!(
                "GET /webhooks/1/deliveries?limit={LOG_PAGE}&before={last} k1"
            )),
            "the cursor reaches the API: {asked:?}"
        );
    }

    #[tokio::test]
    async fn the_api_refusals_are_shown_with_their_status() {
        let (cookie, csrf) = signed_in_as("key-alice");
        let get = || {
            Request::get("/portal/webhooks")
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .expect("request")
        };

        // An unknown key: back to the sign-in page, signed out.
        let unknown = r#"{"errors":[{"field":"user-key","message":"unknown user-key"}]}"#;
        let (api, _) = fake_api(&[("GET", "/webhooks", StatusCode::UNAUTHORIZED, unknown)]);
        let (status, headers, body) = send(&portal(api), get()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(
            body.contains("unknown user-key") && body.contains("Sign in"),
            "{body}"
        );
        assert!(headers[header::SET_COOKIE]
            .to_str()
            .expect("cookie")
            .contains("Max-Age=0"));

        // Too many requests: the API's message and its Retry-After.
        let busy = r#"{"errors":[{"field":"user-key","message":"too many requests with this key; try again in 3 s"}]}"#;
        let (api, _) = fake_api(&[("GET", "/webhooks", StatusCode::TOO_MANY_REQUESTS, busy)]);
        let (status, headers, body) = send(&portal(api), get()).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(headers[header::RETRY_AFTER], "3");
        assert!(body.contains("try again in 3 s"), "{body}");

        // A refused registration: the API's messages, what was typed but the secret.
        let invalid = r#"{"errors":[{"field":"url","message":"must be an http or https URL"}]}"#;
        let (api, seen) = fake_api(&[("POST", "/webhooks", StatusCode::BAD_REQUEST, invalid)]);
        let form = format!("csrf={csrf}&url=ftp%3A%2F%2Fx&category=7&secret=hush");
        let (status, _, body) = send(&portal(api), post("/portal/webhooks", &cookie, &form)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            body.contains(
                r#"<span class="field-error" id="url-error">must be an http or https URL</span>"#
            ),
            "the message next to its field: {body}"
        );
        assert!(
            body.contains(r#"value="ftp://x""#),
            "the URL as typed: {body}"
        );
        assert!(
            body.contains(r#"<option value="7" selected>"#),
            "the category as chosen"
        );
        assert!(!body.contains("hush"), "the secret is not sent back");
        assert_eq!(
            seen.lock().expect("log")[0],
            "POST /webhooks key-alice",
            "the form went to the API with the session's key"
        );
    }
}
