//! Running an external tool (restic, borg, pgbackrest, a verify command) under a timeout: the
//! command gets its own process group, and at the timeout the whole group is killed, so a hung
//! tool or anything it started never outlives its budget.

use std::ffi::OsString;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use watchkeeper_core::config::Secret;

/// What to run.
#[derive(Debug, Default)]
pub struct Spec {
    /// Program and arguments (no shell).
    pub argv: Vec<OsString>,
    /// Extra environment variables.
    pub env: Vec<(OsString, OsString)>,
    /// Variables removed from the inherited environment.
    pub env_remove: Vec<OsString>,
    /// Longest run before the process group is killed.
    pub timeout: Duration,
    /// At most this many bytes of standard output are kept (the rest is read and dropped).
    pub stdout_limit: usize,
    /// A secret handed to the child over a pipe: the variable named here is set to the number
    /// of the pipe's read end (as `BORG_PASSPHRASE_FD` wants). The pipe exists only while this
    /// one child is spawned, under a lock every spawn here takes, so no other child inherits it.
    pub pass_secret: Option<(OsString, Secret)>,
    /// Working directory.
    pub cwd: Option<PathBuf>,
}

/// A command that ran to completion (whatever its exit status).
#[derive(Debug)]
pub struct Finished {
    /// How it ended.
    pub status: ExitStatus,
    /// Standard output (up to the limit).
    pub stdout: Vec<u8>,
    /// The last few KiB of standard error.
    pub stderr: Vec<u8>,
    /// How long it ran.
    pub duration: Duration,
}

impl Finished {
    /// The first non-empty line of standard error, shortened, for a log line or error message.
    pub fn stderr_summary(&self) -> String {
        summary(&self.stderr)
    }
}

/// The first non-empty line of `bytes`, at most 200 characters.
pub fn summary(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    line.chars().take(200).collect()
}

/// Why a command did not run to completion.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The program could not be started (not installed, not executable).
    #[error("cannot start {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// It ran past its timeout and its process group was killed.
    #[error("{program} did not finish within {after:?} and was killed")]
    Timeout {
        /// The program.
        program: String,
        /// The timeout.
        after: Duration,
    },
    /// The pipe for its secret could not be made.
    #[error("cannot pass the secret to {program}: {source}")]
    SecretPipe {
        /// The program.
        program: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Waiting for it failed.
    #[error("waiting for {program}: {source}")]
    Wait {
        /// The program.
        program: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

const STDERR_KEEP: usize = 8 * 1024;

/// Held while a child is spawned (see [`Spec::pass_secret`]).
static SPAWN: Mutex<()> = Mutex::new(());

fn reader<R: Read + Send + 'static>(
    mut r: R,
    limit: usize,
    keep_tail: bool,
) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if keep_tail {
                        out.extend_from_slice(&buf[..n]);
                        if out.len() > limit {
                            let cut = out.len() - limit;
                            out.drain(..cut);
                        }
                    } else if out.len() < limit {
                        let take = n.min(limit - out.len());
                        out.extend_from_slice(&buf[..take]);
                    }
                }
            }
        }
        let _ = tx.send(out);
    });
    rx
}

