//! A moto server of the test's own: the AWS API emulator every AWS test runs against.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{proxy, repo};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A moto server of our own, on a free port; killed on drop.
pub struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    /// Starts moto from the repository's venv (`scripts/setup-moto.sh` installs it; `make test` runs
    /// that first), through `scripts/moto_server.py`, which counts rules per IP family as AWS does.
    /// A missing moto is a failure, never a skip.
    pub fn start() -> Moto {
        let python = repo().join(".venv/bin/python");
        assert!(
            repo().join(".venv/bin/moto_server").exists(),
            "moto is not installed in {}: run scripts/setup-moto.sh (make test does it)",
            repo().join(".venv").display()
        );
        let wrapper = repo().join("scripts/moto_server.py");
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new(&python)
                .arg(&wrapper)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .current_dir(std::env::temp_dir())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start moto_server");
            let mut moto = Moto { child, port };
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = moto.child.try_wait() {
                    break; // the port was taken after all: try another
                }
                if moto.get("/moto-api/").is_some() {
                    return moto;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = moto.child.kill();
        }
        panic!("moto_server did not start");
    }

    /// Its endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn get(&self, path: &str) -> Option<String> {
        proxy::forward(&format!("127.0.0.1:{}", self.port), "GET", path, &[], b"")
            .map(|(_, _, b)| String::from_utf8_lossy(&b).to_string())
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
