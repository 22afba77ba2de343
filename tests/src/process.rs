//! A `hookstream` process under test: spawned with its own environment, its JSON logs
//! collected, stopped by PID.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The `hookstream` binary, built once per test run if it is not there.
pub fn binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(path) = std::env::var("HOOKSTREAM_BIN") {
            return PathBuf::from(path);
        }
        // target/debug/deps/it-… → target/debug/hookstream
        let exe = std::env::current_exe().expect("test executable path");
        let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
        let bin = dir.join("hookstream");
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "-p", "hookstream"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "cannot build the hookstream binary");
        assert!(bin.exists(), "{} missing after build", bin.display());
        bin
    })
    .clone()
}

#[derive(Default)]
struct Logs {
    lines: Mutex<Vec<String>>,
    grew: Condvar,
}

/// A running `hookstream` subcommand.
pub struct Proc {
    pub name: String,
    child: Child,
    logs: Arc<Logs>,
}

impl Proc {
    /// Spawns `hookstream <args>` with `env` (and nothing of the test's own HOOKSTREAM_*).
    pub fn spawn(name: &str, args: &[&str], env: &HashMap<String, String>) -> Proc {
        let mut command = Command::new(binary());
        command
            .args(args)
            .arg("--log-format")
            .arg("json")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, _) in std::env::vars() {
            if key.starts_with("HOOKSTREAM_") {
                command.env_remove(key);
            }
        }
        // `HOOKSTREAM_TEST_RUST_LOG` sets the services' log filter when debugging a test.
        let filter = std::env::var("HOOKSTREAM_TEST_RUST_LOG")
            .unwrap_or_else(|_| "info,hookstream_dispatch=debug,librdkafka=warn".into());
        command.env("RUST_LOG", filter);
        command.envs(env);
        let mut child = command.spawn().expect("spawns hookstream");
        let stderr = child.stderr.take().expect("piped stderr");
        let logs = Arc::new(Logs::default());
        let sink = logs.clone();
        let tag = name.to_owned();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if std::env::var_os("HOOKSTREAM_TEST_ECHO").is_some() {
                    eprintln!("[{tag}] {line}");
                }
                sink.lines.lock().expect("logs").push(line);
                sink.grew.notify_all();
            }
        });
        Proc {
            name: name.to_owned(),
            child,
            logs,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for a JSON log line for which `matches` holds, and returns it.
    pub fn wait_log(
        &self,
        what: &str,
        timeout: Duration,
        matches: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        let mut seen = 0;
        let mut lines = self.logs.lines.lock().expect("logs");
        loop {
            for line in &lines[seen..] {
                if let Ok(value) = serde_json::from_str::<Value>(line) {
                    if matches(&value) {
                        return value;
                    }
                }
            }
            seen = lines.len();
            let now = Instant::now();
            if now >= deadline {
                panic!(
                    "{}: no log line for {what} within {timeout:?}; it said:\n{}",
                    self.name,
                    summary(&lines)
                );
            }
            lines = self
                .logs
                .grew
                .wait_timeout(lines, deadline - now)
                .expect("logs")
                .0;
        }
    }

    /// The address a service of this process listens on (from its `listening` log line).
    pub fn addr(&self, service: &str) -> String {
        let line = self.wait_log(&format!("{service} listening"), crate::WAIT, |v| {
            v["fields"]["message"] == "listening" && v["fields"]["service"] == service
        });
        line["fields"]["addr"]
            .as_str()
            .expect("addr field")
            .to_owned()
    }

    /// The last log lines, without backtrace frames: for failure messages.
    pub fn tail(&self) -> String {
        summary(&self.logs.lines.lock().expect("logs"))
    }

    /// Every log line so far, for assertions on what a process said.
    pub fn log_text(&self) -> String {
        self.logs.lines.lock().expect("logs").join("\n")
    }

    /// SIGTERM, then waits for the process to exit (SIGKILL after `timeout`).
    pub fn terminate(&mut self, timeout: Duration) -> Option<i32> {
        self.signal(libc::SIGTERM);
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
        None
    }

    /// SIGKILL: no chance to commit or flush.
    pub fn kill(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }

    fn signal(&self, signal: libc::c_int) {
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: kill(2) on the PID of our own child, which has not been reaped.
            unsafe {
                libc::kill(pid, signal);
            }
        }
    }
}

/// The last log lines without backtrace frames, oldest first.
fn summary(lines: &[String]) -> String {
    let frame = |line: &str| {
        let t = line.trim_start();
        let number = t.split(':').next().unwrap_or("");
        t.starts_with("at ") || (!number.is_empty() && number.chars().all(|c| c.is_ascii_digit()))
    };
    let shown: Vec<&str> = lines
        .iter()
        .map(String::as_str)
        .filter(|l| !frame(l))
        .collect();
    shown[shown.len().saturating_sub(40)..].join("\n")
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What a one-shot `hookstream` command printed, and how it ended.
#[derive(Debug)]
pub struct Finished {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// A one-shot `hookstream` command whose output is collected.
pub struct Captured {
    args: Vec<String>,
    child: Child,
    stdout: std::thread::JoinHandle<String>,
    stderr: std::thread::JoinHandle<String>,
}

impl Captured {
    /// Starts `hookstream <args>` with `env` (and nothing of the test's own HOOKSTREAM_*).
    pub fn spawn(args: &[&str], env: &HashMap<String, String>) -> Captured {
        let mut command = Command::new(binary());
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, _) in std::env::vars() {
            if key.starts_with("HOOKSTREAM_") {
                command.env_remove(key);
            }
        }
        command.envs(env);
        let mut child = command.spawn().expect("spawns hookstream");
        let read_all = |mut pipe: Box<dyn std::io::Read + Send>| {
            std::thread::spawn(move || {
                let mut text = String::new();
                pipe.read_to_string(&mut text).ok();
                text
            })
        };
        let stdout = read_all(Box::new(child.stdout.take().expect("piped")));
        let stderr = read_all(Box::new(child.stderr.take().expect("piped")));
        Captured {
            args: args.iter().map(|a| a.to_string()).collect(),
            child,
            stdout,
            stderr,
        }
    }

    /// Sends SIGINT, as Ctrl-C on a terminal does.
    pub fn interrupt(&self) {
        // SAFETY: kill(2) on the PID of a child this test spawned and has not reaped.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGINT);
        }
    }

    /// Waits for the end, or kills the command after `timeout` and panics.
    pub fn finish(mut self, timeout: Duration) -> Finished {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("waits") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "hookstream {:?} did not finish within {timeout:?}; it said:\n{}",
                    self.args,
                    self.stderr.join().unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        Finished {
            success: status.success(),
            stdout: self.stdout.join().unwrap_or_default(),
            stderr: self.stderr.join().unwrap_or_default(),
        }
    }
}

/// Runs `hookstream <args>` with `env` to its end, or kills it after `timeout` and panics.
pub fn run_to_end(args: &[&str], env: &HashMap<String, String>, timeout: Duration) -> Finished {
    Captured::spawn(args, env).finish(timeout)
}
