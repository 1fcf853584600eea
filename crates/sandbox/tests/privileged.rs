//! The sandbox for real, through the pool: functions that try to escape, and fail with the
//! errors Lambda gives. Needs root; runs only with `RUN_PRIVILEGED_TESTS=1` (CI sets it).

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use pool::{InvokeRequest, InvokeResult, Pool, PoolSettings};
use sandbox::{IsolatedLauncher, IsolationSettings};

/// A bash runtime that runs each event as a shell command and answers with its output and exit
/// status. The event `oom` makes the runtime itself grow past any memory size.
const BOOTSTRAP: &str = r#"#!/bin/bash
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
while true; do
  HEADERS="$(mktemp)"
  EVENT=$(curl -sS -LD "$HEADERS" "$API/invocation/next")
  ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  rm -f "$HEADERS"
  if [ "$EVENT" = oom ]; then
    HOG=$(head -c 400000000 /dev/zero | tr '\0' a)
  fi
  OUT=$(bash -c "$EVENT" 2>&1; echo "status=$?")
  curl -sS -X POST "$API/invocation/$ID/response" --data-binary "$OUT" >/dev/null
done
"#;

/// Calls a system call through Python's ctypes and prints `result errno`.
fn syscall(call: &str) -> String {
    format!(
        "python3 -c \"import ctypes,os; libc=ctypes.CDLL(None, use_errno=True); r={call}; print(r, os.strerror(ctypes.get_errno()))\""
    )
}

/// Forks 1,100 sleeping children (each closes the output, so the runtime is not kept waiting)
/// and reports how many it made, then how many processes the environment holds.
const FORK_BOMB: &str = r#"python3 -c "
import os, time
made = 0
try:
    for _ in range(1100):
        if os.fork() == 0:
            os.close(1); os.close(2); time.sleep(30); os._exit(0)
        made += 1
except OSError as error:
    print(made, error)
"; ls /proc | grep -c '^[0-9]'"#;

fn privileged() -> bool {
    let run = std::env::var("RUN_PRIVILEGED_TESTS").as_deref() == Ok("1");
    if !run {
        eprintln!("skipped: set RUN_PRIVILEGED_TESTS=1 to run the sandbox for real (needs root)");
    }
    run
}

struct Fixture {
    pool: Pool,
    data: tempfile::TempDir,
    code: tempfile::TempDir,
    other_code: tempfile::TempDir,
    /// The launcher's cgroups, one directory per hierarchy.
    cgroups: Vec<std::path::PathBuf>,
}

fn shared_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

fn fixture() -> Fixture {
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("secret"), "flint's data").unwrap();
    let code = shared_dir();
    let bootstrap = code.path().join("bootstrap");
    std::fs::write(&bootstrap, BOOTSTRAP).unwrap();
    std::fs::set_permissions(&bootstrap, std::fs::Permissions::from_mode(0o755)).unwrap();
    let other_code = shared_dir();
    std::fs::write(other_code.path().join("code.py"), "other function").unwrap();
    let empty = data.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let mut settings = IsolationSettings::new("127.0.0.1:9".parse().unwrap());
    settings.jail = env!("CARGO_BIN_EXE_flint-jail").into();
    settings.warm_namespaces = 2;
    let launcher = IsolatedLauncher::start(settings).unwrap();
    let cgroups = launcher.cgroup_dirs();
    let pool = Pool::new(
        PoolSettings {
            scope: model::Scope {
                region: "us-east-1".into(),
                account: "000000000000".into(),
            },
            endpoint_url: "http://127.0.0.1:9".into(),
            idle_timeout: Duration::from_secs(600),
            empty_dir: empty,
            cold_start_gate: None,
        },
        Arc::new(launcher),
        runtimes::Runtimes::new(runtimes::RuntimeSettings {
            root: data.path().join("runtimes"),
            python_client_dir: None,
        }),
        logs::LogStore::open(&data.path().join("logs"), logs::LogLimits::default()).unwrap(),
    );
    Fixture {
        pool,
        data,
        code,
        other_code,
        cgroups,
    }
}

