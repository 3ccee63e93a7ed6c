//! A child process whose stdout is collected line by line while it runs, for the tests that
//! watch a process's progress and SIGKILL it.

#![allow(dead_code)] // Each test binary uses its own part of the helpers.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

/// A running process; killed when dropped.
pub struct Watched {
    pub child: Child,
    output: Arc<Mutex<Vec<String>>>,
}

impl Watched {
    /// Spawns `command` with stdout piped and collected (stderr inherited).
    pub fn spawn(command: &mut Command) -> Self {
        let mut child =
            command.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("spawned");
        let output = Arc::new(Mutex::new(Vec::new()));
        let lines = Arc::clone(&output);
        let stdout = child.stdout.take().expect("piped");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        Watched { child, output }
    }

    /// The lines printed so far.
    pub fn lines(&self) -> Vec<String> {
        self.output.lock().unwrap().clone()
    }

    /// SIGKILL: no destructor, no rollback from the process's side.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
