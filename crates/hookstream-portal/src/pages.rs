//! The portal's pages: plain HTML that reads without scripts or styles, one function per page.
//! Everything shown comes from the public API's answers ([`crate::api`]).

use hookstream_model::Category;
use maud::{html, Markup, DOCTYPE};

use crate::api::{Attempt, Problems, ReplayStatus, Stats, TestOutcome, Webhook};
use crate::chart;
use crate::session::Session;
use crate::time;

/// Every page: the head, the skip link, the header with sign-out, and `main`.
pub fn layout(title: &str, session: Option<&Session>, main: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="same-origin";
                title { (title) " · hookstream" }
                link rel="icon" type="image/svg+xml" href="/portal/assets/favicon.svg";
                link rel="stylesheet" href="/portal/assets/portal.css";
                script src="/portal/assets/portal.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to the content" }
                header.top {
                    a.brand href="/portal/webhooks" { "hookstream" }
                    @if let Some(session) = session {
                        form.inline method="post" action="/portal/sign-out" {
                            (token(session))
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main id="main" { (main) }
            }
        }
    }
}

/// The hidden anti-forgery field of a form.
fn token(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf()); }
}

/// A notice that assistive technology announces.
pub fn notice(text: &str) -> Markup {
    html! { p.notice role="status" { (text) } }
}

/// An error the page failed with, announced at once.
pub fn problem(text: &str) -> Markup {
    html! { p.problem role="alert" { (text) } }
}