fn config(name: &str, memory_mb: u32, timeout_s: u32) -> Arc<model::FunctionConfig> {
    Arc::new(model::FunctionConfig {
        timeout_s,
        memory_mb,
        ..model::FunctionConfig::example(name)
    })
}

impl Fixture {
    async fn run(&self, config: &Arc<model::FunctionConfig>, command: &str) -> InvokeResult {
        let request = InvokeRequest {
            config: Arc::clone(config),
            code_dir: self.code.path().to_path_buf(),
            opt_dir: None,
            request_id: model::ids::request_id(),
            payload: Bytes::from(command.to_string()),
            invoked_arn: format!(
                "arn:aws:lambda:us-east-1:000000000000:function:{}",
                config.name
            ),
            trace_id: None,
            client_context: None,
            cognito_identity: None,
            want_tail: true,
        };
        self.pool.invoke(request).await.unwrap()
    }

    /// The output of `command` in function `f` (128 MB, 5 s).
    async fn output(&self, command: &str) -> String {
        let result = self.run(&config("f", 128, 5), command).await;
        assert_eq!(result.function_error, None, "{result:?}");
        String::from_utf8(result.body.to_vec()).unwrap()
    }
}

#[track_caller]
fn contains(output: &str, expect: &str) {
    assert!(output.contains(expect), "expected {expect:?} in:\n{output}");
}

#[tokio::test]
async fn runs_as_the_sandbox_user_in_a_read_only_root() {
    if !privileged() {
        return;
    }
    let fx = fixture();
    let out = fx.output("id; hostname; getent hosts sandbox.localdomain; echo x > /var/task/x; echo y > /x; echo tmp > /tmp/t && cat /tmp/t").await;
    contains(&out, "uid=993(sbx_user1051) gid=990(sbx_user1051)");
    contains(&out, "sandbox\n");
    contains(&out, "127.0.0.1       localhost sandbox.localdomain");
    contains(&out, "/var/task/x: Read-only file system");
    contains(&out, "/x: Read-only file system");
    contains(&out, "tmp\nstatus=0");
    // The jail raises its own priority while it starts the runtime; the runtime has none of it.
    let nice = fx.output("ps -o ni= -p $$").await;
    assert_eq!(nice.lines().next().map(str::trim), Some("0"), "{nice}");
}

#[tokio::test]
async fn cannot_read_flints_data_other_code_or_the_home() {
    if !privileged() {
        return;
    }
    let fx = fixture();
    let data = fx.data.path().join("secret");
    let other = fx.other_code.path().join("code.py");
    let out = fx
        .output(&format!(
            "cat {} {} 2>&1; ls /root /home 2>&1; ls /",
            data.display(),
            other.display()
        ))
        .await;
    contains(
        &out,
        &format!("{}: No such file or directory", data.display()),
    );
    contains(
        &out,
        &format!("{}: No such file or directory", other.display()),
    );
    assert!(
        !out.contains("flint's data") && !out.contains("other function"),
        "{out}"
    );
    assert!(
        !out.contains("\nroot\n") && !out.contains("\nhome\n"),
        "{out}"
    );
}

#[tokio::test]
async fn sees_only_its_own_processes() {
    if !privileged() {
        return;
    }
    let fx = fixture();
    let out = fx
        .output("ls /proc | grep -c '^[0-9]'; cat /proc/1/comm")
        .await;
    let count: u32 = out.lines().next().unwrap().trim().parse().unwrap();
    assert!(count < 10, "{out}");
    // PID 1 is the jail, which becomes flint-init once the runtime runs (at idle priority, so
    // on a busy host the jail may still be itself).
    assert!(
        out.contains("\nflint-init\n") || out.contains("\nflint-jail\n"),
        "{out}"
    );
}

#[tokio::test]
async fn environments_have_private_tmp_and_network() {
    if !privileged() {
        return;
    }
    let fx = Arc::new(fixture());
    // Four environments at once, each binding port 8080 and serving a request on it.
    let serve = "python3 -c \"
import socket, threading, time
s = socket.socket(); s.bind(('127.0.0.1', 8080)); s.listen()
threading.Thread(target=lambda: s.accept()[0].sendall(b'served'), daemon=True).start()
c = socket.create_connection(('127.0.0.1', 8080)); print(c.recv(6).decode())
time.sleep(1)
\"; echo mine > /tmp/mark-$$; sleep 0.5; ls /tmp | grep -c mark-";
    let started = Instant::now();
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let fx = Arc::clone(&fx);
            tokio::spawn(async move { fx.output(serve).await })
        })
        .collect();
    for task in tasks {
        let out = task.await.unwrap();
        contains(&out, "served\n1\nstatus=0");
    }
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(fx.pool.idle_count("f"), 4);
}