/// Runs `spec` to completion or until its timeout (then the process group is killed).
pub fn run(spec: Spec) -> Result<Finished, CommandError> {
    let program = spec
        .argv
        .first()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut cmd = Command::new(spec.argv.first().cloned().unwrap_or_default());
    cmd.args(spec.argv.iter().skip(1))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    for k in &spec.env_remove {
        cmd.env_remove(k);
    }
    for (k, v) in &spec.env {
        cmd.env(k, v);
    }
    if let Some(dir) = &spec.cwd {
        cmd.current_dir(dir);
    }
    let started = Instant::now();
    let spawned = {
        // Children spawned meanwhile by other threads would inherit the secret's pipe.
        let _one_at_a_time = SPAWN.lock().unwrap_or_else(|p| p.into_inner());
        let read_end = match &spec.pass_secret {
            Some((var, secret)) => {
                let (fd, n) = secret_pipe(secret.expose().as_bytes()).map_err(|source| {
                    CommandError::SecretPipe {
                        program: program.clone(),
                        source,
                    }
                })?;
                cmd.env(var, n.to_string());
                Some(fd)
            }
            None => None,
        };
        let r = cmd.spawn();
        drop(read_end);
        r
    };
    let mut child = spawned.map_err(|source| CommandError::Spawn {
        program: program.clone(),
        source,
    })?;
    let pid = rustix::process::Pid::from_child(&child);
    let out_rx = child
        .stdout
        .take()
        .map(|s| reader(s, spec.stdout_limit.max(1), false));
    let err_rx = child.stderr.take().map(|s| reader(s, STDERR_KEEP, true));
    let deadline = started + spec.timeout;
    let mut pause = Duration::from_millis(5);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(source) => {
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
                let _ = child.wait();
                return Err(CommandError::Wait { program, source });
            }
        }
        let now = Instant::now();
        if now >= deadline {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            let _ = child.wait();
            return Err(CommandError::Timeout {
                program,
                after: spec.timeout,
            });
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(100));
    };
    // Anything the command left behind in its group goes too: it would hold the pipes open.
    let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    let grace = Duration::from_secs(2);
    let stdout = out_rx
        .and_then(|rx| rx.recv_timeout(grace).ok())
        .unwrap_or_default();
    let stderr = err_rx
        .and_then(|rx| rx.recv_timeout(grace).ok())
        .unwrap_or_default();
    Ok(Finished {
        status,
        stdout,
        stderr,
        duration: started.elapsed(),
    })
}

/// The shell convention for an exit status: the code, or 128 + the signal that killed it.
pub fn exit_code(status: &ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(s)) => 128 + s,
        (None, None) => 1,
    }
}

/// A pipe whose read end a child inherits, carrying `secret` (at most one pipe buffer, 64 KiB).
/// Returns the read end (not close-on-exec) and its number.
fn secret_pipe(secret: &[u8]) -> std::io::Result<(OwnedFd, i32)> {
    use std::os::fd::AsRawFd;
    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let mut w = std::fs::File::from(write);
    std::io::Write::write_all(&mut w, secret)?;
    drop(w);
    rustix::io::fcntl_setfd(&read, rustix::io::FdFlags::empty())?;
    let n = read.as_raw_fd();
    Ok((read, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(args: &[&str], timeout_ms: u64) -> Spec {
        Spec {
            argv: args.iter().map(OsString::from).collect(),
            timeout: Duration::from_millis(timeout_ms),
            stdout_limit: 1 << 20,
            ..Spec::default()
        }
    }

    #[test]
    fn captures_output_and_status() {
        let f = run(spec(&["sh", "-c", "echo out; echo err >&2; exit 3"], 5000)).unwrap();
        assert_eq!(f.stdout, b"out\n");
        assert_eq!(f.stderr_summary(), "err");
        assert_eq!(exit_code(&f.status), 3);
    }

    #[test]
    fn kills_the_whole_group_at_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let script = format!("sleep 30 & echo $! > {}; wait", pidfile.display());
        let t = Instant::now();
        let e = run(spec(&["sh", "-c", &script], 300)).unwrap_err();
        assert!(matches!(e, CommandError::Timeout { .. }), "{e}");
        assert!(t.elapsed() < Duration::from_secs(5));
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false);
        assert!(!alive, "the grandchild survived the timeout");
    }

    #[test]
    fn a_missing_program_is_a_spawn_error() {
        let e = run(spec(&["/nonexistent/tool"], 1000)).unwrap_err();
        assert!(matches!(e, CommandError::Spawn { .. }));
    }

    #[test]
    fn a_secret_pipe_reaches_the_child() {
        let fds = || {
            let f = run(spec(&["sh", "-c", "ls /proc/self/fd | wc -l"], 5000)).unwrap();
            String::from_utf8_lossy(&f.stdout).trim().to_string()
        };
        let before = fds();
        let mut s = spec(&["sh", "-c", "cat <&$SECRET_FD"], 5000);
        s.pass_secret = Some(("SECRET_FD".into(), Secret::new("s3cret")));
        let f = run(s).unwrap();
        assert_eq!(f.stdout, b"s3cret");
        assert_eq!(fds(), before, "the next child inherits no secret pipe");
    }
}
