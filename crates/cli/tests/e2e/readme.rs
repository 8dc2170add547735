//! The README is executable: its shell blocks run, in order, in one bash session against
//! real servers, and a command that fails or whose output no longer matches fails this test.
//!
//! How README.md's fenced blocks are read (parsed with pulldown-cmark):
//! * ` ```sh ` blocks run as they are, with `set -eo pipefail`: every command must succeed.
//! * ` ```console ` blocks hold `$ command` lines (continued with `\`), each followed by the
//!   output it must print (stdout and stderr), compared with snapbox: `...` on a line of its
//!   own stands for any lines, `[..]` for any text within a line. A command that must fail
//!   says so in a comment at its end: `# exits 3`.
//! * ` ```python ` blocks run with python3 in the same session (its environment included).
//! * A block whose info string says `no-run` (`sh no-run`) is not run; the README says why
//!   next to it (it needs AWS, or it is this very test suite). Other languages (toml, rust,
//!   json) are not run.
//!
//! What the session gets, as a user following the README from the repository root would:
//! a scratch directory holding copies of `examples/`, `scripts/` and the key rules file,
//! `s9-secrets` on PATH, the aws CLI, boto3, cfn-lint and cfn-guard as scripts/test.sh
//! installs them, and a HOME of its own. The quick start's `cargo run --release -- serve`
//! is the test's own `s9-secrets serve` (same defaults) started in that directory. Addresses
//! are the only thing changed, so that tests can run side by side: `127.0.0.1:7780` (the
//! quick-start server), `127.0.0.1:7781` and `127.0.0.1:9781` (the config server and its
//! metrics), `127.0.0.1:7782` / `localhost:7782` (the TLS server) and `127.0.0.1:2773` /
//! `localhost:2773` (the agent) become free ports, and the vendor check's Alpaca URL in the
//! copied config points at a local stand-in that accepts any key pair. A line that starts
//! `s9-secrets serve` or `s9-secrets agent` in the background (`&`) is followed by a wait
//! for its port, as a person waits for the banner. `cargo run --release -p s9-client
//! --example asset_sync --` runs the example binary `cargo test` built (the same code).

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pulldown_cmark::{CodeBlockKind, Event, Parser, Tag, TagEnd};

use crate::harness::{BIN, copy_dir};

const README: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// A fenced block of the README.
#[derive(Debug)]
struct Block {
    /// 1-based line of the opening fence.
    line: usize,
    lang: String,
    run: bool,
    text: String,
}

fn blocks(markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (event, range) in Parser::new(markdown).into_offset_iter() {
        match event {
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) => {
                let mut words = info.split_whitespace();
                let lang = words.next().unwrap_or_default().to_owned();
                let run = matches!(lang.as_str(), "sh" | "console" | "python")
                    && !words.any(|w| w == "no-run");
                open = Some(Block {
                    line: markdown[..range.start].matches('\n').count() + 1,
                    lang,
                    run,
                    text: String::new(),
                });
            }
            Event::Text(text) => {
                if let Some(block) = open.as_mut() {
                    block.text.push_str(&text);
                }
            }
            Event::End(TagEnd::CodeBlock) => out.extend(open.take()),
            _ => {}
        }
    }
    out
}

/// One `$ command` of a console block and what it must print.
#[derive(Debug)]
struct Expected {
    line: usize,
    command: String,
    exit: i32,
    output: String,
}

fn console(block: &Block) -> Vec<Expected> {
    let mut out: Vec<Expected> = Vec::new();
    let mut continued = false;
    for (i, line) in block.text.lines().enumerate() {
        if let Some(command) = line.strip_prefix("$ ") {
            out.push(Expected {
                line: block.line + 1 + i,
                command: command.to_owned(),
                exit: 0,
                output: String::new(),
            });
            continued = command.ends_with('\\');
        } else if let Some(last) = out.last_mut().filter(|_| continued) {
            last.command.push('\n');
            last.command.push_str(line);
            continued = line.ends_with('\\');
        } else if let Some(last) = out.last_mut() {
            last.output.push_str(line);
            last.output.push('\n');
        }
    }
    for e in &mut out {
        if let Some((_, code)) = e.command.rsplit_once("# exits ") {
            e.exit = code.trim().parse().expect("`# exits N` takes a number");
        }
    }
    out
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
}

/// Alpaca's account endpoint, as far as the vendor check needs it: 200 for a request that
/// carries both key headers.
struct VendorStandIn {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl VendorStandIn {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                let Ok((mut stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&request).to_ascii_lowercase();
                let status =
                    if head.contains("apca-api-key-id:") && head.contains("apca-api-secret-key:") {
                        "200 OK"
                    } else {
                        "401 Unauthorized"
                    };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}"
                );
            }
        });
        Self { addr, stop }
    }
}