/// A network namespace the test creates outside every environment, joined to the host by a
/// veth pair on 198.18.0.0/30 (the benchmarking range, never routed), with one TCP listener in
/// it that answers with the address the connection came from. Removed on drop.
struct Outside {
    netns: String,
    listener: Option<std::process::Child>,
}

impl Outside {
    const HOST: &str = "198.18.0.1";
    const REMOTE: &str = "198.18.0.2";
    const PORT: u16 = 8181;

    fn create() -> Outside {
        let id = std::process::id() % 100_000;
        let netns = format!("flint-test-out-{id}");
        let (host, peer) = (format!("ftout{id}"), format!("ftin{id}"));
        let ip = |args: &str| {
            let status = std::process::Command::new("ip")
                .args(args.split(' '))
                .status()
                .unwrap();
            assert!(status.success(), "ip {args}");
        };
        ip(&format!("netns add {netns}"));
        // From here on, a failed step still removes the namespace.
        let mut outside = Outside {
            netns: netns.clone(),
            listener: None,
        };
        ip(&format!("link add {host} type veth peer name {peer}"));
        ip(&format!("link set {peer} netns {netns}"));
        ip(&format!("addr add {}/30 dev {host}", Self::HOST));
        ip(&format!("link set {host} up"));
        ip(&format!(
            "-n {netns} addr add {}/30 dev {peer}",
            Self::REMOTE
        ));
        ip(&format!("-n {netns} link set {peer} up"));
        let serve = format!(
            "import socket; s = socket.socket(); s.settimeout(30); \
             s.bind(('{}', {})); s.listen(); c, a = s.accept(); \
             c.sendall(('from ' + a[0]).encode()); c.close()",
            Self::REMOTE,
            Self::PORT
        );
        outside.listener = Some(
            std::process::Command::new("ip")
                .args(["netns", "exec", &netns, "python3", "-c", &serve])
                .spawn()
                .unwrap(),
        );
        outside
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        if let Some(listener) = &mut self.listener {
            let _ = listener.kill();
            let _ = listener.wait();
        }
        // Deleting the namespace deletes the veth pair with it.
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
    }
}

#[tokio::test]
async fn outbound_connections_leave_with_the_hosts_address() {
    if !privileged() {
        return;
    }
    let outside = Outside::create();
    let fx = fixture();
    let connect = format!(
        "python3 -c \"
import socket, time
for attempt in range(100):
    try:
        c = socket.create_connection(('{}', {}), timeout=2)
        break
    except OSError:
        time.sleep(0.1)
print(c.recv(64).decode())
\"",
        Outside::REMOTE,
        Outside::PORT
    );
    let out = fx.output(&connect).await;
    // Masqueraded: the other end sees the host's address on its link, not the environment's.
    contains(&out, &format!("from {}\nstatus=0", Outside::HOST));
    drop(outside);
}

#[tokio::test]
async fn privileged_calls_fail_with_eperm() {
    if !privileged() {
        return;
    }
    let fx = fixture();
    let checks = [
        ("libc.ptrace(16, 1, 0, 0)", "-1 Operation not permitted"),
        (
            "libc.mount(b'none', b'/tmp', b'tmpfs', 0, None)",
            "-1 Operation not permitted",
        ),
        (
            "libc.syscall(175, None, 0, b'')",
            "-1 Operation not permitted",
        ),
        ("libc.syscall(313, 0, b'', 0)", "-1 Operation not permitted"),
        ("libc.setuid(0)", "-1 Operation not permitted"),
        ("libc.unshare(0x10000000)", "-1 Operation not permitted"),
        ("libc.syscall(321, 0, 0, 0)", "-1 Operation not permitted"),
    ];
    for (call, expect) in checks {
        let out = fx.output(&syscall(call)).await;
        contains(&out, expect);
    }
    let out = fx
        .output("grep -E '^(Cap|NoNewPrivs|Seccomp)' /proc/self/status")
        .await;
    for line in [
        "CapInh:\t0000000000000000",
        "CapPrm:\t0000000000000000",
        "CapEff:\t0000000000000000",
        "CapBnd:\t0000000000000000",
        "CapAmb:\t0000000000000000",
        "NoNewPrivs:\t1",
        "Seccomp:\t2",
    ] {
        contains(&out, line);
    }
}

