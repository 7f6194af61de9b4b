//! `sentry` as an OCI runtime: runc's command line (`create`, `start`,
//! `state`, `kill`, `delete`, `run`, `exec`, `ps`, `list`, `features`,
//! `spec`) over bundles per the OCI runtime specification, so that podman
//! (and containerd through its runc shim) can run containers in the
//! sandbox.
//!
//! * [`spec`]: config.json, read into what the sandbox runs.
//! * [`state`]: the per-container state directory under the runtime root.
//! * [`guest`]: what config.json adds to a sandbox run (credentials,
//!   limits, mounts, files).
//! * [`cli`]: the commands.
//!
//! The process model follows runc's: `create` starts the container's
//! process (a sentry, whose pid goes into `--pid-file`), which reads the
//! bundle and waits on a fifo in the state directory; `start` opens the
//! fifo and the sentry runs `process.args` as the guest's init. The
//! sentry's exit status is the guest's (128+N when the guest was killed by
//! signal N); signals sent to it by `kill` reach the guest's init
//! (`kernel::hostsig`), SIGKILL ends the whole sandbox.

pub mod cli;
pub mod exec;
pub mod guest;
pub mod spec;
pub mod state;