impl Drop for VendorStandIn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A process group the test started (the bash session and everything it put in the
/// background); stopped with SIGTERM, then SIGKILL, when dropped.
struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        let pgid = format!("-{}", self.0.id());
        let _ = Command::new("kill")
            .args(["-TERM", "--", &pgid])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && self.0.try_wait().ok().flatten().is_none() {
            std::thread::sleep(Duration::from_millis(20));
        }
        // Background servers outlive the shell for a moment: give them their grace too.
        std::thread::sleep(Duration::from_millis(200));
        let _ = Command::new("kill")
            .args(["-KILL", "--", &pgid])
            .stderr(Stdio::null())
            .status();
        let _ = self.0.wait();
    }
}

/// The address a `s9-secrets serve|agent … &` line listens on.
fn listen_addr(line: &str, default: &str) -> String {
    let mut words = line.split_whitespace();
    while let Some(w) = words.next() {
        if w == "--listen" {
            return words.next().unwrap_or(default).to_owned();
        }
        if let Some(v) = w.strip_prefix("--listen=") {
            return v.to_owned();
        }
    }
    default.to_owned()
}

/// The bash script that runs every block; console commands leave their output and exit
/// status in `results/N.out` and `results/N.rc`.
fn script(blocks: &[Block], substitute: &dyn Fn(&str) -> String) -> (String, Vec<Expected>) {
    let mut script = String::from(
        "set -eo pipefail\n\
         trap 'echo \"README.md:$S9_LINE: the block starting here failed (exit $?)\" >&2' ERR\n\
         s9_wait_for() {\n\
           for _ in $(seq 1 300); do\n\
             (exec 3<>\"/dev/tcp/${1%:*}/${1##*:}\") 2>/dev/null && return 0\n\
             sleep 0.1\n\
           done\n\
           echo \"nothing listens on $1\" >&2; return 1\n\
         }\n",
    );
    let mut expected = Vec::new();
    for block in blocks.iter().filter(|b| b.run) {
        script.push_str(&format!("S9_LINE={}\n", block.line));
        match block.lang.as_str() {
            "sh" => {
                let text = substitute(&block.text);
                let mut logical = String::new();
                for line in text.lines() {
                    script.push_str(line);
                    script.push('\n');
                    // A command continued with `\` is looked at whole.
                    logical.push_str(line.trim_end_matches('\\'));
                    logical.push(' ');
                    if line.ends_with('\\') {
                        continue;
                    }
                    let line = std::mem::take(&mut logical);
                    // `cmd &` or `cmd &   # comment`
                    let code = line.split(" #").next().unwrap_or(&line);
                    let background = code.trim_end().ends_with('&');
                    if background && line.contains("s9-secrets serve") {
                        let addr = listen_addr(&line, &substitute("127.0.0.1:7780"));
                        script.push_str(&format!("s9_wait_for {addr}\n"));
                    } else if background && line.contains("s9-secrets agent") {
                        let addr = listen_addr(&line, &substitute("127.0.0.1:2773"));
                        script.push_str(&format!("s9_wait_for {addr}\n"));
                    }
                }
            }
            "python" => {
                script.push_str("python3 - <<'S9_PYTHON'\n");
                script.push_str(&substitute(&block.text));
                script.push_str("S9_PYTHON\n");
            }
            "console" => {
                for e in console(block) {
                    let n = expected.len();
                    script.push_str(&format!(
                        "S9_LINE={}\nset +e\n( {}\n) > results/{n}.out 2>&1\necho $? > results/{n}.rc\nset -e\n",
                        e.line,
                        substitute(&e.command)
                    ));
                    expected.push(Expected {
                        output: substitute(&e.output),
                        ..e
                    });
                }
            }
            other => unreachable!("{other} blocks are not run"),
        }
    }
    (script, expected)
}

/// The directory holding the test binary's siblings (`target/debug`).
fn target_profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/debug/deps/e2e-…")
        .to_owned()
}