/// The sign-in form, with the API's answer to the last attempt if it failed.
pub fn sign_in(error: Option<&str>) -> Markup {
    let main = html! {
        h1 { "Sign in" }
        p { "Sign in with the " code { "user-key" } " of your account. It stays in this browser session only." }
        @if let Some(error) = error { p.problem #user_key-error role="alert" { (error) } }
        form method="post" action="/portal/sign-in" {
            label for="user_key" { "user-key" }
            input #user_key type="password" name="user_key" autocomplete="off" required
                aria-invalid=[error.map(|_| "true")]
                aria-describedby=[error.map(|_| "user_key-error")];
            button type="submit" { "Sign in" }
        }
    };
    layout("Sign in", None, main)
}

/// A page that says what went wrong, with a way back.
pub fn message(title: &str, session: Option<&Session>, text: &str, back: &str) -> Markup {
    let main = html! {
        h1 { (title) }
        (problem(text))
        p { a href=(back) { "Back" } }
    };
    layout(title, session, main)
}

/// What the register form was sent with (but the secret), and the API's messages.
#[derive(Debug, Default)]
pub struct Draft {
    pub url: String,
    pub category: String,
    pub errors: Problems,
}

fn category_name(key: i32) -> String {
    Category::from_key(i64::from(key))
        .map(|c| c.name().to_owned())
        .unwrap_or_else(|_| format!("category {key}"))
}

/// `1 webhook`, `2 webhooks`; `1 delivery`, `2 deliveries`.
fn count(n: usize, noun: &str) -> String {
    match (n, noun.strip_suffix('y')) {
        (1, _) => format!("1 {noun}"),
        (_, Some(stem)) => format!("{n} {stem}ies"),
        (_, None) => format!("{n} {noun}s"),
    }
}

/// Success rate as a percentage, or a dash without attempts.
fn rate(stats: Option<&Stats>) -> String {
    match stats.and_then(|s| s.success_rate) {
        Some(rate) => format!("{:.1} %", rate * 100.0),
        None => "–".into(),
    }
}

/// Whether the webhook is delivering now: the outcome of its newest attempt (test pings
/// aside).
fn status(stats: Option<&Stats>) -> Markup {
    match stats.and_then(|s| s.latest.as_ref()) {
        None => html! { "No deliveries yet" },
        Some(latest) if latest.delivered => html! { span.ok { "Delivering" } },
        Some(latest) => html! {
            span.failing { "Failing" }
            " – the newest attempt (" (time::rfc3339(&latest.at)) ") failed; a webhook that gets no "
            "2xx for 24 hours is removed"
        },
    }
}

/// The list of the account's webhooks and the register form.
pub fn list(
    session: &Session,
    webhooks: &[Webhook],
    stats: &[Stats],
    notices: &[String],
    draft: &Draft,
) -> Markup {
    let stats_of = |id: i64| stats.iter().find(|s| s.webhook_id == id);
    let main = html! {
        h1 { "Your webhooks" }
        @for text in notices { (notice(text)) }
        @if webhooks.is_empty() {
            p { "This account has no webhooks yet. Register one below." }
        } @else {
            (table(
                html! { (count(webhooks.len(), "webhook")) "; success rates of the last 24 hours" },
                &["ID", "URL", "Category", "Status", "Last failure", "Success rate"],
                webhooks.iter().map(|webhook| vec![
                    html! { a href={ "/portal/webhooks/" (webhook.id) } { (webhook.id) } },
                    html! { span.url { (webhook.url) } },
                    html! { (category_name(webhook.category)) },
                    status(stats_of(webhook.id)),
                    time::optional(webhook.last_failed_at),
                    html! { (rate(stats_of(webhook.id))) },
                ]),
            ))
        }
        (register_form(session, draft))
    };
    layout("Your webhooks", Some(session), main)
}

fn field_error(id: &str, message: Option<&str>) -> Markup {
    html! {
        @if let Some(message) = message {
            span.field-error id={ (id) "-error" } { (message) }
        }
    }
}

fn register_form(session: &Session, draft: &Draft) -> Markup {
    let errors = &draft.errors;
    let (url, category, secret) = (
        errors.about("url"),
        errors.about("category"),
        errors.about("secret"),
    );
    let general = errors.except(&["url", "category", "secret"]);
    html! {
        section aria-labelledby="register" {
            h2 #register { "Register a webhook" }
            @if !draft.errors.is_empty() {
                (problem("The webhook was not registered; see the messages below."))
            }
            @for message in &general { (problem(message)) }
            // The API validates; its messages are shown as they are.
            form method="post" action="/portal/webhooks" novalidate {
                (token(session))
                div.field {
                    label for="url" { "URL" }
                    input #url type="url" name="url" value=(draft.url) autocomplete="off"
                        placeholder="https://example.com/hooks"
                        aria-invalid=[url.map(|_| "true")]
                        aria-describedby=[url.map(|_| "url-error")];
                    (field_error("url", url))
                }
                div.field {
                    label for="category" { "Category" }
                    select #category name="category"
                        aria-invalid=[category.map(|_| "true")]
                        aria-describedby=[category.map(|_| "category-error")] {
                        option value="" selected[draft.category.is_empty()] { "Choose a category" }
                        @for c in Category::ALL {
                            option value=(c.key()) selected[draft.category == c.key().to_string()] { (c.name()) }
                        }
                    }
                    (field_error("category", category))
                }
                div.field {
                    label for="secret" { "Secret" }
                    input #secret type="password" name="secret" autocomplete="new-password"
                        aria-invalid=[secret.map(|_| "true")]
                        aria-describedby=[secret.map(|_| "secret-error")];
                    (field_error("secret", secret))
                    span.hint { "Sent as the X-Secret header of every delivery." }
                }
                button type="submit" { "Register" }
            }
        }
    }
}

/// What a webhook's page shows besides the webhook.
pub struct Detail<'a> {
    pub webhook: &'a Webhook,
    pub stats: &'a Stats,
    pub log: &'a [Attempt],
    pub replay: Option<&'a ReplayStatus>,
    pub notices: Vec<String>,
    /// The API's answer to a refused replay request, with what was sent.
    pub replay_errors: Problems,
    pub replay_input: (String, String),
    pub tested: Option<&'a TestOutcome>,
    pub show_secret: bool,
    /// The cursor of the next, older page of the log, if there may be one.
    pub older: Option<String>,
    /// Whether the log shows an older page, not the newest attempts.
    pub paged: bool,
}

