//! The portal in a real browser: `tests/portal/portal.test.mjs` drives Debian's headless
//! Chromium with playwright-core against the pipeline this test runs (`scripts/test.sh`
//! installs both). The script checks the pages; this test then checks what reached the
//! receiver and the API.

use std::path::{Path, PathBuf};
use std::process::Command;

use hookstream_tests::stack::{ADMIN_TOKEN, ALICE, FREE};
use hookstream_tests::{Receiver, Stack, WAIT};

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("portal")
}

/// Where the screenshots go: `HOOKSTREAM_SCREENSHOTS`, else `target/portal-screenshots`.
fn screenshots() -> PathBuf {
    std::env::var_os("HOOKSTREAM_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| script().join("../../target/portal-screenshots"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_manages_a_webhook_in_the_browser() {
    let dir = script();
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        dir.join("node_modules/playwright-core").is_dir() && Path::new(&chromium).exists(),
        "the browser test needs {chromium} and playwright-core: scripts/test.sh installs them \
         (apt-get install chromium; npm ci in tests/portal)"
    );
    let stack = Stack::new("portal");
    let (dev, api, _ingest) = stack.dev();
    let receiver = Receiver::start(200).await;
    let api_url = format!("http://{}", dev.addr("api"));
    let run = tokio::task::spawn_blocking({
        let (api_url, capture, receiver_url) = (
            api_url.clone(),
            format!("http://{}", dev.addr("capture")),
            receiver.url.clone(),
        );
        move || {
            Command::new("node")
                .arg("portal.test.mjs")
                .current_dir(&dir)
                .env("PORTAL_URL", format!("{api_url}/portal"))
                .env("API_URL", &api_url)
                .env("INGEST_URL", capture)
                .env("ADMIN_TOKEN", ADMIN_TOKEN)
                .env("RECEIVER_URL", receiver_url)
                .env("KEY_PRO", ALICE)
                .env("KEY_FREE", FREE)
                .env("SCREENSHOTS", screenshots())
                .env("CHROMIUM", chromium)
                .status()
        }
    });
    let status = tokio::time::timeout(WAIT * 4, run)
        .await
        .expect("the browser test ends in time")
        .expect("joins")
        .expect("node runs (is Node.js installed?)");
    assert!(status.success(), "the browser test failed: {status}");

    // What the pages did reached the receiver: the change, the test ping and the replay,
    // each with the secret registered in the form.
    let received = receiver.received();
    let bodies: Vec<&str> = received.iter().map(|r| r.body.as_str()).collect();
    assert!(
        bodies.iter().any(|b| b.contains(r#""name":"Portal""#)),
        "{bodies:?}"
    );
    assert!(
        bodies.iter().any(|b| b.contains(r#""ping":true"#)),
        "{bodies:?}"
    );
    assert!(
        received
            .iter()
            .any(|r| r.header("x-hookstream-replay") == "true"),
        "the replay was delivered"
    );
    assert!(received
        .iter()
        .all(|r| r.header("x-secret") == "portal-secret-1"));
    // And the webhook deleted on the page is gone from the API.
    let (status, list) = api.get(ALICE, "/webhooks").await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().map(Vec::len), Some(0), "{list}");
}