#[tokio::test]
async fn a_fork_bomb_is_capped() {
    if !privileged() {
        return;
    }
    let fx = fixture();
    // One full vCPU (1769 MB), so 1,100 forks take a second or two.
    let result = fx.run(&config("f", 1769, 30), FORK_BOMB).await;
    let out = String::from_utf8(result.body.to_vec()).unwrap();
    contains(&out, "Resource temporarily unavailable");
    let count: u32 = out.lines().rev().nth(1).unwrap().trim().parse().unwrap();
    assert!(count <= 1024, "{out}");
    // The platform is unharmed: another function runs.
    let other = fx.run(&config("g", 128, 5), "echo fine").await;
    assert_eq!(other.body.as_ref(), b"fine\nstatus=0");
}

#[tokio::test]
async fn running_out_of_memory_is_reported_and_the_environment_replaced() {
    if !privileged() {
        return;
    }
    let fx = fixture();
    let config = config("f", 128, 10);
    let result = fx.run(&config, "oom").await;
    let document: serde_json::Value = serde_json::from_slice(&result.body).unwrap();
    assert_eq!(document["errorType"], "Runtime.OutOfMemory", "{document}");
    assert!(
        document["errorMessage"]
            .as_str()
            .unwrap()
            .ends_with("Runtime exited with error: signal: killed"),
        "{document}"
    );
    let tail = result.log_tail.unwrap();
    contains(&tail, "Error Type: Runtime.OutOfMemory");
    contains(&tail, "Max Memory Used: 12");
    let next = fx.run(&config, "echo again").await;
    assert_eq!(next.body.as_ref(), b"again\nstatus=0");
}

#[tokio::test]
async fn idle_environments_are_frozen() {
    if !privileged() {
        return;
    }
    let fx = fixture();
    let out = fx.output("echo $$").await;
    assert!(out.ends_with("status=0"));
    // The v1 freezer moves through FREEZING to FROZEN on its own.
    let deadline = Instant::now() + Duration::from_secs(2);
    let frozen = || {
        freezer_states(&fx.cgroups)
            .iter()
            .filter(|s| *s == "FROZEN")
            .count()
    };
    while frozen() != 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(frozen(), 1, "{:?}", freezer_states(&fx.cgroups));
    // Thawed for the next invocation.
    assert_eq!(fx.output("echo thawed").await, "thawed\nstatus=0");
}

/// The freezer states of the environments of a launcher (cgroup v1 here), those made ahead
/// of time included.
fn freezer_states(cgroups: &[std::path::PathBuf]) -> Vec<String> {
    let freezer = cgroups
        .iter()
        .find(|dir| dir.starts_with("/sys/fs/cgroup/freezer"))
        .unwrap();
    std::fs::read_dir(freezer)
        .unwrap()
        .flatten()
        .filter_map(|env| std::fs::read_to_string(env.path().join("freezer.state")).ok())
        .map(|state| state.trim().to_string())
        .collect()
}

#[tokio::test]
async fn nothing_is_left_after_shutdown() {
    if !privileged() {
        return;
    }
    let fx = fixture();
    assert_eq!(fx.output("echo up").await, "up\nstatus=0");
    let cgroups = fx.cgroups.clone();
    assert!(cgroups.iter().all(|dir| dir.exists()));
    fx.pool.shutdown().await;
    drop(fx);
    let deadline = Instant::now() + Duration::from_secs(5);
    while cgroups.iter().any(|dir| dir.exists()) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let left: Vec<_> = cgroups.iter().filter(|dir| dir.exists()).collect();
    assert!(left.is_empty(), "{left:?}");
}