/// A webhook's page: its settings, the chart, the delivery log, test and replay.
pub fn webhook(session: &Session, d: &Detail<'_>) -> Markup {
    let w = d.webhook;
    let title = format!("Webhook {}", w.id);
    let main = html! {
        p { a href="/portal/webhooks" { "All webhooks" } }
        h1 { (title) }
        @for text in &d.notices { (notice(text)) }
        @if let Some(outcome) = d.tested { (test_outcome(outcome)) }
        dl.facts {
            dt { "URL" } dd.url { (w.url) }
            dt { "Category" } dd { (category_name(w.category)) }
            dt { "Status" } dd { (status(Some(d.stats))) }
            dt { "Last failure" } dd { (time::optional(w.last_failed_at)) }
            dt { "Secret" } dd {
                @if d.show_secret {
                    code #secret-value { (w.secret) }
                } @else {
                    form.inline method="post" action={ "/portal/webhooks/" (w.id) "/secret" } {
                        (token(session))
                        button type="submit" { "Show secret" }
                    }
                }
            }
        }
        div.actions {
            form.inline method="post" action={ "/portal/webhooks/" (w.id) "/test" } {
                (token(session))
                button type="submit" { "Send test" }
            }
            a.danger href={ "/portal/webhooks/" (w.id) "/delete" } { "Delete…" }
        }
        section aria-labelledby="day" {
            h2 #day { "Last 24 hours" }
            p {
                (d.stats.delivered) " delivered, " (d.stats.failed) " failed; success rate "
                (rate(Some(d.stats)))
            }
            (chart::day(&d.stats.hours))
            details {
                summary { "The hours as a table" }
                (table(
                    html! { "Attempts per hour, oldest first" },
                    &["Hour (UTC)", "Delivered", "Failed"],
                    d.stats.hours.iter().map(|h| vec![
                        time::rfc3339(&h.start),
                        html! { (h.delivered) },
                        html! { (h.failed) },
                    ]),
                ))
            }
        }
        section aria-labelledby="log" {
            h2 #log { "Delivery log" }
            (log_table(d.log, d.paged))
            @if d.paged || d.older.is_some() {
                nav.pages aria-label="Delivery log pages" {
                    @if d.paged {
                        a href={ "/portal/webhooks/" (w.id) "#log" } { "Newest attempts" }
                    }
                    @if let Some(cursor) = &d.older {
                        a href={ "/portal/webhooks/" (w.id) "?before=" (cursor) "#log" } {
                            "Older attempts"
                        }
                    }
                }
            }
        }
        (replay_section(session, d))
    };
    layout(&title, Some(session), main)
}

fn test_outcome(outcome: &TestOutcome) -> Markup {
    let what = match (outcome.delivered, outcome.status, &outcome.error) {
        (true, Some(status), _) => format!("Test delivered: the receiver answered {status}"),
        (false, Some(status), _) => format!("Test not delivered: the receiver answered {status}"),
        (_, None, Some(error)) => format!("Test not delivered: {}", error.replace('_', " ")),
        _ => "Test not delivered".to_owned(),
    };
    html! {
        p.notice role="status" {
            (what) " in " (outcome.latency_ms) " ms (webhook-id " code { (outcome.delivery_id) } ")."
        }
    }
}

fn log_table(log: &[Attempt], paged: bool) -> Markup {
    html! {
        @if log.is_empty() {
            @if paged {
                p { "No older delivery attempts." }
            } @else {
                p { "No delivery attempts yet." }
            }
        } @else {
            (table(
                html! {
                    @if paged { (count(log.len(), "older attempt")) } @else {
                        "The newest " (count(log.len(), "attempt"))
                    }
                    ", newest first"
                },
                &["Time", "Kind", "Attempt", "Status", "Latency", "Error", "webhook-id"],
                log.iter().map(|a| vec![
                    time::rfc3339(&a.at),
                    html! { (a.kind) @if let Some(entity) = a.entity_id { " of " (entity) } },
                    html! { (a.attempt) },
                    match a.status {
                        Some(s) if (200..300).contains(&s) => html! { span.ok { (s) } },
                        Some(s) => html! { span.failing { (s) } },
                        None => html! { "–" },
                    },
                    html! { (a.latency_ms) " ms" },
                    html! { (a.error.as_deref().map(|e| e.replace('_', " ")).unwrap_or_default()) },
                    html! { code { (a.delivery_id) } },
                ]),
            ))
        }
    }
}

