//! The `sgsync` binary, run as a user runs it, with a test's environment.

use std::process::Command;

use serde_json::Value;

/// The result of one `sgsync` process.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }

    pub fn ok(self) -> Output {
        assert_eq!(self.code, 0, "sgsync failed: {self:?}");
        self
    }
}

/// The `sgsync` binary with a test's environment.
#[derive(Clone)]
pub struct Sgsync {
    env: Vec<(String, String)>,
    unset: Vec<String>,
}

/// Variables besides sgsync's own settings (`sgsync::config::VARIABLES`) that must not leak into
/// tests from the caller's environment.
const AWS_VARS: &[&str] = &[
    "AWS_PROFILE",
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_ENDPOINT_URL_EC2",
];

impl Sgsync {
    pub fn new(endpoint: &str) -> Sgsync {
        Sgsync {
            env: vec![
                ("AWS_ENDPOINT_URL".into(), endpoint.into()),
                ("AWS_ACCESS_KEY_ID".into(), "test".into()),
                ("AWS_SECRET_ACCESS_KEY".into(), "test".into()),
                ("AWS_REGION".into(), "us-east-1".into()),
                ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
                ("DOWNLOAD_RETRY_MS".into(), "50".into()),
                // Nothing is kept in the caller's ~/.cache; the tests of the cache give a directory.
                ("DOWNLOAD_CACHE".into(), "off".into()),
            ],
            unset: Vec::new(),
        }
    }

    /// The same without a variable (e.g. no credentials at all).
    pub fn without(mut self, key: &str) -> Sgsync {
        self.env.retain(|(k, _)| k != key);
        self.unset.push(key.into());
        self
    }

    /// The same with one more variable.
    pub fn env(mut self, key: &str, value: &str) -> Sgsync {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
        self
    }

    /// `apply --ip-ranges FILE --output json`.
    pub fn apply_file(&self, file: &str) -> Output {
        self.run(&["apply", "--ip-ranges", file, "--output", "json"])
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.run_under(&[], args)
    }

    /// Runs sgsync on a terminal (`script` gives it one), typing `input`.
    pub fn run_in_terminal(&self, args: &[&str], input: &str) -> Output {
        use std::io::Write as _;
        let bin = env!("CARGO_BIN_EXE_sgsync");
        let line = std::iter::once(bin)
            .chain(args.iter().copied())
            .collect::<Vec<_>>()
            .join(" ");
        let mut cmd = Command::new("script");
        cmd.args(["-qec", &line, "/dev/null"]);
        for v in sgsync::config::VARIABLES.iter().chain(AWS_VARS) {
            cmd.env_remove(v);
        }
        for v in &self.unset {
            cmd.env_remove(v);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("run script");
        // `script` passes what it reads to the terminal; the answer waits there until it is asked.
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).to_string(),
        }
    }

    /// Runs sgsync as the last argument of `wrapper` (e.g. `/usr/bin/time -f %M -o FILE`).
    pub fn run_under(&self, wrapper: &[&str], args: &[&str]) -> Output {
        let bin = env!("CARGO_BIN_EXE_sgsync");
        let mut cmd = match wrapper.split_first() {
            None => Command::new(bin),
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(bin);
                c
            }
        };
        for v in sgsync::config::VARIABLES.iter().chain(AWS_VARS) {
            cmd.env_remove(v);
        }
        for v in &self.unset {
            cmd.env_remove(v);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v))).args(args);
        let out = cmd.output().expect("run sgsync");
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).to_string(),
        }
    }
}