#[test]
fn every_readme_command_runs_as_written() {
    let markdown = std::fs::read_to_string(README).expect("README.md");
    let blocks = blocks(&markdown);
    assert!(
        blocks.iter().filter(|b| b.run).count() >= 10,
        "the README lost its runnable blocks: {blocks:#?}"
    );
    crate::harness::require("aws", &["--version"]);
    crate::harness::require("python3", &["-c", "import boto3"]);

    let scratch = tempfile::tempdir().expect("tmp");
    let work = scratch.path();
    for dir in ["examples", "scripts", "rules"] {
        std::fs::create_dir(work.join(dir)).expect("mkdir");
        copy_dir(&Path::new(ROOT).join(dir), &work.join(dir));
    }
    std::fs::create_dir_all(work.join("crates/client/src")).expect("mkdir");
    std::fs::copy(
        Path::new(ROOT).join("crates/client/src/api-credentials.rules.json"),
        work.join("crates/client/src/api-credentials.rules.json"),
    )
    .expect("rules");
    std::fs::create_dir(work.join("home")).expect("home");
    std::fs::create_dir(work.join("results")).expect("results");

    let vendor = VendorStandIn::start();
    let config = work.join("examples/signal9/s9.toml");
    let text = std::fs::read_to_string(&config).expect("example config");
    assert!(text.contains("https://paper-api.alpaca.markets"));
    std::fs::write(
        &config,
        text.replace(
            "https://paper-api.alpaca.markets",
            &format!("http://{}", vendor.addr),
        ),
    )
    .expect("config");

    let (quick, team, agent, metrics) = (free_addr(), free_addr(), free_addr(), free_addr());
    let network = free_addr().port();
    let example = target_profile_dir().join("examples/asset_sync");
    if !example.is_file() {
        // `cargo test` builds the examples; a run limited to `--tests` (coverage) does not.
        let target = target_profile_dir();
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--locked",
                "-p",
                "s9-client",
                "--example",
                "asset_sync",
            ])
            .arg("--target-dir")
            .arg(target.parent().expect("target dir"))
            .current_dir(ROOT)
            .status()
            .expect("cargo build --example");
        assert!(status.success(), "building the client example failed");
    }
    assert!(example.is_file(), "{} is missing", example.display());
    let substitute = |text: &str| {
        text.replace("127.0.0.1:7780", &quick.to_string())
            .replace("127.0.0.1:7781", &team.to_string())
            .replace("127.0.0.1:9781", &metrics.to_string())
            .replace("127.0.0.1:2773", &agent.to_string())
            .replace("localhost:2773", &agent.to_string())
            .replace("127.0.0.1:7782", &format!("127.0.0.1:{network}"))
            .replace("localhost:7782", &format!("localhost:{network}"))
            .replace(
                "cargo run --release -p s9-client --example asset_sync --",
                &example.display().to_string(),
            )
    };
    let bin_dir = Path::new(BIN).parent().expect("bin dir");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let session = |program: &str| {
        let mut cmd = Command::new(program);
        cmd.current_dir(work)
            .env_clear()
            .env("PATH", &path)
            .env("HOME", work.join("home"))
            .env("LANG", "C.UTF-8")
            .env("S9_LOG", "warn")
            .stdin(Stdio::null())
            .process_group(0);
        cmd
    };

    // `cargo run --release -- serve`, as the quick start runs it.
    let server_log = std::fs::File::create(work.join("serve.log")).expect("log");
    let _server = Group(
        session(BIN)
            .args(["serve", "--listen", &quick.to_string()])
            .stdout(server_log.try_clone().expect("log"))
            .stderr(server_log)
            .spawn()
            .expect("serve"),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(quick).is_err() {
        assert!(
            Instant::now() < deadline,
            "the quick-start server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let (script, expected) = script(&blocks, &substitute);
    std::fs::write(work.join("readme.sh"), &script).expect("script");
    let output = std::fs::File::create(work.join("readme.log")).expect("log");
    let mut bash = Group(
        session("bash")
            .arg("readme.sh")
            .stdout(output.try_clone().expect("log"))
            .stderr(output)
            .spawn()
            .expect("bash"),
    );
    let deadline = Instant::now() + Duration::from_secs(600);
    let status = loop {
        if let Some(status) = bash.0.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "the README session hung");
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = std::fs::read_to_string(work.join("readme.log")).unwrap_or_default();
    assert!(status.success(), "a README command failed:\n{log}");

    let mut failures = Vec::new();
    for (n, e) in expected.iter().enumerate() {
        let out =
            std::fs::read_to_string(work.join(format!("results/{n}.out"))).unwrap_or_default();
        let rc: i32 = std::fs::read_to_string(work.join(format!("results/{n}.rc")))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(-1);
        if rc != e.exit {
            failures.push(format!(
                "README.md:{}: `{}` exited {rc}, not {}:\n{out}",
                e.line, e.command, e.exit
            ));
        } else if let Err(diff) = snapbox::Assert::new().try_eq(
            Some(&format!("README.md:{}", e.line)),
            out.clone().into(),
            e.output.clone().into(),
        ) {
            failures.push(format!("README.md:{}: `{}`:\n{diff}", e.line, e.command));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