/// A table with a caption and a header row; on a narrow screen each row becomes a card whose
/// lines are labelled with the column names (`data-label`).
fn table(caption: Markup, columns: &[&str], rows: impl Iterator<Item = Vec<Markup>>) -> Markup {
    html! {
        div.scroll {
            table role="table" {
                caption { (caption) }
                // The roles keep the table a table for assistive technology when the narrow
                // layout displays its parts as blocks.
                thead role="rowgroup" { tr role="row" {
                    @for column in columns { th scope="col" role="columnheader" { (column) } }
                } }
                tbody role="rowgroup" {
                    @for row in rows {
                        tr role="row" {
                            @for (column, cell) in columns.iter().zip(row) {
                                td role="cell" data-label=(column) { (cell) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn replay_section(session: &Session, d: &Detail<'_>) -> Markup {
    let id = d.webhook.id;
    let errors = &d.replay_errors;
    let (since, until) = (errors.about("since"), errors.about("until"));
    let general = errors.except(&["since", "until"]);
    html! {
        section aria-labelledby="replay" {
            h2 #replay { "Replay" }
            p { "Sends every change of the category in a time range to this webhook again, with the header "
                code { "X-Hookstream-Replay: true" } ". Times are UTC." }
            @if let Some(status) = d.replay { (replay_progress(id, status)) }
            @for message in &general { (problem(message)) }
            form method="post" action={ "/portal/webhooks/" (id) "/replay" } novalidate {
                (token(session))
                div.field {
                    label for="since" { "Since (UTC)" }
                    input #since type="datetime-local" name="since" step="1" value=(d.replay_input.0)
                        aria-invalid=[since.map(|_| "true")]
                        aria-describedby=[since.map(|_| "since-error")];
                    (field_error("since", since))
                }
                div.field {
                    label for="until" { "Until (UTC, optional)" }
                    input #until type="datetime-local" name="until" step="1" value=(d.replay_input.1)
                        aria-invalid=[until.map(|_| "true")]
                        aria-describedby=[until.map(|_| "until-error")];
                    (field_error("until", until))
                }
                button type="submit" { "Replay" }
            }
        }
    }
}

/// The newest replay's progress; the page's script refreshes it while it runs.
pub fn replay_progress(id: i64, status: &ReplayStatus) -> Markup {
    let text = replay_text(status);
    let max = status.records.max(1);
    // A finished replay fills the bar, even when offset gaps left fewer records than counted.
    let value = match status.state.as_str() {
        "running" => status.read.min(max),
        _ => max,
    };
    html! {
        div.replay-status data-replay-url={ "/portal/webhooks/" (id) "/replay.json" }
            data-state=(status.state) {
            progress aria-labelledby="replay-text" max=(max) value=(value) {
                (status.read) " of " (status.records)
            }
            p.replay-text #replay-text { (text) }
            // Announced when the replay ends (the script fills it), not at every refresh.
            p.visually-hidden.replay-announce role="status" {}
        }
    }
}

/// One sentence about a replay (the page's script shows the same, from `replay.json`).
pub fn replay_text(status: &ReplayStatus) -> String {
    let range = match &status.until {
        Some(until) => format!("from {} to {}", status.since, until),
        None => format!("from {}", status.since),
    };
    let mut text = match status.state.as_str() {
        "running" => format!(
            "Replay {range} running: {} of {} read, {} queued.",
            count(status.read as usize, "record"),
            status.records,
            count(status.queued as usize, "delivery"),
        ),
        "done" => format!(
            "Replay {range} done: {} read, {} queued.",
            count(status.read as usize, "record"),
            count(status.queued as usize, "delivery"),
        ),
        _ => format!(
            "Replay {range} stopped after {} of {} ({} queued): {}",
            count(status.read as usize, "record"),
            status.records,
            count(status.queued as usize, "delivery"),
            status.error.as_deref().unwrap_or("no reason given")
        ),
    };
    if let Some(warning) = &status.warning {
        text.push(' ');
        text.push_str(warning);
    }
    text
}

/// The confirmation before a webhook is deleted.
pub fn confirm_delete(session: &Session, webhook: &Webhook) -> Markup {
    let title = format!("Delete webhook {}?", webhook.id);
    let main = html! {
        h1 { (title) }
        p { "Deliveries to " code { (webhook.url) } " of " (category_name(webhook.category))
            " changes stop at once. This cannot be undone." }
        form method="post" action={ "/portal/webhooks/" (webhook.id) "/delete" } {
            (token(session))
            button.danger type="submit" { "Delete webhook " (webhook.id) }
            " "
            a href={ "/portal/webhooks/" (webhook.id) } { "Cancel" }
        }
    };
    layout(&title, Some(session), main)
}
